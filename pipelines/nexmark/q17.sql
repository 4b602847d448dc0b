-- Nexmark q17: auction statistics report.
--
-- Per auction and day: the number of bids, in total and per price range (as q15), and the
-- minimum, maximum, average and sum of the prices: an unbounded GROUP BY.
--
-- Deviations from the reference: none in the result. DATE_FORMAT is spelled to_char; the
-- average is truncated to BIGINT, as the reference's AVG over BIGINT is (our avg returns
-- DOUBLE).
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR,
                  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q17 AS
SELECT
    auction,
    to_char(date_time, '%Y-%m-%d') AS day,
    count(*) AS total_bids,
    count(*) FILTER (WHERE price < 10000) AS rank1_bids,
    count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
    count(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
    min(price) AS min_price,
    max(price) AS max_price,
    CAST(avg(price) AS BIGINT) AS avg_price,
    sum(price) AS sum_price
FROM bid
GROUP BY auction, to_char(date_time, '%Y-%m-%d');
