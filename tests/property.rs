//! Property test: random tables, random insert/update/delete sequences, random worker counts —
//! after every step, every view equals DataFusion over the tables' current contents.

use std::time::Duration;

use illunare_coord::oracle::{Oracle, canonical};
use illunare_coord::{Pipeline, RunOptions};
use illunare_dataflow::ClusterConfig;
use proptest::prelude::*;

const PIPELINE: &str = "
CREATE TABLE t (a INT, b INT, s VARCHAR);
CREATE TABLE u (a INT, c INT);
CREATE VIEW v_filter AS SELECT a, b * 2 AS b2, s FROM t WHERE b > 1 OR s = 'x';
CREATE VIEW v_group AS SELECT a, count(*) AS n, sum(b) AS total, min(s) AS lo, max(b) AS hi, avg(b) AS mean FROM t GROUP BY a;
CREATE VIEW v_global AS SELECT count(*) AS n, sum(b) AS total, count(DISTINCT s) AS ds FROM t;
CREATE VIEW v_join AS SELECT t.a, t.b, u.c FROM t JOIN u ON t.a = u.a AND t.b <= u.c;
CREATE VIEW v_left AS SELECT t.a, t.s, u.c FROM t LEFT JOIN u ON t.a = u.a;
CREATE VIEW v_full AS SELECT t.b, u.c FROM t FULL JOIN u ON t.a = u.a;
CREATE VIEW v_not_in AS SELECT a, b FROM t WHERE a NOT IN (SELECT a FROM u);
CREATE VIEW v_exists AS SELECT a, s FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a AND u.c > t.b);
CREATE VIEW v_distinct AS SELECT DISTINCT s, a FROM t;
CREATE VIEW v_union AS SELECT a FROM t UNION SELECT a FROM u;
CREATE VIEW v_except AS SELECT a FROM t EXCEPT SELECT a FROM u;
CREATE VIEW v_topk AS SELECT a, b, s FROM t ORDER BY b DESC NULLS LAST, a, s LIMIT 3;
CREATE VIEW v_rank AS SELECT * FROM (SELECT a, b, row_number() OVER (PARTITION BY a ORDER BY b, s) AS rn FROM t) WHERE rn <= 2;
CREATE VIEW v_having AS SELECT s, sum(b) AS total FROM t GROUP BY s HAVING count(*) >= 2;
CREATE VIEW v_scalar AS SELECT a, b FROM t WHERE b > (SELECT avg(c) FROM u);
";

#[derive(Debug, Clone)]
enum Step {
    InsertT(Vec<(Option<i32>, Option<i32>, Option<&'static str>)>),
    InsertU(Vec<(Option<i32>, Option<i32>)>),
    DeleteT(i32),
    DeleteU(i32),
    UpdateT(i32),
}

fn small() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![1 => Just(None), 6 => (0..4).prop_map(Some)]
}

fn text() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![1 => Just(None), 3 => prop::sample::select(vec!["x", "y", "z"]).prop_map(Some)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop::collection::vec((small(), small(), text()), 1..5).prop_map(Step::InsertT),
        3 => prop::collection::vec((small(), small()), 1..4).prop_map(Step::InsertU),
        2 => (0..4).prop_map(Step::DeleteT),
        1 => (0..4).prop_map(Step::DeleteU),
        1 => (0..4).prop_map(Step::UpdateT),
    ]
}

fn lit<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_else(|| "NULL".into())
}

fn sql(step: &Step) -> String {
    match step {
        Step::InsertT(rows) => format!(
            "INSERT INTO t VALUES {}",
            rows.iter().map(|(a, b, s)| format!("({}, {}, {})", lit(a), lit(b), s.map(|s| format!("'{s}'")).unwrap_or("NULL".into()))).collect::<Vec<_>>().join(", ")
        ),
        Step::InsertU(rows) => format!("INSERT INTO u VALUES {}", rows.iter().map(|(a, c)| format!("({}, {})", lit(a), lit(c))).collect::<Vec<_>>().join(", ")),
        Step::DeleteT(a) => format!("DELETE FROM t WHERE a = {a}"),
        Step::DeleteU(a) => format!("DELETE FROM u WHERE a = {a} OR c IS NULL"),
        Step::UpdateT(a) => format!("UPDATE t SET b = b + 1, s = 'y' WHERE a = {a}"),
    }
}

fn check(steps: &[Step], workers: usize) -> Result<(), TestCaseError> {
    let registry = illunare_connector::Registry::default();
    let mut pipeline = Pipeline::load(PIPELINE, &registry).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let options = RunOptions { cluster: ClusterConfig { workers, ..Default::default() }, capture_all: true, commit_interval: Duration::ZERO, tick: Duration::from_millis(1) };
    pipeline.start(&options).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    for (i, step) in steps.iter().enumerate() {
        let statement = sql(step);
        pipeline.execute_sql(&statement).map_err(|e| TestCaseError::fail(format!("{statement}: {e}")))?;
        let now = pipeline.tick();
        let oracle = rt.block_on(Oracle::new(&pipeline)).map_err(TestCaseError::fail)?;
        for view in pipeline.views() {
            let state = pipeline.snapshot_at(&view, now - 1, Duration::from_secs(30)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let schema = pipeline.planner.catalog()[&view].schema.clone();
            let ours = canonical(&state.rows(), &schema);
            let expected = rt.block_on(oracle.view(&view)).map_err(TestCaseError::fail)?;
            prop_assert_eq!(ours, expected, "view {} after step {} ({}) with {} workers", view, i, statement, workers);
        }
    }
    pipeline.stop();
    let _ = pipeline.join();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 64, ..ProptestConfig::default() })]
    #[test]
    fn incremental_views_equal_the_batch_oracle(steps in prop::collection::vec(step(), 1..8), workers in 1usize..4) {
        check(&steps, workers)?;
    }
}
