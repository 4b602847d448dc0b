//! Scalar and aggregate evaluation of plan expressions over rows, by DataFusion.
//!
//! Rows are converted to one Arrow batch per call, expressions are evaluated vectorised by
//! DataFusion's physical expressions (the same code the batch oracle runs), and results come
//! back as rows. When a batch fails (division by zero, a bad cast), the rows are evaluated one by
//! one so only the offending rows become errors and the rest go through: errors are data.

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::datatypes::SchemaRef;
use datafusion_common::ScalarValue;
use illunare_plan::{Aggregate, Expr};
use illunare_types::{Datum, Row, array_to_datums, rows_to_batch, transpose};

/// Why one row (or a batch) could not be evaluated.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct EvalError(pub String);

impl From<datafusion_common::DataFusionError> for EvalError {
    fn from(e: datafusion_common::DataFusionError) -> Self {
        // DataFusion wraps messages in context chains; the innermost is what the user needs.
        EvalError(e.strip_backtrace().trim().to_string())
    }
}

impl From<illunare_types::TypeError> for EvalError {
    fn from(e: illunare_types::TypeError) -> Self {
        EvalError(e.to_string())
    }
}

impl From<arrow::error::ArrowError> for EvalError {
    fn from(e: arrow::error::ArrowError) -> Self {
        EvalError(e.to_string())
    }
}

/// Runs `f`, turning a panic inside DataFusion or Arrow into an error for these rows: one bad
/// value must not take the pipeline down.
fn guarded<T>(f: impl FnOnce() -> Result<T, EvalError>) -> Result<T, EvalError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(EvalError(format!("internal error during evaluation: {what}")))
        }
    }
}

fn eval_batch(exprs: &[&Expr], schema: &SchemaRef, rows: &[&Row]) -> Result<Vec<ArrayRef>, EvalError> {
    guarded(|| {
        let batch = rows_to_batch(schema, rows.iter().copied())?;
        exprs.iter().map(|e| Ok(e.physical.evaluate(&batch)?.into_array(batch.num_rows())?)).collect()
    })
}

/// The input column of each expression, when every expression is a plain column reference
/// (projections, GROUP BY keys, aggregate arguments): such maps need no Arrow round trip.
fn column_indices(exprs: &[Expr], schema: &SchemaRef) -> Option<Vec<usize>> {
    exprs
        .iter()
        .map(|e| {
            let column = e.physical.downcast_ref::<datafusion_physical_expr::expressions::Column>()?;
            let index = column.index();
            // The column must be what the plan says it is (same name at that position).
            (index < schema.fields().len() && schema.field(index).name() == column.name()).then_some(index)
        })
        .collect()
}

/// Evaluates `exprs` on every row; each result is the output row or the error of that row.
pub fn map_rows(exprs: &[Expr], schema: &SchemaRef, rows: &[&Row]) -> Vec<Result<Row, EvalError>> {
    if let Some(indices) = column_indices(exprs, schema) {
        return rows.iter().map(|r| Ok(r.project(&indices))).collect();
    }
    let refs: Vec<&Expr> = exprs.iter().collect();
    match eval_batch(&refs, schema, rows).and_then(|arrays| {
        let columns = arrays.iter().map(|a| array_to_datums(a.as_ref())).collect::<Result<Vec<_>, _>>()?;
        Ok(transpose(columns, rows.len()))
    }) {
        Ok(out) => out.into_iter().map(Ok).collect(),
        Err(_) if rows.len() > 1 => rows.iter().flat_map(|r| map_rows(exprs, schema, &[r])).collect(),
        Err(e) => vec![Err(e)],
    }
}

/// Evaluates `predicate` on every row: whether it is true (NULL counts as false), or the error.
pub fn filter_rows(predicate: &Expr, schema: &SchemaRef, rows: &[&Row]) -> Vec<Result<bool, EvalError>> {
    let result = eval_batch(&[predicate], schema, rows).and_then(|arrays| {
        let mask = arrays[0]
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| EvalError(format!("predicate {} is not boolean", predicate.text)))?;
        Ok((0..mask.len()).map(|i| mask.is_valid(i) && mask.value(i)).collect::<Vec<_>>())
    });
    match result {
        Ok(mask) => mask.into_iter().map(Ok).collect(),
        Err(_) if rows.len() > 1 => rows.iter().flat_map(|r| filter_rows(predicate, schema, &[r])).collect(),
        Err(e) => vec![Err(e)],
    }
}

/// Converts one DataFusion scalar into a datum.
pub fn scalar_to_datum(value: &ScalarValue) -> Result<Datum, EvalError> {
    let array = value.to_array()?;
    Ok(array_to_datums(array.as_ref())?.pop().unwrap_or(Datum::Null))
}

/// Computes `aggregates` over a multiset of input rows (`(row, multiplicity)`, multiplicities
/// positive). Each aggregate gets a fresh DataFusion accumulator, so DISTINCT, ORDER BY inside the
/// call and every aggregate function behave exactly as in DataFusion. An empty input gives the
/// aggregates' values over no rows (count 0, sum NULL).
pub fn aggregate(aggregates: &[Aggregate], schema: &SchemaRef, input: &[(&Row, isize)]) -> Result<Vec<Datum>, EvalError> {
    guarded(|| aggregate_unguarded(aggregates, schema, input))
}

fn aggregate_unguarded(aggregates: &[Aggregate], schema: &SchemaRef, input: &[(&Row, isize)]) -> Result<Vec<Datum>, EvalError> {
    let mut rows: Vec<&Row> = Vec::with_capacity(input.len());
    for (row, count) in input {
        if *count < 0 {
            return Err(EvalError(format!("internal error: negative multiplicity {count} in aggregate input")));
        }
        rows.extend(std::iter::repeat_n(*row, *count as usize));
    }
    let batch = rows_to_batch(schema, rows.iter().copied())?;
    let n = batch.num_rows();
    let mut out = Vec::with_capacity(aggregates.len());
    for agg in aggregates {
        let exprs = agg.function.all_expressions();
        let mut args = exprs
            .args
            .iter()
            .chain(exprs.order_by_exprs.iter())
            .map(|e| e.evaluate(&batch).and_then(|v| v.into_array(n)))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        if let Some(filter) = &agg.filter {
            let mask = filter.physical.evaluate(&batch)?.into_array(n)?;
            let mask = mask
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| EvalError("FILTER clause is not boolean".into()))?;
            let mask = if mask.null_count() > 0 { arrow::compute::prep_null_mask_filter(mask) } else { mask.clone() };
            args = args.iter().map(|a| arrow::compute::filter(a.as_ref(), &mask)).collect::<Result<_, _>>()?;
        }
        let mut acc = agg.function.create_accumulator()?;
        acc.update_batch(&args)?;
        out.push(scalar_to_datum(&acc.evaluate()?)?);
    }
    Ok(out)
}
