-- Nexmark q2: selection.
--
-- The auction and price of the bids on every 123rd auction (auction id divisible by 123):
-- a plain filter. (The original CQL query picked five fixed auction ids; nexmark-flink
-- uses the modulo so that the result grows with the stream, and so do we.)
--
-- Deviations from the reference: none.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q2 AS
SELECT auction, price
FROM bid
WHERE auction % 123 = 0;
