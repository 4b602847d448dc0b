//! The HTTP API driven through `app(state)` without a socket: DDL/DML on a running engine,
//! view reads with filters, ad-hoc queries, errors, auth and metrics.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use illunare_coord::{Pipeline, RunOptions};
use illunare_serve::{AppState, ServeConfig, Tokens, app};
use serde_json::{Value, json};
use tower::ServiceExt;

fn registry() -> illunare_connector::Registry {
    let mut r = illunare_connector::Registry::default();
    r.add_source(Arc::new(illunare_source_generator::GeneratorConnector));
    r.add_sink(Arc::new(illunare_sink_file::BlackholeSinkConnector));
    r
}

fn engine(text: &str, config: ServeConfig) -> (Router, Arc<Mutex<Pipeline>>) {
    let mut pipeline = Pipeline::load(text, &registry()).unwrap_or_else(|e| panic!("{}", e.render("test.sql", text)));
    let options = RunOptions { commit_interval: Duration::ZERO, tick: Duration::from_millis(5), ..RunOptions::default() };
    pipeline.start(&options).expect("starts");
    let shared = Arc::new(Mutex::new(pipeline));
    (app(AppState::new(shared.clone(), config)), shared)
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn call(app: &Router, method: &str, uri: &str, body: Option<(&str, String)>, token: Option<&str>) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some((content_type, body)) => request.header(header::CONTENT_TYPE, content_type).body(Body::from(body)),
        None => request.body(Body::empty()),
    }
    .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply { status, headers, body }
}

async fn sql(app: &Router, text: &str) -> Reply {
    call(app, "POST", "/api/v1/sql", Some(("application/json", json!({ "sql": text }).to_string())), None).await
}

