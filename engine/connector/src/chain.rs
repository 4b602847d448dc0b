//! A source that reads history and then the live stream as one relation: the hybrid backfill
//! (`illunare backfill … --then-stream`): Parquet files archived from a topic, then the topic
//! from the offsets after them.
//!
//! Why side by side rather than one after the other: the engine reads all splits of a source
//! together and its frontier is the slowest live split's watermark, so while any history split
//! is unread the frontier stays in the past and the live rows (newer) wait, on time, instead of
//! being late; and there is nothing to switch over — when the history splits end they stop
//! holding the frontier back. Split ids are prefixed (`history:`, `live:`) so positions stay
//! each source's own.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::{ColumnPredicate, ConnectorError, Position, Source, Split, SplitReader};

const HISTORY: &str = "history:";
const LIVE: &str = "live:";

/// `history`'s splits and `live`'s, as one source with `live`'s schema and boundedness.
pub struct ChainedSource {
    history: Arc<dyn Source>,
    live: Arc<dyn Source>,
}

impl ChainedSource {
    /// Fails unless both sources have the same columns.
    pub fn new(history: Arc<dyn Source>, live: Arc<dyn Source>) -> Result<ChainedSource, ConnectorError> {
        let (h, l) = (history.schema(), live.schema());
        let same =
            h.fields().len() == l.fields().len() && h.fields().iter().zip(l.fields()).all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return Err(ConnectorError::Schema(format!("the history's columns {h:?} differ from the live source's {l:?}")));
        }
        Ok(ChainedSource { history, live })
    }
}

impl Source for ChainedSource {
    fn schema(&self) -> SchemaRef {
        self.live.schema()
    }

    fn bounded(&self) -> bool {
        self.live.bounded()
    }

    fn paced(&self) -> bool {
        self.live.paced()
    }

    fn splits(&self) -> Result<Vec<Split>, ConnectorError> {
        let history = self.history.splits()?.into_iter().map(|s| Split { id: format!("{HISTORY}{}", s.id) });
        let live = self.live.splits()?.into_iter().map(|s| Split { id: format!("{LIVE}{}", s.id) });
        Ok(history.chain(live).collect())
    }

    fn open(&self, split: &Split, resume: Option<&Position>) -> Result<Box<dyn SplitReader>, ConnectorError> {
        if let Some(id) = split.id.strip_prefix(HISTORY) {
            return self.history.open(&Split { id: id.to_string() }, resume);
        }
        if let Some(id) = split.id.strip_prefix(LIVE) {
            return self.live.open(&Split { id: id.to_string() }, resume);
        }
        Err(ConnectorError::Other(format!("split '{}' is neither history nor live", split.id)))
    }

    fn narrow(&self, columns: &[usize]) -> Option<Arc<dyn Source>> {
        self.rebuilt(self.history.narrow(columns), self.live.narrow(columns))
    }

    fn with_dictionary_columns(&self, columns: &[usize]) -> Option<Arc<dyn Source>> {
        self.rebuilt(self.history.with_dictionary_columns(columns), self.live.with_dictionary_columns(columns))
    }

    fn prune(&self, predicates: &[ColumnPredicate]) -> Option<Arc<dyn Source>> {
        self.rebuilt(self.history.prune(predicates), self.live.prune(predicates))
    }

    fn total_rows(&self) -> Option<u64> {
        Some(self.history.total_rows()? + self.live.total_rows()?)
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut all = self.history.counters();
        all.extend(self.live.counters());
        all
    }
}

impl ChainedSource {
    /// The chain over narrowed/pruned parts, when at least one part changed.
    fn rebuilt(&self, history: Option<Arc<dyn Source>>, live: Option<Arc<dyn Source>>) -> Option<Arc<dyn Source>> {
        if history.is_none() && live.is_none() {
            return None;
        }
        Some(Arc::new(ChainedSource { history: history.unwrap_or_else(|| self.history.clone()), live: live.unwrap_or_else(|| self.live.clone()) }))
    }
}

/// `connector = 'hybrid'`: `history.*` options make one source, `live.*` options the other
/// (each with its own `connector`), read as one [`ChainedSource`]. What `illunare backfill
/// --then-stream` writes into a pipeline; usable directly too.
pub struct HybridConnector {
    /// The connectors the two parts may use.
    pub registry: crate::Registry,
}

impl crate::SourceConnector for HybridConnector {
    fn name(&self) -> &'static str {
        "hybrid"
    }

    fn create(&self, spec: &crate::SourceSpec) -> Result<Arc<dyn Source>, ConnectorError> {
        let part = |prefix: &str| -> Result<Arc<dyn Source>, ConnectorError> {
            let options = spec.options.with_prefix(prefix)?;
            let connector = options
                .iter()
                .find(|(k, _)| k == "connector")
                .map(|(_, v)| v.clone())
                .ok_or_else(|| ConnectorError::option(&format!("{prefix}connector"), "is required (the connector of this part)"))?;
            if connector == "hybrid" {
                return Err(ConnectorError::option(&format!("{prefix}connector"), "cannot itself be 'hybrid'"));
            }
            let part_spec = crate::SourceSpec {
                name: spec.name.clone(),
                schema: spec.schema.clone(),
                event_time: spec.event_time.clone(),
                options: crate::Options::new(options),
            };
            self.registry.source(&connector)?.create(&part_spec)
        };
        let history = part("history.")?;
        let live = part("live.")?;
        spec.options.finish("hybrid")?;
        Ok(Arc::new(ChainedSource::new(history, live)?))
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    /// A source of named splits that opens nothing (pure split bookkeeping is under test).
    struct Named(Vec<&'static str>, DataType);

    impl Source for Named {
        fn schema(&self) -> SchemaRef {
            Arc::new(Schema::new(vec![Field::new("v", self.1.clone(), true)]))
        }
        fn bounded(&self) -> bool {
            self.1 == DataType::Int64
        }
        fn splits(&self) -> Result<Vec<Split>, ConnectorError> {
            Ok(self.0.iter().map(|s| Split { id: s.to_string() }).collect())
        }
        fn open(&self, split: &Split, _: Option<&Position>) -> Result<Box<dyn SplitReader>, ConnectorError> {
            Err(ConnectorError::Other(format!("opened {}", split.id)))
        }
    }

    #[test]
    fn splits_are_prefixed_and_routed() {
        let chained = ChainedSource::new(Arc::new(Named(vec!["a.parquet#0"], DataType::Int64)), Arc::new(Named(vec!["tx/0", "tx/1"], DataType::Int64)))
            .expect("same columns");
        let ids: Vec<String> = chained.splits().expect("splits").into_iter().map(|s| s.id).collect();
        assert_eq!(ids, vec!["history:a.parquet#0", "live:tx/0", "live:tx/1"]);
        let opened = |id: &str| chained.open(&Split { id: id.into() }, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(opened("history:a.parquet#0"), "opened a.parquet#0");
        assert_eq!(opened("live:tx/1"), "opened tx/1");
        assert!(opened("other").contains("neither"));
        let different = ChainedSource::new(Arc::new(Named(vec![], DataType::Utf8)), Arc::new(Named(vec![], DataType::Int64)));
        assert!(different.is_err());
    }
}
