-- Nexmark q3: local item suggestion.
--
-- Who is selling in Oregon, Idaho or California in category 10, and which auctions: every
-- auction of category 10 joined with its seller, for sellers whose state is OR, ID or CA.
-- An incremental (unwindowed) join of two streams plus filters.
--
-- Deviations from the reference: none. Like the reference, the join is unbounded: every
-- person and every matching auction is kept as join state for the life of the pipeline.
-- Status: runs and matches the batch oracle (tests/nexmark.rs).

CREATE SOURCE person (id BIGINT, name VARCHAR, email_address VARCHAR, credit_card VARCHAR, city VARCHAR, state VARCHAR,
                     date_time TIMESTAMP, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'person', events = '100000', seed = '1');

CREATE SOURCE auction (id BIGINT, item_name VARCHAR, description VARCHAR, initial_bid BIGINT, reserve BIGINT,
                      date_time TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR)
  WITH (connector = 'generator', kind = 'nexmark', table = 'auction', events = '100000', seed = '1');

CREATE MATERIALIZED VIEW nexmark_q3 AS
SELECT p.name, p.city, p.state, a.id
FROM auction AS a
INNER JOIN person AS p ON a.seller = p.id
WHERE a.category = 10 AND (p.state = 'OR' OR p.state = 'ID' OR p.state = 'CA');
