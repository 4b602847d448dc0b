-- Nexmark q10: log to file system.
--
-- Every bid with the day (dt, 'YYYY-MM-DD') and minute (hm, 'HH:MM') of its date_time,
-- which the reference uses to write the bids into files partitioned by dt/hm, committing a
-- partition once the watermark is a minute past it.
--
-- Deviations from the reference:
-- - The projection (bids with dt and hm) is this view; DATE_FORMAT is spelled to_char with
--   chrono's format ('%Y-%m-%d', '%H:%M').
-- - Not supported: a partitioned file sink. The file sink writes one file (snapshot or
--   changelog); it has no PARTITIONED BY, no directory per partition and no partition
--   commit policy. `CREATE SINK q10 FROM nexmark_q10 WITH (connector = 'file', path =
--   'out/q10.csv', mode = 'changelog')` writes the same rows into a single file.
-- Status: the view runs and matches the batch oracle (tests/nexmark.rs); the partitioned
-- output is not supported.

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR,
                  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q10 AS
SELECT auction, bidder, price, date_time, extra,
       to_char(date_time, '%Y-%m-%d') AS dt,
       to_char(date_time, '%H:%M') AS hm
FROM bid;
