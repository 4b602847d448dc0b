-- Nexmark q20: expand bid with auction.
--
-- Every bid on an auction of category 10, with the auction's details: a filtered,
-- unbounded join of two streams.
--
-- Deviations from the reference: none in the result; columns are snake_case
-- (bid_date_time, item_name, …) as the source columns are.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE auction (id BIGINT, item_name VARCHAR, description VARCHAR, initial_bid BIGINT, reserve BIGINT,
                      date_time TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'auction', events = '100000', seed = '1');

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q20 AS
SELECT
    b.auction, b.bidder, b.price, b.channel, b.url, b.date_time AS bid_date_time, b.extra AS bid_extra,
    a.item_name, a.description, a.initial_bid, a.reserve, a.date_time AS auction_date_time, a.expires,
    a.seller, a.category, a.extra AS auction_extra
FROM bid AS b
INNER JOIN auction AS a ON b.auction = a.id
WHERE a.category = 10;