/// Reads view `uri` until its frontier has passed `time` (a table change's timestamp).
async fn read_after(app: &Router, uri: &str, time: u64) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = call(app, "GET", uri, None, None).await;
        let done = reply.status != StatusCode::OK || reply.body["frontier"].as_u64().is_none_or(|f| f > time);
        if done {
            return reply;
        }
        assert!(Instant::now() < deadline, "{uri} did not pass {time}: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn change_time(reply: &Reply) -> u64 {
    reply.body["results"].as_array().and_then(|r| r.iter().rev().find_map(|x| x["changed"]["time"].as_u64())).expect("a change time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_and_dml_over_the_api_change_what_views_serve() {
    let (app, _engine) = engine("", ServeConfig::default());
    let created = sql(
        &app,
        "CREATE TABLE tx (card VARCHAR, merchant VARCHAR, amount BIGINT);
         CREATE MATERIALIZED VIEW spend AS SELECT card, merchant, count(*) AS n, sum(amount) AS total FROM tx GROUP BY card, merchant;
         INSERT INTO tx VALUES ('c1', 'm1', 10), ('c1', 'm1', 5), ('c1', 'm2', 7), ('c2', 'm1', 1);",
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body["results"][1], json!({"created": {"kind": "materialized_view", "name": "spend"}}));
    let time = change_time(&created);

    let all = read_after(&app, "/api/v1/views/spend", time).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["rows"].as_array().map(Vec::len), Some(3), "{}", all.body);
    assert_eq!(all.body["columns"], json!(["card", "merchant", "n", "total"]));
    // The leading column is served by the row order; a later one by a secondary index built
    // by the first lookup on it.
    let by_card = call(&app, "GET", "/api/v1/views/spend?card=c1", None, None).await;
    assert_eq!(by_card.headers.get("illunare-access").and_then(|v| v.to_str().ok()), Some("index"));
    assert_eq!(
        by_card.body["rows"],
        json!([{"card": "c1", "merchant": "m1", "n": 2, "total": 15}, {"card": "c1", "merchant": "m2", "n": 1, "total": 7}])
    );
    let both = call(&app, "GET", "/api/v1/views/spend?merchant=m1&card=c1", None, None).await;
    assert_eq!((both.headers.get("illunare-access").and_then(|v| v.to_str().ok()), both.body["rows"].as_array().map(Vec::len)), (Some("index"), Some(1)));
    let by_merchant = call(&app, "GET", "/api/v1/views/spend?merchant=m1&limit=1&offset=1", None, None).await;
    assert_eq!(by_merchant.headers.get("illunare-access").and_then(|v| v.to_str().ok()), Some("index"));
    assert_eq!(by_merchant.body["rows"], json!([{"card": "c2", "merchant": "m1", "n": 1, "total": 1}]));
    // The index follows later commits.
    let inserted = sql(&app, "INSERT INTO tx VALUES ('c3', 'm1', 4)").await;
    let later = read_after(&app, "/api/v1/views/spend?merchant=m1", change_time(&inserted)).await;
    assert_eq!(later.body["rows"].as_array().map(|r| r.iter().map(|r| r["card"].clone()).collect::<Vec<_>>()), Some(vec![json!("c1"), json!("c2"), json!("c3")]));
    let deleted = sql(&app, "DELETE FROM tx WHERE card = 'c3'").await;
    let later = read_after(&app, "/api/v1/views/spend?merchant=m1", change_time(&deleted)).await;
    assert_eq!(later.body["rows"].as_array().map(Vec::len), Some(2), "{}", later.body);
    // A view builds a few such indexes; past them, filters scan (and still answer).
    for (query, access) in [("n=1", "index"), ("total=7", "index"), ("n=1&total=7", "index"), ("merchant=m2&n=1", "scan")] {
        let reply = call(&app, "GET", &format!("/api/v1/views/spend?{query}"), None, None).await;
        assert_eq!(reply.headers.get("illunare-access").and_then(|v| v.to_str().ok()), Some(access), "{query}");
        assert!(reply.body["rows"].as_array().is_some_and(|r| !r.is_empty()), "{query}: {}", reply.body);
    }

    // A second view over the same table joins without disturbing the first.
    let before = call(&app, "GET", "/api/v1/views/spend", None, None).await.body["rows"].clone();
    let second = sql(&app, "CREATE MATERIALIZED VIEW per_card AS SELECT card, sum(total) AS total FROM spend GROUP BY card").await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let changed = sql(&app, "UPDATE tx SET amount = amount * 10 WHERE card = 'c2'; DELETE FROM tx WHERE merchant = 'm2'").await;
    let time = change_time(&changed);
    let per_card = read_after(&app, "/api/v1/views/per_card", time).await;
    assert_eq!(per_card.body["rows"], json!([{"card": "c1", "total": 15}, {"card": "c2", "total": 10}]), "{}", per_card.body);
    let spend = read_after(&app, "/api/v1/views/spend", time).await;
    assert_ne!(spend.body["rows"], before);
    assert_eq!(spend.body["rows"].as_array().map(Vec::len), Some(2));

    // Ad-hoc SQL over a view joined with a table.
    let query = call(
        &app,
        "POST",
        "/api/v1/query",
        Some(("text/plain", "SELECT p.card, p.total, count(*) AS txs FROM per_card p JOIN tx t ON p.card = t.card GROUP BY p.card, p.total ORDER BY p.card".into())),
        None,
    )
    .await;
    assert_eq!(query.status, StatusCode::OK, "{}", query.body);
    assert_eq!(query.body["rows"], json!([{"card": "c1", "total": 15, "txs": 2}, {"card": "c2", "total": 10, "txs": 1}]));
    assert!(query.body["frontier"].as_u64().is_some());

    // DROP refuses to orphan a reader, then works in order; the name is free again.
    let refused = sql(&app, "DROP MATERIALIZED VIEW spend").await;
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("sql_error")));
    assert!(refused.body["error"]["message"].as_str().is_some_and(|m| m.contains("'per_card' reads it")), "{}", refused.body);
    let dropped = sql(&app, "DROP VIEW per_card; DROP MATERIALIZED VIEW spend").await;
    assert_eq!(dropped.status, StatusCode::OK, "{}", dropped.body);
    assert_eq!(call(&app, "GET", "/api/v1/views/spend", None, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(sql(&app, "CREATE MATERIALIZED VIEW spend AS SELECT count(*) AS n FROM tx").await.status, StatusCode::OK);
    let catalog = call(&app, "GET", "/api/v1/catalog", None, None).await;
    assert_eq!(catalog.body["views"].as_array().map(|v| v.iter().map(|x| x["name"].clone()).collect::<Vec<_>>()), Some(vec![json!("spend")]));
    assert_eq!(catalog.body["tables"][0]["rows"], json!(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_json_errors() {
    let config = ServeConfig { body_limit: 4096, ..ServeConfig::default() };
    let (app, _engine) = engine("CREATE TABLE t (k BIGINT PRIMARY KEY, v VARCHAR); CREATE VIEW plain AS SELECT * FROM t;", config);
    let bad = sql(&app, "CREATE TABLE u (a BIGINT);\nCREATE MATERIALIZED VIEW w AS SELECT nope FROM u").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!((bad.body["error"]["code"].as_str(), bad.body["error"]["line"].as_u64()), (Some("sql_error"), Some(2)), "{}", bad.body);
    assert!(bad.body["error"]["column"].as_u64().is_some_and(|c| c > 1), "{}", bad.body);
    let syntax = sql(&app, "CREATE MATERIALIZED VIEW AS SELECT").await;
    assert_eq!((syntax.status, syntax.body["error"]["line"].as_u64()), (StatusCode::BAD_REQUEST, Some(1)));

    let malformed = call(&app, "POST", "/api/v1/sql", Some(("application/json", "{\"sql\": ".into())), None).await;
    assert_eq!((malformed.status, malformed.body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_json")));
    let big = call(&app, "POST", "/api/v1/sql", Some(("text/plain", format!("INSERT INTO t VALUES {}", "(1, 'x'),".repeat(1000)))), None).await;
    assert_eq!((big.status, big.body["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")));

    let missing = call(&app, "GET", "/api/v1/views/nope", None, None).await;
    assert_eq!((missing.status, missing.body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    // Identifiers are looked up, never spliced into SQL.
    let injected = call(&app, "GET", "/api/v1/views/t%22%3B%20DROP%20TABLE%20t%3B%20--", None, None).await;
    assert_eq!(injected.status, StatusCode::NOT_FOUND);
    let plain = call(&app, "GET", "/api/v1/views/plain", None, None).await;
    assert_eq!((plain.status, plain.body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("not_materialized")));
    let table = call(&app, "GET", "/api/v1/views/t", None, None).await;
    assert_eq!(table.body["error"]["code"].as_str(), Some("not_a_view"));
    sql(&app, "CREATE MATERIALIZED VIEW m AS SELECT k, v FROM t").await;
    let column = call(&app, "GET", "/api/v1/views/m?nope=1", None, None).await;
    assert_eq!(column.body["error"]["code"].as_str(), Some("unknown_column"));
    let value = call(&app, "GET", "/api/v1/views/m?k=abc", None, None).await;
    assert_eq!((value.status, value.body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_filter")));
    let not_query = call(&app, "POST", "/api/v1/query", Some(("text/plain", "DROP TABLE t".into())), None).await;
    assert_eq!(not_query.body["error"]["code"].as_str(), Some("not_a_query"));
    let route = call(&app, "GET", "/api/v2/anything", None, None).await;
    assert_eq!((route.status, route.body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    // The plain view answers ad hoc, through its definition.
    let inserted = sql(&app, "INSERT INTO t VALUES (1, 'a'), (2, 'b')").await;
    let time = change_time(&inserted);
    read_after(&app, "/api/v1/views/m", time).await;
    let adhoc = call(&app, "POST", "/api/v1/query", Some(("text/plain", "SELECT count(*) AS n FROM plain".into())), None).await;
    assert_eq!(adhoc.body["rows"], json!([{"n": 2}]), "{}", adhoc.body);
    // Nothing above took the engine down.
    assert_eq!(call(&app, "GET", "/health", None, None).await.body["status"], json!("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_separate_readers_from_admins() {
    let config = ServeConfig { tokens: Tokens { admin: Some("admin-secret".into()), read: Some("read-secret".into()) }, ..ServeConfig::default() };
    let (app, _engine) = engine("CREATE TABLE t (k BIGINT); CREATE MATERIALIZED VIEW m AS SELECT count(*) AS n FROM t;", config);
    let insert = || Some(("text/plain", "INSERT INTO t VALUES (1)".to_string()));
    let none = call(&app, "POST", "/api/v1/sql", insert(), None).await;
    assert_eq!((none.status, none.headers.get(header::WWW_AUTHENTICATE).is_some()), (StatusCode::UNAUTHORIZED, true));
    assert_eq!(call(&app, "POST", "/api/v1/sql", insert(), Some("wrong")).await.status, StatusCode::UNAUTHORIZED);
    let reader = call(&app, "POST", "/api/v1/sql", insert(), Some("read-secret")).await;
    assert_eq!((reader.status, reader.body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    assert_eq!(call(&app, "POST", "/api/v1/sql", insert(), Some("admin-secret")).await.status, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/api/v1/views/m", None, Some("read-secret")).await.status, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/api/v1/catalog", None, None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, "GET", "/api/v1/views/m?token=read-secret", None, None).await.status, StatusCode::OK);
    // Health and metrics stay open for probes and scrapers.
    assert_eq!(call(&app, "GET", "/health", None, None).await.status, StatusCode::OK);
    let openapi = call(&app, "GET", "/api/v1/openapi.json", None, Some("read-secret")).await;
    assert_eq!(openapi.body["openapi"], json!("3.1.0"));
    assert!(openapi.body["paths"]["/api/v1/views/{name}/changes"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_added_over_a_live_source_does_not_restart_the_others() {
    let pipeline = "CREATE SOURCE tx (card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
          WITH (connector = 'generator', kind = 'transactions', rows = '100000000', rate = '20000', seed = '7');
        CREATE MATERIALIZED VIEW counted AS SELECT count(*) AS n FROM tx;
        CREATE SINK counted_out FROM counted WITH (connector = 'blackhole');";
    let (app, engine) = engine(pipeline, ServeConfig::default());
    let count = |reply: &Reply| reply.body["rows"][0]["n"].as_i64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut first = call(&app, "GET", "/api/v1/views/counted", None, None).await;
    while count(&first) == 0 {
        assert!(Instant::now() < deadline, "no rows counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
        first = call(&app, "GET", "/api/v1/views/counted", None, None).await;
    }
    let created = sql(&app, "CREATE MATERIALIZED VIEW big AS SELECT merchant, count(*) AS n FROM tx WHERE amount > 100 GROUP BY merchant").await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let mut big = call(&app, "GET", "/api/v1/views/big", None, None).await;
    while big.body["rows"].as_array().is_none_or(Vec::is_empty) {
        assert!(Instant::now() < deadline, "the new view shows nothing: {}", big.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
        big = call(&app, "GET", "/api/v1/views/big", None, None).await;
    }
    // The first view kept counting: it was not rebuilt from zero.
    let later = call(&app, "GET", "/api/v1/views/counted", None, None).await;
    assert!(count(&later) >= count(&first), "{} then {}", count(&first), count(&later));
    let dropped = sql(&app, "DROP VIEW big").await;
    assert_eq!(dropped.status, StatusCode::OK, "{}", dropped.body);
    let after_drop = count(&call(&app, "GET", "/api/v1/views/counted", None, None).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let still = count(&call(&app, "GET", "/api/v1/views/counted", None, None).await);
    assert!(still > after_drop, "counted stopped after the drop: {after_drop} then {still}");
    let metrics = call(&app, "GET", "/metrics", None, None).await;
    let text = metrics.body.as_str().unwrap_or_default().to_string();
    assert!(text.contains("illunare_source_rows_total{source=\"tx\"}") && text.contains("illunare_view_rows{view=\"counted\"} 1"), "{text}");
    assert!(!text.contains("view=\"big\""), "a dropped view is not reported: {text}");
    // Every family the issue lists has a sample for this pipeline's source, view and sink.
    let sample = |name: &str| -> f64 {
        text.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {name}: {text}"))
    };
    assert!(sample("illunare_source_bytes_total{source=\"tx\"}") > 0.0);
    let lag = sample("illunare_source_lag_seconds{source=\"tx\"}");
    assert!((0.0..60.0).contains(&lag), "a live generator's lag is its tick, not {lag}");
    assert!(sample("illunare_view_state_bytes{view=\"counted\"}") > 0.0);
    assert!(sample("illunare_sink_updates_total{sink=\"counted_out\"}") > 0.0);
    assert!(sample("illunare_sink_commits_total{sink=\"counted_out\"}") > 0.0);
    assert_eq!(sample("illunare_sink_commit_failures_total{sink=\"counted_out\"}"), 0.0);
    assert_eq!(
        sample("illunare_sink_commit_seconds_count{sink=\"counted_out\"}"),
        sample("illunare_sink_commit_seconds_bucket{sink=\"counted_out\",le=\"+Inf\"}")
    );
    assert!(text.contains("# TYPE illunare_sink_commit_seconds histogram"), "{text}");
    assert!(sample("illunare_sink_frontier_lag_seconds{sink=\"counted_out\"}") < 60.0);
    engine.lock().expect("lock").stop();
}
