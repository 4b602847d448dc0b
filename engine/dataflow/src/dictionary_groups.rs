//! Group keys that arrive dictionary-encoded: each distinct value is interned once, rows are
//! mapped to groups through their dictionary index.
//!
//! A source may deliver a string column as `Dictionary(Int32, Utf8)` when the GROUP BY over it
//! only uses it as a key (`source_pushdown::dictionary_columns`; Parquet's dictionary pages,
//! `sources/parquet/src/dictionary.rs`). DataFusion's `GroupValues` for a `Utf8` key would need
//! the strings decoded, then hash and compare every row's bytes. [`DictionaryKeys`] wraps that
//! `GroupValues` and, for a single dictionary key, interns only the dictionary entries the
//! batch uses (values no row references must not become groups) and remembers each entry's
//! group for as long as the dictionary stays the same array, which for Parquet is a whole
//! column chunk: a row then costs one index lookup.
//!
//! Everything else (several keys, other key types, plain strings) is handed to the wrapped
//! `GroupValues`, with dictionary keys decoded to their value type first, so the groups and
//! their emitted keys are the same whichever way a batch arrives.

use arrow::array::{Array, ArrayRef, DictionaryArray, UInt32Array};
use arrow::datatypes::{DataType, Int32Type};
use datafusion_common::Result;
use datafusion_expr::EmitTo;
use datafusion_physical_plan::aggregates::group_values::GroupValues;

/// How many dictionaries are remembered at once.
const REMEMBERED_DICTIONARIES: usize = 8;

/// A dictionary entry not interned yet.
const UNSEEN: usize = usize::MAX;

/// The groups of the entries of the last dictionary seen.
struct Remembered {
    values: ArrayRef,
    /// Group of each dictionary entry, [`UNSEEN`] until a row uses it.
    groups: Vec<usize>,
}

/// A [`GroupValues`] that takes dictionary-encoded keys (see the module doc).
pub struct DictionaryKeys {
    inner: Box<dyn GroupValues>,
    /// The wrapped `GroupValues`' key types: dictionaries are decoded to these.
    key_types: Vec<DataType>,
    /// The last few dictionaries, most recent last: a worker reads several column chunks
    /// (splits) at once, so their batches alternate.
    remembered: Vec<Remembered>,
    /// The group of a NULL key (a null dictionary index).
    null_group: Option<usize>,
    /// Scratch: dictionary entries first used by the current batch.
    unseen: Vec<u32>,
    scratch: Vec<usize>,
}

impl DictionaryKeys {
    pub fn new(inner: Box<dyn GroupValues>, key_types: Vec<DataType>) -> DictionaryKeys {
        DictionaryKeys { inner, key_types, remembered: Vec::new(), null_group: None, unseen: Vec::new(), scratch: Vec::new() }
    }

    /// The groups of a batch whose only key is `keys`.
    fn intern_dictionary(&mut self, keys: &DictionaryArray<Int32Type>, groups: &mut Vec<usize>) -> Result<()> {
        let values = keys.values();
        // Readers wrap the same dictionary buffers in a new array per batch: compare the
        // buffers (`remembered` holds them, so their addresses cannot be reused meanwhile).
        let data = values.to_data();
        match self.remembered.iter().position(|r| r.values.len() == values.len() && r.values.to_data().ptr_eq(&data)) {
            Some(at) if at + 1 == self.remembered.len() => {}
            Some(at) => {
                let found = self.remembered.remove(at);
                self.remembered.push(found);
            }
            None => {
                if self.remembered.len() == REMEMBERED_DICTIONARIES {
                    self.remembered.remove(0);
                }
                self.remembered.push(Remembered { values: values.clone(), groups: vec![UNSEEN; values.len()] });
            }
        }
        let Some(remembered) = self.remembered.last_mut() else {
            return Ok(());
        };
        let indices = keys.keys();
        let nulls = indices.nulls().filter(|n| n.null_count() > 0);
        // One lookup per row; a NULL index may hold any number, it is the NULL group.
        let lookup: &[usize] = &remembered.groups;
        groups.clear();
        match nulls {
            None => groups.extend(indices.values().iter().map(|&i| lookup[i as usize])),
            Some(n) => {
                let null_group = self.null_group.unwrap_or(UNSEEN);
                groups.extend(indices.values().iter().enumerate().map(|(row, &i)| if n.is_null(row) { null_group } else { lookup[i as usize] }))
            }
        }
        let is_null = |row: usize| nulls.is_some_and(|n| n.is_null(row));
        if groups.contains(&UNSEEN) {
            // Entries this batch uses for the first time, each once, in order of first use.
            self.unseen.clear();
            for (row, &index) in indices.values().iter().enumerate() {
                if groups[row] == UNSEEN && !is_null(row) && remembered.groups[index as usize] == UNSEEN {
                    remembered.groups[index as usize] = UNSEEN - 1;
                    self.unseen.push(index as u32);
                }
            }
            if !self.unseen.is_empty() {
                let entries = arrow::compute::take(values.as_ref(), &UInt32Array::from(self.unseen.clone()), None)?;
                self.scratch.clear();
                self.inner.intern(&[entries], &mut self.scratch)?;
                for (&index, &group) in self.unseen.iter().zip(&self.scratch) {
                    remembered.groups[index as usize] = group;
                }
            }
            if nulls.is_some() && self.null_group.is_none() {
                let null = arrow::array::new_null_array(&self.key_types[0], 1);
                self.scratch.clear();
                self.inner.intern(&[null], &mut self.scratch)?;
                self.null_group = self.scratch.first().copied();
            }
            let null_group = self.null_group.unwrap_or(UNSEEN);
            for (row, &index) in indices.values().iter().enumerate() {
                if groups[row] == UNSEEN {
                    groups[row] = if is_null(row) { null_group } else { remembered.groups[index as usize] };
                }
            }
        }
        Ok(())
    }

