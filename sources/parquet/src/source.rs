//! The [`Source`] of a `CREATE SOURCE … WITH (connector = 'parquet')`: one split per row group,
//! and the narrowed (projection) and pruned (predicates) copies the engine asks for.
//!
//! Copies share [`Shared`]: the configuration, the listing (footers are read once per process)
//! and the counters, so `counters()` on the source the pipeline holds shows what its copies did.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use illunare_connector::{ColumnPredicate, ConnectorError, Position, Source, Split, SplitReader};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;

use crate::columns::resolve;
use crate::error::ParquetSourceError;
use crate::listing::{FileEntry, Listing, load};
use crate::location::Location;
use crate::reader::{RowGroupReader, SplitParts};
use crate::stats::{ColumnStats, column_stats, keep};

/// What `create` validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub schema: SchemaRef,
    pub location: Location,
    pub batch_size: usize,
    /// The declared event-time column (`WATERMARK FOR`), for `remaining_from`.
    pub event_time: Option<usize>,
}

#[derive(Default)]
pub struct Counters {
    /// Bytes of column data fetched by readers (footers not included).
    pub bytes_read: Arc<AtomicU64>,
    /// Row groups listed.
    pub row_groups: AtomicU64,
    /// Row groups the predicates of the last pruned listing skipped.
    pub row_groups_pruned: AtomicU64,
    /// Columns of splits read dictionary-encoded (`dictionary.rs`), partition columns included.
    pub dictionary_chunks: AtomicU64,
}

pub struct Shared {
    pub config: Config,
    listing: Mutex<Option<Arc<Listing>>>,
    pub counters: Counters,
}

impl Shared {
    /// The listing, read on first use (holding the lock, so workers wait for one listing).
    pub fn listing(&self) -> Result<Arc<Listing>, ParquetSourceError> {
        let mut cached = self.listing.lock().map_err(|_| ParquetSourceError::Thread("listing lock poisoned".into()))?;
        if let Some(listing) = cached.as_ref() {
            return Ok(listing.clone());
        }
        let location = self.config.location.clone();
        let listing = Arc::new(crate::io::block_on(move || async move { load(&location).await })??);
        *cached = Some(listing.clone());
        Ok(listing)
    }
}

/// A split: its id and (when the footer was read) its row count.
struct Planned {
    id: String,
    rows: Option<u64>,
}

#[derive(Clone)]
pub struct ParquetSource {
    shared: Arc<Shared>,
    /// Which declared columns are read (all unless narrowed).
    read: Arc<Vec<bool>>,
    predicates: Arc<Vec<ColumnPredicate>>,
    /// Which declared string columns may be delivered dictionary-encoded (`dictionary.rs`).
    dictionary: Arc<Vec<bool>>,
}

impl ParquetSource {
    pub fn new(config: Config) -> ParquetSource {
        let columns = config.schema.fields().len();
        ParquetSource {
            shared: Arc::new(Shared { config, listing: Mutex::new(None), counters: Counters::default() }),
            read: Arc::new(vec![true; columns]),
            predicates: Arc::new(Vec::new()),
            dictionary: Arc::new(vec![false; columns]),
        }
    }

    /// Which row groups of `file` may hold rows satisfying the predicates.
    fn kept(&self, file: &FileEntry, meta: &ArrowReaderMetadata) -> Vec<bool> {
        let n = meta.metadata().num_row_groups();
        if self.predicates.is_empty() {
            return vec![true; n];
        }
        let declared = &self.shared.config.schema;
        let mut read = vec![false; declared.fields().len()];
        for p in self.predicates.iter() {
            if let Some(r) = read.get_mut(p.column()) {
                *r = true;
            }
        }
        // A file that does not match the declared columns is kept whole: its reader says why.
        let Ok(plan) = resolve(&file.listed.display, meta.schema(), declared, &read) else {
            return vec![true; n];
        };
        let stats: Vec<Vec<ColumnStats>> = self
            .predicates
            .iter()
            .map(|p| match (plan.columns.get(p.column()), declared.fields().get(p.column())) {
                (Some(source), Some(field)) => column_stats(meta, source, field.data_type()),
                _ => Vec::new(),
            })
            .collect();
        keep(&self.predicates, &stats, n)
    }

