-- Event-time windows over Nexmark auctions and bids: tumbling and hopping aggregates, a
-- window top-k and a window join. Windows close on the watermark and release their state;
-- the final rows equal DataFusion's batch answer over the same events.
CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, date_time TIMESTAMP,
                   WATERMARK FOR date_time AS date_time - INTERVAL '2' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '20000', seed = '3', splits = '3');
CREATE SOURCE auction (id BIGINT, seller BIGINT, category BIGINT, initial_bid BIGINT, date_time TIMESTAMP,
                       WATERMARK FOR date_time AS date_time - INTERVAL '2' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'auction', events = '20000', seed = '3');

-- Bids per named channel per 200 ms of event time.
CREATE VIEW bids_per_channel AS
  SELECT channel, window_start, window_end, count(*) AS bids, max(price) AS top, sum(price) AS volume
  FROM TUMBLE(bid, date_time, INTERVAL '200' MILLISECOND)
  WHERE channel IN ('Apple', 'Google', 'Facebook', 'Baidu')
  GROUP BY channel, window_start, window_end;

-- The three most bid-on auctions of every 500 ms window, sliding by 250 ms.
CREATE VIEW hot_auctions AS
  SELECT auction, window_end, bids FROM (
    SELECT auction, window_end, bids, row_number() OVER (PARTITION BY window_end ORDER BY bids DESC, auction) AS rn
    FROM (SELECT auction, window_end, count(*) AS bids FROM HOP(bid, date_time, INTERVAL '250' MILLISECOND, INTERVAL '500' MILLISECOND)
          GROUP BY auction, window_end))
  WHERE rn <= 3;

-- Auctions opened and bid on in the same 1 s window, with their best bid there.
CREATE VIEW same_window_bids AS
  SELECT a.id, a.category, a.window_start, max(b.price) AS best, count(*) AS bids
  FROM TUMBLE(auction, date_time, INTERVAL '1' SECOND) a
  JOIN TUMBLE(bid, date_time, INTERVAL '1' SECOND) b ON a.id = b.auction AND a.window_start = b.window_start
  GROUP BY a.id, a.category, a.window_start;

CREATE VIEW late_bids AS SELECT count(*) AS n FROM bid_late;
