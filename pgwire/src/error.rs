//! Errors as Postgres reports them: a SQLSTATE clients can branch on, the message, and where
//! in the query text it points (the message says `line L, column C`; the `position` field lets
//! psql draw its caret).
//!
//! SQLSTATEs: 42601 syntax error, 42P01 undefined table, 42703 undefined column, 42P07
//! duplicate table, 23505 unique violation, 42501 insufficient privilege, 42704 undefined
//! setting, 0A000 not supported, 22xxx data errors, 42000 other SQL errors, XX000 engine
//! failures.

use illunare_coord::CoordError;
use illunare_coord::adhoc::AdhocError;
use illunare_sql::{Location, SqlError, locate_word};
use pgwire::error::{ErrorInfo, PgWireError};

/// A statement that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Failure {
    pub code: &'static str,
    pub message: String,
    /// Where, relative to the statement's text.
    pub location: Option<Location>,
    pub hint: Option<String>,
}

/// The SQLSTATE a message of the engine or of DataFusion stands for.
fn sqlstate(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.starts_with("syntax error") || m.contains("sql parser error") || m.starts_with("expected") {
        "42601"
    } else if m.contains("no field named") || m.contains("column") && m.contains("does not exist") {
        "42703"
    } else if (m.contains("relation") || m.contains("table") || m.contains("view") || m.contains("source") || m.contains("sink"))
        && (m.contains("does not exist") || m.contains("not found") || m.starts_with("unknown"))
    {
        "42P01"
    } else if m.contains("already exists") {
        "42P07"
    } else if m.contains("duplicate key") {
        "23505"
    } else if m.contains("divide by zero") || m.contains("division by zero") {
        "22012"
    } else if m.contains("cannot cast") || m.contains("cast error") || m.contains("invalid input syntax") {
        "22P02"
    } else if m.contains("not supported") || m.contains("unsupported") {
        "0A000"
    } else {
        "42000"
    }
}

/// The name an "undefined" message is about: `relation 'x' does not exist`, `No field named x.`.
fn subject(message: &str) -> Option<String> {
    if let Some(start) = message.find('\'') {
        let rest = &message[start + 1..];
        return rest.find('\'').map(|end| rest[..end].rsplit('.').next().unwrap_or_default().to_string());
    }
    let rest = message.split("No field named ").nth(1)?;
    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '"')).collect();
    Some(name.trim_end_matches('.').rsplit('.').next().unwrap_or_default().trim_matches('"').to_string())
}

impl Failure {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into(), location: None, hint: None }
    }

    /// An error whose message tells its SQLSTATE; located at the name it is about in `text`.
    pub(crate) fn from_message(message: impl Into<String>, text: &str) -> Failure {
        let message = message.into();
        let code = sqlstate(&message);
        let location = if matches!(code, "42P01" | "42703") { subject(&message).filter(|name| !name.is_empty()).and_then(|name| locate_word(text, Location { line: 1, column: 1 }, &name)) } else { None };
        Failure { code, message, location, hint: None }
    }

    pub(crate) fn sql(e: SqlError) -> Failure {
        Failure { code: sqlstate(&e.message), message: e.message, location: Some(e.location), hint: e.hint }
    }

    pub(crate) fn coord(e: CoordError) -> Failure {
        match e {
            CoordError::Sql(e) => Failure::sql(e),
            CoordError::Runtime(m) => Failure::new("XX000", m),
        }
    }

    pub(crate) fn adhoc(e: AdhocError, text: &str) -> Failure {
        match e {
            AdhocError::NotAQuery => Failure::new("42000", e.to_string()),
            AdhocError::NotQueryable(m) if m.contains("does not exist") => Failure::from_message(m, text),
            AdhocError::NotQueryable(m) => Failure::new("0A000", m),
            AdhocError::Query(m) => Failure::from_message(m, text),
        }
    }

    /// A DataFusion error, first line only, without its category prefix.
    pub(crate) fn datafusion(e: impl std::fmt::Display, text: &str) -> Failure {
        let full = e.to_string();
        let line = full.lines().next().unwrap_or(&full);
        let line = ["Error during planning: ", "Schema error: ", "Execution error: ", "SQL error: ", "This feature is not implemented: "]
            .iter()
            .fold(line.to_string(), |l, prefix| l.replace(prefix, ""));
        let mut failure = Failure::from_message(line, text);
        if full.contains("This feature is not implemented") {
            failure.code = "0A000";
        }
        failure
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    /// The error report for a statement starting at `start` of the client's `query`.
    pub(crate) fn report(&self, query: &str, start: Location) -> ErrorInfo {
        let mut message = self.message.clone();
        let mut position = None;
        if let Some(at) = self.location {
            // Statement-relative → query-relative.
            let line = start.line + at.line.saturating_sub(1);
            let column = if at.line <= 1 { start.column + at.column.saturating_sub(1) } else { at.column };
            message = format!("{message} at line {line}, column {column}");
            let before: usize = query.split_inclusive('\n').take(line.saturating_sub(1) as usize).map(|l| l.chars().count()).sum();
            position = Some((before + column as usize).to_string());
        }
        let mut info = ErrorInfo::new("ERROR".into(), self.code.into(), message);
        info.hint = self.hint.clone();
        info.position = position;
        info
    }

    /// As a pgwire error (extended protocol), for a statement that is all of `query`.
    pub(crate) fn into_pgwire(self, query: &str) -> PgWireError {
        PgWireError::UserError(Box::new(self.report(query, Location { line: 1, column: 1 })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_map_to_sqlstates() {
        assert_eq!(sqlstate("syntax error: Expected: an expression, found: EOF"), "42601");
        assert_eq!(sqlstate("relation 'nope' does not exist"), "42P01");
        assert_eq!(sqlstate("Schema error: No field named zz. Valid fields are t.a."), "42703");
        assert_eq!(sqlstate("relation 't' already exists (a Table)"), "42P07");
        assert_eq!(sqlstate("something else"), "42000");
    }

    #[test]
    fn undefined_names_are_located() {
        let f = Failure::from_message("relation 'nope' does not exist", "SELECT *\n  FROM nope");
        assert_eq!(f.location, Some(Location { line: 2, column: 8 }));
        let f = Failure::from_message("No field named zz. Valid fields are t.a.", "SELECT zz FROM t");
        assert_eq!(f.location, Some(Location { line: 1, column: 8 }));
    }

    #[test]
    fn reports_point_into_the_whole_query() {
        let f = Failure { code: "42601", message: "syntax error".into(), location: Some(Location { line: 1, column: 3 }), hint: None };
        let query = "SELECT 1;\nSELEC 2";
        let info = f.report(query, Location { line: 2, column: 1 });
        assert_eq!(info.message, "syntax error at line 2, column 3");
        assert_eq!(info.position.as_deref(), Some("13"));
    }
}
