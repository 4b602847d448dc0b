-- Nexmark q18: find the last bid.
--
-- Each bidder's last bid on each auction (the latest date_time): deduplication with a
-- per-group top-1 (ROW_NUMBER ... WHERE rank_number <= 1).
--
-- Deviations from the reference: none. A bidder cannot bid twice on an auction at the same
-- date_time with out_of_order = '0s' (every event has its own time), so "last" is
-- well defined and does not depend on arrival order.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR,
                  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q18 AS
SELECT auction, bidder, price, channel, url, date_time, extra
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY date_time DESC) AS rank_number
    FROM bid
) AS q
WHERE rank_number <= 1;
