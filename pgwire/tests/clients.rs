//! A real driver (tokio-postgres) over a real socket on loopback: DDL and DML, prepared reads
//! with parameters, types in binary, errors with SQLSTATEs and positions, tokens, and the
//! session and catalog queries clients (psql, Grafana) send.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use illunare_coord::{Pipeline, RunOptions};
use illunare_pgwire::PgConfig;
use illunare_serve::Tokens;
use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

fn registry() -> illunare_connector::Registry {
    let mut r = illunare_connector::Registry::default();
    r.add_source(Arc::new(illunare_source_generator::GeneratorConnector));
    r
}

/// A running engine for `text`, served on a free loopback port.
async fn serve(text: &str, tokens: Tokens) -> (SocketAddr, Arc<Mutex<Pipeline>>) {
    let mut pipeline = Pipeline::load(text, &registry()).unwrap_or_else(|e| panic!("{}", e.render("test.sql", text)));
    let options = RunOptions { commit_interval: Duration::ZERO, tick: Duration::from_millis(5), ..RunOptions::default() };
    pipeline.start(&options).expect("starts");
    let engine = Arc::new(Mutex::new(pipeline));
    let addr = "127.0.0.1:0".parse().expect("address");
    let (local, server) = illunare_pgwire::bind(addr, engine.clone(), PgConfig { tokens, insecure: false }).await.expect("binds");
    tokio::spawn(server);
    (local, engine)
}

