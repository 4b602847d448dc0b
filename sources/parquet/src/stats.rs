//! Row-group statistics in the declared types: what pruning and event-time bounds are
//! computed from.
//!
//! Parquet keeps, per row group and column, a minimum, a maximum and a NULL count. The
//! `parquet` crate's `StatisticsConverter` gives them as Arrow arrays of the file's column type
//! (handling logical types: timestamp units, decimals, strings); they are then cast to the
//! declared type with the same rules as the data ([`crate::columns::cast_to`]) and turned into
//! [`Datum`]s. A partition column's value is both its minimum and maximum. Missing statistics
//! are `None`: nothing is then assumed.

use arrow::array::Array;
use arrow::datatypes::{DataType, Schema, TimeUnit};
use illunare_connector::ColumnPredicate;
use illunare_types::{Datum, Time, array_to_datums};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;

use crate::columns::{ColumnSource, cast_to};

/// One column's statistics in one row group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColumnStats {
    pub min: Option<Datum>,
    pub max: Option<Datum>,
    /// Whether every value is NULL (known from the NULL count and the row count).
    pub all_null: bool,
}

/// The statistics of declared column `column` (read from the file as `source`) for every row
/// group of the file; `None` for each row group where they are unknown.
pub fn column_stats(meta: &ArrowReaderMetadata, source: &ColumnSource, declared: &DataType) -> Vec<ColumnStats> {
    let row_groups = meta.metadata().row_groups();
    let unknown = || vec![ColumnStats::default(); row_groups.len()];
    match source {
        ColumnSource::Unread => unknown(),
        ColumnSource::Partition(value) => {
            let datum = array_to_datums(value.as_ref()).ok().and_then(|d| d.into_iter().next()).unwrap_or(Datum::Null);
            let stats = if datum.is_null() {
                ColumnStats { min: None, max: None, all_null: true }
            } else {
                ColumnStats { min: Some(datum.clone()), max: Some(datum), all_null: false }
            };
            vec![stats; row_groups.len()]
        }
        ColumnSource::File { index, .. } => {
            let schema: &Schema = meta.schema();
            let Some(field) = schema.fields().get(*index) else { return unknown() };
            let Ok(converter) = StatisticsConverter::try_new(field.name(), schema, meta.parquet_schema()) else { return unknown() };
            let datums = |array: parquet::errors::Result<arrow::array::ArrayRef>| -> Option<Vec<Datum>> {
                let array = cast_to(&array.ok()?, declared).ok()?;
                array_to_datums(array.as_ref()).ok()
            };
            let mins = datums(converter.row_group_mins(row_groups.iter()));
            let maxes = datums(converter.row_group_maxes(row_groups.iter()));
            let nulls = converter.row_group_null_counts(row_groups.iter()).ok();
            (0..row_groups.len())
                .map(|rg| {
                    let pick = |v: &Option<Vec<Datum>>| v.as_ref().and_then(|v| v.get(rg)).filter(|d| !d.is_null()).cloned();
                    let rows = row_groups[rg].num_rows().max(0) as u64;
                    let null_count = nulls.as_ref().filter(|n| rg < n.len() && n.is_valid(rg)).map(|n| n.value(rg));
                    ColumnStats { min: pick(&mins), max: pick(&maxes), all_null: rows > 0 && null_count == Some(rows) }
                })
                .collect()
        }
    }
}

/// Milliseconds since the epoch (rounded down) of a timestamp datum of type `data_type`.
pub fn millis(datum: &Datum, data_type: &DataType) -> Option<Time> {
    let (Datum::Timestamp(v), DataType::Timestamp(unit, _)) = (datum, data_type) else { return None };
    let ms = match unit {
        TimeUnit::Second => v.saturating_mul(1000),
        TimeUnit::Millisecond => *v,
        TimeUnit::Microsecond => v.div_euclid(1000),
        TimeUnit::Nanosecond => v.div_euclid(1_000_000),
    };
    Some(ms.max(0) as Time)
}

/// Which row groups may hold a row satisfying all `predicates`, given each predicate
/// column's statistics (`stats[i]` for `predicates[i]`).
pub fn keep(predicates: &[ColumnPredicate], stats: &[Vec<ColumnStats>], row_groups: usize) -> Vec<bool> {
    (0..row_groups)
        .map(|rg| {
            predicates.iter().zip(stats).all(|(p, s)| match s.get(rg) {
                Some(s) => p.may_match(s.min.as_ref(), s.max.as_ref(), s.all_null),
                None => true,
            })
        })
        .collect()
}
