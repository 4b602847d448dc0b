-- Nexmark q1: currency conversion.
--
-- Every bid with its price converted from dollars to euros (price * 0.908): a simple
-- per-row transformation.
--
-- Deviations from the reference: none in the result. The conversion is done in exact
-- decimal arithmetic (DECIMAL(23, 3), the reference sink's type) rather than with a
-- floating-point literal, so prices print as e.g. 94.432 without rounding noise.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q1 AS
SELECT
    auction,
    bidder,
    CAST(CAST(0.908 AS DECIMAL(4, 3)) * price AS DECIMAL(23, 3)) AS price, -- dollars to euros
    date_time,
    extra
FROM bid;
