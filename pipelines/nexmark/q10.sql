-- Nexmark q10: log to file system.
--
-- Every bid with the day (dt, 'YYYY-MM-DD') and minute (hm, 'HH:MM') of its date_time,
-- written, as the reference does, into files partitioned by dt/hm: each bid goes to
-- out/nexmark/q10/dt=<day>/hm=<HH%3AMM>/part.csv (Hive layout, ':' escaped as %3A; the files
-- hold the other columns), and a partition is committed (an empty _SUCCESS file written into
-- it) once the watermark is a minute past its time ('$dt $hm:00'), or when the input ends.
--
-- Deviations from the reference:
-- - The projection (bids with dt and hm) is this view; DATE_FORMAT is spelled to_char with
--   chrono's format ('%Y-%m-%d', '%H:%M').
-- - The sink is the file connector's partitioned mode (WITH options, not PARTITIONED BY) in
--   its default snapshot mode: one file per partition, rewritten atomically when it changes,
--   instead of the reference's rolling part files; the commit policy is the same
--   (partition-time trigger, 1 minute delay, success file).
-- Status: runs; the view matches the batch oracle and the partitions written are checked
-- against it (tests/nexmark.rs, tests/partitioned_sink.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR,
                  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q10 AS
SELECT auction, bidder, price, date_time, extra,
       to_char(date_time, '%Y-%m-%d') AS dt,
       to_char(date_time, '%H:%M') AS hm
FROM bid;

CREATE SINK q10 FROM nexmark_q10 WITH (connector = 'file', path = 'out/nexmark/q10', format = 'csv',
  partition_by = 'dt, hm', partition_time = '$dt $hm:00', partition_commit_delay = '1 min');
