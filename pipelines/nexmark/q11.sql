-- Nexmark q11: user sessions.
--
-- How many bids each bidder made in each of their sessions, a session being a maximal run
-- of the bidder's bids with gaps shorter than 10 seconds (the reference's SESSION window
-- with a 10-second gap): bidder, bid_count, starttime (the session's first bid) and
-- endtime (its last bid + 10 s), as SESSION_START/SESSION_END give them.
--
-- Deviations from the reference: none in the result. The view is a SESSION window per bidder
-- (`SESSION(bid, date_time, INTERVAL '10' SECOND, bidder)`, the partition column last, as
-- Flink's `SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(date_time), …)` is not parsed).
-- Over this event-time source each session is emitted once when the watermark passes its end,
-- and then forgotten: state holds the open sessions only.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR,
                  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q11 AS
SELECT bidder, count(*) AS bid_count, window_start AS starttime, window_end AS endtime
FROM SESSION(bid, date_time, INTERVAL '10' SECOND, bidder)
GROUP BY bidder, window_start, window_end;
