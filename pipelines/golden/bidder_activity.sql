-- Event-time operators beyond fixed windows over Nexmark bids and auctions: bidder sessions,
-- an interval join, LAG and a RANGE frame. Each releases its state as the watermark passes (see
-- docs/design/time.md); the final rows equal DataFusion's batch answer over the same events.
CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP,
                   WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '20000', seed = '5', splits = '3',
        interval = '1ms');
CREATE SOURCE auction (id BIGINT, seller BIGINT, category BIGINT, date_time TIMESTAMP,
                       WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'auction', events = '20000', seed = '5', interval = '1ms');

-- Sessions of a few bidders: a session ends after 300 ms without a bid from that bidder.
CREATE VIEW bidder_sessions AS
  SELECT bidder, window_start, window_end, count(*) AS bids, max(price) AS top
  FROM SESSION(bid, date_time, INTERVAL '300' MILLISECOND, bidder)
  WHERE bidder < 1003
  GROUP BY bidder, window_start, window_end;

-- How many bids each category's auctions got in their first 500 ms (an interval join).
CREATE VIEW early_bids AS
  SELECT a.category, count(*) AS bids, max(b.price) AS top
  FROM auction a JOIN bid b
    ON a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.date_time + INTERVAL '500' MILLISECOND
  GROUP BY a.category;

-- Per auction (of one in 100, none of them hot), how often a bid outbid the one before it (LAG over its bids).
CREATE VIEW bid_steps AS
  SELECT auction, date_time, bidder, price,
         price - LAG(price) OVER (PARTITION BY auction ORDER BY date_time, bidder, price) AS step
  FROM bid WHERE auction % 100 = 50;
CREATE VIEW raises AS
  SELECT auction, count(*) AS bids, count(*) FILTER (WHERE step > 0) AS raises, max(step) AS largest_raise
  FROM bid_steps GROUP BY auction;

-- Each bidder's largest spend within any 100 ms (a RANGE frame ending at each bid).
CREATE VIEW bursts AS
  SELECT bidder, max(spent) AS largest_100ms, max(n) AS most_bids_100ms FROM (
    SELECT bidder,
           sum(price) OVER (PARTITION BY bidder ORDER BY date_time RANGE BETWEEN INTERVAL '100' MILLISECOND PRECEDING AND CURRENT ROW) AS spent,
           count(*) OVER (PARTITION BY bidder ORDER BY date_time RANGE BETWEEN INTERVAL '100' MILLISECOND PRECEDING AND CURRENT ROW) AS n
    FROM bid)
  WHERE bidder < 1010
  GROUP BY bidder;
