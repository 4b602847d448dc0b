-- Nexmark q22: URL directories.
--
-- Every bid with the first three directories of its url
-- (https://www.nexmark.com/<dir1>/<dir2>/<dir3>/item.htm?query=1): string splitting.
--
-- Deviations from the reference: SPLIT_INDEX(url, '/', i) (0-based) is spelled
-- split_part(url, '/', i + 1) (1-based). They differ only when the url has too few parts
-- (SPLIT_INDEX gives NULL, split_part ''), which the generator's urls never do.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                  date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q22 AS
SELECT
    auction, bidder, price, channel,
    split_part(url, '/', 4) AS dir1,
    split_part(url, '/', 5) AS dir2,
    split_part(url, '/', 6) AS dir3
FROM bid;
