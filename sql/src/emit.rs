//! `CREATE [MATERIALIZED] VIEW … AS SELECT … EMIT ON WINDOW CLOSE`.
//!
//! By default a view is always current: a window's row appears with the window's first event
//! and is updated as more arrive. `EMIT ON WINDOW CLOSE` (RisingWave's spelling; what Flink's
//! window TVF aggregates always do) asks for each window's rows once, final, when the watermark
//! passes the window's end. The engine then holds each window's input until it closes instead
//! of maintaining it at every tick, and everything after the window aggregate (a MAX over the
//! windows' counts, a join with each window's maximum) sees closed windows only, once each.
//!
//! Here the clause only marks the view's aggregates (`Node::Reduce::on_window_close`); the
//! dataflow decides per aggregate how it closes (`dataflow/src/window_hold.rs`). Refused, with
//! the clause's position: a view without any window aggregate (the clause would silently mean
//! nothing), and a window over a relation without event time (a table, a source without a
//! `WATERMARK`), whose windows no watermark ever closes.

use arrow::datatypes::DataType;
use datafusion::physical_expr::expressions::Column;
use illunare_plan::{Node, Plan};

use crate::error::{Location, SqlError};

/// Marks every GROUP BY of `plan` to emit on window close; `at` is where the clause is written,
/// `has_event_time` says whether a relation's rows come in event time.
pub fn mark_on_window_close(plan: &mut Plan, at: Location, has_event_time: &dyn Fn(&str) -> bool) -> Result<(), SqlError> {
    let mut windows = Vec::new();
    mark(plan, &mut windows);
    if windows.is_empty() {
        return Err(SqlError::new(at, "EMIT ON WINDOW CLOSE needs a window aggregate, and this view has none")
            .with_hint("GROUP BY window_start, window_end of TUMBLE(…), HOP(…) or SESSION(…)"));
    }
    if let Some(name) = windows.iter().flatten().find(|name| !has_event_time(name)) {
        return Err(SqlError::new(at, format!("EMIT ON WINDOW CLOSE: a window of this view reads '{name}', which has no event time, so no watermark closes its windows"))
            .with_hint("declare WATERMARK FOR <time column> AS … on the source"));
    }
    Ok(())
}

/// Marks the Reduce nodes under `plan`; for each that groups by a `window_end`, the relations
/// its input reads.
fn mark(plan: &mut Plan, windows: &mut Vec<Vec<String>>) {
    if let Node::Reduce { input, group_keys, on_window_close, .. } = &mut plan.node {
        *on_window_close = true;
        let by_window_end = group_keys.iter().any(|k| {
            k.physical.downcast_ref::<Column>().and_then(|c| input.schema.fields().get(c.index())).is_some_and(|f| {
                f.name() == "window_end" && matches!(f.data_type(), DataType::Timestamp(..))
            })
        });
        if by_window_end {
            windows.push(input.dependencies());
        }
    }
    for input in plan.inputs_mut() {
        mark(input, windows);
    }
}
