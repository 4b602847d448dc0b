-- Nexmark q9: winning bids.
--
-- Every auction with its winning bid: the highest bid made while the auction was open
-- (bid date_time between the auction's date_time and expires), the earlier one among
-- equal prices. A join with a time condition and a per-auction top-1 (ROW_NUMBER).
--
-- Deviations from the reference: none in the result. The ordering (price DESC, date_time
-- ASC) is total on the generator's data when out_of_order = '0s' (every event has its own
-- date_time), so the winner does not depend on arrival order. Column names are snake_case
-- (item_name, bid_date_time, …) as the source columns are.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE auction (id BIGINT, item_name VARCHAR, description VARCHAR, initial_bid BIGINT, reserve BIGINT,
                      date_time TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR,
                      WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'auction', events = '100000', seed = '1');

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR,
                  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q9 AS
SELECT id, item_name, description, initial_bid, reserve, date_time, expires, seller, category, extra,
       auction, bidder, price, bid_date_time, bid_extra
FROM (
    SELECT a.*, b.auction, b.bidder, b.price, b.date_time AS bid_date_time, b.extra AS bid_extra,
           ROW_NUMBER() OVER (PARTITION BY a.id ORDER BY b.price DESC, b.date_time ASC) AS rownum
    FROM auction AS a, bid AS b
    WHERE a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.expires
) AS q
WHERE rownum <= 1;
