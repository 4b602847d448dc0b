-- Nexmark q5: hot items.
--
-- Which auctions have seen the most bids in the last period: for every hopping window of
-- 10 seconds sliding by 2 seconds (nexmark-flink's shortened version of the original hour
-- sliding by a minute), the auctions whose bid count equals the window's maximum, with
-- that count. Every window's count per auction is joined with the maximum over the same
-- window.
--
-- Deviations from the reference: none in the result (HOP(bid, date_time, slide, size) is
-- our spelling of TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), slide, size))). Like the
-- reference, the result has no window columns, so an auction that is the hottest in
-- several windows with the same count appears once per window (the view is a multiset).
-- Windows are aligned to the epoch; with the default 100 µs between events, 100 000
-- events span 10 seconds of event time.
-- Emitted on window close, as the reference (window TVF aggregates): each window's rows appear
-- once, final, when the watermark passes its end; `bench nexmark --always-current` drops the
-- clause to keep every open window current instead. Same final rows either way.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR,
                  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q5 AS
SELECT auction_bids.auction, auction_bids.num
FROM (
    SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
    FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
    GROUP BY auction, window_start, window_end
) AS auction_bids
JOIN (
    SELECT max(count_bids.num) AS maxn, count_bids.starttime, count_bids.endtime
    FROM (
        SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
        FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
        GROUP BY auction, window_start, window_end
    ) AS count_bids
    GROUP BY count_bids.starttime, count_bids.endtime
) AS max_bids
ON auction_bids.starttime = max_bids.starttime
   AND auction_bids.endtime = max_bids.endtime
   AND auction_bids.num >= max_bids.maxn
EMIT ON WINDOW CLOSE;
