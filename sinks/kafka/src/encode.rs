//! What a commit's updates become as Kafka records, per envelope. Pure functions, no I/O.
//!
//! - **upsert** (needs `key`): per key, its final row as the value, or a tombstone (no value)
//!   when the key's row was deleted — the log compacts to exactly the view.
//! - **debezium**: `{"before", "after", "op": "c"|"u"|"d", "ts_ms", "source"}`; with a key,
//!   an update is one `u` record carrying both rows; without one, every insertion is a `c` and
//!   every retraction a `d`.
//! - **append**: every inserted row (repeated by its count); a retraction means the relation is
//!   not append-only, which is an error unless `ignore_retractions`.
//!
//! Keys are JSON objects of the key columns (`{"card_id": 42}`), values JSON objects of all
//! columns, in the relation's column order.

use arrow::datatypes::Schema;
use illunare_connector::changes::{ReduceError, append, reduce};
use illunare_types::{Diff, Row, Time, datum_to_json, row_to_json};
use serde_json::{Map, Value, json};

/// How updates are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    Upsert,
    Debezium,
    Append { ignore_retractions: bool },
}

/// One Kafka record to produce: JSON key (if the sink has one) and value (`None`: tombstone).
#[derive(Clone, Debug, PartialEq)]
pub struct OutRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// The sink's encoding: its relation's columns, key columns and envelope.
pub struct Encoder {
    pub schema: Schema,
    /// Key column indices.
    pub key: Vec<usize>,
    pub envelope: Envelope,
    /// Names the sink and relation in Debezium's `source` block.
    pub sink: String,
    pub relation: String,
}

/// Why a commit cannot be encoded (the relation does not fit the sink's declared shape).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("the key ({key}) is not a key of '{relation}': {count} rows for key {values}, e.g. {rows}")]
    DuplicateKey { key: String, relation: String, count: Diff, values: String, rows: String },
    #[error("key column '{column}' is NULL in row {row}")]
    NullKey { column: String, row: String },
    #[error("'{relation}' is not append-only: it retracted row {row} at time {time}; use envelope = 'upsert' (with a key) or 'debezium', or ignore_retractions = 'true'")]
    Retraction { relation: String, row: String, time: Time },
}

impl Encoder {
    fn key_bytes(&self, row: &Row) -> Option<Vec<u8>> {
        if self.key.is_empty() {
            return None;
        }
        let map: Map<String, Value> =
            self.key.iter().map(|&i| (self.schema.field(i).name().clone(), datum_to_json(row.get(i), self.schema.field(i).data_type()))).collect();
        Some(Value::Object(map).to_string().into_bytes())
    }

    fn row_value(&self, row: &Row) -> Value {
        Value::Object(row_to_json(row, &self.schema))
    }

    fn debezium(&self, before: Option<&Row>, after: Option<&Row>, op: &str, time: Time) -> Vec<u8> {
        let value = json!({
            "before": before.map(|r| self.row_value(r)),
            "after": after.map(|r| self.row_value(r)),
            "op": op,
            "ts_ms": time,
            "source": {"connector": "illunare", "sink": self.sink, "relation": self.relation},
        });
        value.to_string().into_bytes()
    }

