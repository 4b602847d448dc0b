//! One observation of one node → one row of the declared columns.
//!
//! The source's columns are `node`, `value`, `status`, `source_ts` and `server_ts`; a source
//! declares any subset, in any order, with its own types (any value type [`convert`] accepts,
//! any timestamp unit). [`Columns`] is that declaration checked once at `create`, and turns a
//! list of [`Observation`]s into the Arrow batch plus the error records of values that did not
//! convert. Subscription notifications, Read results and connection-loss markers all become
//! observations, so there is one place that decides what a row looks like.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use illunare_connector::{ConnectorError, ErrorRecord};
use opcua::types::{DataValue, StatusCode, Variant};

use crate::convert::{
    Scalar, build_array, check_value_type, coerce, datetime_nanos, scalar_text, status_name, string_array,
    timestamp_array, variant_to_scalar,
};

/// The columns this connector can produce.
pub const COLUMNS: [&str; 5] = ["node", "value", "status", "source_ts", "server_ts"];

/// A value (or a failure) of one node at one moment.
#[derive(Clone, Debug)]
pub(crate) struct Observation {
    pub node: Arc<str>,
    pub value: Option<Variant>,
    pub status: StatusCode,
    /// Nanoseconds since the Unix epoch.
    pub source_ts: Option<i64>,
    pub server_ts: Option<i64>,
}

impl Observation {
    /// From a notification or Read result. With `source_fallback`, a missing source timestamp
    /// takes the server timestamp.
    pub(crate) fn from_data_value(node: Arc<str>, dv: DataValue, source_fallback: bool) -> Observation {
        let server_ts = dv.server_timestamp.as_ref().and_then(datetime_nanos);
        let mut source_ts = dv.source_timestamp.as_ref().and_then(datetime_nanos);
        if source_ts.is_none() && source_fallback {
            source_ts = server_ts;
        }
        Observation { node, value: dv.value, status: dv.status.unwrap_or(StatusCode::Good), source_ts, server_ts }
    }

    /// A bad status without a value (connection lost, node not monitorable), stamped `at`.
    pub(crate) fn status_only(node: Arc<str>, status: StatusCode, at: Option<i64>) -> Observation {
        Observation { node, value: None, status, source_ts: at, server_ts: at }
    }
}

#[derive(Clone, Debug)]
enum Column {
    Node(DataType),
    Value(DataType),
    Status(DataType),
    SourceTs(TimeUnit, Option<Arc<str>>),
    ServerTs(TimeUnit, Option<Arc<str>>),
}

/// The declared columns, checked.
#[derive(Clone, Debug)]
pub(crate) struct Columns {
    schema: SchemaRef,
    columns: Vec<Column>,
}

