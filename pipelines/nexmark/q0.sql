-- Nexmark q0: pass-through.
--
-- Every bid's auction, bidder, price, date_time and extra, unchanged (not in the original
-- suite; nexmark-flink uses it to measure the cost of the source and the engine itself).
--
-- Deviations from the reference: none in the result. The reference writes to a blackhole
-- sink; here the result is a materialized view (add a CREATE SINK to ship it).
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q0 AS
SELECT auction, bidder, price, date_time, extra
FROM bid;
