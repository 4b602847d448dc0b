-- Nexmark q8: monitor new users.
--
-- People who registered and created an auction within the same 10-second tumbling window
-- (nexmark-flink's shortened version of the original 12 hours): the distinct new persons
-- of each window joined with the distinct sellers of the same window.
--
-- Deviations from the reference: none in the result.
-- Emitted on window close, as the reference (window TVF aggregates): each window's rows appear
-- once, final, when the watermark passes its end; `bench nexmark --always-current` drops the
-- clause to keep every open window current instead. Same final rows either way.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE person (id BIGINT, name VARCHAR, email_address VARCHAR, credit_card VARCHAR, city VARCHAR, state VARCHAR,
                     date_time TIMESTAMP, extra VARCHAR,
                     WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'person', events = '100000', seed = '1');

CREATE SOURCE auction (id BIGINT, item_name VARCHAR, description VARCHAR, initial_bid BIGINT, reserve BIGINT,
                      date_time TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR,
                      WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'generator', kind = 'nexmark', table = 'auction', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q8 AS
SELECT p.id, p.name, p.starttime
FROM (
    SELECT id, name, window_start AS starttime, window_end AS endtime
    FROM TUMBLE(person, date_time, INTERVAL '10' SECOND)
    GROUP BY id, name, window_start, window_end
) AS p
JOIN (
    SELECT seller, window_start AS starttime, window_end AS endtime
    FROM TUMBLE(auction, date_time, INTERVAL '10' SECOND)
    GROUP BY seller, window_start, window_end
) AS a
ON p.id = a.seller AND p.starttime = a.starttime AND p.endtime = a.endtime
EMIT ON WINDOW CLOSE;
