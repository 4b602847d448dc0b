//! The `blackhole` sink: receives a relation's changes and discards them.
//!
//! For measuring a pipeline without the cost of an output (Flink's connector of the same name,
//! which `bench/flink.sh` uses on the Flink side): the dataflow computes every change exactly as
//! for a real sink, and the sink only counts what it received, so a run can still be checked
//! for having produced output. Like Flink's, it does not ask for its insertions to be sorted
//! and netted first (`takes_unordered_insertions`): nothing it does depends on their order.

use illunare_connector::{ConnectorError, Diff, Row, Sink, SinkConnector, SinkSpec, Time};

/// `connector = 'blackhole'`: discards every change (no options).
pub struct BlackholeSinkConnector;

impl SinkConnector for BlackholeSinkConnector {
    fn name(&self) -> &'static str {
        "blackhole"
    }

    fn create(&self, spec: &SinkSpec) -> Result<Box<dyn Sink>, ConnectorError> {
        spec.options.finish("blackhole")?;
        Ok(Box::new(BlackholeSink { received: 0 }))
    }
}

struct BlackholeSink {
    /// Updates received (each with its multiplicity counted once).
    received: u64,
}

impl Sink for BlackholeSink {
    fn takes_unordered_insertions(&self) -> bool {
        true
    }

    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        self.received += updates.len() as u64;
        if frontier.is_none() {
            tracing::debug!(updates = self.received, "blackhole sink: input ended");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_changes_and_refuses_options() {
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::empty());
        let spec = |options: &[(&str, &str)]| SinkSpec {
            name: "out".into(),
            from: "v".into(),
            schema: schema.clone(),
            options: illunare_connector::Options::new(options.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
        };
        let mut sink = BlackholeSinkConnector.create(&spec(&[])).expect("create");
        sink.commit(&[(Row(vec![]), 1, 1)], Some(2)).expect("commit");
        sink.commit(&[], None).expect("end");
        assert!(BlackholeSinkConnector.create(&spec(&[("path", "x")])).is_err(), "no options");
    }
}
