//! The `WITH (…)` options of a postgres sink, validated once at `CREATE SINK` (and `check`).
//!
//! Why a separate step: everything that can be wrong in the statement itself (a missing `url`,
//! a primary key column the view does not have, upsert without a key, a column type with no
//! PostgreSQL mapping, an identifier PostgreSQL would truncate) is reported before the pipeline
//! starts, without contacting the server. What only the server can tell (the table exists,
//! has the columns, has a unique index on the key) is checked on connect, in `ddl`.

use std::str::FromStr;
use std::time::Duration;

use illunare_connector::{ConnectorError, SinkSpec};

use crate::connection::redact_url;
use crate::ddl::check_identifier;
use crate::types::{Column, pg_type};

/// The name of the staging-table column that tells upserts (`true`) from deletes (`false`).
pub const OP_COLUMN: &str = "__illunare_upsert";

/// How the table follows the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The table equals the view, keyed by these column indices.
    Upsert { key: Vec<usize> },
    /// Every inserted row is appended; retractions are an error unless ignored.
    Append { ignore_retractions: bool },
}

/// The validated options.
#[derive(Clone)]
pub struct SinkOptions {
    /// The connection string, secrets resolved (never shown: see [`SinkOptions::shown_url`]).
    pub url: String,
    pub config: tokio_postgres::Config,
    pub schema: String,
    pub table: String,
    pub create_table: bool,
    pub mode: Mode,
    /// The longest a commit (including connecting) may take before it is abandoned.
    pub commit_timeout: Duration,
    pub columns: Vec<Column>,
    /// The CA certificate (PEM file) the server's certificate must chain to (`ssl_root_cert`).
    pub ssl_root_cert: Option<String>,
}

impl std::fmt::Debug for SinkOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkOptions")
            .field("url", &self.shown_url())
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("create_table", &self.create_table)
            .field("mode", &self.mode)
            .field("commit_timeout", &self.commit_timeout)
            .field("columns", &self.columns)
            .finish()
    }
}

impl SinkOptions {
    /// The connection string with its password replaced by `***`.
    pub fn shown_url(&self) -> String {
        redact_url(&self.url)
    }

