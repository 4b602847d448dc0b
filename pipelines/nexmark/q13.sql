-- Nexmark q13: bounded side input join.
--
-- Every bid enriched from a bounded side input, the reference's file of 10 000 rows
-- (key, value) = (i, 'i'), by looking up auction % 10000: stream enrichment.
--
-- Deviations from the reference:
-- - The reference uses a processing-time lookup join (FOR SYSTEM_TIME AS OF PROCTIME())
--   against the file; neither is supported, so this is a regular join with a file source
--   (pipelines/data/side_input.csv, the reference's contents with a header row). As the side
--   input never changes, the result is the same. The path is relative to the working
--   directory: run from the repository root.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE SOURCE side_input ("key" BIGINT, value VARCHAR)
  WITH (connector = 'file', path = 'pipelines/data/side_input.csv', format = 'csv');

CREATE MATERIALIZED VIEW nexmark_q13 AS
SELECT b.auction, b.bidder, b.price, b.date_time, s.value
FROM bid AS b
JOIN side_input AS s ON b.auction % 10000 = s."key";
