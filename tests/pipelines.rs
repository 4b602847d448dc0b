//! Pipeline golden files: every `pipelines/golden/NAME.sql` runs to completion; each view must
//! equal both `NAME.expected` (the golden output) and the DataFusion oracle, and its plan must
//! equal `NAME.explain`. `ILLUNARE_BLESS=1 cargo test --test pipelines` rewrites the golden files
//! (only after the oracle agreed). Every other `pipelines/*.sql` must pass `check`.

mod common;

use std::fmt::Write;
use std::path::Path;

use illunare_coord::Pipeline;

fn golden(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(dir).expect("cd to the repository");
    let base = dir.join("pipelines/golden").join(name);
    let text = std::fs::read_to_string(base.with_extension("sql")).expect("pipeline");
    let views = common::run_and_compare(&text, 2);
    let mut output = String::new();
    for (view, rows) in &views {
        let _ = writeln!(output, "== {view} ({} rows)", rows.len());
        for r in rows {
            let _ = writeln!(output, "{r}");
        }
    }
    let pipeline = Pipeline::load(&text, &common::registry()).expect("load");
    let mut explain = String::new();
    for stmt in &pipeline.statements {
        if let illunare_sql::Statement::CreateView(v) = stmt {
            let _ = writeln!(explain, "== {}\n{}", v.name, v.plan.explain());
        }
    }
    let bless = std::env::var("ILLUNARE_BLESS").is_ok();
    for (ext, actual) in [("expected", output), ("explain", explain)] {
        let path = base.with_extension(ext);
        if bless {
            std::fs::write(&path, &actual).expect("bless");
        } else {
            let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} missing: run with ILLUNARE_BLESS=1", path.display()));
            assert!(expected == actual, "{} differs from the golden file:\n{}", path.display(), first_difference(&expected, &actual));
        }
    }
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  golden: {x}\n  actual: {y}", i + 1);
        }
    }
    format!("lengths differ: {} vs {} lines", a.lines().count(), b.lines().count())
}

#[test]
fn auction_windows() {
    golden("auction_windows");
}

#[test]
fn bidder_activity() {
    golden("bidder_activity");
}

#[test]
fn card_velocity() {
    golden("card_velocity");
}

#[test]
fn sensor_health() {
    golden("sensor_health");
}

#[test]
fn fleet_shifts() {
    golden("fleet_shifts");
}

#[test]
fn every_example_pipeline_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(dir).expect("cd");
    for entry in std::fs::read_dir(dir.join("pipelines")).expect("pipelines/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "sql") {
            let text = std::fs::read_to_string(&path).expect("read");
            if let Err(e) = Pipeline::load(&text, &common::registry()) {
                panic!("{}", e.render(&path.display().to_string(), &text));
            }
        }
    }
}
