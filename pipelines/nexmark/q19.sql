-- Nexmark q19: auction top-10 price.
--
-- The 10 highest-priced bids of every auction, with their rank: a per-group top-N
-- (ROW_NUMBER ... WHERE rank_number <= 10).
--
-- Deviations from the reference: bids of equal price are ordered by date_time (the earlier
-- ranks first). The reference orders by price only, so which of two equally priced bids
-- makes the top 10, and the rank numbers among them, depend on arrival order there; the
-- extra key makes the order total (every event has its own date_time with
-- out_of_order = '0s'), so the result is deterministic and checkable.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q19 AS
SELECT *
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC, date_time ASC) AS rank_number
    FROM bid
) AS q
WHERE rank_number <= 10;
