-- illunare quickstart: spend per card and merchant risk class, excluding blocked cards.
--   illunare run pipelines/quickstart.sql
-- Reads 1M generated card transactions, joins them with a merchant file, keeps a table of
-- blocked cards, and keeps out/spend.jsonl equal to the view at every commit.

CREATE SOURCE tx (card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
  WITH (connector = 'generator', kind = 'transactions', rows = '1000000', seed = '7');

CREATE SOURCE merchants (merchant VARCHAR, risk VARCHAR)
  WITH (connector = 'file', path = 'pipelines/data/merchants.csv', format = 'csv');

CREATE TABLE blocked (card_id VARCHAR PRIMARY KEY);
INSERT INTO blocked VALUES ('c1'), ('c2');
DELETE FROM blocked WHERE card_id = 'c2';

CREATE MATERIALIZED VIEW spend AS
  SELECT t.card_id, m.risk, count(*) AS n, sum(t.amount) AS total
  FROM tx t JOIN merchants m ON t.merchant = m.merchant
  WHERE t.card_id NOT IN (SELECT card_id FROM blocked)
  GROUP BY t.card_id, m.risk;

-- The riskiest spenders right now: top 10 by total in high-risk merchants.
CREATE VIEW top_high_risk AS
  SELECT card_id, total FROM spend WHERE risk = 'high' ORDER BY total DESC LIMIT 10;

CREATE SINK spend_out FROM spend
  WITH (connector = 'file', path = 'out/spend.jsonl', format = 'jsonl', mode = 'snapshot');

CREATE SINK top_out FROM top_high_risk
  WITH (connector = 'stdout', format = 'jsonl', mode = 'snapshot');
