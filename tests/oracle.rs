//! The batch oracle over whole pipelines: every view's final contents equal DataFusion running
//! the same SELECT over the same source data and table contents — for 1, 2 and 3 workers.

mod common;

use common::{registry, run_and_compare};

const TRANSACTIONS: &str = "
CREATE SOURCE tx (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, currency VARCHAR, ts TIMESTAMP)
  WITH (connector = 'generator', kind = 'transactions', rows = '30000', seed = '7', cards = '300', merchants = '50');
CREATE SOURCE merchants (merchant VARCHAR, risk VARCHAR, category VARCHAR)
  WITH (connector = 'file', path = 'pipelines/data/merchants.csv', format = 'csv');
CREATE TABLE blocked (card_id VARCHAR PRIMARY KEY);
INSERT INTO blocked VALUES ('c1'), ('c2'), ('c3');
DELETE FROM blocked WHERE card_id = 'c2';
";

#[test]
fn quickstart_shape_matches_datafusion() {
    let text = format!(
        "{TRANSACTIONS}
        CREATE MATERIALIZED VIEW spend AS
          SELECT t.card_id, m.risk, count(*) AS n, sum(t.amount) AS total
          FROM tx t JOIN merchants m ON t.merchant = m.merchant
          WHERE t.card_id NOT IN (SELECT card_id FROM blocked)
          GROUP BY t.card_id, m.risk;
        CREATE VIEW top_high_risk AS
          SELECT card_id, total FROM spend WHERE risk = 'high' ORDER BY total DESC, card_id LIMIT 10;"
    );
    for workers in [1, 2, 3] {
        run_and_compare(&text, workers);
    }
}

#[test]
fn aggregates_joins_and_subqueries_match_datafusion() {
    let text = format!(
        "{TRANSACTIONS}
        CREATE VIEW per_currency AS
          SELECT currency, count(*) AS n, count(DISTINCT card_id) AS cards, min(amount) AS lo, max(amount) AS hi,
                 avg(amount) AS mean, stddev(amount) AS sd, bool_or(amount > 1000) AS any_big
          FROM tx GROUP BY currency;
        CREATE VIEW by_category AS
          SELECT m.category, sum(t.amount) AS total
          FROM tx t LEFT JOIN merchants m ON t.merchant = m.merchant GROUP BY 1 HAVING count(*) > 10;
        CREATE VIEW big_spenders AS
          SELECT card_id, sum(amount) AS total FROM tx GROUP BY card_id
          HAVING sum(amount) > (SELECT avg(amount) * 150 FROM tx);
        CREATE VIEW ranked AS
          SELECT * FROM (SELECT card_id, amount, row_number() OVER (PARTITION BY card_id ORDER BY amount DESC, tx_id) AS rn FROM tx)
          WHERE rn <= 2;
        CREATE VIEW blocked_activity AS
          SELECT card_id, count(*) AS n FROM tx t WHERE EXISTS (SELECT 1 FROM blocked b WHERE b.card_id = t.card_id) GROUP BY card_id;
        CREATE VIEW currencies AS SELECT DISTINCT currency FROM tx UNION SELECT 'ZZZ';
        CREATE VIEW global AS SELECT count(*) AS n, sum(amount) AS total FROM tx WHERE amount < 0;"
    );
    for workers in [1, 2] {
        run_and_compare(&text, workers);
    }
}

#[test]
fn bad_file_rows_go_to_the_errors_relation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.csv");
    std::fs::write(&path, "merchant,score\nm1,1.5\nm2,oops\nm3,3\n").expect("write");
    let text = format!(
        "CREATE SOURCE m (merchant VARCHAR, score DOUBLE) WITH (connector = 'file', path = '{}', format = 'csv');
         CREATE VIEW scores AS SELECT merchant, score * 2 AS double_score FROM m;
         CREATE VIEW bad AS SELECT error, raw, position FROM m_errors;",
        path.display()
    );
    let views = run_and_compare(&text, 1);
    assert_eq!(views["scores"].len(), 2);
    assert_eq!(views["bad"].len(), 1);
    assert!(views["bad"][0].contains("oops"), "{:?}", views["bad"]);
    let _ = registry();
}

