//! Matching the declared columns to one file's columns, and the casts allowed between them.
//!
//! The declared column list is authoritative. Each declared column is found in the file by name
//! (exactly, else ignoring ASCII case, like the `file` source) or, when the file lacks it, in
//! a Hive partition directory of the file's path (`…/date=2024-01-01/part.parquet`), typed by
//! the declared type. A file type converts to the declared one only when the conversion loses
//! nothing that matters (integer and float widening, string and binary encodings, timestamp
//! units — the instant is kept, not re-interpreted in a time zone — date widths, decimal
//! widening); anything else is an error naming the file, the column and both types, rather
//! than silently wrapped or rounded values.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray, make_array, new_null_array};
use arrow::compute::{CastOptions, cast, cast_with_options};
use arrow::datatypes::{DataType, Schema};
use illunare_connector::hive::DEFAULT_PARTITION;

use crate::error::ParquetSourceError;

/// Where one declared column's values come from, in one file.
#[derive(Clone, Debug)]
pub enum ColumnSource {
    /// The file's top-level column `index` (of the file's Arrow schema), of type `from`.
    File { index: usize, from: DataType },
    /// A partition directory's value: one row of the declared type (NULL for Hive's default
    /// partition).
    Partition(ArrayRef),
    /// Not read (projection pushdown): all NULL.
    Unread,
}

/// How a file's columns become the declared ones.
#[derive(Clone, Debug)]
pub struct FilePlan {
    pub columns: Vec<ColumnSource>,
    /// The file's top-level columns to decode, ascending (the order batches come in).
    pub roots: Vec<usize>,
}

/// Whether values of type `from` convert to `to` without loss that matters (see module doc).
pub fn castable(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to {
        return true;
    }
    let int_bits = |t: &DataType| match t {
        Int8 => Some(8),
        Int16 => Some(16),
        Int32 => Some(32),
        Int64 => Some(64),
        _ => None,
    };
    let uint_bits = |t: &DataType| match t {
        UInt8 => Some(8),
        UInt16 => Some(16),
        UInt32 => Some(32),
        UInt64 => Some(64),
        _ => None,
    };
    let decimal = |t: &DataType| match t {
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) | Decimal256(p, s) => Some((*p as i32, *s as i32)),
        _ => None,
    };
    match (from, to) {
        (Dictionary(_, values), to) => castable(values, to),
        (Null, _) => true,
        (f, t) if int_bits(f).is_some() && int_bits(t).is_some() => int_bits(f) <= int_bits(t),
        (f, t) if uint_bits(f).is_some() && uint_bits(t).is_some() => uint_bits(f) <= uint_bits(t),
        (f, t) if uint_bits(f).is_some() && int_bits(t).is_some() => uint_bits(f) < int_bits(t),
        (f, Float64) if int_bits(f).is_some_and(|b| b <= 32) || uint_bits(f).is_some_and(|b| b <= 32) => true,
        (f, Float32) if int_bits(f).is_some_and(|b| b <= 16) || uint_bits(f).is_some_and(|b| b <= 16) => true,
        (Float16 | Float32, Float64) | (Float16, Float32) => true,
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => true,
        (Binary | LargeBinary | BinaryView | FixedSizeBinary(_), Binary | LargeBinary | BinaryView) => true,
        (Timestamp(_, _), Timestamp(_, _)) => true,
        (Date32 | Date64, Date32 | Date64) => true,
        (Time32(_) | Time64(_), Time32(_) | Time64(_)) => true,
        (f, t) if decimal(f).is_some() && decimal(t).is_some() => {
            let ((p1, s1), (p2, s2)) = (decimal(f).unwrap_or_default(), decimal(t).unwrap_or_default());
            s2 >= s1 && p2 - s2 >= p1 - s1
        }
        (f, t) if int_bits(f).is_some() && decimal(t).is_some() => {
            let digits = match int_bits(f) {
                Some(8) => 3,
                Some(16) => 5,
                Some(32) => 10,
                _ => 19,
            };
            decimal(t).is_some_and(|(p, s)| p - s >= digits)
        }
        _ => false,
    }
}

