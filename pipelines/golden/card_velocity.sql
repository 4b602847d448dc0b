-- Card velocity: per card, how many transactions, how much, and in how many currencies;
-- the 3 largest transactions of each busy card; cards above 5x the average spend.
CREATE SOURCE tx (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, currency VARCHAR, ts TIMESTAMP)
  WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '11', cards = '200', merchants = '40');
CREATE SOURCE merchants (merchant VARCHAR, risk VARCHAR, category VARCHAR)
  WITH (connector = 'file', path = 'pipelines/data/merchants.csv');

CREATE VIEW per_card AS
  SELECT card_id, count(*) AS n, round(sum(amount), 2) AS total, count(DISTINCT currency) AS currencies,
         min(ts) AS first_seen, max(ts) AS last_seen
  FROM tx GROUP BY card_id;

CREATE VIEW largest AS
  SELECT card_id, tx_id, amount FROM (
    SELECT card_id, tx_id, amount, row_number() OVER (PARTITION BY card_id ORDER BY amount DESC, tx_id) AS rn
    FROM tx WHERE card_id IN (SELECT card_id FROM per_card WHERE n >= 150)
  ) WHERE rn <= 3;

CREATE VIEW outliers AS
  SELECT card_id, total FROM per_card WHERE total > 5 * (SELECT avg(total) FROM per_card);

CREATE VIEW risk_mix AS
  SELECT m.risk, m.category, count(*) AS n, round(avg(t.amount), 4) AS mean
  FROM tx t JOIN merchants m ON t.merchant = m.merchant
  GROUP BY m.risk, m.category HAVING count(*) > 100;