#[test]
fn runtime_errors_go_to_the_view_errors_relation() {
    let text = "
        CREATE TABLE t (a INT, b INT);
        INSERT INTO t VALUES (10, 2), (5, 0), (7, NULL);
        CREATE VIEW ratio AS SELECT a, a / b AS q FROM t;";
    let (views, errors) = common::run_collect(text, 2);
    assert_eq!(views["ratio"], vec!["10 | 5".to_string(), "7 | NULL".to_string()]);
    assert_eq!(errors["ratio"].len(), 1, "{:?}", errors["ratio"]);
    assert!(errors["ratio"][0].to_lowercase().contains("divide by zero"), "{:?}", errors["ratio"]);
}

#[test]
fn join_forms_casts_and_ordered_aggregates_match_datafusion() {
    let text = "
        CREATE TABLE a (id INT, k VARCHAR, v DOUBLE);
        CREATE TABLE b (id INT, k VARCHAR, w VARCHAR);
        INSERT INTO a VALUES (1, 'x', 1.5), (2, 'y', NULL), (3, 'x', 4), (3, 'x', 4), (NULL, 'z', 0);
        INSERT INTO b VALUES (1, 'x', '10'), (3, 'q', 'abc'), (4, 'y', '7'), (NULL, 'z', NULL);
        CREATE VIEW using_join AS SELECT id, a.k, b.w FROM a JOIN b USING (id);
        CREATE VIEW natural_join AS SELECT * FROM a NATURAL JOIN b;
        CREATE VIEW comma_join AS SELECT a.id, b.id AS bid FROM a, b WHERE a.k = b.k;
        CREATE VIEW casts AS SELECT w, TRY_CAST(w AS INT) AS n, CAST(id AS VARCHAR) || '-' || coalesce(w, '?') AS label FROM b;
        CREATE VIEW filtered AS SELECT k, count(*) FILTER (WHERE v > 1) AS big, string_agg(CAST(id AS VARCHAR), ',' ORDER BY id) AS ids,
                                       array_agg(v ORDER BY v) AS vs FROM a GROUP BY k;
        CREATE VIEW set_ops AS (SELECT id FROM a EXCEPT SELECT id FROM b) UNION ALL (SELECT id FROM a INTERSECT SELECT id FROM b);
        CREATE VIEW offsets AS SELECT id, k FROM a ORDER BY id NULLS FIRST, k LIMIT 2 OFFSET 1;
        CREATE VIEW cte AS WITH big AS (SELECT * FROM a WHERE v > 1) SELECT k, sum(v) AS s FROM big GROUP BY k;
        CREATE VIEW ranks AS SELECT k, v, rank() OVER (PARTITION BY k ORDER BY v DESC) AS r, dense_rank() OVER (ORDER BY k) AS d FROM a;";
    for workers in [1, 2] {
        run_and_compare(text, workers);
    }
}

#[test]
fn evaluation_errors_on_source_rows_reach_the_view_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.jsonl");
    std::fs::write(&path, "{\"a\": 10, \"b\": 2}\n{\"a\": 1, \"b\": 0}\n{\"a\": 6, \"b\": 3}\nnot json\n").expect("write");
    let text = format!(
        "CREATE SOURCE d (a BIGINT, b BIGINT) WITH (connector = 'file', path = '{}');
         CREATE VIEW q AS SELECT a / b AS q FROM d WHERE a > 0;",
        path.display()
    );
    for workers in [1, 2] {
        let (views, errors) = common::run_collect(&text, workers);
        assert_eq!(views["q"], vec!["2".to_string(), "5".to_string()]);
        assert_eq!(errors["q"].len(), 1, "{:?}", errors["q"]);
        assert!(errors["q"][0].contains("(1, 0)"), "{:?}", errors["q"]);
    }
}

