-- Nexmark q12: processing-time windows.
--
-- How many bids each bidder makes per 10-second window of *processing* time: the reference
-- adds PROCTIME() (the wall-clock time a row is processed) to every bid and counts bids per
-- bidder in TUMBLE windows over it.
--
-- NOT SUPPORTED: processing time is not exposed as a column. A source without a WATERMARK
-- is stamped with processing time inside the dataflow, but no function returns that stamp
-- for a row (there is no PROCTIME(); now() is accepted but folded into one constant when
-- the pipeline is planned, the same for every row, not a per-row processing time), so no
-- window can be formed over it. The query below is the reference's, written in our SQL;
-- `illunare check` rejects it:
--   q12.sql:22:28: error: Invalid function 'proctime'.
-- (tests/nexmark.rs asserts the error and its position.) A processing-time result would
-- also depend on arrival timing, so it could not be checked against the batch oracle.
-- Status: not supported (no processing-time column / PROCTIME()).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE VIEW b AS SELECT *, PROCTIME() AS p_time FROM bid;

CREATE MATERIALIZED VIEW nexmark_q12 AS
SELECT bidder, count(*) AS bid_count, window_start AS starttime, window_end AS endtime
FROM TUMBLE(b, p_time, INTERVAL '10' SECOND)
GROUP BY bidder, window_start, window_end;
