-- Nexmark q14: calculation.
--
-- Bids whose price in euros (price * 0.908) is strictly between 1 000 000 and 50 000 000,
-- with that price, the part of the day the bid was made in ('dayTime' 8-18 h, 'nightTime'
-- up to 6 h and from 20 h, 'otherTime' in between) and the number of 'c' characters in
-- extra: repeated expressions and a user-defined function.
--
-- Deviations from the reference:
-- - The reference's UDF count_char(extra, 'c') is written with built-in functions:
--   length(extra) - length(replace(extra, 'c', '')), 0 for a NULL extra as the UDF gives
--   (user-defined functions are not supported; none is needed here).
-- - HOUR(date_time) is EXTRACT(HOUR FROM date_time) (UTC); the euro price is exact
--   DECIMAL(23, 3) arithmetic as in q1.
-- - With the default generator start (2024-01-01T00:00:00Z) and rate, all bids are made
--   in the first seconds after midnight, so every row is 'nightTime'.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q14 AS
SELECT
    auction,
    bidder,
    CAST(CAST(0.908 AS DECIMAL(4, 3)) * price AS DECIMAL(23, 3)) AS price,
    CASE
        WHEN EXTRACT(HOUR FROM date_time) >= 8 AND EXTRACT(HOUR FROM date_time) <= 18 THEN 'dayTime'
        WHEN EXTRACT(HOUR FROM date_time) <= 6 OR EXTRACT(HOUR FROM date_time) >= 20 THEN 'nightTime'
        ELSE 'otherTime'
    END AS bid_time_type,
    date_time,
    extra,
    coalesce(length(extra) - length(replace(extra, 'c', '')), 0) AS c_counts
FROM bid
WHERE CAST(0.908 AS DECIMAL(4, 3)) * price > 1000000
  AND CAST(0.908 AS DECIMAL(4, 3)) * price < 50000000;