    fn forget(&mut self) {
        self.remembered.clear();
        self.null_group = None;
    }
}

impl GroupValues for DictionaryKeys {
    fn intern(&mut self, cols: &[ArrayRef], groups: &mut Vec<usize>) -> Result<()> {
        if let [column] = cols
            && let Some(keys) = column.as_any().downcast_ref::<DictionaryArray<Int32Type>>()
            && keys.values().data_type() == &self.key_types[0]
        {
            return self.intern_dictionary(keys, groups);
        }
        if !cols.iter().any(|c| matches!(c.data_type(), DataType::Dictionary(..))) {
            return self.inner.intern(cols, groups);
        }
        let decoded = cols
            .iter()
            .zip(&self.key_types)
            .map(|(c, t)| if c.data_type() == t { Ok(c.clone()) } else { arrow::compute::cast(c, t) })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.inner.intern(&decoded, groups)
    }

    fn size(&self) -> usize {
        self.inner.size() + self.remembered.iter().map(|r| r.groups.capacity() * size_of::<usize>()).sum::<usize>()
    }

    fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn emit(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        // Emitting renumbers the groups left (or clears them all).
        self.forget();
        self.inner.emit(emit_to)
    }

    fn clear_shrink(&mut self, num_rows: usize) {
        self.forget();
        self.inner.clear_shrink(num_rows)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion_physical_plan::aggregates::group_values::new_group_values;
    use datafusion_physical_plan::aggregates::order::GroupOrdering;

    use super::*;

    fn groups() -> DictionaryKeys {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true)]));
        DictionaryKeys::new(new_group_values(schema, &GroupOrdering::None).unwrap(), vec![DataType::Utf8])
    }

    fn dictionary(values: &ArrayRef, keys: Vec<Option<i32>>) -> ArrayRef {
        Arc::new(DictionaryArray::new(Int32Array::from(keys), values.clone()))
    }

    #[test]
    fn dictionary_and_plain_keys_meet_in_the_same_groups_and_unused_entries_make_none() {
        let mut g = groups();
        let values: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("b"), Some("unused"), Some("c")]));
        let mut out = Vec::new();
        g.intern(&[dictionary(&values, vec![Some(1), Some(0), Some(1), None])], &mut out).unwrap();
        assert_eq!(out, vec![0, 1, 0, 2]);
        assert_eq!(g.len(), 3, "b, a and NULL; 'unused' and 'c' are not groups");
        // The same dictionary again: remembered entries, one new.
        g.intern(&[dictionary(&values, vec![Some(3), Some(0), None])], &mut out).unwrap();
        assert_eq!(out, vec![3, 1, 2]);
        // Plain strings and another dictionary with the same values find the same groups;
        // alternating between dictionaries keeps what each has seen.
        let plain: ArrayRef = Arc::new(StringArray::from(vec![Some("c"), None, Some("b"), Some("d")]));
        g.intern(&[plain], &mut out).unwrap();
        assert_eq!(out, vec![3, 2, 0, 4]);
        let other: ArrayRef = Arc::new(StringArray::from(vec!["d", "a"]));
        g.intern(&[dictionary(&other, vec![Some(1), Some(0)])], &mut out).unwrap();
        assert_eq!(out, vec![1, 4]);
        g.intern(&[dictionary(&values, vec![Some(3), Some(1)])], &mut out).unwrap();
        assert_eq!(out, vec![3, 0]);
        assert_eq!(g.remembered.len(), 2);
        let keys = g.emit(EmitTo::All).unwrap();
        let keys = keys[0].as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(keys.iter().collect::<Vec<_>>(), vec![Some("b"), Some("a"), None, Some("c"), Some("d")]);
        // After emitting, group numbers start again: nothing remembered may survive.
        g.clear_shrink(0);
        g.intern(&[dictionary(&values, vec![Some(3), Some(3)])], &mut out).unwrap();
        assert_eq!(out, vec![0, 0]);
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn a_null_dictionary_entry_is_the_null_group() {
        let mut g = groups();
        let values: ArrayRef = Arc::new(StringArray::from(vec![None, Some("x")]));
        let mut out = Vec::new();
        g.intern(&[dictionary(&values, vec![Some(0), Some(1), None])], &mut out).unwrap();
        assert_eq!(out[0], out[2], "a NULL entry and a NULL index are one group");
        assert_eq!(g.len(), 2);
    }
}