    fn planned(&self) -> Result<Vec<Planned>, ParquetSourceError> {
        let listing = self.shared.listing()?;
        let (mut out, mut total, mut pruned) = (Vec::new(), 0u64, 0u64);
        for file in &listing.files {
            let display = &file.listed.display;
            match &file.footer {
                Err(_) => out.push(Planned { id: format!("{display}#*"), rows: None }),
                Ok(meta) => {
                    let kept = self.kept(file, meta);
                    for (rg, keep) in kept.into_iter().enumerate() {
                        total += 1;
                        if keep {
                            let rows = meta.metadata().row_group(rg).num_rows().max(0) as u64;
                            out.push(Planned { id: format!("{display}#{rg}"), rows: Some(rows) });
                        } else {
                            pruned += 1;
                        }
                    }
                }
            }
        }
        self.shared.counters.row_groups.store(total, Ordering::Relaxed);
        if !self.predicates.is_empty() {
            self.shared.counters.row_groups_pruned.store(pruned, Ordering::Relaxed);
        }
        Ok(out)
    }
}

impl Source for ParquetSource {
    fn schema(&self) -> SchemaRef {
        self.shared.config.schema.clone()
    }

    fn bounded(&self) -> bool {
        true
    }

    fn splits(&self) -> Result<Vec<Split>, ConnectorError> {
        Ok(self.planned()?.into_iter().map(|p| Split { id: p.id }).collect())
    }

    fn open(&self, split: &Split, resume: Option<&Position>) -> Result<Box<dyn SplitReader>, ConnectorError> {
        let unknown = || ParquetSourceError::UnknownSplit(split.id.clone());
        let (display, part) = split.id.rsplit_once('#').ok_or_else(unknown)?;
        let row_group = match part {
            "*" => None,
            n => Some(n.parse::<usize>().map_err(|_| unknown())?),
        };
        let offset = match resume {
            None => 0,
            Some(p) => p.0.trim().parse::<u64>().map_err(|_| ParquetSourceError::Position { split: split.id.clone(), position: p.0.clone() })?,
        };
        let listing = self.shared.listing()?;
        let entry = listing.get(display).ok_or_else(unknown)?.clone();
        let split = SplitParts { shared: self.shared.clone(), entry, row_group, read: self.read.clone(), dictionary: self.dictionary.clone() };
        Ok(Box::new(RowGroupReader::new(split, offset)))
    }

    fn narrow(&self, columns: &[usize]) -> Option<Arc<dyn Source>> {
        let mut read = vec![false; self.read.len()];
        for &c in columns {
            if let Some(r) = read.get_mut(c) {
                *r = true;
            }
        }
        Some(Arc::new(ParquetSource { read: Arc::new(read), ..self.clone() }))
    }

    fn with_dictionary_columns(&self, columns: &[usize]) -> Option<Arc<dyn Source>> {
        let declared = &self.shared.config.schema;
        let mut dictionary = vec![false; self.read.len()];
        for &c in columns {
            if let (Some(d), Some(field)) = (dictionary.get_mut(c), declared.fields().get(c)) {
                *d = crate::dictionary::encodable(field.data_type());
            }
        }
        dictionary.iter().any(|d| *d).then(|| Arc::new(ParquetSource { dictionary: Arc::new(dictionary), ..self.clone() }) as Arc<dyn Source>)
    }

    fn prune(&self, predicates: &[ColumnPredicate]) -> Option<Arc<dyn Source>> {
        let mut all = self.predicates.as_ref().clone();
        all.extend(predicates.iter().filter(|p| p.column() < self.read.len()).cloned());
        Some(Arc::new(ParquetSource { predicates: Arc::new(all), ..self.clone() }))
    }

    fn total_rows(&self) -> Option<u64> {
        let planned = self.planned().ok()?;
        planned.iter().map(|p| p.rows).sum()
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let c = &self.shared.counters;
        vec![
            ("bytes_read", c.bytes_read.load(Ordering::Relaxed)),
            ("row_groups", c.row_groups.load(Ordering::Relaxed)),
            ("row_groups_pruned", c.row_groups_pruned.load(Ordering::Relaxed)),
            ("dictionary_chunks", c.dictionary_chunks.load(Ordering::Relaxed)),
        ]
    }
}