fn is_text(dt: &DataType) -> bool {
    matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

impl Columns {
    pub(crate) fn new(schema: &SchemaRef) -> Result<Columns, ConnectorError> {
        let mut columns = Vec::with_capacity(schema.fields().len());
        for f in schema.fields() {
            let name = f.name().to_lowercase();
            let dt = f.data_type().clone();
            let bad_type = |want: &str| ConnectorError::Schema(format!("opcua column '{}' must be {want}, not {dt}", f.name()));
            columns.push(match name.as_str() {
                "node" if is_text(&dt) => Column::Node(dt),
                "node" => return Err(bad_type("VARCHAR")),
                "status" if is_text(&dt) => Column::Status(dt),
                "status" => return Err(bad_type("VARCHAR")),
                "value" => {
                    check_value_type(&dt).map_err(|e| ConnectorError::Schema(format!("opcua column '{}': {e}", f.name())))?;
                    Column::Value(dt)
                }
                "source_ts" | "server_ts" => match &dt {
                    DataType::Timestamp(unit, tz) if name == "source_ts" => Column::SourceTs(*unit, tz.clone()),
                    DataType::Timestamp(unit, tz) => Column::ServerTs(*unit, tz.clone()),
                    _ => return Err(bad_type("TIMESTAMP")),
                },
                _ => {
                    return Err(ConnectorError::Schema(format!(
                        "'{}' is not a column of the opcua connector (columns: {})",
                        f.name(),
                        COLUMNS.join(", ")
                    )));
                }
            });
        }
        Ok(Columns { schema: schema.clone(), columns })
    }

    /// The batch of `rows`, and an error record per value that did not convert (its row keeps
    /// a NULL value).
    pub(crate) fn batch(&self, rows: &[Observation]) -> Result<(RecordBatch, Vec<ErrorRecord>), ConnectorError> {
        let mut errors = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            arrays.push(match column {
                Column::Node(dt) => string_array(dt, rows.iter().map(|r| Some(&*r.node)))?,
                Column::Status(dt) => {
                    let names: Vec<String> = rows.iter().map(|r| status_name(r.status)).collect();
                    string_array(dt, names.iter().map(|n| Some(n.as_str())))?
                }
                Column::SourceTs(unit, tz) => timestamp_array(*unit, tz.clone(), rows.iter().map(|r| r.source_ts)),
                Column::ServerTs(unit, tz) => timestamp_array(*unit, tz.clone(), rows.iter().map(|r| r.server_ts)),
                Column::Value(dt) => {
                    let mut values: Vec<Option<Scalar>> = Vec::with_capacity(rows.len());
                    for r in rows {
                        // A bad status never carries a value, even when the server sent one.
                        if r.status.is_bad() {
                            values.push(None);
                            continue;
                        }
                        let Some(scalar) = r.value.as_ref().and_then(variant_to_scalar) else {
                            values.push(None);
                            continue;
                        };
                        match coerce(&scalar, dt) {
                            Ok(v) => values.push(Some(v)),
                            Err(e) => {
                                errors.push(ErrorRecord::new(
                                    format!("value of {}: {e}", r.node),
                                    Some(scalar_text(&scalar)),
                                    Some(r.node.to_string()),
                                ));
                                values.push(None);
                            }
                        }
                    }
                    build_array(dt, &values)?
                }
            });
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)?;
        Ok((batch, errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Field, Schema};

    fn schema(fields: Vec<(&str, DataType)>) -> SchemaRef {
        Arc::new(Schema::new(fields.into_iter().map(|(n, t)| Field::new(n, t, true)).collect::<Vec<_>>()))
    }

    #[test]
    fn any_subset_in_any_order() {
        let s = schema(vec![("status", DataType::Utf8), ("value", DataType::Int32), ("node", DataType::Utf8)]);
        let cols = Columns::new(&s).unwrap();
        let rows = vec![
            Observation { node: "a".into(), value: Some(Variant::Int16(5)), status: StatusCode::Good, source_ts: None, server_ts: None },
            Observation { node: "b".into(), value: Some(Variant::Double(1.5)), status: StatusCode::Good, source_ts: None, server_ts: None },
            Observation::status_only("c".into(), StatusCode::BadNodeIdUnknown, None),
            Observation {
                node: "d".into(),
                value: Some(Variant::Int32(1)),
                status: StatusCode::BadSensorFailure,
                source_ts: None,
                server_ts: None,
            },
        ];
        let (batch, errors) = cols.batch(&rows).unwrap();
        illunare_connector::check_batch_schema(&s, &batch).unwrap();
        assert_eq!(batch.num_rows(), 4);
        let status = batch.column(0).as_string::<i32>();
        assert_eq!(status.value(0), "Good");
        assert_eq!(status.value(2), "BadNodeIdUnknown");
        let value = batch.column(1).as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!(value.value(0), 5);
        assert!(value.is_null(1), "1.5 does not fit INT");
        assert!(value.is_null(2));
        assert!(value.is_null(3), "a bad status carries no value");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].position.as_deref(), Some("b"));
        assert_eq!(errors[0].raw.as_deref(), Some("1.5"));
        assert_eq!(batch.column(2).as_string::<i32>().value(3), "d");
    }

    #[test]
    fn timestamps_take_the_declared_unit() {
        let t = DataType::Timestamp(TimeUnit::Millisecond, None);
        let s = schema(vec![("source_ts", t.clone()), ("server_ts", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())))]);
        let cols = Columns::new(&s).unwrap();
        let rows = vec![Observation::status_only("a".into(), StatusCode::Good, Some(1_500_000_000))];
        let (batch, _) = cols.batch(&rows).unwrap();
        illunare_connector::check_batch_schema(&s, &batch).unwrap();
    }

    #[test]
    fn unknown_and_mistyped_columns_are_rejected() {
        let e = Columns::new(&schema(vec![("temperature", DataType::Float64)])).unwrap_err().to_string();
        assert!(e.contains("'temperature' is not a column") && e.contains("source_ts"), "{e}");
        let e = Columns::new(&schema(vec![("node", DataType::Int64)])).unwrap_err().to_string();
        assert!(e.contains("VARCHAR"), "{e}");
        let e = Columns::new(&schema(vec![("source_ts", DataType::Utf8)])).unwrap_err().to_string();
        assert!(e.contains("TIMESTAMP"), "{e}");
        let e = Columns::new(&schema(vec![("value", DataType::Date32)])).unwrap_err().to_string();
        assert!(e.contains("cannot hold OPC UA values"), "{e}");
    }
}
