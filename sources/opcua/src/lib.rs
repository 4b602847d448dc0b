//! The `opcua` source connector: values of OPC UA variables as a stream of rows, by
//! subscription or by polling, over any security policy, surviving server restarts.
//!
//! ```sql
//! CREATE SOURCE boiler (node VARCHAR, value DOUBLE, status VARCHAR, source_ts TIMESTAMP, server_ts TIMESTAMP,
//!                       WATERMARK FOR source_ts AS source_ts - INTERVAL '5' SECOND)
//!   WITH (connector = 'opcua', endpoint = 'opc.tcp://127.0.0.1:4840/', nodes = 'ns=2;s=Temperature, ns=2;s=Pressure',
//!         mode = 'subscribe', sampling_interval = '100ms', security_policy = 'Basic256Sha256',
//!         security_mode = 'SignAndEncrypt', username = '${env:OPCUA_USER}', password = '${env:OPCUA_PASS}');
//! ```
//!
//! # Columns
//!
//! One row per data change (subscribe) or per node and poll (poll). A source declares any
//! subset of these columns, by name, in any order; any other name is refused at `CREATE`:
//!
//! | column      | type                     | content                                                        |
//! |-------------|--------------------------|----------------------------------------------------------------|
//! | `node`      | VARCHAR                  | the node id as written in `nodes`; the resolved id for browse paths |
//! | `value`     | any type below           | the value converted to the declared type; NULL when the status is bad |
//! | `status`    | VARCHAR                  | status code name: `Good`, `BadNodeIdUnknown`, `UncertainLastUsableValue`, … |
//! | `source_ts` | TIMESTAMP (any unit/tz)  | SourceTimestamp; NULL when the server sends none (see `source_ts_fallback`) |
//! | `server_ts` | TIMESTAMP (any unit/tz)  | ServerTimestamp                                                 |
//!
//! # OPC UA types → SQL
//!
//! | OPC UA type     | natural SQL type       | also converts to                                    |
//! |-----------------|------------------------|-----------------------------------------------------|
//! | Boolean         | BOOLEAN                | integers (0/1), floats, VARCHAR                      |
//! | SByte, Int16, Int32, Int64 | TINYINT, SMALLINT, INT, BIGINT | any integer type it fits, REAL/DOUBLE, BOOLEAN (0/1), VARCHAR |
//! | Byte, UInt16, UInt32, UInt64 | TINYINT UNSIGNED … BIGINT UNSIGNED (or a wider signed type) | same |
//! | Float, Double   | REAL, DOUBLE           | the other float, integers when integral and in range, VARCHAR |
//! | String          | VARCHAR                | numbers, BOOLEAN, TIMESTAMP (RFC 3339) when it parses, BYTEA (UTF-8) |
//! | DateTime        | TIMESTAMP (any unit, with or without time zone; UTC) | VARCHAR (RFC 3339) |
//! | Guid            | VARCHAR (`12345678-1234-…`) |                                                |
//! | ByteString      | BYTEA                  | VARCHAR (`\x0102ff`)                                 |
//! | XmlElement      | VARCHAR                |                                                      |
//! | NodeId, ExpandedNodeId | VARCHAR (`ns=2;s=Pump`) |                                              |
//! | StatusCode      | VARCHAR (its name)     |                                                      |
//! | QualifiedName   | VARCHAR (`2:Name`)     |                                                      |
//! | LocalizedText   | VARCHAR (the text, locale dropped) |                                          |
//! | arrays of any of these | the element type as a list (`DOUBLE[]`, `VARCHAR[]`) | VARCHAR (`[1, 2.5]`) |
//! | structures (ExtensionObject), DiagnosticInfo | VARCHAR (debug text) |                         |
//!
//! A value that does not fit the declared type (a fraction into `INT`, 300 into `TINYINT`, a
//! string into `DOUBLE` that is not a number, a scalar into a list) gives a NULL `value` and a
//! row in `<source>_errors` (error text, raw = the value as text, position = the node).
//!
//! # Options
//!
//! - `endpoint` (required): `opc.tcp://host:port/path`; one endpoint = one split.
//! - `nodes` (required): comma-separated node ids (`ns=2;s=Temperature`, `ns=2;i=1001`,
//!   `i=2258`, `nsu=<uri>;s=…`) and/or browse paths from the Objects folder by BrowseName
//!   (`/Objects/Boiler/*`, `/Objects/Plant/**/Temperature`; `*`/`?` wildcards in a segment,
//!   `**` any depth; only Variables are kept; resolved again after every reconnect).
//! - `mode`: `subscribe` (default) or `poll`.
//!   - subscribe: `sampling_interval` (100ms), `publishing_interval` (= sampling interval),
//!     `queue_size` (10), `deadband` (optional, a number) with `deadband_type`
//!     (`absolute` default | `percent`).
//!   - poll: `poll_interval` (1s): a Read of all nodes every interval; `polls = 'N'` makes the
//!     source bounded (N polls, then the split ends).
//! - `timestamps`: `both` (default) | `source` | `server` — the TimestampsToReturn.
//!   `source_ts_fallback = 'server'` fills a missing source timestamp with the server's.
//! - `security_policy`: `None` (default) | `Basic256Sha256` | `Aes128_Sha256_RsaOaep` |
//!   `Aes256_Sha256_RsaPss`; `security_mode`: `None` | `Sign` | `SignAndEncrypt` (the default
//!   when a policy is set).
//! - identity: anonymous (default), `username` + `password`, or `user_certificate` +
//!   `user_private_key` (paths). Use `${env:NAME}` for secrets.
//! - `pki_dir` (default `$XDG_DATA_HOME/illunare/opcua-pki` or
//!   `~/.local/share/illunare/opcua-pki`): the client's certificate (`own/cert.der`,
//!   `private/private.pem`, created self-signed when missing) and the trust store (`trusted/`,
//!   `rejected/`). A server certificate must be in `trusted/`: an unknown one is written to
//!   `rejected/` and the connection fails with an error naming its subject and thumbprint and
//!   saying to move it to `trusted/` — or set `trust_server_certificate = 'true'` to accept
//!   and store it.
//! - `connect_timeout` (15s): limit for one connection attempt.
//!
//! # Failures
//!
//! The first connection of a reader that fails is an error for the engine (which logs and
//! retries with backoff), so configuration mistakes show at once. A connection lost later
//! yields one row per node with the bad status the library reports (`BadCommunicationError`
//! when the server's socket closes, `BadConnectionClosed` otherwise) and a NULL value, then reconnection attempts every 100ms doubling to 30s (each
//! failure logged with `tracing::warn!`); after reconnecting, the subscription is created anew
//! and the first chunk carries an error record "connection lost at …; reconnected at …;
//! changes in between may be missing". Values from before the loss are never re-emitted as
//! current. Connection-loss rows are stamped with the client's clock (both timestamps).
//!
//! # Browsing
//!
//! [`browse`] lists the address space below the Objects folder (node ids, BrowseNames, node
//! classes, data types) with the same connection and security code.

