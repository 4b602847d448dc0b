-- Nexmark q6: average selling price by seller.
--
-- For each seller, the average selling price of their most recent closed auctions. The
-- selling price of an auction is its winning bid (the highest bid made while the auction
-- was open, as in q4 and q9); a seller's auctions are ordered by the time of that bid.
--
-- Deviations from the reference (nexmark-flink q6, which Flink itself cannot run):
-- - The reference computes AVG(price) OVER (PARTITION BY seller ORDER BY date_time ROWS
--   BETWEEN 10 PRECEDING AND CURRENT ROW), a row per winning bid. Framed window
--   aggregates are not supported (only ROW_NUMBER/RANK/DENSE_RANK for top-k), so this view
--   keeps, per seller, the reference's *latest* row only: the average over the seller's 11
--   most recent winning bids (10 preceding + current), computed with a second ROW_NUMBER
--   top-k (rn <= 11) and a GROUP BY. The reference's earlier, superseded rows are not
--   produced (an updating view replaces them).
-- - Ties: the reference orders an auction's bids by price only; we break ties by the
--   earlier bid (then bidder), like q9, so the result does not depend on arrival order.
--   Sellers' auctions are ordered by the winning bid's date_time, then auction id.
-- - The average is truncated to BIGINT (the reference's AVG over BIGINT and sink type).
-- - The reserve price is not checked and an auction counts once it has a bid (as q4).
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE auction (id BIGINT, item_name VARCHAR, description VARCHAR, initial_bid BIGINT, reserve BIGINT,
                      date_time TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR,
                      WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'auction', events = '100000', seed = '1');

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR,
                  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q6 AS
SELECT seller, CAST(avg(price) AS BIGINT) AS avg_price
FROM (
    SELECT seller, price,
           ROW_NUMBER() OVER (PARTITION BY seller ORDER BY date_time DESC, id DESC) AS recent
    FROM (
        SELECT a.id, a.seller, b.price, b.date_time,
               ROW_NUMBER() OVER (PARTITION BY a.id, a.seller
                                  ORDER BY b.price DESC, b.date_time ASC, b.bidder ASC) AS rownum
        FROM auction AS a, bid AS b
        WHERE a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.expires
    ) AS winning
    WHERE rownum <= 1
) AS q
WHERE recent <= 11
GROUP BY seller;