    /// `schema.table`, unquoted: how the progress row names the table.
    pub fn table_label(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    pub fn key_names(&self) -> Vec<&str> {
        match &self.mode {
            Mode::Upsert { key } => key.iter().map(|&i| self.columns[i].name.as_str()).collect(),
            Mode::Append { .. } => Vec::new(),
        }
    }

    /// Reads and checks every option of `spec`; contacts nothing.
    pub fn parse(spec: &SinkSpec) -> Result<SinkOptions, ConnectorError> {
        let o = &spec.options;
        let url = o.require("url")?;
        let config = tokio_postgres::Config::from_str(&url).map_err(|e| {
            ConnectorError::option("url", format!("is not a PostgreSQL connection string ({}): {}", redact_url(&url), crate::connection::clean(&url, &e.to_string())))
        })?;
        if config.get_hosts().is_empty() {
            return Err(ConnectorError::option("url", format!("names no host ({})", redact_url(&url))));
        }

        let table_text = o.require("table")?;
        let schema_option = o.get("schema")?;
        let (schema, table) = match schema_option {
            // With an explicit schema the table name is taken as is (it may contain dots).
            Some(schema) => (schema, table_text),
            None => {
                let parts = split_names(&table_text, '.').map_err(|e| ConnectorError::option("table", e))?;
                match parts.as_slice() {
                    [table] => ("public".to_string(), table.clone()),
                    [schema, table] => (schema.clone(), table.clone()),
                    _ => return Err(ConnectorError::option("table", format!("'{table_text}' is not 'table' or 'schema.table'"))),
                }
            }
        };
        check_identifier(&schema).map_err(|e| ConnectorError::option("schema", e))?;
        check_identifier(&table).map_err(|e| ConnectorError::option("table", e))?;

        let mut columns = Vec::new();
        for field in spec.schema.fields() {
            let name = field.name().clone();
            check_identifier(&name).map_err(|e| ConnectorError::Schema(format!("sink '{}': column '{name}': {e}", spec.name)))?;
            if name == OP_COLUMN {
                return Err(ConnectorError::Schema(format!("sink '{}': column name '{OP_COLUMN}' is reserved by the postgres sink", spec.name)));
            }
            if columns.iter().any(|c: &Column| c.name == name) {
                return Err(ConnectorError::Schema(format!("sink '{}': column '{name}' appears twice", spec.name)));
            }
            let pg = pg_type(field.data_type()).map_err(|e| ConnectorError::Schema(format!("sink '{}': column '{name}': {e}", spec.name)))?;
            columns.push(Column { name, data_type: field.data_type().clone(), pg });
        }
        if columns.is_empty() {
            return Err(ConnectorError::Schema(format!("sink '{}': the relation has no columns", spec.name)));
        }

        let key = match o.get("primary_key")? {
            None => None,
            Some(text) => {
                let names = split_names(&text, ',').map_err(|e| ConnectorError::option("primary_key", e))?;
                let mut key = Vec::new();
                for name in &names {
                    let index = columns.iter().position(|c| &c.name == name).ok_or_else(|| {
                        let known: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                        ConnectorError::option("primary_key", format!("names column '{name}', which '{}' does not have (columns: {})", spec.from, known.join(", ")))
                    })?;
                    if key.contains(&index) {
                        return Err(ConnectorError::option("primary_key", format!("names column '{name}' twice")));
                    }
                    if matches!(columns[index].pg, crate::types::PgType::Jsonb) {
                        return Err(ConnectorError::option("primary_key", format!("column '{name}' is stored as JSONB, which cannot be part of a primary key")));
                    }
                    key.push(index);
                }
                Some(key)
            }
        };
        let ignore_retractions = o.bool("ignore_retractions", false)?;
        let mode_text = o.get("mode")?.map(|m| m.trim().to_lowercase());
        let no_key = || {
            ConnectorError::option(
                "primary_key",
                format!(
                    "is required by sink '{}' in upsert mode (the default): set primary_key = 'col, …' to the key of '{}' so the table stays equal to it, or mode = 'append' to only insert rows (event logs)",
                    spec.name, spec.from
                ),
            )
        };
        let mode = match (mode_text.as_deref(), key) {
            (None | Some("upsert"), Some(key)) => Mode::Upsert { key },
            (None | Some("upsert"), None) => return Err(no_key()),
            (Some("append"), None) => Mode::Append { ignore_retractions },
            (Some("append"), Some(_)) => {
                return Err(ConnectorError::option("primary_key", "applies to mode = 'upsert'; an append sink inserts every row (remove primary_key, or use mode = 'upsert')"));
            }
            (Some(other), _) => return Err(ConnectorError::option("mode", format!("'{other}' is not a postgres sink mode (upsert, append)"))),
        };
        if ignore_retractions && matches!(mode, Mode::Upsert { .. }) {
            return Err(ConnectorError::option("ignore_retractions", "applies to mode = 'append' only (an upsert sink applies retractions as deletes)"));
        }
        let create_table = o.bool("create_table", false)?;
        let commit_timeout = o.duration("commit_timeout")?.unwrap_or(Duration::from_secs(300));
        let ssl_root_cert = o.get("ssl_root_cert")?;
        if let Some(path) = &ssl_root_cert {
            crate::tls::connector(Some(path)).map_err(|e| ConnectorError::option("ssl_root_cert", e))?;
        }
        o.finish("postgres")?;
        Ok(SinkOptions { url, config, schema, table, create_table, mode, commit_timeout, columns, ssl_root_cert })
    }
}

/// Splits `a, "b,c", d` at `separator` outside double quotes; quoted parts may contain `""`
/// for a quote. Unquoted parts are trimmed and kept as written (no case folding).
pub fn split_names(text: &str, separator: char) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted_part = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' && current.trim().is_empty() && !quoted_part {
            current.clear();
            quoted_part = true;
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quote in '{text}'")),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        current.push('"');
                    }
                    Some('"') => break,
                    Some(c) => current.push(c),
                }
            }
        } else if c == separator {
            parts.push(finish_part(&current, quoted_part, text)?);
            current.clear();
            quoted_part = false;
        } else if quoted_part {
            if !c.is_whitespace() {
                return Err(format!("unexpected '{c}' after a quoted name in '{text}'"));
            }
        } else {
            current.push(c);
        }
    }
    parts.push(finish_part(&current, quoted_part, text)?);
    Ok(parts)
}

fn finish_part(current: &str, quoted: bool, text: &str) -> Result<String, String> {
    let part = if quoted { current.to_string() } else { current.trim().to_string() };
    if part.is_empty() {
        return Err(format!("empty name in '{text}'"));
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_outside_quotes() {
        assert_eq!(split_names("card_id, window_start", ',').unwrap(), vec!["card_id", "window_start"]);
        assert_eq!(split_names("analytics.Fraud Alerts", '.').unwrap(), vec!["analytics", "Fraud Alerts"]);
        assert_eq!(split_names(r#""my.schema"."t ""x""""#, '.').unwrap(), vec!["my.schema", "t \"x\""]);
        assert_eq!(split_names(r#" "a,b" , c"#, ',').unwrap(), vec!["a,b", "c"]);
        assert!(split_names("a,,b", ',').is_err());
        assert!(split_names("\"a", ',').is_err());
    }
}