mod browse;
mod client;
mod convert;
mod error;
mod nodes;
mod options;
mod poll;
mod reader;
mod rows;
mod subscribe;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use illunare_connector::{ConnectorError, Position, Source, SourceConnector, SourceSpec, Split, SplitReader};

pub use browse::{BrowseEntry, BrowseOptions, browse};
pub use error::OpcUaError;
pub use options::{Identity, Mode, Policy, SecurityOptions, default_pki_dir};
pub use rows::COLUMNS;

use options::{Config, ReadMode};
use rows::Columns;

/// `connector = 'opcua'`.
pub struct OpcUaConnector;

impl SourceConnector for OpcUaConnector {
    fn name(&self) -> &'static str {
        "opcua"
    }

    fn create(&self, spec: &SourceSpec) -> Result<Arc<dyn Source>, ConnectorError> {
        let config = Config::parse(&spec.name, &spec.options)?;
        let columns = Columns::new(&spec.schema)?;
        Ok(Arc::new(OpcUaSource { schema: spec.schema.clone(), config: Arc::new(config), columns: Arc::new(columns) }))
    }
}

struct OpcUaSource {
    schema: SchemaRef,
    config: Arc<Config>,
    columns: Arc<Columns>,
}

impl Source for OpcUaSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn bounded(&self) -> bool {
        self.config.mode == ReadMode::Poll && self.config.polls.is_some()
    }

    fn splits(&self) -> Result<Vec<Split>, ConnectorError> {
        Ok(vec![Split { id: self.config.endpoint.clone() }])
    }

    fn open(&self, split: &Split, resume: Option<&Position>) -> Result<Box<dyn SplitReader>, ConnectorError> {
        if split.id != self.config.endpoint {
            return Err(ConnectorError::Other(format!(
                "source '{}': split '{}' is not its endpoint '{}'",
                self.config.name, split.id, self.config.endpoint
            )));
        }
        Ok(Box::new(reader::Reader::new(self.config.clone(), self.columns.clone(), resume)))
    }
}