#[test]
fn distinct_on_matches_datafusion() {
    let text = "
        CREATE TABLE t (a INT, b INT, c VARCHAR);
        INSERT INTO t VALUES (1, 5, 'x'), (1, 3, 'y'), (2, 9, 'z'), (2, 9, 'w'), (3, NULL, 'n');
        CREATE VIEW first_per_a AS SELECT DISTINCT ON (a) a, b, c FROM t ORDER BY a, b DESC, c;";
    run_and_compare(text, 2);
}

/// Each source here is read by exactly one GROUP BY, so the GROUP BY is split into vectorised
/// partial aggregation inside the source and a differential merge (`preagg.rs`).
#[test]
fn group_by_fused_into_sources_matches_datafusion() {
    let text = "
        CREATE SOURCE a (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, currency VARCHAR, ts TIMESTAMP)
          WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '3', merchants = '40', splits = '3');
        CREATE SOURCE b (tx_id BIGINT, amount DOUBLE)
          WITH (connector = 'generator', kind = 'transactions', rows = '5000', seed = '4');
        CREATE SOURCE c (tx_id BIGINT, card_id VARCHAR, amount DOUBLE)
          WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '5', cards = '50', splits = '2');
        CREATE SOURCE d (tx_id BIGINT, card_id VARCHAR, amount DOUBLE)
          WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '6', cards = '50');
        CREATE VIEW per_merchant AS
          SELECT merchant, count(*) AS n, count(currency) AS with_currency, sum(amount) AS total, avg(amount) AS mean,
                 min(amount) AS lo, max(amount) AS hi, min(card_id) AS first_card, max(ts) AS last_ts
          FROM a WHERE amount > 20 GROUP BY merchant;
        CREATE VIEW nothing AS SELECT count(*) AS n, sum(amount) AS total, max(amount) AS hi, avg(tx_id) AS mean FROM b WHERE amount < 0;
        CREATE VIEW by_expression AS
          SELECT card_id, floor(amount / 100) AS bucket, sum(tx_id) AS ids, avg(tx_id) AS mean_id, count(*) AS n
          FROM c GROUP BY card_id, floor(amount / 100);
        CREATE VIEW global AS SELECT count(*) AS n, sum(tx_id) AS ids, min(card_id) AS lo, max(amount) AS hi FROM d;";
    for workers in [1, 2, 3] {
        let views = run_and_compare(text, workers);
        assert_eq!(views["nothing"], vec!["0 | NULL | NULL | NULL".to_string()]);
        assert!(views["per_merchant"].len() > 10);
    }
}

/// A GROUP BY over a UNION ALL of chains that all read one source (how HOP windows are planned)
/// is fused into the source too: every branch runs on the batch and is pre-aggregated
/// (`fuse.rs`). Over event time (HOP) and processing time (a hand-written union).
#[test]
fn group_by_over_a_union_of_one_sources_chains_matches_datafusion() {
    let text = "
        CREATE SOURCE e (tx_id BIGINT, card_id VARCHAR, amount DOUBLE, ts TIMESTAMP,
                         WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '7', cards = '30', splits = '3');
        CREATE SOURCE p (tx_id BIGINT, card_id VARCHAR, amount DOUBLE)
          WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '8', cards = '30');
        CREATE VIEW hop AS
          SELECT card_id, window_start, window_end, count(*) AS n, sum(amount) AS total, max(amount) AS hi
          FROM HOP(e, ts, INTERVAL '1' SECOND, INTERVAL '4' SECOND) GROUP BY card_id, window_start, window_end;
        CREATE VIEW branches AS
          SELECT k, count(*) AS n, sum(v) AS total, min(v) AS lo FROM (
            SELECT card_id AS k, amount AS v FROM p WHERE amount > 100
            UNION ALL SELECT upper(card_id) AS k, 1000 / (tx_id % 7 + 1) AS v FROM p
            UNION ALL SELECT 'all' AS k, amount AS v FROM p) AS u
          GROUP BY k;";
    for workers in [1, 2, 3] {
        let views = run_and_compare(text, workers);
        assert!(views["hop"].len() > 100, "{:?}", &views["hop"][..3.min(views["hop"].len())]);
        assert!(views["branches"].len() > 30);
    }
}