/// `array` converted to `to` (which [`castable`] allowed). Timestamps keep their instant: the
/// unit is converted and the declared time zone attached, never a wall-clock shift.
pub fn cast_to(array: &ArrayRef, to: &DataType) -> Result<ArrayRef, arrow::error::ArrowError> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    match (array.data_type(), to) {
        (DataType::Timestamp(_, from_tz), DataType::Timestamp(unit, _)) => {
            let same_zone = cast(array, &DataType::Timestamp(*unit, from_tz.clone()))?;
            let data = same_zone.to_data().into_builder().data_type(to.clone()).build()?;
            Ok(make_array(data))
        }
        (DataType::Dictionary(_, values), _) => {
            let values = cast(array, values)?;
            cast_to(&values, to)
        }
        _ => cast_with_options(array, to, &CastOptions { safe: false, ..Default::default() }),
    }
}

/// Hive's `%XX` escapes undone.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(text.get(i + 1..i + 3).unwrap_or(""), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The raw value of partition column `name` in `path` (the deepest `name=value` directory;
/// names compared ignoring ASCII case), `None` when no directory names it.
pub fn partition_text(path: &str, name: &str) -> Option<String> {
    let mut dirs: Vec<&str> = path.split(['/', '\\']).collect();
    dirs.pop(); // the file name
    dirs.iter().rev().find_map(|dir| {
        let (key, value) = dir.split_once('=')?;
        unescape(key).eq_ignore_ascii_case(name).then(|| value.to_string())
    })
}

/// A one-row array of `to` holding partition value `text` (NULL for the default partition).
fn partition_value(file: &str, column: &str, text: &str, to: &DataType) -> Result<ArrayRef, ParquetSourceError> {
    if text == DEFAULT_PARTITION {
        return Ok(new_null_array(to, 1));
    }
    let value = unescape(text);
    let strings: ArrayRef = Arc::new(StringArray::from(vec![value.clone()]));
    let err = |message: String| ParquetSourceError::Partition {
        file: file.to_string(),
        column: column.to_string(),
        value: value.clone(),
        declared: to.to_string(),
        message,
    };
    let array = cast_with_options(&strings, to, &CastOptions { safe: false, ..Default::default() }).map_err(|e| err(e.to_string()))?;
    if array.null_count() > 0 {
        return Err(err("not a valid value".into()));
    }
    Ok(array)
}

