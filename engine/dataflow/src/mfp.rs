//! Map/filter chains, evaluated vectorised.
//!
//! Consecutive `Map` and `Filter` nodes are fused into one operator: each incoming container
//! of updates becomes one Arrow batch, every step runs on it with DataFusion (filters shrink the
//! batch, maps replace it), and the survivors become rows again — one conversion in and one out
//! for the whole chain. A row whose evaluation fails leaves through the error output with the
//! message and the offending row; the others are unaffected.

use arrow::array::{ArrayRef, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
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
    Map { exprs: Vec<Expr>, input: SchemaRef, output: SchemaRef },
    Filter { predicate: Expr, input: SchemaRef },
}

/// The steps of the Map/Filter chain starting at `plan` (in evaluation order) and the node
/// below the chain. No steps when `plan` is not a Map or Filter.
pub fn chain_steps(plan: &illunare_plan::Plan) -> (Vec<Step>, &illunare_plan::Plan) {
    use illunare_plan::Node;
    let mut steps = Vec::new();
    let mut current = plan;
    loop {
        match &current.node {
            Node::Map { input, exprs } => steps.push(Step::Map { exprs: exprs.clone(), input: input.schema.clone(), output: current.schema.clone() }),
            Node::Filter { input, predicate } => steps.push(Step::Filter { predicate: predicate.clone(), input: input.schema.clone() }),
            _ => break,
        }
        current = current.inputs()[0];
    }
    steps.reverse();
    (steps, current)
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
            Step::Map { exprs, input, .. } => {
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

/// Applies `steps` to a whole Arrow batch (the vectorised fast path for source batches).
/// Fails as a whole if any row fails; callers then fall back to [`apply_steps`] per row.
pub fn apply_steps_to_batch(steps: &[Step], batch: RecordBatch) -> Result<RecordBatch, String> {
    let mut batch = batch;
    for step in steps {
        let n = batch.num_rows();
        batch = match step {
            Step::Filter { predicate, .. } => {
                let mask = predicate.physical.evaluate(&batch).and_then(|v| v.into_array(n)).map_err(|e| e.to_string())?;
                let mask = mask.as_any().downcast_ref::<BooleanArray>().ok_or("predicate is not boolean")?;
                filter_record_batch(&batch, mask).map_err(|e| e.to_string())?
            }
            Step::Map { exprs, output, .. } => {
                let columns = exprs
                    .iter()
                    .map(|e| e.physical.evaluate(&batch).and_then(|v| v.into_array(n)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                batch_of(output, columns, n).map_err(|e| e.to_string())?
            }
        };
    }
    Ok(batch)
}

/// A batch of `schema`'s columns, except that a column may come dictionary-encoded where the
/// schema has the dictionary's value type (a source's dictionary pushdown,
/// `source_pushdown::dictionary_columns`): the batch's schema then says so.
pub fn batch_of(schema: &SchemaRef, columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch, arrow::error::ArrowError> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    let encoded = |(field, column): (&arrow::datatypes::FieldRef, &ArrayRef)| matches!(column.data_type(), DataType::Dictionary(_, values) if values.as_ref() == field.data_type());
    if !schema.fields().iter().zip(&columns).any(encoded) {
        return RecordBatch::try_new_with_options(schema.clone(), columns, &options);
    }
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| if encoded((f, c)) { std::sync::Arc::new(f.as_ref().clone().with_data_type(c.data_type().clone())) } else { f.clone() })
        .collect();
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(fields, schema.metadata().clone()));
    RecordBatch::try_new_with_options(schema, columns, &options)
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
