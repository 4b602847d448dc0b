//! `partition_by`: which directory a row's file goes to (`col=value/…`, Hive style) and which
//! columns stay in the file.
//!
//! Why Hive-style directories with the partition columns *dropped* from the files: it is the
//! layout Spark, Trino, DuckDB (`hive_partitioning`) and DataFusion (`table_partition_cols`)
//! read back, taking the values from the directory names, and the one the `file` sink writes;
//! keeping the column in the file too would make DataFusion reject the table (a column declared
//! twice) and lets the two copies disagree. The manifest also records each file's partition
//! values, so a reader that honours it needs no path parsing.
//!
//! Values are the text `datum_to_text` prints (a timestamp is RFC 3339, like the `file` sink's
//! partitions), escaped as Hive does; NULL is `__HIVE_DEFAULT_PARTITION__` — the naming rules shared with the
//! `file` sink (`illunare_connector::hive`). `partition_time` / `partition_commit_delay` (the `_SUCCESS` markers) are not offered:
//! here the manifest is the commit signal.

use std::path::PathBuf;

use arrow::datatypes::{DataType, SchemaRef};
use illunare_connector::hive::{partition_columns, partition_dir, partition_value};
use illunare_connector::{ConnectorError, Row};

pub use illunare_connector::hive::DEFAULT_PARTITION;

/// A row's partition: each partition column's value as text, `None` for NULL. Empty when the
/// sink is not partitioned.
pub type PartitionKey = Vec<Option<String>>;

/// The partition columns, resolved against the relation.
#[derive(Debug, Clone)]
pub struct Partitioning {
    /// Indices of the partition columns, in `partition_by` order.
    columns: Vec<usize>,
    /// Their names, as in the relation.
    names: Vec<String>,
    /// Their types (for `datum_to_text`).
    types: Vec<DataType>,
    /// The other columns, in the relation's order: what the files hold.
    kept: Vec<usize>,
}

impl Partitioning {
    /// From the `partition_by` option (`None`: unpartitioned).
    pub fn from_option(list: Option<&str>, schema: &SchemaRef) -> Result<Partitioning, ConnectorError> {
        let columns = match list {
            None => Vec::new(),
            Some(list) => partition_columns(list, schema)?,
        };
        let names = columns.iter().map(|&c| schema.field(c).name().clone()).collect();
        let types = columns.iter().map(|&c| schema.field(c).data_type().clone()).collect();
        let kept = (0..schema.fields().len()).filter(|c| !columns.contains(c)).collect();
        Ok(Partitioning { columns, names, types, kept })
    }

    /// The partition column names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The indices of the columns the files hold.
    pub fn kept(&self) -> &[usize] {
        &self.kept
    }

    /// A row's partition and the row without its partition columns.
    pub fn split(&self, row: &Row) -> (PartitionKey, Row) {
        if self.columns.is_empty() {
            return (Vec::new(), row.clone());
        }
        let key = self
            .columns
            .iter()
            .zip(&self.types)
            .map(|(&c, t)| partition_value(row.get(c), t))
            .collect();
        (key, row.project(&self.kept))
    }

    /// The partition's directory relative to the sink's path (empty when unpartitioned).
    pub fn dir(&self, key: &PartitionKey) -> PathBuf {
        partition_dir(self.names.iter().map(String::as_str), key)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema};
    use illunare_connector::hive::escape_path_value;
    use illunare_types::Datum;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("date", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("host", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn directories_and_kept_columns() {
        let p = Partitioning::from_option(Some("Date, host"), &schema()).unwrap();
        assert_eq!(p.kept(), &[1]);
        let (key, rest) = p.split(&Row(vec![Datum::str("2024-01-02"), Datum::Int(5), Datum::Null]));
        assert_eq!(key, vec![Some("2024-01-02".to_string()), None]);
        assert_eq!(rest, Row(vec![Datum::Int(5)]));
        assert_eq!(p.dir(&key), PathBuf::from("date=2024-01-02").join("host=__HIVE_DEFAULT_PARTITION__"));
        assert_eq!(escape_path_value("a/b=c%"), "a%2Fb%3Dc%25");
    }

    #[test]
    fn bad_lists() {
        assert!(Partitioning::from_option(Some("nope"), &schema()).unwrap_err().to_string().contains("partition_by"));
        assert!(Partitioning::from_option(Some("date,date"), &schema()).is_err());
        assert!(Partitioning::from_option(Some("date, n, host"), &schema()).is_err());
        assert!(Partitioning::from_option(Some(""), &schema()).is_err());
        let unpartitioned = Partitioning::from_option(None, &schema()).unwrap();
        assert_eq!(unpartitioned.dir(&Vec::new()), PathBuf::new());
    }
}
