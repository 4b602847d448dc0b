//! A query string as statements, each with what it asks for: a read, a change to the engine,
//! or session business (SET, SHOW, BEGIN…).
//!
//! Splitting uses the engine's own parser (`illunare_sql::parse_pipeline`), so a statement
//! sent to `Pipeline::execute` is exactly the text the client wrote, positions included, and
//! illunare's own DDL (`CREATE SOURCE … WITH (…)`) is understood.

use datafusion::sql::sqlparser::ast::Statement as Sql;
use illunare_sql::{DropKind, Location, StatementAst, parse_pipeline};

use crate::error::Failure;

/// One statement of a query string.
#[derive(Clone, Debug)]
pub(crate) struct Statement {
    pub text: String,
    /// Where it starts in the query string.
    pub location: Location,
    pub action: Action,
}

#[derive(Clone, Debug)]
pub(crate) enum Action {
    /// A read-only query (SELECT, WITH, VALUES).
    Query(Box<Sql>),
    /// `SHOW name` (`all` for every setting).
    Show(String),
    /// SET, RESET, DISCARD, DEALLOCATE…: accepted, nothing changes; the command tag to send.
    Accept(&'static str),
    Begin,
    /// COMMIT or ROLLBACK (the tag).
    End(&'static str),
    /// DDL or DML, for `Pipeline::execute`.
    Change(Change),
}

/// What kind of change, for its command tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Insert,
    Update,
    Delete,
    Drop(DropKind),
    /// CREATE …, and statements the engine will refuse with its own message.
    Other,
}

/// Splits `query` into statements.
pub(crate) fn split(query: &str) -> Result<Vec<Statement>, Failure> {
    match parse_pipeline(query) {
        Ok(parsed) => Ok(parsed.into_iter().map(|p| Statement { action: classify(p.ast), text: p.text, location: p.location }).collect()),
        // Session statements in forms the parser does not know (`SET SESSION CHARACTERISTICS
        // …`) are still accepted: clients send them on connect.
        Err(e) => by_keyword(query).map(|action| vec![Statement { text: query.trim().to_string(), location: Location { line: 1, column: 1 }, action }]).ok_or_else(|| Failure::sql(e)),
    }
}

fn classify(ast: StatementAst) -> Action {
    match ast {
        StatementAst::CreateSource { .. } | StatementAst::CreateSink { .. } => Action::Change(Change::Other),
        StatementAst::Drop { kind, .. } => Action::Change(Change::Drop(kind)),
        StatementAst::Sql(sql) => match *sql {
            Sql::Query(_) => Action::Query(sql),
            Sql::Insert(_) => Action::Change(Change::Insert),
            Sql::Update(_) => Action::Change(Change::Update),
            Sql::Delete(_) => Action::Change(Change::Delete),
            Sql::ShowVariable { variable } => Action::Show(variable.iter().map(|i| i.value.clone()).collect::<Vec<_>>().join(" ")),
            Sql::Set(_) => Action::Accept("SET"),
            Sql::Reset(_) => Action::Accept("RESET"),
            Sql::Discard { .. } => Action::Accept("DISCARD ALL"),
            Sql::Deallocate { .. } => Action::Accept("DEALLOCATE"),
            Sql::Savepoint { .. } => Action::Accept("SAVEPOINT"),
            Sql::ReleaseSavepoint { .. } => Action::Accept("RELEASE"),
            Sql::StartTransaction { .. } => Action::Begin,
            Sql::Commit { .. } => Action::End("COMMIT"),
            Sql::Rollback { .. } => Action::End("ROLLBACK"),
            _ => Action::Change(Change::Other),
        },
    }
}

/// A single session statement recognised by its first word.
fn by_keyword(query: &str) -> Option<Action> {
    let text = query.trim().trim_end_matches(';').trim();
    if text.contains(';') {
        return None;
    }
    let mut words = text.split_whitespace();
    let first = words.next()?.to_ascii_uppercase();
    Some(match first.as_str() {
        "SET" => Action::Accept("SET"),
        "RESET" => Action::Accept("RESET"),
        "DISCARD" => Action::Accept("DISCARD ALL"),
        "DEALLOCATE" => Action::Accept("DEALLOCATE"),
        "SHOW" => Action::Show(words.collect::<Vec<_>>().join(" ")),
        "BEGIN" | "START" => Action::Begin,
        "COMMIT" | "END" => Action::End("COMMIT"),
        "ROLLBACK" | "ABORT" => Action::End("ROLLBACK"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_string_splits_into_classified_statements() {
        let statements = split("CREATE TABLE t (a BIGINT); INSERT INTO t VALUES (1);\nSELECT * FROM t; SET x = 1; SHOW TimeZone; BEGIN; COMMIT")
            .expect("splits");
        let actions: Vec<String> = statements.iter().map(|s| format!("{:?}", s.action).split('(').next().unwrap_or_default().to_string()).collect();
        assert_eq!(actions, ["Change", "Change", "Query", "Accept", "Show", "Begin", "End"]);
        assert_eq!(statements[2].location, Location { line: 2, column: 1 });
        assert_eq!(statements[2].text, "SELECT * FROM t");
    }

    #[test]
    fn unknown_session_statements_are_accepted_by_keyword() {
        let statements = split("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED").expect("accepted");
        assert!(matches!(statements[0].action, Action::Accept("SET")));
        assert!(split("SELEC 1").is_err());
    }
}
