//! Lowering of LAG/LEAD, FIRST_VALUE/LAST_VALUE and framed window aggregates to
//! `Node::OrderedWindow` (one node per DataFusion `Window`, i.e. per distinct window spec).
//!
//! Only frames that end at the current row (or cover the whole partition) have an incremental
//! meaning the operator maintains; anything else (FOLLOWING bounds, GROUPS, IGNORE NULLS,
//! NTILE, …) is refused here with a message, never approximated.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr as DfExpr, SortExpr, WindowFrame, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition};
use datafusion::physical_expr::create_physical_expr;
#[allow(deprecated)]
use datafusion::physical_planner::create_aggregate_expr_and_maybe_filter;
use illunare_plan::{Aggregate, Expr, Frame, Node, Plan, RangeOffset, WindowCall, WindowFunc};
use illunare_types::{Datum, array_to_datums};

use super::{LowerError, Lowerer, Result, arrow_schema, unalias};

/// The numbering functions `Node::TopK` computes.
pub(super) const NUMBERING: [&str; 3] = ["row_number", "rank", "dense_rank"];

/// The name of a window expression's function (`None` when it is not a window function).
pub(super) fn function_name(e: &DfExpr) -> Option<String> {
    match unalias(e) {
        DfExpr::WindowFunction(wf) => Some(match &wf.fun {
            WindowFunctionDefinition::WindowUDF(udf) => udf.name().to_string(),
            WindowFunctionDefinition::AggregateUDF(udf) => udf.name().to_string(),
        }),
        _ => None,
    }
}

impl Lowerer {
    /// A `Window` node whose functions are LAG/LEAD/FIRST_VALUE/LAST_VALUE or aggregates.
    pub(super) fn lower_ordered_window(&self, w: &datafusion::logical_expr::Window) -> Result<Plan> {
        let schema = arrow_schema(&w.schema);
        let df = w.input.schema();
        let width = df.fields().len();
        let mut spec: Option<(&[DfExpr], &[SortExpr])> = None;
        for e in &w.window_expr {
            let DfExpr::WindowFunction(wf) = unalias(e) else {
                return Err(LowerError::new("unsupported window expression", Some("over")));
            };
            let p = &wf.params;
            match spec {
                None => spec = Some((&p.partition_by, &p.order_by)),
                Some((part, order)) if part == p.partition_by.as_slice() && order == p.order_by.as_slice() => {}
                Some(_) => return Err(LowerError::new("window functions of one Window node must share PARTITION BY and ORDER BY", Some("over"))),
            }
        }
        let (partition_by, order_by) = spec.ok_or_else(|| LowerError::new("a window node without functions", Some("over")))?;
        let lowered = self.lower(&w.input)?;
        let (with_keys, partition, order) = self.window_keys(lowered, df, partition_by, order_by)?;
        let order_type = order.first().map(|k| with_keys.schema.field(k.column).data_type().clone());
        let mut functions = Vec::new();
        let mut fields: Vec<Field> = with_keys.schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let extended_width = fields.len();
        for (i, e) in w.window_expr.iter().enumerate() {
            let field = schema.field(width + i).clone();
            let DfExpr::WindowFunction(wf) = unalias(e) else { return unreachable_expr() };
            functions.push(self.window_call(wf, df, &field, order.len(), order_type.as_ref())?);
            fields.push(field);
        }
        let node = Node::OrderedWindow { input: Box::new(with_keys), partition, order, functions };
        let windowed = Plan::new(node, Arc::new(Schema::new(fields)));
        if extended_width == width {
            return Ok(windowed);
        }
        // Drop the computed key columns: input columns, then the functions.
        let keep = (0..width).chain(extended_width..extended_width + w.window_expr.len());
        let exprs: Vec<Expr> = keep
            .map(|i| {
                let f = windowed.schema.field(i);
                Expr::new(Arc::new(datafusion::physical_expr::expressions::Column::new(f.name(), i)), f.name().clone())
            })
            .collect();
        Ok(Plan::new(Node::Map { input: Box::new(windowed), exprs }, schema))
    }

