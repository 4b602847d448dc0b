//! Map/filter chains, evaluated vectorised.
//!
//! Consecutive `Map` and `Filter` nodes are fused into one operator: each incoming container
//! of updates becomes one Arrow batch, every step runs on it with DataFusion (filters shrink the
//! batch, maps replace it), and the survivors become rows again — one conversion in and one out
//! for the whole chain. A row whose evaluation fails leaves through the error output with the
//! message and the offending row; the others are unaffected.

use arrow::datatypes::SchemaRef;
use differential_dataflow::AsCollection;
use illunare_eval::{filter_rows, map_rows};
use illunare_plan::Expr;
use illunare_types::{Datum, Row};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;

use crate::{Coll, Failure, Rendered, error_row};

/// One step of a chain, with the schema of its input.
#[derive(Clone)]
pub enum Step {
    Map { exprs: Vec<Expr>, input: SchemaRef },
    Filter { predicate: Expr, input: SchemaRef },
}

/// Applies `steps` to `rows`: the surviving output rows (by input index) or errors.
pub fn apply_steps(steps: &[Step], rows: Vec<Row>) -> Vec<(usize, Result<Row, Failure>)> {
    let mut current: Vec<(usize, Row)> = rows.into_iter().enumerate().collect();
    let mut failed: Vec<(usize, Result<Row, Failure>)> = Vec::new();
    for step in steps {
        if current.is_empty() {
            break;
        }
        let refs: Vec<&Row> = current.iter().map(|(_, r)| r).collect();
        match step {
            Step::Filter { predicate, input } => {
                let mask = filter_rows(predicate, input, &refs);
                let mut next = Vec::with_capacity(current.len());
                for ((i, row), keep) in current.into_iter().zip(mask) {
                    match keep {
                        Ok(true) => next.push((i, row)),
                        Ok(false) => {}
                        Err(e) => failed.push((i, Err(Failure { message: e.0, raw: describe(&row) }))),
                    }
                }
                current = next;
            }
            Step::Map { exprs, input } => {
                let out = map_rows(exprs, input, &refs);
                let mut next = Vec::with_capacity(current.len());
                for ((i, row), result) in current.into_iter().zip(out) {
                    match result {
                        Ok(r) => next.push((i, r)),
                        Err(e) => failed.push((i, Err(Failure { message: e.0, raw: describe(&row) }))),
                    }
                }
                current = next;
            }
        }
    }
    let mut out: Vec<(usize, Result<Row, Failure>)> = current.into_iter().map(|(i, r)| (i, Ok(r))).collect();
    out.extend(failed);
    out
}

/// A short human rendering of a row for error messages.
pub fn describe(row: &Row) -> String {
    let parts: Vec<String> = row
        .iter()
        .map(|d| match d {
            Datum::Str(s) => format!("'{s}'"),
            Datum::Null => "NULL".into(),
            Datum::Int(i) => i.to_string(),
            Datum::Float(f) => f.0.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    format!("({})", parts.join(", "))
}

/// Renders a fused chain over `input`, tagging errors with `relation`.
pub fn render_chain<'s>(input: Coll<'s>, steps: Vec<Step>, relation: &str) -> Rendered<'s> {
    let relation = relation.to_string();
    let tagged = input.inner.unary::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(Pipeline, "MapFilter", move |_, _| {
        move |input, output| {
            input.for_each(|time, data| {
                let mut rows = Vec::with_capacity(data.len());
                let mut stamps = Vec::with_capacity(data.len());
                for (row, t, d) in data.drain(..) {
                    rows.push(row);
                    stamps.push((t, d));
                }
                let mut session = output.session(&time);
                for (i, result) in apply_steps(&steps, rows) {
                    let (t, d) = stamps[i];
                    match result {
                        Ok(row) => session.give((Ok(row), t, d)),
                        Err(f) => session.give((Err(error_row(&relation, f)), t, d)),
                    }
                }
            });
        }
    });
    let (ok, err) = tagged.ok_err(|(r, t, d): (Result<Row, Row>, _, _)| match r {
        Ok(row) => Ok((row, t, d)),
        Err(row) => Err((row, t, d)),
    });
    Rendered { ok: ok.as_collection(), err: err.as_collection() }
}