#[test]
fn fused_group_by_keeps_null_keys_and_isolates_failing_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.jsonl");
    let lines = [
        r#"{"k": "x", "v": 2, "name": "b"}"#,
        r#"{"k": "x", "v": 0, "name": "a"}"#,
        r#"{"k": null, "v": 4, "name": null}"#,
        r#"{"k": "y", "v": null, "name": "c"}"#,
        r#"{"k": null, "v": 5, "name": "d"}"#,
        r#"{"k": "x", "v": 1}"#,
    ];
    std::fs::write(&path, lines.join("\n")).expect("write");
    let text = format!(
        "CREATE SOURCE r (k VARCHAR, v BIGINT, name VARCHAR) WITH (connector = 'file', path = '{}', format = 'jsonl');
         CREATE VIEW q AS SELECT k, 10 / v AS ratio, count(*) AS n, count(name) AS named, sum(v) AS s, min(name) AS lo, max(name) AS hi
           FROM r GROUP BY k, 10 / v;",
        path.display()
    );
    for workers in [1, 2] {
        let (views, errors) = common::run_collect(&text, workers);
        assert_eq!(
            views["q"],
            vec!["NULL | 2 | 2 | 1 | 9 | d | d", "x | 10 | 1 | 0 | 1 | NULL | NULL", "x | 5 | 1 | 1 | 2 | b | b", "y | NULL | 1 | 1 | NULL | c | c"],
            "{:?}",
            views["q"]
        );
        assert_eq!(errors["q"].len(), 1, "{:?}", errors["q"]);
        assert!(errors["q"][0].to_lowercase().contains("divide by zero"), "{:?}", errors["q"]);
        assert!(errors["q"][0].contains("'x', 0, 'a'"), "{:?}", errors["q"]);
    }
}

/// Over append-only input (a source read by several views, so nothing is fused) min/max keep one
/// current value per group (`minmax_append.rs`) and a top-k per partition only its first rows
/// (`topk_append.rs`); both equal DataFusion, ties and duplicate rows included.
#[test]
fn append_only_extremes_and_top_k_match_datafusion() {
    let text = "
        CREATE SOURCE tx (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, currency VARCHAR, ts TIMESTAMP)
          WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '21', cards = '80', merchants = '30', splits = '3');
        CREATE VIEW extremes AS
          SELECT card_id, min(amount) AS lo, max(amount) AS hi, max(merchant) AS last_merchant, min(ts) AS first_ts, count(*) AS n
          FROM tx GROUP BY card_id;
        CREATE VIEW top_two AS
          SELECT merchant, card_id, amount, rn FROM (
            SELECT merchant, card_id, amount, ROW_NUMBER() OVER (PARTITION BY merchant ORDER BY amount DESC, tx_id) AS rn FROM tx
          ) AS r WHERE rn <= 2;
        CREATE VIEW currencies_by_merchant AS
          SELECT merchant, currency FROM (
            SELECT merchant, currency, ROW_NUMBER() OVER (PARTITION BY merchant ORDER BY currency) AS rn FROM tx
          ) AS r WHERE rn <= 3;
        CREATE VIEW biggest AS SELECT tx_id, amount FROM tx ORDER BY amount DESC, tx_id LIMIT 5 OFFSET 2;";
    for workers in [1, 2] {
        let views = run_and_compare(text, workers);
        assert_eq!(views["biggest"].len(), 5);
        assert!(views["top_two"].len() > 40 && views["currencies_by_merchant"].len() >= 30);
    }
}