    fn window_call(&self, wf: &WindowFunction, df: &DFSchema, field: &Field, order_keys: usize, order_type: Option<&DataType>) -> Result<WindowCall> {
        let WindowFunction { fun, params } = wf;
        let WindowFunctionParams { args, window_frame, filter, null_treatment, distinct, .. } = params;
        let text = DfExpr::WindowFunction(Box::new(wf.clone())).human_display().to_string();
        let name = function_name(&DfExpr::WindowFunction(Box::new(wf.clone()))).unwrap_or_default();
        if matches!(null_treatment, Some(datafusion::logical_expr::expr::NullTreatment::IgnoreNulls)) {
            return Err(LowerError::new(format!("IGNORE NULLS is not supported in window function {name}"), Some("ignore")));
        }
        let func = match fun {
            WindowFunctionDefinition::WindowUDF(_) => match name.as_str() {
                "lag" | "lead" => {
                    let arg = args.first().ok_or_else(|| LowerError::new(format!("{name} needs an argument"), Some(&name)))?;
                    let offset = match args.get(1) {
                        None => 1,
                        Some(e) => literal_i64(e).ok_or_else(|| LowerError::new(format!("the offset of {name} must be an integer constant"), Some(&name)))?,
                    };
                    let default = match args.get(2) {
                        None => Datum::Null,
                        Some(e) => self.constant(e, field.data_type(), &name)?,
                    };
                    let offset = if name == "lag" { offset } else { offset.checked_neg().unwrap_or(i64::MAX) };
                    WindowFunc::Shift { arg: self.expr(arg, df)?, offset, default }
                }
                "first_value" | "last_value" => {
                    let arg = args.first().ok_or_else(|| LowerError::new(format!("{name} needs an argument"), Some(&name)))?;
                    let frame = frame(window_frame, order_keys, order_type)?;
                    WindowFunc::FrameValue { arg: self.expr(arg, df)?, last: name == "last_value", frame }
                }
                other => {
                    return Err(LowerError::new(
                        format!(
                            "window function {other} is not supported (supported: ROW_NUMBER, RANK, DENSE_RANK, LAG, LEAD, FIRST_VALUE, LAST_VALUE and aggregates)"
                        ),
                        Some(other),
                    ));
                }
            },
            WindowFunctionDefinition::AggregateUDF(udf) => {
                let frame = frame(window_frame, order_keys, order_type)?;
                let call = DfExpr::AggregateFunction(AggregateFunction::new_udf(udf.clone(), args.clone(), *distinct, filter.clone(), vec![], None));
                let input_arrow = arrow_schema(df);
                #[allow(deprecated)]
                let (function, filter, _) = create_aggregate_expr_and_maybe_filter(&call, df, &input_arrow, &self.props)?;
                if function.field().data_type() != field.data_type() {
                    return Err(LowerError::new(
                        format!("window aggregate {name} yields {} where the query expects {}", function.field().data_type(), field.data_type()),
                        Some(&name),
                    ));
                }
                let filter = filter.map(|f| Expr::new(f, "FILTER"));
                WindowFunc::Aggregate { aggregate: Aggregate { function, filter, text: text.clone() }, frame }
            }
        };
        Ok(WindowCall { func, text })
    }

    /// A constant expression (LAG/LEAD's default) as a datum of type `dt`.
    fn constant(&self, e: &DfExpr, dt: &DataType, function: &str) -> Result<Datum> {
        let refuse = |m: String| LowerError::new(format!("the default of {function} must be a constant: {m}"), Some(function));
        let physical = create_physical_expr(e, &DFSchema::empty(), &self.props, &PhysicalPlanningContext::default()).map_err(|e| refuse(e.to_string()))?;
        let one_row = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &RecordBatchOptions::new().with_row_count(Some(1)))
            .map_err(|e| refuse(e.to_string()))?;
        let array = physical.evaluate(&one_row).and_then(|v| v.into_array(1)).map_err(|e| refuse(e.to_string()))?;
        let array = arrow::compute::cast(&array, dt).map_err(|e| refuse(e.to_string()))?;
        let datums = array_to_datums(array.as_ref()).map_err(|e| refuse(e.to_string()))?;
        Ok(datums.into_iter().next().unwrap_or(Datum::Null))
    }
}

fn unreachable_expr<T>() -> Result<T> {
    Err(LowerError::new("unsupported window expression", Some("over")))
}

fn literal_i64(e: &DfExpr) -> Option<i64> {
    match unalias(e) {
        DfExpr::Literal(v, _) => match v {
            ScalarValue::Int8(Some(n)) => Some(*n as i64),
            ScalarValue::Int16(Some(n)) => Some(*n as i64),
            ScalarValue::Int32(Some(n)) => Some(*n as i64),
            ScalarValue::Int64(Some(n)) => Some(*n),
            ScalarValue::UInt8(Some(n)) => Some(*n as i64),
            ScalarValue::UInt16(Some(n)) => Some(*n as i64),
            ScalarValue::UInt32(Some(n)) => Some(*n as i64),
            ScalarValue::UInt64(Some(n)) => i64::try_from(*n).ok(),
            _ => None,
        },
        DfExpr::Cast(c) => literal_i64(&c.expr),
        DfExpr::TryCast(c) => literal_i64(&c.expr),
        DfExpr::Negative(inner) => literal_i64(inner).and_then(i64::checked_neg),
        _ => None,
    }
}

