-- Nexmark q4: average price for a category.
--
-- For each category, the average of the winning bids of its auctions, where an auction's
-- winning bid is its highest bid made while it was open (bid date_time between the
-- auction's date_time and expires, both inclusive). A join of two streams with a time
-- condition, an aggregate, and an aggregate over that aggregate.
--
-- Deviations from the reference (nexmark-flink q4):
-- - The average is truncated to BIGINT, as the reference's AVG over BIGINT is (and as its
--   sink declares); written CAST(avg(...) AS BIGINT) since our avg returns DOUBLE.
-- - Like nexmark-flink (and unlike the original Beam query) auctions count as soon as
--   they have a bid, whether or not they have expired yet, and the reserve price is not
--   checked. Once the bounded input has ended every auction has expired, so the final
--   view is the answer over closed auctions.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE auction (id BIGINT, item_name VARCHAR, description VARCHAR, initial_bid BIGINT, reserve BIGINT,
                      date_time TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR,
                      WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'auction', events = '100000', seed = '1');

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR,
                  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q4 AS
SELECT q.category, CAST(avg(q.final) AS BIGINT) AS final
FROM (
    SELECT max(b.price) AS final, a.category
    FROM auction AS a, bid AS b
    WHERE a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.expires
    GROUP BY a.id, a.category
) AS q
GROUP BY q.category;
