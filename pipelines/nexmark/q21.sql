-- Nexmark q21: add channel id.
--
-- Bids with a channel_id: '0' to '3' for the channels Apple, Google, Facebook and Baidu
-- (case-insensitive), otherwise the channel_id parameter of the bid's url; bids with
-- neither are dropped. CASE WHEN and regular-expression extraction.
--
-- Deviations from the reference: none in the result. REGEXP_EXTRACT(url, re, 2) is
-- spelled regexp_match(url, re)[2] (the second capture group of the first match, NULL
-- when the url does not match).
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q21 AS
SELECT
    auction, bidder, price, channel,
    CASE
        WHEN lower(channel) = 'apple' THEN '0'
        WHEN lower(channel) = 'google' THEN '1'
        WHEN lower(channel) = 'facebook' THEN '2'
        WHEN lower(channel) = 'baidu' THEN '3'
        ELSE regexp_match(url, '(&|^)channel_id=([^&]*)')[2]
    END AS channel_id
FROM bid
WHERE regexp_match(url, '(&|^)channel_id=([^&]*)')[2] IS NOT NULL
   OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu');
