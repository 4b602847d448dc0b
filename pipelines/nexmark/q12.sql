-- Nexmark q12: processing-time windows.
--
-- How many bids each bidder makes per 10-second window of *processing* time: PROCTIME() (the
-- wall-clock time a row is processed, sql/src/proctime.rs) is added to every bid in a view
-- over the source, and bids are counted per bidder in TUMBLE windows over it. The source has
-- no WATERMARK: windows over processing time never close, each count is updated as bids come.
-- The answer depends on when rows are processed, so it is not compared with the batch oracle;
-- tests/nexmark.rs checks what does not depend on timing (every bid counted once, 10 s windows).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE VIEW b AS SELECT *, PROCTIME() AS p_time FROM bid;

CREATE MATERIALIZED VIEW nexmark_q12 AS
SELECT bidder, count(*) AS bid_count, window_start AS starttime, window_end AS endtime
FROM TUMBLE(b, p_time, INTERVAL '10' SECOND)
GROUP BY bidder, window_start, window_end;
