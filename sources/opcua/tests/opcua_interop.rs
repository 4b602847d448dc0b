//! The OPC UA source against a real server we did not write (python `asyncua`, see
//! tests/peers/opcua_server.py): types, lists, subscriptions, polling, browse paths, missing
//! nodes, security, reconnects and browsing.

mod support;

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field};
use illunare_source_opcua::{BrowseOptions, Mode, Policy, SecurityOptions, browse};
use support::{Server, collect_until, create, field, next, open, rows, ts_ms};

fn poll_once(endpoint: &str, nodes: &str, pki: &str) -> Vec<(&'static str, String)> {
    vec![
        ("endpoint", endpoint.to_string()),
        ("nodes", nodes.to_string()),
        ("mode", "poll".into()),
        ("polls", "1".into()),
        ("pki_dir", pki.to_string()),
    ]
}

fn refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scalar_type_reads_as_its_sql_type() {
    let server = Server::start(&[]);
    let pki = server.client_pki();
    let cases: Vec<(&str, DataType, &str)> = vec![
        ("Boolean", DataType::Boolean, "true"),
        ("SByte", DataType::Int8, "-8"),
        ("Byte", DataType::UInt8, "200"),
        ("Int16", DataType::Int16, "-1234"),
        ("UInt16", DataType::UInt16, "54321"),
        ("Int32", DataType::Int32, "-123456"),
        ("UInt32", DataType::UInt32, "3000000000"),
        ("Int64", DataType::Int64, "-9000000000"),
        ("UInt64", DataType::UInt64, "18000000000000000000"),
        ("Float", DataType::Float32, "1.5"),
        ("Double", DataType::Float64, "3.25"),
        ("String", DataType::Utf8, "hello, opc ua"),
        ("DateTime", ts_ms(), "2024-01-02T03:04:05.678"),
        ("Guid", DataType::Utf8, "12345678-1234-5678-1234-567812345678"),
        ("ByteString", DataType::Binary, "0102ff"),
        ("XmlElement", DataType::Utf8, "<a>1</a>"),
        ("NodeId", DataType::Utf8, "ns=2;s=Target"),
        ("StatusCode", DataType::Utf8, "BadOutOfRange"),
        ("QualifiedName", DataType::Utf8, "2:Q"),
        ("LocalizedText", DataType::Utf8, "Warm"),
        // Conversions to other declared types.
        ("Int16", DataType::Int64, "-1234"),
        ("Byte", DataType::Int16, "200"),
        ("Double", DataType::Utf8, "3.25"),
        ("Int32", DataType::Float64, "-123456.0"),
        ("ByteString", DataType::Utf8, "\\x0102ff"),
        ("DateTime", DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("+00:00".into())), "2024-01-02T03:04:05.678Z"),
    ];
    for (name, dt, expect) in cases {
        let node = format!("ns=2;s={name}");
        let opts = poll_once(&server.endpoint(), &node, &pki);
        let fields = vec![field("value", dt.clone()), field("node", DataType::Utf8), field("status", DataType::Utf8)];
        let source = create(fields, &refs(&opts)).expect("create");
        let mut reader = open(&source);
        let chunk = next(&mut reader, 30).await.expect("one poll");
        illunare_connector::check_batch_schema(&source.schema(), &chunk.batch).expect("declared schema");
        assert_eq!(chunk.batch.schema().field(0).data_type(), &dt);
        let r = rows(&chunk);
        assert_eq!(r.len(), 1, "{name}");
        assert_eq!(r[0].get("node"), Some(node.as_str()));
        assert_eq!(r[0].get("status"), Some("Good"), "{name}");
        assert_eq!(r[0].get("value"), Some(expect), "{name} as {dt}");
        assert!(chunk.errors.is_empty(), "{name}: {:?}", chunk.errors);
        assert!(next(&mut reader, 10).await.is_none(), "polls = 1 ends the split");
    }

    // A value that does not fit: NULL plus an error record naming the node and the raw value.
    let opts = poll_once(&server.endpoint(), "ns=2;s=UInt32", &pki);
    let source = create(vec![field("node", DataType::Utf8), field("value", DataType::Int32)], &refs(&opts)).expect("create");
    let mut reader = open(&source);
    let chunk = next(&mut reader, 30).await.expect("one poll");
    let r = rows(&chunk);
    assert_eq!(r[0].get("value"), None);
    assert_eq!(chunk.errors.len(), 1);
    assert_eq!(chunk.errors[0].raw.as_deref(), Some("3000000000"));
    assert_eq!(chunk.errors[0].position.as_deref(), Some("ns=2;s=UInt32"));
    assert!(chunk.errors[0].error.contains("out of range"), "{:?}", chunk.errors[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_become_lists() {
    let server = Server::start(&[]);
    let pki = server.client_pki();
    let opts = poll_once(&server.endpoint(), "ns=2;s=DoubleArray", &pki);
    let list = DataType::List(Arc::new(Field::new("item", DataType::Float64, true)));
    let source = create(vec![field("value", list.clone())], &refs(&opts)).expect("create");
    let chunk = next(&mut open(&source), 30).await.expect("poll");
    assert_eq!(chunk.batch.schema().field(0).data_type(), &list);
    assert_eq!(rows(&chunk)[0].get("value"), Some("[1.0, 2.5, -3.0]"));

    let source = create(vec![field("value", DataType::Utf8)], &refs(&opts)).expect("create");
    let chunk = next(&mut open(&source), 30).await.expect("poll");
    assert_eq!(rows(&chunk)[0].get("value"), Some("[1, 2.5, -3]"));

    // An array is not a scalar: NULL and an error record.
    let source = create(vec![field("value", DataType::Float64)], &refs(&opts)).expect("create");
    let chunk = next(&mut open(&source), 30).await.expect("poll");
    assert_eq!(rows(&chunk)[0].get("value"), None);
    assert_eq!(chunk.errors.len(), 1, "{:?}", chunk.errors);
    assert_eq!(chunk.errors[0].raw.as_deref(), Some("[1, 2.5, -3]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_delivers_counter_changes_in_order() {
    let server = Server::start(&[]);
    let pki = server.client_pki();
    let endpoint = server.endpoint();
    let source = create(
        vec![field("source_ts", ts_ms()), field("value", DataType::Float64), field("node", DataType::Utf8), field("status", DataType::Utf8)],
        &[("endpoint", &endpoint), ("nodes", " ns=2;s=Counter "), ("sampling_interval", "50ms"), ("pki_dir", &pki)],
    )
    .expect("create");
    assert!(!source.bounded());
    let mut reader = open(&source);
    let (all, errors) = collect_until(&mut reader, 60, |r, _| r.len() >= 12).await;
    assert!(errors.is_empty(), "{errors:?}");
    let values: Vec<f64> = all.iter().map(|r| r.get("value").expect("value").parse().expect("number")).collect();
    let times: Vec<String> = all.iter().map(|r| r.get("source_ts").expect("source_ts").to_string()).collect();
    for r in &all {
        assert_eq!(r.get("node"), Some("ns=2;s=Counter"));
        assert_eq!(r.get("status"), Some("Good"));
    }
    for w in values.windows(2) {
        assert!(w[1] > w[0], "values must increase: {values:?}");
    }
    for w in times.windows(2) {
        assert!(w[1] > w[0], "source timestamps must increase: {times:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_deadband_filters_small_changes() {
    let server = Server::start(&[]);
    let pki = server.client_pki();
    let endpoint = server.endpoint();
    let source = create(
        vec![field("value", DataType::Float64), field("status", DataType::Utf8)],
        &[("endpoint", &endpoint), ("nodes", "ns=2;s=Steps"), ("sampling_interval", "50ms"), ("deadband", "3"), ("deadband_type", "absolute"), ("pki_dir", &pki)],
    )
    .expect("create");
    let (all, _) = collect_until(&mut open(&source), 60, |r, _| r.len() >= 5).await;
    let values: Vec<f64> = all.iter().map(|r| r.get("value").expect("value").parse().expect("number")).collect();
    // Steps moves +1, +5, +1, +5 … (1, 6, 7, 12, …): with a deadband of 3 only the +5 moves
    // are reported, so after the initial value every row is a multiple of 6.
    for v in &values[1..] {
        assert!(v % 6.0 == 0.0, "deadband not applied: {values:?}");
    }
    for w in values[1..].windows(2) {
        assert!(w[1] > w[0], "{values:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mode_with_polls_is_bounded() {
    let server = Server::start(&[]);
    let pki = server.client_pki();
    let endpoint = server.endpoint();
    let source = create(
        vec![field("node", DataType::Utf8), field("value", DataType::Float64), field("server_ts", ts_ms())],
        &[
            ("endpoint", &endpoint),
            ("nodes", "ns=2;s=Double,ns=2;s=Int32"),
            ("mode", "poll"),
            ("poll_interval", "50ms"),
            ("polls", "3"),
            ("pki_dir", &pki),
        ],
    )
    .expect("create");
    assert!(source.bounded());
    let mut reader = open(&source);
    for i in 0..3 {
        let chunk = next(&mut reader, 30).await.unwrap_or_else(|| panic!("poll {i}"));
        let r = rows(&chunk);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].get("node"), Some("ns=2;s=Double"));
        assert_eq!(r[0].get("value"), Some("3.25"));
        assert_eq!(r[1].get("value"), Some("-123456.0"));
        assert!(chunk.position.0.starts_with(&format!("polls={}", i + 1)), "{:?}", chunk.position);
    }
    assert!(next(&mut reader, 10).await.is_none(), "the split ends after 3 polls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_path_globs_resolve_to_node_ids() {
    let server = Server::start(&[]);
    let pki = server.client_pki();
    let resolve = |nodes: &'static str| {
        let opts = poll_once(&server.endpoint(), nodes, &pki);
        let source = create(vec![field("node", DataType::Utf8), field("value", DataType::Float64)], &refs(&opts)).expect("create");
        async move {
            // Resolution errors come at once, the poll's rows after them; polls = 1 then ends.
            let (all, errors) = collect_until(&mut open(&source), 30, |_, _| false).await;
            let mut found: Vec<(String, String)> =
                all.iter().map(|r| (r.get("node").unwrap_or("").to_string(), r.get("value").unwrap_or("").to_string())).collect();
            found.sort();
            (found, errors)
        }
    };
    let (one_level, _) = resolve("/Objects/Plant/*/Temperature").await;
    assert_eq!(
        one_level,
        vec![("ns=2;s=Plant.Line1.Temperature".into(), "21.5".into()), ("ns=2;s=Plant.Line2.Temperature".into(), "22.5".into())]
    );
    let (any_depth, _) = resolve("/Objects/Plant/**/Temperature").await;
    assert_eq!(
        any_depth.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        vec!["ns=2;s=Plant.Area.Line3.Temperature", "ns=2;s=Plant.Line1.Temperature", "ns=2;s=Plant.Line2.Temperature"]
    );
    let (line1, _) = resolve("/Objects/Plant/Line1/*, ns=2;s=Double").await;
    assert_eq!(
        line1.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        vec!["ns=2;s=Double", "ns=2;s=Plant.Line1.Pressure", "ns=2;s=Plant.Line1.Temperature"]
    );
    // Namespace URIs resolve through the server's namespace array; the node column keeps the text.
    let (by_uri, errors) = resolve("nsu=urn:illunare:test;s=Double, nsu=urn:nowhere;s=Double").await;
    assert_eq!(by_uri, vec![("nsu=urn:illunare:test;s=Double".into(), "3.25".into()), ("nsu=urn:nowhere;s=Double".into(), "".into())]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].error.contains("urn:nowhere"), "{errors:?}");
    let (partial, errors) = resolve("/Objects/Plant/Nowhere/*, /Objects/Plant/Line?/Pres*").await;
    assert_eq!(partial, vec![("ns=2;s=Plant.Line1.Pressure".into(), "1.5".into())]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].error.contains("/Objects/Plant/Nowhere/*") && errors[0].error.contains("matched no variable"), "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_node_is_a_bad_status_row_and_others_keep_working() {
    let server = Server::start(&[]);
    let pki = server.client_pki();
    let endpoint = server.endpoint();
    let fields = || vec![field("node", DataType::Utf8), field("status", DataType::Utf8), field("value", DataType::Float64)];
    // Subscribe: the refused item is one row, the counter keeps coming.
    let source = create(fields(), &[("endpoint", &endpoint), ("nodes", "ns=2;s=Nope, ns=2;s=Counter"), ("pki_dir", &pki)]).expect("create");
    let mut reader = open(&source);
    let (all, _) = collect_until(&mut reader, 60, |r, _| r.iter().filter(|r| r.get("node") == Some("ns=2;s=Counter")).count() >= 5).await;
    let missing: Vec<_> = all.iter().filter(|r| r.get("node") == Some("ns=2;s=Nope")).collect();
    assert_eq!(missing.len(), 1, "{all:?}");
    assert_eq!(missing[0].get("status"), Some("BadNodeIdUnknown"));
    assert_eq!(missing[0].get("value"), None);
    assert!(all.iter().filter(|r| r.get("node") == Some("ns=2;s=Counter")).all(|r| r.get("status") == Some("Good") && r.get("value").is_some()));

    // Poll: every poll has the bad row next to the good one.
    let source = create(
        fields(),
        &[("endpoint", &endpoint), ("nodes", "ns=2;s=Nope, ns=2;s=Double"), ("mode", "poll"), ("poll_interval", "20ms"), ("polls", "2"), ("pki_dir", &pki)],
    )
    .expect("create");
    let mut reader = open(&source);
    for _ in 0..2 {
        let r = rows(&next(&mut reader, 30).await.expect("poll"));
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].get("node"), r[0].get("status"), r[0].get("value")), (Some("ns=2;s=Nope"), Some("BadNodeIdUnknown"), None));
        assert_eq!((r[1].get("status"), r[1].get("value")), (Some("Good"), Some("3.25")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_and_timestamps() {
    let server = Server::start(&[]);
    let pki = server.client_pki();
    let endpoint = server.endpoint();
    let fields = || {
        vec![field("node", DataType::Utf8), field("status", DataType::Utf8), field("value", DataType::Float64), field("source_ts", ts_ms()), field("server_ts", ts_ms())]
    };
    let base = [("endpoint", endpoint.as_str()), ("nodes", "ns=2;s=Uncertain, ns=2;s=NoSourceTs"), ("mode", "poll"), ("polls", "1"), ("pki_dir", &pki), ("security_policy", "None")];
    let source = create(fields(), &base).expect("create");
    let r = rows(&next(&mut open(&source), 30).await.expect("poll"));
    // Uncertain keeps its value; only bad statuses lose it.
    assert_eq!((r[0].get("status"), r[0].get("value")), (Some("UncertainLastUsableValue"), Some("5.0")));
    assert_eq!((r[1].get("status"), r[1].get("value")), (Some("Good"), Some("7.0")));
    assert_eq!(r[1].get("source_ts"), None, "no SourceTimestamp: NULL without the fallback");
    assert_eq!(r[1].get("server_ts"), Some("2024-05-06T07:08:09"));

    let mut source_only = base.to_vec();
    source_only.push(("timestamps", "source"));
    let source = create(fields(), &source_only).expect("create");
    let r = rows(&next(&mut open(&source), 30).await.expect("poll"));
    assert!(r[0].get("source_ts").is_some() && r[0].get("server_ts").is_none(), "timestamps = 'source': {r:?}");

    let mut with_fallback = base.to_vec();
    with_fallback.push(("source_ts_fallback", "server"));
    let source = create(fields(), &with_fallback).expect("create");
    let r = rows(&next(&mut open(&source), 30).await.expect("poll"));
    assert_eq!(r[1].get("source_ts"), Some("2024-05-06T07:08:09"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic256sha256_sign_and_encrypt_with_user_name() {
    let server = Server::start(&["--security", "basic256sha256", "--user", "alice", "--password", "s3cret"]);
    let pki = server.client_pki();
    let endpoint = server.endpoint();
    let secure = |password: &'static str, trust: &'static str| {
        vec![
            ("endpoint", endpoint.clone()),
            ("nodes", "ns=2;s=Double".to_string()),
            ("mode", "poll".into()),
            ("polls", "1".into()),
            ("pki_dir", pki.clone()),
            ("security_policy", "Basic256Sha256".into()),
            ("security_mode", "SignAndEncrypt".into()),
            ("username", "alice".into()),
            ("password", password.into()),
            ("trust_server_certificate", trust.into()),
        ]
    };
    let fields = || vec![field("value", DataType::Float64), field("status", DataType::Utf8)];

    // Trust on first use, explicitly opted in.
    let opts = secure("s3cret", "true");
    let source = create(fields(), &refs(&opts)).expect("create");
    let r = rows(&next(&mut open(&source), 30).await.expect("poll"));
    assert_eq!((r[0].get("status"), r[0].get("value")), (Some("Good"), Some("3.25")));
    assert!(std::fs::read_dir(format!("{pki}/trusted")).expect("trusted dir").count() == 1, "the server certificate was stored as trusted");

    // Now in the trust store: no opt-in needed.
    let opts = secure("s3cret", "false");
    let source = create(fields(), &refs(&opts)).expect("create");
    let r = rows(&next(&mut open(&source), 30).await.expect("poll"));
    assert_eq!(r[0].get("value"), Some("3.25"));

    // A wrong password is a clear error, not a hang.
    let opts = secure("wrong", "false");
    let source = create(fields(), &refs(&opts)).expect("create");
    let mut reader = open(&source);
    let err = tokio::time::timeout(Duration::from_secs(30), reader.next()).await.expect("no hang").expect_err("wrong password").to_string();
    assert!(err.contains("rejected user 'alice'") && err.contains("Bad"), "{err}");
    assert!(!err.contains("wrong"), "the password must not appear: {err}");

    // Anonymous is not accepted by this server: said so before trying.
    let mut anon = secure("x", "false");
    anon.retain(|(k, _)| *k != "username" && *k != "password");
    let source = create(fields(), &refs(&anon)).expect("create");
    let err = tokio::time::timeout(Duration::from_secs(30), open(&source).next()).await.expect("no hang").expect_err("anonymous").to_string();
    assert!(err.contains("does not accept anonymous access") && err.contains("UserName"), "{err}");

    // Asking for a security the server does not offer.
    let mut none = secure("s3cret", "false");
    none.retain(|(k, _)| *k != "security_policy" && *k != "security_mode");
    let source = create(fields(), &refs(&none)).expect("create");
    let err = tokio::time::timeout(Duration::from_secs(30), open(&source).next()).await.expect("no hang").expect_err("None").to_string();
    assert!(err.contains("offers no endpoint with security_policy = 'None'") && err.contains("Basic256Sha256/SignAndEncrypt"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_certificate_identity() {
    let server = Server::start(&["--security", "basic256sha256", "--user-cert-auth"]);
    let pki = server.client_pki();
    let endpoint = server.endpoint();
    let cert = server.cert_dir().join("user_cert.der").display().to_string();
    let key = server.cert_dir().join("user_key.pem").display().to_string();
    let source = create(
        vec![field("value", DataType::Float64), field("status", DataType::Utf8)],
        &[
            ("endpoint", &endpoint),
            ("nodes", "ns=2;s=Double"),
            ("mode", "poll"),
            ("polls", "1"),
            ("pki_dir", &pki),
            ("security_policy", "Basic256Sha256"),
            ("trust_server_certificate", "true"),
            ("user_certificate", &cert),
            ("user_private_key", &key),
        ],
    )
    .expect("create");
    let r = rows(&next(&mut open(&source), 30).await.expect("poll"));
    assert_eq!((r[0].get("status"), r[0].get("value")), (Some("Good"), Some("3.25")));

    // Another certificate (the client's own application certificate) is refused clearly.
    let own_cert = format!("{pki}/own/cert.der");
    let own_key = format!("{pki}/private/private.pem");
    let source = create(
        vec![field("value", DataType::Float64)],
        &[
            ("endpoint", &endpoint),
            ("nodes", "ns=2;s=Double"),
            ("mode", "poll"),
            ("polls", "1"),
            ("pki_dir", &pki),
            ("security_policy", "Basic256Sha256"),
            ("user_certificate", &own_cert),
            ("user_private_key", &own_key),
        ],
    )
    .expect("create");
    let err = tokio::time::timeout(Duration::from_secs(30), open(&source).next()).await.expect("no hang").expect_err("wrong cert").to_string();
    assert!(err.contains("rejected the user certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_server_certificate_is_a_clear_error() {
    let server = Server::start(&["--security", "basic256sha256"]);
    let pki = server.dir.path().join("client-pki");
    let pki_text = pki.display().to_string();
    let endpoint = server.endpoint();
    let opts = [
        ("endpoint", endpoint.as_str()),
        ("nodes", "ns=2;s=Double"),
        ("mode", "poll"),
        ("polls", "1"),
        ("pki_dir", pki_text.as_str()),
        ("security_policy", "Basic256Sha256"),
        ("security_mode", "Sign"),
    ];
    let source = create(vec![field("value", DataType::Float64)], &opts).expect("create");
    for _ in 0..2 {
        let err = tokio::time::timeout(Duration::from_secs(30), open(&source).next()).await.expect("no hang").expect_err("untrusted").to_string();
        assert!(err.contains("is not trusted") && err.contains("illunare test server"), "{err}");
        assert!(err.contains("trust_server_certificate = 'true'"), "{err}");
        assert!(err.contains(&format!("{}", pki.join("trusted").display())), "{err}");
        let rejected: Vec<_> = std::fs::read_dir(pki.join("rejected")).expect("rejected dir").map(|e| e.expect("entry").path()).collect();
        assert_eq!(rejected.len(), 1);
        let file = rejected[0].file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let thumbprint = err.split("thumbprint ").nth(1).and_then(|t| t.split(['.', ' ']).next()).unwrap_or_default();
        assert!(thumbprint.len() == 40 && file.contains(thumbprint), "thumbprint {thumbprint} in {file}: {err}");
        assert!(err.contains(&file), "the error names the saved file: {err}");
    }
    // Following the instructions works: move the certificate into trusted/.
    let rejected = std::fs::read_dir(pki.join("rejected")).expect("dir").next().expect("one").expect("entry").path();
    let target = pki.join("trusted").join(rejected.file_name().expect("name"));
    std::fs::rename(&rejected, &target).expect("move");
    let chunk = next(&mut open(&source), 30).await.expect("poll");
    assert_eq!(rows(&chunk)[0].get("value"), Some("3.25"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_reports_the_gap_and_recovers() {
    let mut server = Server::start(&[]);
    let pki = server.client_pki();
    let endpoint = server.endpoint();
    let source = create(
        vec![field("node", DataType::Utf8), field("status", DataType::Utf8), field("value", DataType::Float64), field("server_ts", ts_ms())],
        &[("endpoint", &endpoint), ("nodes", "ns=2;s=Counter, ns=2;s=Double"), ("pki_dir", &pki)],
    )
    .expect("create");
    let mut reader = open(&source);
    let (before, errors) = collect_until(&mut reader, 60, |r, _| r.iter().filter(|r| r.get("node") == Some("ns=2;s=Counter")).count() >= 3).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(before.iter().all(|r| r.get("status") == Some("Good")));

    server.kill();
    // Notifications already received may still come first; then one bad row per node.
    let (lost, _) = collect_until(&mut reader, 60, |r, _| r.iter().any(|r| r.get("status") != Some("Good"))).await;
    let bad: Vec<_> = lost.iter().filter(|r| r.get("status") != Some("Good")).collect();
    assert_eq!(bad.len(), 2, "one row per node: {lost:?}");
    for r in &bad {
        // The status the library reports for the closed socket.
        assert!(matches!(r.get("status"), Some("BadConnectionClosed" | "BadCommunicationError")), "{r:?}");
        assert_eq!(r.get("value"), None, "no stale value: {r:?}");
    }
    let mut nodes: Vec<_> = bad.iter().filter_map(|r| r.get("node")).collect();
    nodes.sort();
    assert_eq!(nodes, vec!["ns=2;s=Counter", "ns=2;s=Double"]);

    server.restart();
    let (after, errors) = collect_until(&mut reader, 90, |r, e| {
        !e.is_empty() && r.iter().filter(|r| r.get("node") == Some("ns=2;s=Counter") && r.get("status") == Some("Good")).count() >= 3
    })
    .await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let gap = &errors[0].error;
    assert!(gap.contains("lost at") && gap.contains("reconnected at") && gap.contains("may be missing"), "{gap}");
    assert_eq!(errors[0].position.as_deref(), Some(endpoint.as_str()));
    assert!(after.iter().all(|r| r.get("status") == Some("Good")), "{after:?}");
    assert!(after.iter().any(|r| r.get("node") == Some("ns=2;s=Double") && r.get("value") == Some("3.25")), "subscription recreated for every node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mode_survives_a_server_restart() {
    let mut server = Server::start(&[]);
    let pki = server.client_pki();
    let endpoint = server.endpoint();
    let source = create(
        vec![field("node", DataType::Utf8), field("status", DataType::Utf8), field("value", DataType::Float64)],
        &[("endpoint", &endpoint), ("nodes", "ns=2;s=Double"), ("mode", "poll"), ("poll_interval", "50ms"), ("pki_dir", &pki)],
    )
    .expect("create");
    let mut reader = open(&source);
    let (before, _) = collect_until(&mut reader, 60, |r, _| r.len() >= 2).await;
    assert!(before.iter().all(|r| r.get("status") == Some("Good") && r.get("value") == Some("3.25")));
    server.kill();
    let (lost, _) = collect_until(&mut reader, 60, |r, _| r.iter().any(|r| r.get("status") != Some("Good"))).await;
    let bad = lost.iter().find(|r| r.get("status") != Some("Good")).expect("a bad row");
    assert!(bad.get("status").is_some_and(|s| s.starts_with("Bad")) && bad.get("value").is_none(), "{bad:?}");
    server.restart();
    let (after, errors) = collect_until(&mut reader, 90, |r, e| !e.is_empty() && r.iter().any(|r| r.get("status") == Some("Good"))).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].error.contains("changes in between may be missing"), "{errors:?}");
    assert!(after.iter().all(|r| r.get("status") == Some("Good") && r.get("value") == Some("3.25")), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_lists_the_plant_folder() {
    let server = Server::start(&[]);
    let options = BrowseOptions {
        security: SecurityOptions { policy: Policy::None, mode: Mode::None, pki_dir: server.dir.path().join("client-pki"), ..Default::default() },
    };
    let entries = tokio::time::timeout(Duration::from_secs(60), browse(&server.endpoint(), &options, 4)).await.expect("no hang").expect("browse");
    let find = |id: &str| entries.iter().find(|e| e.node_id == id).unwrap_or_else(|| panic!("{id} not in {entries:#?}"));
    let plant = find("ns=2;s=Plant");
    assert_eq!((plant.depth, plant.browse_name.as_str(), plant.node_class.as_str(), plant.data_type.as_deref()), (1, "2:Plant", "Object", None));
    let line1 = find("ns=2;s=Plant.Line1");
    assert_eq!((line1.depth, line1.node_class.as_str()), (2, "Object"));
    let t = find("ns=2;s=Plant.Line1.Temperature");
    assert_eq!((t.depth, t.browse_name.as_str(), t.node_class.as_str(), t.data_type.as_deref()), (3, "2:Temperature", "Variable", Some("Double")));
    let t3 = find("ns=2;s=Plant.Area.Line3.Temperature");
    assert_eq!(t3.depth, 4);
    assert_eq!(find("ns=2;s=DoubleArray").data_type.as_deref(), Some("Double[]"));
    assert_eq!(find("ns=2;s=String").data_type.as_deref(), Some("String"));
    // Depth-first: Line1's children come right after Line1.
    let pos = |id: &str| entries.iter().position(|e| e.node_id == id).unwrap_or(usize::MAX);
    assert!(pos("ns=2;s=Plant") < pos("ns=2;s=Plant.Line1") && pos("ns=2;s=Plant.Line1") < pos("ns=2;s=Plant.Line1.Temperature"));

    let shallow = browse(&server.endpoint(), &options, 1).await.expect("browse");
    assert!(shallow.iter().all(|e| e.depth == 1) && shallow.iter().any(|e| e.node_id == "ns=2;s=Plant"), "{shallow:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_validates_without_contacting_the_server() {
    // Nothing listens on this port: create must still succeed (no contact), and reading fails
    // clearly and promptly.
    let port = support::free_port();
    let endpoint = format!("opc.tcp://127.0.0.1:{port}/");
    let dir = tempfile::tempdir().expect("tmp");
    let pki = dir.path().display().to_string();
    let source = create(vec![field("value", DataType::Float64)], &[("endpoint", &endpoint), ("nodes", "ns=2;s=X"), ("pki_dir", &pki)]).expect("create");
    let err = tokio::time::timeout(Duration::from_secs(30), open(&source).next()).await.expect("no hang").expect_err("nothing listens").to_string();
    assert!(err.contains(&endpoint), "{err}");

    let err = create(vec![field("temperature", DataType::Float64)], &[("endpoint", &endpoint), ("nodes", "ns=2;s=X")]).err().expect("bad column").to_string();
    assert!(err.contains("'temperature' is not a column of the opcua connector"), "{err}");
    let err = create(vec![field("value", DataType::Float64)], &[("endpoint", &endpoint), ("nodes", "ns=2;s=X"), ("sampling", "1s")]).err().expect("bad option").to_string();
    assert!(err.contains("'sampling' is not an option"), "{err}");
    let err = create(vec![field("value", DataType::Float64)], &[("endpoint", &endpoint), ("nodes", "Temperature")]).err().expect("bad node").to_string();
    assert!(err.contains("'Temperature' is not a node id"), "{err}");
}