async fn connect(addr: SocketAddr, password: Option<&str>) -> Result<Client, tokio_postgres::Error> {
    let mut config = format!("host=127.0.0.1 port={} user=someone dbname=anything", addr.port());
    if let Some(password) = password {
        config.push_str(&format!(" password={password}"));
    }
    let (client, connection) = tokio_postgres::connect(&config, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The row counts of a simple query's command tags.
async fn counts(client: &Client, sql: &str) -> Vec<u64> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// Polls `sql` until it returns `want` rows (a view catches up with a change).
async fn rows_eventually(client: &Client, sql: &str, want: usize) -> Vec<tokio_postgres::Row> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = client.query(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        if rows.len() == want {
            return rows;
        }
        assert!(Instant::now() < deadline, "{sql}: {} rows, want {want}", rows.len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// NUMERIC exactly as it arrives in binary.
struct RawNumeric(Vec<u8>);

impl<'a> FromSql<'a> for RawNumeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawNumeric(raw.to_vec()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_dml_and_prepared_reads_round_trip() {
    let (addr, _engine) = serve("", Tokens::default()).await;
    let client = connect(addr, None).await.expect("connects");
    client
        .batch_execute(
            "CREATE TABLE items (k BIGINT PRIMARY KEY, name TEXT, x DOUBLE, ok BOOLEAN, at TIMESTAMP, day DATE, price DECIMAL(10, 2));
             CREATE MATERIALIZED VIEW by_ok AS SELECT ok, count(*) AS n, sum(x) AS total FROM items GROUP BY ok;
             INSERT INTO items VALUES (1, 'one', 1.5, true, '2026-11-27 19:00:00.25', '2026-11-27', 12.34), (2, 'two', -2.0, false, '2026-01-01 00:00:00', '2026-01-01', -0.05);",
        )
        .await
        .expect("DDL and DML");

    // A prepared read with an integer parameter; every type decoded from binary.
    let read = client.prepare("SELECT k, name, x, ok, at, day, price FROM items WHERE k = $1").await.expect("prepares");
    assert_eq!(read.params(), &[Type::INT8]);
    let types: Vec<Type> = read.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(types, [Type::INT8, Type::TEXT, Type::FLOAT8, Type::BOOL, Type::TIMESTAMP, Type::DATE, Type::NUMERIC]);
    let row = client.query_one(&read, &[&1i64]).await.expect("row 1");
    assert_eq!((row.get::<_, i64>(0), row.get::<_, String>(1), row.get::<_, f64>(2), row.get::<_, bool>(3)), (1, "one".into(), 1.5, true));
    let at = NaiveDate::from_ymd_opt(2026, 11, 27).and_then(|d| d.and_hms_milli_opt(19, 0, 0, 250)).expect("time");
    assert_eq!(row.get::<_, NaiveDateTime>(4), at);
    assert_eq!(row.get::<_, NaiveDate>(5), NaiveDate::from_ymd_opt(2026, 11, 27).expect("date"));
    // 12.34: 2 digits, weight 0, positive, scale 2, digits 12 and 3400 (Postgres' encoding).
    assert_eq!(row.get::<_, RawNumeric>(6).0, vec![0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x0d, 0x48]);
    // The same statement again with another value; a text parameter.
    assert_eq!(client.query_one(&read, &[&2i64]).await.expect("row 2").get::<_, String>(1), "two");
    let by_name = client.query("SELECT k FROM items WHERE name = $1 OR name = $2 ORDER BY k", &[&"two", &"one"]).await.expect("text params");
    assert_eq!(by_name.iter().map(|r| r.get::<_, i64>(0)).collect::<Vec<_>>(), [1, 2]);
    assert!(client.query("SELECT k FROM items WHERE k = $1", &[&None::<i64>]).await.expect("NULL param").is_empty());

    // DML through the extended protocol, with and without parameters; tags count rows.
    assert_eq!(client.execute("INSERT INTO items (k, name, ok) VALUES ($1, $2, $3)", &[&3i64, &"three", &true]).await.expect("insert"), 1);
    assert_eq!(client.execute("UPDATE items SET x = 10 WHERE k = 3", &[]).await.expect("update"), 1);
    assert_eq!(counts(&client, "DELETE FROM items WHERE k = 2; SELECT 1; SET search_path = public").await, [1, 1, 0]);

    // The materialized view serves the changes.
    let view = rows_eventually(&client, "SELECT ok, n, total FROM by_ok ORDER BY ok", 1).await;
    assert_eq!((view[0].get::<_, bool>(0), view[0].get::<_, i64>(1), view[0].get::<_, f64>(2)), (true, 2, 11.5));

    // A plain view, created and dropped over the wire.
    client.batch_execute("CREATE VIEW named AS SELECT k, name FROM items").await.expect("creates a view");
    assert_eq!(client.query("SELECT name FROM named ORDER BY k", &[]).await.expect("view").len(), 2);
    client.batch_execute("DROP VIEW named; DROP MATERIALIZED VIEW by_ok").await.expect("drops");
    assert_eq!(client.query("SELECT * FROM by_ok", &[]).await.expect_err("dropped").code(), Some(&SqlState::UNDEFINED_TABLE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_sqlstate_and_position() {
    let (addr, _engine) = serve("CREATE TABLE t (k BIGINT, v TEXT);", Tokens::default()).await;
    let client = connect(addr, None).await.expect("connects");
    let err = |e: tokio_postgres::Error| e.as_db_error().cloned().unwrap_or_else(|| panic!("not a server error: {e:?}"));

    let syntax = err(client.simple_query("SELECT 1;\nSELEC 2").await.expect_err("syntax"));
    assert_eq!(syntax.code(), &SqlState::SYNTAX_ERROR);
    assert!(syntax.message().contains("line 2, column 1"), "{}", syntax.message());
    assert_eq!(syntax.position(), Some(&ErrorPosition::Original(11)));

    let missing = err(client.simple_query("SELECT * FROM nope").await.expect_err("missing"));
    assert_eq!(missing.code(), &SqlState::UNDEFINED_TABLE);
    assert!(missing.message().contains("line 1, column 15"), "{}", missing.message());

    let column = err(client.query("SELECT zz FROM t", &[]).await.expect_err("column"));
    assert_eq!(column.code(), &SqlState::UNDEFINED_COLUMN, "{}", column.message());

    let ddl = err(client.batch_execute("CREATE TABLE u (a BIGINT);\nCREATE MATERIALIZED VIEW w AS SELECT nope FROM u").await.expect_err("ddl"));
    assert!(ddl.message().contains("line 2, column"), "{}", ddl.message());

    let twice = err(client.batch_execute("CREATE TABLE t (x BIGINT)").await.expect_err("exists"));
    assert_eq!(twice.code(), &SqlState::DUPLICATE_TABLE);

    let prepared = err(client.prepare("SELECT * FROM nope WHERE a = $1").await.expect_err("prepare"));
    assert_eq!(prepared.code(), &SqlState::UNDEFINED_TABLE);
    let unknown = err(client.simple_query("SHOW no_such_setting").await.expect_err("show"));
    assert_eq!(unknown.code(), &SqlState::UNDEFINED_OBJECT);

    // Nothing above broke the connection, and the first statement of a failed string stays.
    assert_eq!(client.query_one("SELECT count(*) FROM u", &[]).await.expect("still usable").get::<_, i64>(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_decide_who_may_connect_and_change() {
    let tokens = Tokens { admin: Some("admin-secret".into()), read: Some("read-secret".into()) };
    let (addr, _engine) = serve("CREATE TABLE t (k BIGINT);", tokens).await;

    let refused = connect(addr, Some("wrong")).await.expect_err("wrong password");
    assert_eq!(refused.code(), Some(&SqlState::INVALID_PASSWORD), "{refused:?}");
    assert!(connect(addr, None).await.is_err(), "no password");

    let reader = connect(addr, Some("read-secret")).await.expect("read token");
    assert_eq!(reader.query_one("SELECT count(*) FROM t", &[]).await.expect("reads").get::<_, i64>(0), 0);
    let denied = reader.batch_execute("CREATE TABLE u (a BIGINT)").await.expect_err("read token changes nothing");
    assert_eq!(denied.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    let denied = reader.execute("INSERT INTO t VALUES ($1)", &[&1i64]).await.expect_err("nor inserts");
    assert_eq!(denied.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));

    let admin = connect(addr, Some("admin-secret")).await.expect("admin token");
    admin.batch_execute("INSERT INTO t VALUES (1); CREATE TABLE u (a BIGINT)").await.expect("admin changes");
    assert_eq!(reader.query_one("SELECT count(*) FROM t", &[]).await.expect("reads").get::<_, i64>(0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_and_catalog_queries_clients_send() {
    let (addr, _engine) = serve(
        "CREATE TABLE readings (\"second\" TIMESTAMP, n BIGINT, sensor TEXT);
         CREATE MATERIALIZED VIEW per_second AS SELECT \"second\", sum(n) AS n FROM readings GROUP BY \"second\";
         CREATE VIEW named AS SELECT sensor FROM readings;",
        Tokens::default(),
    )
    .await;
    let client = connect(addr, None).await.expect("connects");
    let text = |rows: Vec<SimpleQueryMessage>| -> Vec<Vec<Option<String>>> {
        rows.into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
                _ => None,
            })
            .collect()
    };
    let one = |sql: &'static str| {
        let client = &client;
        async move { text(client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"))).remove(0).remove(0) }
    };

    assert_eq!(counts(&client, "SET extra_float_digits = 3; SET application_name = 'x'; SET TIME ZONE 'UTC'; BEGIN; COMMIT; ROLLBACK").await.len(), 6);
    assert_eq!(one("SHOW TimeZone").await.as_deref(), Some("UTC"));
    assert_eq!(one("SHOW standard_conforming_strings").await.as_deref(), Some("on"));
    assert_eq!(one("SHOW transaction isolation level").await.as_deref(), Some("read committed"));
    assert!(one("SELECT version()").await.is_some_and(|v| v.starts_with("PostgreSQL 15")));
    assert_eq!(one("SELECT current_database()").await.as_deref(), Some("anything"));
    assert_eq!(one("SELECT current_schema()").await.as_deref(), Some("public"));
    assert_eq!(client.query_one("SELECT 1", &[]).await.expect("health check").get::<_, i64>(0), 1);

    // Grafana: version probe, extension probe, schema/table/column pickers.
    assert_eq!(one("SELECT current_setting('server_version_num')::int/100 as version").await.as_deref(), Some("1500"));
    assert!(text(client.simple_query("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").await.expect("extensions")).is_empty());
    let schemas = text(
        client
            .simple_query("SELECT schema_name AS \"name\" FROM information_schema.schemata WHERE schema_name NOT IN ('information_schema', 'pg_catalog', 'pg_toast') ORDER BY schema_name")
            .await
            .expect("schemas"),
    );
    assert_eq!(schemas, [[Some("public".to_string())]]);
    let tables = text(
        client
            .simple_query(
                "SELECT
    CASE WHEN
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS \"table\"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog')
    ORDER BY 1",
            )
            .await
            .expect("tables"),
    );
    assert_eq!(tables, [["named"], ["per_second"], ["readings"]].map(|r| r.map(|s| Some(s.to_string()))));
    let columns = text(
        client
            .simple_query(
                "SELECT quote_ident(column_name) AS \"column\", data_type AS \"type\"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('per_second'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('per_second'))[1]
          AND quote_ident(table_name) = (parse_ident('per_second'))[2]
        ELSE quote_ident(table_name) = 'per_second'
          AND quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END FROM generate_series(1, 1) as i, string_to_array(current_setting('search_path'),',') s)
      END",
            )
            .await
            .expect("columns"),
    );
    let s = |v: &str| Some(v.to_string());
    assert_eq!(columns, [[s("second"), s("timestamp without time zone")], [s("n"), s("bigint")]]);

    // Grafana's expanded time-series query, through the extended protocol with no parameters.
    client.batch_execute("INSERT INTO readings VALUES ('2026-11-27 19:00:10', 1, 'a'), ('2026-11-27 19:00:10', 2, 'b'), ('2026-11-27 19:01:30', 4, 'a')").await.expect("insert");
    let series = "SELECT floor(extract(epoch from \"second\")/60)*60 AS \"time\", sum(n) AS n FROM per_second WHERE \"second\" BETWEEN '2026-11-27T19:00:00Z' AND '2026-11-27T20:00:00Z' GROUP BY 1 ORDER BY 1";
    let points = rows_eventually(&client, series, 2).await;
    let points: Vec<(f64, i64)> = points.iter().map(|r| (r.get(0), r.get(1))).collect();
    let minute = NaiveDate::from_ymd_opt(2026, 11, 27).and_then(|d| d.and_hms_opt(19, 0, 0)).expect("time").and_utc().timestamp() as f64;
    assert_eq!(points, [(minute, 3), (minute + 60.0, 4)]);

    // psql's \dt, \l.
    let dt = text(
        client
            .simple_query(
                "SELECT n.nspname as \"Schema\",
  c.relname as \"Name\",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as \"Type\",
  pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;",
            )
            .await
            .expect("\\dt"),
    );
    assert_eq!(dt, [[s("public"), s("readings"), s("table"), s("illunare")]]);
    let databases = text(
        client
            .simple_query(
                "SELECT d.datname as \"Name\", pg_catalog.pg_get_userbyid(d.datdba) as \"Owner\", pg_catalog.pg_encoding_to_char(d.encoding) as \"Encoding\",
       CASE d.datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END AS \"Locale Provider\", d.datcollate as \"Collate\", d.datctype as \"Ctype\",
       d.daticulocale as \"ICU Locale\", pg_catalog.array_to_string(d.datacl, E'\\n') AS \"Access privileges\"
FROM pg_catalog.pg_database d ORDER BY 1;",
            )
            .await
            .expect("\\l"),
    );
    assert_eq!(databases[0][..3], [s("anything"), s("illunare"), s("UTF8")]);
    // A catalog query cannot join the engine's relations.
    assert!(client.simple_query("SELECT * FROM pg_catalog.pg_class, readings").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_is_read_a_few_rows_at_a_time() {
    // The pipeline's own DML runs even when the engine is started from async code.
    let (addr, _engine) = serve("CREATE TABLE t (k BIGINT); INSERT INTO t VALUES (1), (2), (3), (4), (5);", Tokens::default()).await;
    let mut client = connect(addr, None).await.expect("connects");
    let rows_of = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, i64>(0)).collect::<Vec<_>>();
    rows_eventually(&client, "SELECT k FROM t", 5).await;
    // Execute with a row limit suspends the portal; the next Execute continues where it stopped.
    let transaction = client.transaction().await.expect("BEGIN");
    let statement = transaction.prepare("SELECT k FROM t WHERE k > $1 ORDER BY k").await.expect("prepares");
    let portal = transaction.bind(&statement, &[&1i64]).await.expect("binds");
    assert_eq!(rows_of(transaction.query_portal(&portal, 2).await.expect("first rows")), [2, 3]);
    assert_eq!(rows_of(transaction.query_portal(&portal, 1).await.expect("next row")), [4]);
    assert_eq!(rows_of(transaction.query_portal(&portal, 10).await.expect("the rest")), [5]);
    transaction.commit().await.expect("COMMIT");
}