/// Matches `declared` to a file with Arrow schema `file_schema` at `path`; `read[i]` says
/// whether declared column `i` is read at all (unread columns need not exist).
pub fn resolve(path: &str, file_schema: &Schema, declared: &Schema, read: &[bool]) -> Result<FilePlan, ParquetSourceError> {
    let mut columns = Vec::with_capacity(declared.fields().len());
    let mut roots = Vec::new();
    for (i, field) in declared.fields().iter().enumerate() {
        if !read.get(i).copied().unwrap_or(true) {
            columns.push(ColumnSource::Unread);
            continue;
        }
        let name = field.name();
        let fields = file_schema.fields();
        let found = fields.iter().position(|f| f.name() == name).or_else(|| fields.iter().position(|f| f.name().eq_ignore_ascii_case(name)));
        match found {
            Some(index) => {
                let from = fields[index].data_type().clone();
                if !castable(&from, field.data_type()) {
                    return Err(ParquetSourceError::Cast {
                        file: path.to_string(),
                        column: name.clone(),
                        found: from.to_string(),
                        declared: field.data_type().to_string(),
                    });
                }
                roots.push(index);
                columns.push(ColumnSource::File { index, from });
            }
            None => match partition_text(path, name) {
                Some(text) => columns.push(ColumnSource::Partition(partition_value(path, name, &text, field.data_type())?)),
                None => {
                    return Err(ParquetSourceError::MissingColumn {
                        file: path.to_string(),
                        column: name.clone(),
                        available: fields.iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
                    });
                }
            },
        }
    }
    roots.sort_unstable();
    roots.dedup();
    Ok(FilePlan { columns, roots })
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int32Array, TimestampNanosecondArray};
    use arrow::datatypes::{Field, TimeUnit, TimestampMillisecondType};

    use super::*;

    #[test]
    fn safe_casts_only() {
        use DataType::*;
        for (from, to) in [(Int32, Int64), (UInt32, Int64), (Float32, Float64), (Utf8View, Utf8), (LargeUtf8, Utf8), (Date64, Date32), (Decimal128(10, 2), Decimal128(12, 2))] {
            assert!(castable(&from, &to), "{from} -> {to}");
        }
        assert!(castable(&Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), &Timestamp(TimeUnit::Millisecond, None)));
        assert!(castable(&Dictionary(Box::new(Int32), Box::new(Utf8)), &Utf8));
        for (from, to) in [(Int64, Int32), (UInt64, Int64), (Int64, Float64), (Float64, Float32), (Utf8, Int64), (Int64, Utf8), (Decimal128(10, 2), Decimal128(10, 3))] {
            assert!(!castable(&from, &to), "{from} -> {to}");
        }
    }

    #[test]
    fn timestamps_keep_their_instant() {
        let ns: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![1_500_000_000i64]).with_timezone("+02:00"));
        let ms = cast_to(&ns, &DataType::Timestamp(TimeUnit::Millisecond, None)).unwrap();
        assert_eq!(ms.as_primitive::<TimestampMillisecondType>().value(0), 1500);
        let widened = cast_to(&(Arc::new(Int32Array::from(vec![7])) as ArrayRef), &DataType::Int64).unwrap();
        assert_eq!(widened.data_type(), &DataType::Int64);
    }

    #[test]
    fn columns_by_name_then_partition_directories() {
        let file = Schema::new(vec![Field::new("Card", DataType::Int32, true), Field::new("amount", DataType::Float64, true)]);
        let declared = Schema::new(vec![
            Field::new("amount", DataType::Float64, true),
            Field::new("card", DataType::Int64, true),
            Field::new("day", DataType::Date32, true),
            Field::new("region", DataType::Utf8, true),
        ]);
        let path = "/lake/day=2024-01-02/region=eu%2Fwest/region=__HIVE_DEFAULT_PARTITION__/p.parquet";
        let plan = resolve(path, &file, &declared, &[true; 4]).unwrap();
        assert_eq!(plan.roots, vec![0, 1]);
        assert!(matches!(plan.columns[1], ColumnSource::File { index: 0, .. }));
        let ColumnSource::Partition(day) = &plan.columns[2] else { panic!("day") };
        assert_eq!(day.as_primitive::<arrow::datatypes::Date32Type>().value(0), 19724);
        let ColumnSource::Partition(region) = &plan.columns[3] else { panic!("region") };
        assert!(region.is_null(0), "the deepest directory wins: Hive's NULL");
        assert_eq!(partition_text("/a/region=eu%2Fwest/p.parquet", "REGION").as_deref(), Some("eu%2Fwest"));
        assert_eq!(unescape("eu%2Fwest%3A"), "eu/west:");

        let missing = resolve("/a/p.parquet", &file, &declared, &[true; 4]).unwrap_err().to_string();
        assert!(missing.contains("'/a/p.parquet' has no column 'day'") && missing.contains("Card, amount"), "{missing}");
        let narrow = resolve("/a/p.parquet", &file, &declared, &[true, true, false, false]).unwrap();
        assert!(matches!(narrow.columns[2], ColumnSource::Unread));
        let bad_day = resolve("/a/day=soon/region=x/p.parquet", &file, &declared, &[true; 4]).unwrap_err().to_string();
        assert!(bad_day.contains("'soon' of column 'day'"), "{bad_day}");
        let narrower = Schema::new(vec![Field::new("amount", DataType::Float32, true)]);
        let cast = resolve("/a/p.parquet", &file, &narrower, &[true]).unwrap_err().to_string();
        assert!(cast.contains("column 'amount' is Float64 in the file, declared Float32"), "{cast}");
    }
}