/// The frame a window aggregate (or FIRST/LAST_VALUE) is maintained over.
fn frame(f: &WindowFrame, order_keys: usize, order_type: Option<&DataType>) -> Result<Frame> {
    let unbounded_end = matches!(&f.end_bound, WindowFrameBound::Following(v) if v.is_null());
    let start_unbounded = matches!(&f.start_bound, WindowFrameBound::Preceding(v) if v.is_null());
    match (&f.start_bound, &f.end_bound) {
        (_, WindowFrameBound::Following(v)) if !v.is_null() => {
            return Err(LowerError::new("window frames ending at n FOLLOWING are not supported (frames end at CURRENT ROW)", Some("following")));
        }
        (WindowFrameBound::Following(_), _) => {
            return Err(LowerError::new("window frames starting FOLLOWING the current row are not supported", Some("following")));
        }
        (_, WindowFrameBound::Preceding(_)) => {
            return Err(LowerError::new("window frames ending before the current row (n PRECEDING) are not supported", Some("preceding")));
        }
        _ => {}
    }
    if f.units == WindowFrameUnits::Groups {
        return Err(LowerError::new("GROUPS window frames are not supported (use ROWS or RANGE)", Some("groups")));
    }
    if unbounded_end {
        if start_unbounded {
            return Ok(Frame::Partition);
        }
        return Err(LowerError::new("window frames ending at UNBOUNDED FOLLOWING are only supported from UNBOUNDED PRECEDING", Some("following")));
    }
    if order_keys == 0 {
        // Without ORDER BY every row is a peer of every other: a RANGE frame is the partition.
        return match f.units {
            WindowFrameUnits::Range => Ok(Frame::Partition),
            _ => Err(LowerError::new("a ROWS frame needs an ORDER BY in the window (the row order is otherwise undefined)", Some("rows"))),
        };
    }
    let start = match &f.start_bound {
        WindowFrameBound::Preceding(v) if v.is_null() => None,
        WindowFrameBound::Preceding(v) => Some(v.clone()),
        _ => None,
    };
    let current = matches!(f.start_bound, WindowFrameBound::CurrentRow);
    match f.units {
        WindowFrameUnits::Rows => {
            let preceding = match (current, start) {
                (true, _) => Some(0),
                (false, None) => None,
                (false, Some(v)) => Some(scalar_u64(&v).ok_or_else(|| LowerError::new(format!("ROWS frame offset {v} is not a non-negative integer"), Some("preceding")))?),
            };
            Ok(Frame::Rows { preceding })
        }
        _ => {
            if start.is_none() && !current {
                return Ok(Frame::Range { preceding: None });
            }
            if order_keys != 1 {
                return Err(LowerError::new("a RANGE frame with an offset needs exactly one ORDER BY key", Some("range")));
            }
            let key_type = order_type.cloned().unwrap_or(DataType::Null);
            let offset = match &start {
                None => zero(&key_type),
                Some(v) => range_offset(v, &key_type),
            };
            if let Some(ScalarValue::IntervalMonthDayNano(Some(i))) = &start
                && i.months != 0
            {
                return Err(LowerError::new(
                    format!("a RANGE frame offset of {} month(s) has no fixed length and is not supported", i.months),
                    Some("range"),
                )
                .hint("write the offset in days, e.g. INTERVAL '30' DAY PRECEDING (over a DATE key, a bare number is read as months)"));
            }
            let offset = offset.ok_or_else(|| {
                let value = start.as_ref().map(|v| format!(" {v} ({})", v.data_type())).unwrap_or_default();
                LowerError::new(format!("RANGE frame offset{value} over an ORDER BY key of type {key_type} is not supported"), Some("range"))
                    .hint("order by a number, date or timestamp (with a day/hour/minute/second interval)")
            })?;
            Ok(Frame::Range { preceding: Some(offset) })
        }
    }
}

