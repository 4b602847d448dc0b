//! Session state a Postgres client expects: the connection's user and database, its access,
//! and the run-time settings it may `SHOW` (or read with `current_setting`).
//!
//! Settings are fixed: `SET` is accepted (drivers send `SET extra_float_digits`, `SET
//! application_name`, `SET TIME ZONE` on connect and fail if refused) but changes nothing —
//! values are always sent as UTF-8, ISO dates, UTC. There are no transactions: `BEGIN`,
//! `COMMIT` and `ROLLBACK` are accepted so drivers that wrap statements in them work, and every
//! statement takes effect when it runs (a ROLLBACK undoes nothing).

use illunare_serve::Access;
use pgwire::api::{ClientInfo, METADATA_APPLICATION_NAME, METADATA_DATABASE, METADATA_USER};

/// What `server_version` says: a Postgres 15 dialect, which psql and Grafana key their catalog
/// queries on.
pub(crate) const SERVER_VERSION: &str = "15.0 (illunare)";

/// The fixed settings, by their canonical name.
const SETTINGS: &[(&str, &str)] = &[
    ("server_version", SERVER_VERSION),
    ("server_version_num", "150000"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("IntervalStyle", "postgres"),
    ("TimeZone", "UTC"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
    ("is_superuser", "off"),
    ("default_transaction_read_only", "off"),
    ("in_hot_standby", "off"),
    ("transaction_isolation", "read committed"),
    ("default_transaction_isolation", "read committed"),
    ("search_path", "public"),
    ("extra_float_digits", "1"),
    ("max_identifier_length", "63"),
    ("lc_collate", "C"),
    ("lc_ctype", "C"),
    ("lc_messages", "C"),
    ("lc_monetary", "C"),
    ("lc_numeric", "C"),
    ("lc_time", "C"),
    ("statement_timeout", "0"),
    ("bytea_output", "hex"),
];

/// The value of setting `name` (case-insensitive; `transaction isolation level` is the SQL
/// spelling of `transaction_isolation`).
pub(crate) fn setting(name: &str) -> Option<&'static str> {
    let name = match name.to_ascii_lowercase().as_str() {
        "transaction isolation level" => "transaction_isolation".to_string(),
        other => other.to_string(),
    };
    SETTINGS.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name)).map(|(_, v)| *v)
}

/// Every setting (`SHOW ALL`), by name.
pub(crate) fn all_settings() -> impl Iterator<Item = (&'static str, &'static str)> {
    SETTINGS.iter().copied()
}

/// Who is connected, as far as statements care.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub access: Access,
    pub user: String,
    pub database: String,
    pub application_name: String,
    pub pid: i32,
}

impl Session {
    pub(crate) fn of<C: ClientInfo + ?Sized>(client: &C) -> Session {
        let meta = client.metadata();
        let get = |key: &str| meta.get(key).cloned().unwrap_or_default();
        let user = get(METADATA_USER);
        let database = meta.get(METADATA_DATABASE).cloned().unwrap_or_else(|| user.clone());
        Session {
            // Set at startup; a connection that somehow skipped it may only read.
            access: client.session_extensions().get::<Access>().map(|a| *a).unwrap_or(Access::Read),
            user,
            database,
            application_name: get(METADATA_APPLICATION_NAME),
            pid: client.pid_and_secret_key().0,
        }
    }

    /// A setting as this session sees it (`application_name` is the client's).
    pub(crate) fn setting(&self, name: &str) -> Option<String> {
        if name.eq_ignore_ascii_case("application_name") {
            return Some(self.application_name.clone());
        }
        if name.eq_ignore_ascii_case("session_authorization") {
            return Some(self.user.clone());
        }
        setting(name).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_found_by_any_spelling() {
        assert_eq!(setting("datestyle"), Some("ISO, MDY"));
        assert_eq!(setting("TimeZone"), Some("UTC"));
        assert_eq!(setting("transaction isolation level"), Some("read committed"));
        assert_eq!(setting("no_such_thing"), None);
    }
}