    fn explain(&self, e: ReduceError<'_>) -> EncodeError {
        let key_names = || self.key.iter().map(|&i| self.schema.field(i).name().as_str()).collect::<Vec<_>>().join(", ");
        match e {
            ReduceError::DuplicateKey { key, count, rows } => EncodeError::DuplicateKey {
                key: key_names(),
                relation: self.relation.clone(),
                count,
                values: format!("{key:?}"),
                rows: rows.iter().take(2).map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", "),
            },
            ReduceError::NullKey { column, row } => EncodeError::NullKey { column: self.schema.field(column).name().clone(), row: format!("{row:?}") },
            ReduceError::Retraction { row, time } => EncodeError::Retraction { relation: self.relation.clone(), row: format!("{row:?}"), time },
        }
    }

    /// The records for one commit's consolidated `updates` (sorted by time); `time` is the
    /// commit's latest update time (Debezium's `ts_ms`).
    pub fn encode(&self, updates: &[(Row, Time, Diff)], time: Time) -> Result<Vec<OutRecord>, EncodeError> {
        let mut out = Vec::new();
        match self.envelope {
            Envelope::Upsert => {
                let reduction = reduce(updates, &self.key).map_err(|e| self.explain(e))?;
                for row in &reduction.deletes {
                    out.push(OutRecord { key: self.key_bytes(row), value: None });
                }
                for row in &reduction.upserts {
                    out.push(OutRecord { key: self.key_bytes(row), value: Some(self.row_value(row).to_string().into_bytes()) });
                }
            }
            Envelope::Debezium if !self.key.is_empty() => {
                let reduction = reduce(updates, &self.key).map_err(|e| self.explain(e))?;
                for row in &reduction.deletes {
                    out.push(OutRecord { key: self.key_bytes(row), value: Some(self.debezium(Some(row), None, "d", time)) });
                }
                for (row, before) in reduction.upserts.iter().zip(&reduction.replaced) {
                    let op = if before.is_some() { "u" } else { "c" };
                    out.push(OutRecord { key: self.key_bytes(row), value: Some(self.debezium(*before, Some(row), op, time)) });
                }
            }
            Envelope::Debezium => {
                for (row, t, diff) in updates {
                    let (before, after, op) = if *diff > 0 { (None, Some(row), "c") } else { (Some(row), None, "d") };
                    for _ in 0..diff.unsigned_abs() {
                        out.push(OutRecord { key: None, value: Some(self.debezium(before, after, op, *t)) });
                    }
                }
            }
            Envelope::Append { ignore_retractions } => {
                for (row, count) in append(updates, ignore_retractions).map_err(|e| self.explain(e))? {
                    let value = self.row_value(row).to_string().into_bytes();
                    for _ in 0..count {
                        out.push(OutRecord { key: self.key_bytes(row), value: Some(value.clone()) });
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field};
    use illunare_types::Datum;

    use super::*;

    fn encoder(key: Vec<usize>, envelope: Envelope) -> Encoder {
        let schema = Schema::new(vec![Field::new("card", DataType::Int64, true), Field::new("total", DataType::Float64, true)]);
        Encoder { schema, key, envelope, sink: "s".into(), relation: "v".into() }
    }

    fn r(card: i64, total: f64) -> Row {
        Row(vec![Datum::Int(card), Datum::float(total)])
    }

    fn text(bytes: &Option<Vec<u8>>) -> Option<&str> {
        bytes.as_deref().map(|b| std::str::from_utf8(b).expect("utf8"))
    }

    fn shown(records: &[OutRecord]) -> Vec<(Option<&str>, Option<&str>)> {
        let mut v: Vec<_> = records.iter().map(|r| (text(&r.key), text(&r.value))).collect();
        v.sort();
        v
    }

    #[test]
    fn upsert_gives_final_rows_and_tombstones() {
        let updates = vec![(r(1, 5.0), 10, 1), (r(2, 1.0), 10, -1), (r(3, 1.0), 10, -1), (r(3, 2.0), 11, 1), (r(4, 1.0), 10, 1), (r(4, 1.0), 11, -1)];
        let out = encoder(vec![0], Envelope::Upsert).encode(&updates, 11).expect("encode");
        assert_eq!(
            shown(&out),
            vec![
                (Some(r#"{"card":1}"#), Some(r#"{"card":1,"total":5.0}"#)),
                (Some(r#"{"card":2}"#), None),
                (Some(r#"{"card":3}"#), Some(r#"{"card":3,"total":2.0}"#)),
            ]
        );
        let dup = vec![(r(1, 5.0), 10, 1), (r(1, 6.0), 10, 1)];
        let err = encoder(vec![0], Envelope::Upsert).encode(&dup, 10).expect_err("error").to_string();
        assert!(err.contains("not a key of 'v'"), "{err}");
    }

    #[test]
    fn debezium_pairs_updates_by_key() {
        let updates = vec![(r(1, 1.0), 10, -1), (r(1, 2.0), 10, 1), (r(2, 3.0), 10, 1), (r(3, 4.0), 10, -1)];
        let out = encoder(vec![0], Envelope::Debezium).encode(&updates, 10).expect("encode");
        let values: Vec<Value> = out.iter().map(|r| serde_json::from_slice(r.value.as_deref().expect("value")).expect("json")).collect();
        let ops: Vec<(&str, &Value, &Value)> = values.iter().map(|v| (v["op"].as_str().expect("op"), &v["before"], &v["after"])).collect();
        assert!(ops.contains(&("u", &json!({"card": 1, "total": 1.0}), &json!({"card": 1, "total": 2.0}))), "{ops:?}");
        assert!(ops.contains(&("c", &Value::Null, &json!({"card": 2, "total": 3.0}))), "{ops:?}");
        assert!(ops.contains(&("d", &json!({"card": 3, "total": 4.0}), &Value::Null)), "{ops:?}");
        assert_eq!(values[0]["ts_ms"], json!(10));

        let keyless = encoder(vec![], Envelope::Debezium).encode(&updates, 10).expect("encode");
        assert_eq!(keyless.len(), 4);
        assert!(keyless.iter().all(|r| r.key.is_none()));
    }

    #[test]
    fn append_repeats_and_rejects_retractions() {
        let out = encoder(vec![], Envelope::Append { ignore_retractions: false }).encode(&[(r(1, 1.0), 10, 2)], 10).expect("encode");
        assert_eq!(out.len(), 2);
        let err = encoder(vec![], Envelope::Append { ignore_retractions: false }).encode(&[(r(1, 1.0), 10, -1)], 10).expect_err("error");
        assert!(err.to_string().contains("not append-only"), "{err}");
        let ok = encoder(vec![], Envelope::Append { ignore_retractions: true }).encode(&[(r(1, 1.0), 10, -1)], 10).expect("encode");
        assert!(ok.is_empty());
    }
}