fn scalar_u64(v: &ScalarValue) -> Option<u64> {
    match v {
        ScalarValue::UInt64(Some(n)) => Some(*n),
        ScalarValue::UInt32(Some(n)) => Some(*n as u64),
        ScalarValue::Int64(Some(n)) => u64::try_from(*n).ok(),
        ScalarValue::Int32(Some(n)) => u64::try_from(*n).ok(),
        _ => None,
    }
}

fn zero(key_type: &DataType) -> Option<RangeOffset> {
    match key_type {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Some(RangeOffset::Float(0.0)),
        _ => Some(RangeOffset::Int(0)),
    }
}

/// `v` (a RANGE offset, as DataFusion coerced it) in the units of the ORDER BY key.
fn range_offset(v: &ScalarValue, key_type: &DataType) -> Option<RangeOffset> {
    let integer = || -> Option<i128> {
        Some(match v {
            ScalarValue::Int8(Some(n)) => *n as i128,
            ScalarValue::Int16(Some(n)) => *n as i128,
            ScalarValue::Int32(Some(n)) => *n as i128,
            ScalarValue::Int64(Some(n)) => *n as i128,
            ScalarValue::UInt8(Some(n)) => *n as i128,
            ScalarValue::UInt16(Some(n)) => *n as i128,
            ScalarValue::UInt32(Some(n)) => *n as i128,
            ScalarValue::UInt64(Some(n)) => *n as i128,
            _ => return None,
        })
    };
    // Interval length in nanoseconds (no months: their length varies).
    let nanos = || -> Option<i128> {
        match v {
            ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 => Some(i.days as i128 * 86_400_000_000_000 + i.nanoseconds as i128),
            ScalarValue::IntervalDayTime(Some(i)) => Some(i.days as i128 * 86_400_000_000_000 + i.milliseconds as i128 * 1_000_000),
            ScalarValue::DurationSecond(Some(n)) => Some(*n as i128 * 1_000_000_000),
            ScalarValue::DurationMillisecond(Some(n)) => Some(*n as i128 * 1_000_000),
            ScalarValue::DurationMicrosecond(Some(n)) => Some(*n as i128 * 1_000),
            ScalarValue::DurationNanosecond(Some(n)) => Some(*n as i128),
            _ => None,
        }
    };
    let offset = match key_type {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            RangeOffset::Int(integer()?)
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => RangeOffset::Float(match v {
            ScalarValue::Float32(Some(f)) => *f as f64,
            ScalarValue::Float64(Some(f)) => *f,
            _ => integer()? as f64,
        }),
        DataType::Decimal128(_, scale) => match v {
            ScalarValue::Decimal128(Some(n), _, s) if s == scale => RangeOffset::Int(*n),
            ScalarValue::Decimal128(Some(n), _, s) if s < scale => RangeOffset::Int(n.checked_mul(10i128.checked_pow((scale - s) as u32)?)?),
            _ => RangeOffset::Int(integer()?.checked_mul(10i128.checked_pow(u32::try_from(*scale).ok()?)?)?),
        },
        DataType::Timestamp(unit, _) => {
            let per = match unit {
                TimeUnit::Second => 1_000_000_000,
                TimeUnit::Millisecond => 1_000_000,
                TimeUnit::Microsecond => 1_000,
                TimeUnit::Nanosecond => 1,
            };
            RangeOffset::Int(nanos()?.div_euclid(per))
        }
        DataType::Date32 => RangeOffset::Int(nanos()?.div_euclid(86_400_000_000_000)),
        _ => return None,
    };
    match offset {
        RangeOffset::Int(n) if n < 0 => None,
        RangeOffset::Float(f) if f.is_nan() || f < 0.0 => None,
        o => Some(o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_offsets_convert_to_the_key_unit() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let ten_min = ScalarValue::IntervalMonthDayNano(Some(arrow::datatypes::IntervalMonthDayNano::new(0, 0, 600_000_000_000)));
        assert_eq!(range_offset(&ten_min, &ts), Some(RangeOffset::Int(600_000)));
        let month = ScalarValue::IntervalMonthDayNano(Some(arrow::datatypes::IntervalMonthDayNano::new(1, 0, 0)));
        assert_eq!(range_offset(&month, &ts), None);
        assert_eq!(range_offset(&ScalarValue::UInt64(Some(3)), &DataType::Int32), Some(RangeOffset::Int(3)));
        assert_eq!(range_offset(&ScalarValue::Int64(Some(2)), &DataType::Decimal128(10, 2)), Some(RangeOffset::Int(200)));
        assert_eq!(range_offset(&ScalarValue::Utf8(Some("x".into())), &DataType::Utf8), None);
    }
}
