-- Event time over Nexmark bids: tumbling windows closed by the watermark, a one-minute
-- retention view, and a sink that receives each window once. `illunare run pipelines/auctions.sql`
CREATE SOURCE bid (auction BIGINT, price BIGINT, date_time TIMESTAMP,
                   WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '2000000');
CREATE VIEW per_auction AS
  SELECT auction, window_start, window_end, count(*) AS bids, max(price) AS top
  FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND) GROUP BY auction, window_start, window_end;
CREATE VIEW last_minute AS SELECT * FROM bid WHERE date_time > WATERMARK(bid) - INTERVAL '1' MINUTE;
CREATE SINK closed FROM per_auction
  WITH (connector = 'file', path = 'out/windows.jsonl', mode = 'changelog', emit = 'on_window_close');
