//! Reading string columns dictionary-encoded, when the engine asks for it
//! ([`illunare_connector::Source::with_dictionary_columns`]).
//!
//! Writers store low-cardinality strings (merchants, device ids, countries) as a dictionary
//! page plus small integer indices. Decoded to `Utf8`, every row's bytes are copied out of the
//! dictionary, then copied again by each filter and hashed again by the GROUP BY. Decoded to
//! `Dictionary(Int32, Utf8)`, a row is its index: the dictionary is decoded once per column
//! chunk and shared by every batch of it, filters move indices, and the partial aggregation
//! interns each distinct value once (`engine/dataflow/src/dictionary_groups.rs`).
//!
//! A split reads a requested column as a dictionary only when its column chunk is dictionary
//! encoded throughout (the chunk's page-encoding statistics say so; a writer that ran out of
//! dictionary space falls back to plain pages, and rebuilding a dictionary from those would
//! cost more than it saves). Partition-directory columns hold one value per file: they become a
//! one-entry dictionary when requested.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::basic::Encoding;
use parquet::file::metadata::ColumnChunkMetaData;

use crate::columns::{ColumnSource, FilePlan};

/// The type a declared column of type `declared` has when read as a dictionary.
pub fn dictionary_type(declared: &DataType) -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(declared.clone()))
}

/// Whether declared columns of this type can be delivered as dictionaries.
pub fn encodable(declared: &DataType) -> bool {
    matches!(declared, DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary | DataType::LargeBinary)
}

/// Whether every data page of `chunk` is dictionary encoded. Without page statistics, a
/// dictionary page is taken as the writer's intent (the reader is correct either way).
fn all_dictionary_encoded(chunk: &ColumnChunkMetaData) -> bool {
    if chunk.dictionary_page_offset().is_none() {
        return false;
    }
    let dictionary = |e: &Encoding| matches!(e, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY);
    if let Some(mask) = chunk.page_encoding_stats_mask() {
        return mask.is_only(Encoding::PLAIN_DICTIONARY) || mask.is_only(Encoding::RLE_DICTIONARY);
    }
    if let Some(stats) = chunk.page_encoding_stats() {
        use parquet::basic::PageType;
        return stats.iter().filter(|s| matches!(s.page_type, PageType::DATA_PAGE | PageType::DATA_PAGE_V2)).all(|s| dictionary(&s.encoding));
    }
    chunk.encodings().any(|e| dictionary(&e))
}

/// Which declared columns a split reads as dictionaries, and the Arrow schema to decode the
/// file with (`None`: the file's own, no file column changes).
pub struct DictionaryPlan {
    pub columns: Vec<bool>,
    pub reader_schema: Option<SchemaRef>,
}

/// The dictionary plan of one split: row group `row_group` (every row group when `None`) of a
/// file resolved to `plan`, for the declared columns `wanted`.
pub fn plan_split(meta: &ArrowReaderMetadata, plan: &FilePlan, declared: &Schema, wanted: &[bool], row_group: Option<usize>) -> DictionaryPlan {
    let mut columns = vec![false; declared.fields().len()];
    let file_schema = meta.schema();
    let mut fields: Vec<Field> = file_schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut changed = false;
    let parquet = meta.parquet_schema();
    let row_groups: Vec<usize> = match row_group {
        Some(rg) => vec![rg],
        None => (0..meta.metadata().num_row_groups()).collect(),
    };
    for (i, field) in declared.fields().iter().enumerate() {
        if !wanted.get(i).copied().unwrap_or(false) || !encodable(field.data_type()) {
            continue;
        }
        match plan.columns.get(i) {
            Some(ColumnSource::Partition(value)) => columns[i] = value.null_count() == 0,
            Some(ColumnSource::File { index, from }) => {
                let string_like = |t: &DataType| {
                    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Binary | DataType::LargeBinary | DataType::BinaryView)
                };
                let string_like = match from {
                    DataType::Dictionary(_, values) => string_like(values),
                    other => string_like(other),
                };
                // A top-level primitive column has exactly one leaf.
                let leaves: Vec<usize> = (0..parquet.num_columns()).filter(|&leaf| parquet.get_column_root_idx(leaf) == *index).collect();
                let [leaf] = leaves[..] else { continue };
                let encoded =
                    row_groups.iter().all(|&rg| rg < meta.metadata().num_row_groups() && all_dictionary_encoded(meta.metadata().row_group(rg).column(leaf)));
                if string_like && encoded {
                    fields[*index] = fields[*index].clone().with_data_type(dictionary_type(field.data_type()));
                    columns[i] = true;
                    changed = true;
                }
            }
            _ => {}
        }
    }
    let reader_schema = changed.then(|| Arc::new(Schema::new_with_metadata(fields, file_schema.metadata().clone())));
    DictionaryPlan { columns, reader_schema }
}
