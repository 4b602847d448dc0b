//! Event-time window table functions: `TUMBLE` and `HOP` in `FROM`.
//!
//! ```sql
//! SELECT auction, window_start, window_end, count(*)
//! FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND)                    -- TUMBLE(relation, time_col, size)
//! GROUP BY auction, window_start, window_end;
//! … FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)  -- HOP(relation, time_col, slide, size)
//! ```
//! Both yield every column of the relation plus `window_start` and `window_end` (the type of
//! `time_col`); windows are aligned to the Unix epoch.
//!
//! ## How: a rewrite of the SQL AST before planning
//! Each call is replaced, in the sqlparser AST, by a derived table written in plain SQL:
//! ```sql
//! TUMBLE(bid, ts, INTERVAL '10' SECOND) AS b
//!   ⇒ (SELECT *, date_bin(INTERVAL '10' SECOND, ts) AS window_start,
//!             date_bin(INTERVAL '10' SECOND, ts) + INTERVAL '10' SECOND AS window_end FROM bid) AS b
//! HOP(bid, ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND)   -- 10 / 2 = 5 windows per row
//!   ⇒ (SELECT *, date_bin(INTERVAL '2' SECOND, ts) AS window_start, … + INTERVAL '10' SECOND AS window_end FROM bid
//!      UNION ALL SELECT *, date_bin(INTERVAL '2' SECOND, ts) - INTERVAL '2' SECOND AS window_start, … FROM bid WHERE ts IS NOT NULL
//!      UNION ALL … (5 branches)) AS bid
//! ```
//! The derived table is aliased as the user's alias, or else as the relation's name, so
//! qualified references (`bid.price`) keep resolving. The view's stored query text is the
//! *rewritten* query, and the batch oracle re-executes exactly that text in DataFusion: the
//! engine and the oracle compute the same windows by construction, and the rest of the
//! pipeline (DataFusion planning, lowering to the IR, the dataflow) needs nothing new —
//! `date_bin`, interval arithmetic, `UNION ALL` and `GROUP BY` are already supported.
//!
//! Rejected: a DataFusion table function / `TableProvider` producing the windowed rows. The
//! lowering to our IR would need a special case for that provider, and the oracle would need a
//! second implementation of the window assignment that could drift from the first.
//!
//! Rules: sizes and slides are interval literals of fixed length (weeks and smaller, a whole
//! number of milliseconds, positive); a HOP's size must be a multiple of its slide (at most
//! [`MAX_HOP_WINDOWS`] windows per row). Intervals are re-emitted in one canonical unit, so the
//! number of HOP branches and what DataFusion computes cannot disagree. A row whose time is
//! NULL gets NULL `window_start`/`window_end` (as `date_bin` gives), once, for HOP as for
//! TUMBLE. `SESSION(relation, time_col, gap [, partition_col …])` depends on neighbouring rows,
//! so it is no per-row rewrite: see `session.rs` (the engine's marker table function, and a
//! window-function formulation for the batch oracle and DML, chosen by [`Target`]).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DateTimeField, Expr as SqlExpr, FunctionArg, FunctionArgExpr, Ident, Interval, ObjectName, Query, Spanned,
    Statement as SqlStatement, TableAlias, TableFactor, TableFunctionArgs, UnaryOperator, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Span, Token, Tokenizer};

use arrow::datatypes::{DataType, SchemaRef};

use crate::error::{Location, SqlError, locate_word, offset_location};
use crate::parser::{ParsedStatement, normalize_ident};

/// The most windows one row may fall into under HOP (size / slide): each is a `UNION ALL`
/// branch reading the relation.
pub const MAX_HOP_WINDOWS: i64 = 100;

const NANOS_PER_MILLI: i128 = 1_000_000;

/// The schema of a catalog relation by (normalised) name, when known. Used only for clearer
/// errors (a time column that is not a TIMESTAMP, a relation that already has `window_start`);
/// relations it does not know (CTEs) are left to DataFusion.
pub(crate) type Relations<'a> = &'a dyn Fn(&str) -> Option<SchemaRef>;

/// Rewrites every `TUMBLE(…)` / `HOP(…)` in `FROM` anywhere in `query` (subqueries, CTEs,
/// joins, set operations) into a plain-SQL derived table.
/// `SESSION(…)` becomes the engine's table function (see `session.rs`).
pub(crate) fn rewrite_query(query: &mut Query, parsed: &ParsedStatement, relations: Relations) -> Result<(), SqlError> {
    rewrite_query_for(query, parsed, relations, Target::Engine)
}

/// Who will run the rewritten SQL: the engine (`SESSION` as the marker table function that
/// lowers to `Node::Session`) or DataFusion in batch (`SESSION` as window-function SQL: the
/// oracle's text, and DML). TUMBLE and HOP are the same for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Engine,
    Batch,
}

/// [`rewrite_query`] for `target`.
pub(crate) fn rewrite_query_for(query: &mut Query, parsed: &ParsedStatement, relations: Relations, target: Target) -> Result<(), SqlError> {
    match query.visit(&mut WindowRewriter { parsed, relations, ctes: Vec::new(), target }) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(*e),
    }
}

/// [`rewrite_query`] for every query inside a statement (`INSERT … SELECT`, subqueries in DML),
/// which DataFusion executes in batch.
pub(crate) fn rewrite_statement(statement: &mut SqlStatement, parsed: &ParsedStatement, relations: Relations) -> Result<(), SqlError> {
    match statement.visit(&mut WindowRewriter { parsed, relations, ctes: Vec::new(), target: Target::Batch }) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(*e),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WindowKind {
    Tumble,
    Hop,
    Session,
}

impl WindowKind {
    fn of(name: &ObjectName) -> Option<WindowKind> {
        let [part] = name.0.as_slice() else { return None };
        let ident = part.as_ident()?;
        match ident.value.to_ascii_lowercase().as_str() {
            "tumble" => Some(WindowKind::Tumble),
            "hop" => Some(WindowKind::Hop),
            "session" => Some(WindowKind::Session),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            WindowKind::Tumble => "TUMBLE",
            WindowKind::Hop => "HOP",
            WindowKind::Session => "SESSION",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            WindowKind::Tumble => "TUMBLE(relation, time_column, INTERVAL '10' SECOND)",
            WindowKind::Hop => "HOP(relation, time_column, slide, size), e.g. HOP(t, ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND)",
            WindowKind::Session => "SESSION(relation, time_column, gap [, partition_column …]), e.g. SESSION(bid, date_time, INTERVAL '5' SECOND, auction)",
        }
    }
}

struct WindowRewriter<'a> {
    parsed: &'a ParsedStatement,
    relations: Relations<'a>,
    /// Names of the CTEs in scope, innermost query last: they shadow catalog relations.
    ctes: Vec<Vec<String>>,
    target: Target,
}

impl VisitorMut for WindowRewriter<'_> {
    type Break = Box<SqlError>;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Self::Break> {
        let names = query.with.iter().flat_map(|w| w.cte_tables.iter().map(|c| normalize_ident(&c.alias.name))).collect();
        self.ctes.push(names);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<Self::Break> {
        self.ctes.pop();
        ControlFlow::Continue(())
    }

    // After the children: the arguments are plain expressions, and the derived table put in
    // place is not visited again.
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Self::Break> {
        let TableFactor::Table { name, args: Some(_), .. } = factor else { return ControlFlow::Continue(()) };
        let Some(kind) = WindowKind::of(name) else { return ControlFlow::Continue(()) };
        match self.rewrite(kind, factor) {
            Ok(derived) => {
                *factor = derived;
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(Box::new(e)),
        }
    }
}

/// The start of the last `keyword` (a whole word, any case) before `at` in `text`, which
/// begins at `start`.
fn keyword_before(text: &str, start: Location, at: Location, keyword: &str) -> Option<Location> {
    // Byte offset of `at` in `text`.
    let line_index = at.line.checked_sub(start.line)? as usize;
    let line_offset: usize = text.split_inclusive('\n').take(line_index).map(str::len).sum();
    let line = text[line_offset..].split('\n').next()?;
    let skip = if line_index == 0 { at.column.checked_sub(start.column)? } else { at.column.checked_sub(1)? } as usize;
    let offset = line_offset + line.char_indices().nth(skip).map(|(i, _)| i).unwrap_or(line.len());
    let before = text[..offset].to_ascii_lowercase();
    let mut end = before.len();
    while let Some(pos) = before[..end].rfind(keyword) {
        let bytes = before.as_bytes();
        let word = |i: usize| bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if (pos == 0 || !word(pos - 1)) && !word(pos + keyword.len()) {
            return Some(offset_location(text, start, pos));
        }
        end = pos;
    }
    None
}

/// Where a span starts, if the node has a real position.
fn span_location(span: Span) -> Option<Location> {
    (span.start.line > 0).then_some(Location { line: span.start.line, column: span.start.column })
}

impl WindowRewriter<'_> {
    fn rewrite(&self, kind: WindowKind, factor: &TableFactor) -> Result<TableFactor, SqlError> {
        let TableFactor::Table {
            name,
            alias,
            args: Some(TableFunctionArgs { args, settings }),
            with_hints,
            version,
            with_ordinality,
            partitions,
            json_path,
            sample,
            index_hints,
        } = factor
        else {
            unreachable!("only called on a table function")
        };
        let fn_span = name.0.first().and_then(|p| p.as_ident()).map(|i| i.span).unwrap_or(Span::empty());
        let fn_at = span_location(fn_span)
            .or_else(|| locate_word(&self.parsed.text, self.parsed.location, &name.to_string()))
            .unwrap_or(self.parsed.location);
        let at = |node: &dyn Spanned| span_location(node.span()).unwrap_or(fn_at);
        // sqlparser spans an interval by its value: point at the INTERVAL keyword before it.
        let arg_at = |e: &SqlExpr| match e {
            SqlExpr::Interval(_) => keyword_before(&self.parsed.text, self.parsed.location, at(e), "interval").unwrap_or(at(e)),
            _ => at(e),
        };
        let call = kind.name();
        if settings.is_some()
            || !with_hints.is_empty()
            || version.is_some()
            || *with_ordinality
            || !partitions.is_empty()
            || json_path.is_some()
            || sample.is_some()
            || !index_hints.is_empty()
        {
            return Err(SqlError::new(fn_at, format!("{call}(…) takes no table modifiers (hints, TABLESAMPLE, WITH ORDINALITY, …)"))
                .with_hint("apply them in a view and window the view"));
        }
        let expected = match kind {
            WindowKind::Tumble => 3,
            WindowKind::Hop => 4,
            WindowKind::Session => args.len().max(3),
        };
        if args.len() != expected {
            let at_least = if kind == WindowKind::Session { "at least " } else { "" };
            return Err(SqlError::new(fn_at, format!("{call} takes {at_least}{expected} arguments, got {}", args.len()))
                .with_hint(format!("write {}", kind.usage())));
        }
        let mut exprs = Vec::with_capacity(args.len());
        for arg in args {
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => exprs.push(e),
                other => {
                    return Err(SqlError::new(at(other), format!("{call} takes positional arguments, not '{other}'"))
                        .with_hint(format!("write {}", kind.usage())));
                }
            }
        }
        let relation = match exprs[0] {
            SqlExpr::Identifier(id) => ObjectName::from(vec![id.clone()]),
            SqlExpr::CompoundIdentifier(ids) => ObjectName::from(ids.clone()),
            other => {
                return Err(SqlError::new(
                    at(other),
                    format!("the first argument of {call} must name a source, table or view, not '{other}'"),
                )
                .with_hint("to window a query, define it as a view and pass the view's name"));
            }
        };
        // Only the column's name: inside the generated subquery the relation is the only one.
        let time = match exprs[1] {
            SqlExpr::Identifier(id) => SqlExpr::Identifier(id.clone()),
            SqlExpr::CompoundIdentifier(ids) if !ids.is_empty() => SqlExpr::Identifier(ids[ids.len() - 1].clone()),
            other => {
                return Err(SqlError::new(
                    at(other),
                    format!("the second argument of {call} must be a TIMESTAMP column of the relation, not '{other}'"),
                )
                .with_hint("compute the time in a view and pass that column"));
            }
        };
        self.check_columns(kind, &relation, &time, fn_at, at(exprs[1]))?;
        let millis = |e: &SqlExpr, what: &str| {
            interval_millis(e).map_err(|m| {
                SqlError::new(arg_at(e), format!("{call} {what}: {m}")).with_hint("write a literal such as INTERVAL '10' SECOND or INTERVAL '1 hour 30 minutes'")
            })
        };
        if kind == WindowKind::Session {
            let gap_ms = millis(exprs[2], "gap")?;
            let partition = exprs[3..].iter().map(|e| self.partition_column(e, at(*e))).collect::<Result<Vec<_>, _>>()?;
            return self.rewrite_session(&relation, &time, gap_ms, partition, alias, fn_at, at(exprs[1]), arg_at(exprs[2]));
        }
        let time_sql = time.to_string();
        let sql = match kind {
            WindowKind::Tumble => {
                let size = interval_literal(millis(exprs[2], "size")?);
                format!("SELECT *, date_bin({size}, {time_sql}) AS window_start, date_bin({size}, {time_sql}) + {size} AS window_end FROM {relation}")
            }
            _ => {
                let slide_ms = millis(exprs[2], "slide")?;
                let size_ms = millis(exprs[3], "size")?;
                if size_ms % slide_ms != 0 {
                    return Err(SqlError::new(
                        arg_at(exprs[3]),
                        format!("HOP size ({}) must be a multiple of its slide ({})", interval_literal(size_ms), interval_literal(slide_ms)),
                    )
                    .with_hint("pick a slide that divides the size, e.g. size 10 s with slide 2 s or 5 s"));
                }
                let windows = size_ms / slide_ms;
                if windows > MAX_HOP_WINDOWS {
                    return Err(SqlError::new(
                        arg_at(exprs[2]),
                        format!("HOP size / slide = {windows} windows per row; at most {MAX_HOP_WINDOWS} are supported"),
                    )
                    .with_hint("use a larger slide"));
                }
                let (slide, size) = (interval_literal(slide_ms), interval_literal(size_ms));
                let branches: Vec<String> = (0..windows)
                    .map(|i| {
                        let start = if i == 0 {
                            format!("date_bin({slide}, {time_sql})")
                        } else {
                            format!("date_bin({slide}, {time_sql}) - {}", interval_literal(i * slide_ms))
                        };
                        // A row without time has no windows to repeat: its NULL window once.
                        let only_timed = if i == 0 { String::new() } else { format!(" WHERE {time_sql} IS NOT NULL") };
                        format!("SELECT *, {start} AS window_start, {start} + {size} AS window_end FROM {relation}{only_timed}")
                    })
                    .collect();
                branches.join(" UNION ALL ")
            }
        };
        let subquery = parse_generated(&sql, fn_span, &relation, &time, self.parsed)?;
        let alias = alias.clone().unwrap_or_else(|| TableAlias {
            explicit: true,
            name: relation.0.last().and_then(|p| p.as_ident()).cloned().unwrap_or_else(|| Ident::new(relation.to_string())),
            columns: vec![],
            at: None,
        });
        Ok(TableFactor::Derived { lateral: false, subquery, alias: Some(alias), sample: None })
    }
}

impl WindowRewriter<'_> {
    /// A partition argument of SESSION: a column name.
    fn partition_column(&self, e: &SqlExpr, at: Location) -> Result<String, SqlError> {
        match e {
            SqlExpr::Identifier(id) => Ok(normalize_ident(id)),
            SqlExpr::CompoundIdentifier(ids) if !ids.is_empty() => Ok(normalize_ident(&ids[ids.len() - 1])),
            other => Err(SqlError::new(at, format!("the partition arguments of SESSION must be columns of the relation, not '{other}'"))
                .with_hint("compute the key in a view and pass that column")),
        }
    }

    /// `SESSION(…)` for the engine (the marker table function) or for batch (window functions).
    /// The relation must be a catalog relation: its schema is needed (the batch text lists its
    /// columns, the marker looks it up).
    #[allow(clippy::too_many_arguments)]
    fn rewrite_session(
        &self,
        relation: &ObjectName,
        time: &SqlExpr,
        gap_ms: i64,
        partition: Vec<String>,
        alias: &Option<TableAlias>,
        fn_at: Location,
        time_at: Location,
        gap_at: Location,
    ) -> Result<TableFactor, SqlError> {
        let name = relation.0.iter().map(|p| p.as_ident().map(normalize_ident).unwrap_or_else(|| p.to_string())).collect::<Vec<_>>().join(".");
        let not_catalog = || {
            SqlError::new(fn_at, format!("the first argument of SESSION must name a source, table or view, and '{name}' is not one"))
                .with_hint("to window a CTE or a query, define it as a view and pass the view's name")
        };
        if self.ctes.iter().flatten().any(|c| *c == name) {
            return Err(not_catalog());
        }
        let schema = (self.relations)(&name).ok_or_else(not_catalog)?;
        self.check_columns(WindowKind::Session, relation, time, fn_at, time_at)?;
        let time_name = match time {
            SqlExpr::Identifier(id) => normalize_ident(id),
            SqlExpr::CompoundIdentifier(ids) => ids.last().map(normalize_ident).unwrap_or_default(),
            _ => String::new(),
        };
        let field = schema.field_with_name(&time_name).map_err(|_| {
            SqlError::new(time_at, format!("'{name}' has no column '{time_name}'")).with_hint("the second argument of SESSION is the relation's TIMESTAMP column")
        })?;
        if let DataType::Timestamp(unit, _) = field.data_type() {
            crate::session::gap_fits(unit, gap_ms).map_err(|m| SqlError::new(gap_at, format!("SESSION gap: {m}")))?;
        }
        for p in &partition {
            if schema.field_with_name(p).is_err() {
                let at = locate_word(&self.parsed.text, self.parsed.location, p).unwrap_or(fn_at);
                return Err(SqlError::new(at, format!("'{name}' has no column '{p}' to partition sessions by")));
            }
        }
        let call = crate::session::SessionCall { relation: name, time: time_name, gap_ms, partition };
        let alias = alias.clone().unwrap_or_else(|| TableAlias {
            explicit: true,
            name: relation.0.last().and_then(|p| p.as_ident()).cloned().unwrap_or_else(|| Ident::new(relation.to_string())),
            columns: vec![],
            at: None,
        });
        let internal = |e: String| SqlError::new(fn_at, format!("internal error rewriting SESSION: {e}"));
        match self.target {
            Target::Batch => {
                let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
                let sql = call.oracle_sql(&columns, &interval_literal(gap_ms));
                let subquery = Parser::new(&GenericDialect {}).try_with_sql(&sql).and_then(|mut p| p.parse_query()).map_err(|e| internal(e.to_string()))?;
                Ok(TableFactor::Derived { lateral: false, subquery, alias: Some(alias), sample: None })
            }
            Target::Engine => {
                let sql = format!("SELECT * FROM {}", call.engine_sql());
                let query = Parser::new(&GenericDialect {}).try_with_sql(&sql).and_then(|mut p| p.parse_query()).map_err(|e| internal(e.to_string()))?;
                let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = *query.body else { return Err(internal(sql)) };
                let Some(mut factor) = select.from.into_iter().next().map(|t| t.relation) else { return Err(internal(sql)) };
                if let TableFactor::Table { alias: a, .. } = &mut factor {
                    *a = Some(alias);
                }
                Ok(factor)
            }
        }
    }

    /// With the relation's schema from the catalog (unless a CTE shadows it): the time column
    /// must be a TIMESTAMP, and `window_start` / `window_end` must not exist yet.
    fn check_columns(&self, kind: WindowKind, relation: &ObjectName, time: &SqlExpr, fn_at: Location, time_at: Location) -> Result<(), SqlError> {
        let name = relation.0.iter().map(|p| p.as_ident().map(normalize_ident).unwrap_or_else(|| p.to_string())).collect::<Vec<_>>().join(".");
        if self.ctes.iter().flatten().any(|c| *c == name) {
            return Ok(());
        }
        let Some(schema) = (self.relations)(&name) else { return Ok(()) };
        let call = kind.name();
        for added in ["window_start", "window_end"] {
            if schema.field_with_name(added).is_ok() {
                return Err(SqlError::new(fn_at, format!("{call} adds a column '{added}', and '{name}' already has one"))
                    .with_hint(format!("rename it first, e.g. in a view: SELECT {added} AS prev_{added}, … FROM {name}")));
            }
        }
        let column = match time {
            SqlExpr::Identifier(id) => normalize_ident(id),
            SqlExpr::CompoundIdentifier(ids) => ids.last().map(normalize_ident).unwrap_or_default(),
            _ => return Ok(()),
        };
        if let Ok(field) = schema.field_with_name(&column)
            && !matches!(field.data_type(), DataType::Timestamp(..))
        {
            return Err(SqlError::new(time_at, format!("the time column of {call}, '{column}', is {}, not a TIMESTAMP", field.data_type()))
                .with_hint(format!("convert it in a view first, e.g. CAST({column} AS TIMESTAMP) or to_timestamp_millis({column})")));
        }
        Ok(())
    }
}

/// Parses generated SQL, giving its tokens positions in the user's text: the time column and
/// relation where the user wrote them, everything else at the window function's name. Errors
/// DataFusion finds in the generated part (a time column that is not a timestamp, …) then
/// point at the call.
fn parse_generated(sql: &str, at: Span, relation: &ObjectName, time: &SqlExpr, parsed: &ParsedStatement) -> Result<Box<Query>, SqlError> {
    let fallback = span_location(at).unwrap_or(parsed.location);
    let internal = |e: String| SqlError::new(fallback, format!("internal error rewriting a window function: {e} in `{sql}`"));
    let dialect = GenericDialect {};
    let mut tokens = Tokenizer::new(&dialect, sql).tokenize_with_location().map_err(|e| internal(e.to_string()))?;
    let time_ident = match time {
        SqlExpr::Identifier(id) => Some(id),
        SqlExpr::CompoundIdentifier(ids) => ids.last(),
        _ => None,
    };
    let relation_ident = relation.0.last().and_then(|p| p.as_ident());
    for token in &mut tokens {
        token.span = match &token.token {
            Token::Word(w) if time_ident.is_some_and(|t| t.value == w.value && t.quote_style == w.quote_style) => {
                time_ident.map(|t| t.span).unwrap_or(at)
            }
            Token::Word(w) if relation_ident.is_some_and(|r| r.value == w.value && r.quote_style == w.quote_style) => {
                relation_ident.map(|r| r.span).unwrap_or(at)
            }
            _ => at,
        };
    }
    Parser::new(&dialect).with_tokens_with_locations(tokens).parse_query().map_err(|e| internal(e.to_string()))
}

/// `INTERVAL 'n' UNIT` in the largest of HOUR / MINUTE / SECOND / MILLISECOND that divides
/// `millis` exactly. (Never DAY: DataFusion adds days in calendar terms on zoned timestamps;
/// hours are fixed durations.)
fn interval_literal(millis: i64) -> String {
    const UNITS: [(i64, &str); 4] = [(3_600_000, "HOUR"), (60_000, "MINUTE"), (1_000, "SECOND"), (1, "MILLISECOND")];
    let (per, unit) = UNITS.iter().find(|(per, _)| millis % per == 0).copied().unwrap_or((1, "MILLISECOND"));
    format!("INTERVAL '{}' {unit}", millis / per)
}

/// The length in milliseconds of an interval literal as sqlparser represents it:
/// `INTERVAL '10' SECOND`, `INTERVAL 10 SECOND`, `INTERVAL '10 seconds'`,
/// `INTERVAL '1 hour 30 minutes'`, `INTERVAL '0.5' SECOND`, `INTERVAL '500' MILLISECOND`.
/// Units: week, day, hour, minute, second, millisecond (and micro/nanoseconds adding up to
/// whole milliseconds), singular or plural, some abbreviations. Months and years, ranges
/// (`HOUR TO MINUTE`), zero and negative lengths are refused. The error is a message without
/// position.
pub(crate) fn interval_millis(expr: &SqlExpr) -> Result<i64, String> {
    let interval = match expr {
        SqlExpr::Nested(inner) => return interval_millis(inner),
        SqlExpr::Interval(i) => i,
        other => return Err(format!("expected an interval literal, got '{other}'")),
    };
    let Interval { value, leading_field, leading_precision: _, last_field, fractional_seconds_precision: _ } = interval;
    if let Some(last) = last_field {
        return Err(format!("interval ranges ('… TO {last}') are not supported"));
    }
    let (text, negative) = match value.as_ref() {
        SqlExpr::Value(v) => (literal_text(&v.value)?, false),
        SqlExpr::UnaryOp { op: UnaryOperator::Minus, expr } => match expr.as_ref() {
            SqlExpr::Value(v) => (literal_text(&v.value)?, true),
            other => return Err(format!("expected a literal interval value, got '{other}'")),
        },
        other => return Err(format!("expected a literal interval value, got '{other}'")),
    };
    let text = match leading_field {
        Some(field) => {
            let number = text.trim();
            if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+')) {
                return Err(format!("'{text}' is not a number of {}", field_unit(field)));
            }
            format!("{number} {}", field_unit(field))
        }
        None => text,
    };
    let nanos = parse_interval_text(&text)?;
    let nanos = if negative { -nanos } else { nanos };
    if nanos <= 0 {
        return Err(format!("the interval must be positive, got '{text}'{}", if negative { " negated" } else { "" }));
    }
    if nanos % NANOS_PER_MILLI != 0 {
        return Err(format!("the interval '{text}' is not a whole number of milliseconds"));
    }
    i64::try_from(nanos / NANOS_PER_MILLI).map_err(|_| format!("the interval '{text}' is too long"))
}

fn literal_text(value: &Value) -> Result<String, String> {
    match value {
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
        Value::Number(n, _) => Ok(n.to_string()),
        other => Err(format!("expected a literal interval value, got {other}")),
    }
}

/// The unit word of a `DateTimeField` (`SECOND`, `MINUTES`, …), lower-case.
fn field_unit(field: &DateTimeField) -> String {
    field.to_string().to_lowercase()
}

/// Nanoseconds per unit; `Err` for units without a fixed length.
fn unit_nanos(unit: &str) -> Result<i128, String> {
    const SECOND: i128 = 1_000_000_000;
    Ok(match unit.to_lowercase().as_str() {
        "week" | "weeks" | "w" => 7 * 86_400 * SECOND,
        "day" | "days" | "d" => 86_400 * SECOND,
        "hour" | "hours" | "hr" | "hrs" | "h" => 3_600 * SECOND,
        "minute" | "minutes" | "min" | "mins" => 60 * SECOND,
        "second" | "seconds" | "sec" | "secs" | "s" => SECOND,
        "millisecond" | "milliseconds" | "msec" | "msecs" | "ms" => 1_000_000,
        "microsecond" | "microseconds" | "usec" | "usecs" | "us" => 1_000,
        "nanosecond" | "nanoseconds" | "nsec" | "nsecs" | "ns" => 1,
        "month" | "months" | "mon" | "mons" | "year" | "years" | "yr" | "yrs" | "y" | "quarter" | "quarters" | "decade"
        | "decades" | "century" | "centuries" | "millennium" | "millennia" | "millenniums" => {
            return Err(format!("'{unit}' has no fixed length; window sizes are in weeks, days, hours, minutes, seconds or milliseconds"));
        }
        "" => return Err("a number without a unit".to_string()),
        other => return Err(format!("unknown interval unit '{other}'")),
    })
}

/// `"1 hour 30 minutes"`, `"10 seconds"`, `"1.5s"` → nanoseconds. Each part is a decimal
/// number (optionally signed) followed by a unit.
fn parse_interval_text(text: &str) -> Result<i128, String> {
    let mut total: i128 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("an empty interval".to_string());
    }
    while !rest.is_empty() {
        let number_len = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+'))))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        rest = rest[number_len..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        if number.is_empty() || number == "-" || number == "+" {
            return Err(format!("expected a number in '{text}'{}", if unit.is_empty() { String::new() } else { format!(" before '{unit}'") }));
        }
        let per = unit_nanos(unit).map_err(|e| if unit.is_empty() { format!("'{number}' in '{text}' is {e}") } else { e })?;
        let part = decimal_times(number, per).ok_or_else(|| format!("'{number} {unit}' is not a valid length"))?;
        total = total.checked_add(part).ok_or_else(|| format!("'{text}' is too long"))?;
    }
    Ok(total)
}

/// `number × per` exactly, for a decimal `number` like `-1.25`; `None` if it is malformed,
/// overflows, or is not a whole number of nanoseconds.
fn decimal_times(number: &str, per: i128) -> Option<i128> {
    let (negative, digits) = match number.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') || fraction.len() > 18 {
        return None;
    }
    let mantissa: i128 = format!("{whole}{fraction}").parse().ok()?;
    let scale = 10i128.pow(fraction.len() as u32);
    let scaled = mantissa.checked_mul(per)?;
    if scaled % scale != 0 {
        return None;
    }
    let value = scaled / scale;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{StatementAst, parse_pipeline};

    fn parse_expr(sql: &str) -> SqlExpr {
        Parser::new(&GenericDialect {}).try_with_sql(sql).unwrap().parse_expr().unwrap()
    }

    fn ms(sql: &str) -> Result<i64, String> {
        interval_millis(&parse_expr(sql))
    }

    /// Plans nothing: parses `CREATE VIEW v AS <query>` and rewrites its query.
    fn rewrite(query: &str) -> Result<String, SqlError> {
        let stmt = parse_pipeline(&format!("CREATE VIEW v AS {query}")).unwrap().remove(0);
        let StatementAst::Sql(sql) = &stmt.ast else { panic!() };
        let SqlStatement::CreateView(v) = sql.as_ref() else { panic!() };
        let mut q = (*v.query).clone();
        rewrite_query(&mut q, &stmt, &|_| None)?;
        Ok(q.to_string())
    }

    #[test]
    fn interval_literals_in_milliseconds() {
        assert_eq!(ms("INTERVAL '10' SECOND"), Ok(10_000));
        assert_eq!(ms("INTERVAL 10 SECOND"), Ok(10_000));
        assert_eq!(ms("INTERVAL '10 seconds'"), Ok(10_000));
        assert_eq!(ms("INTERVAL '1 second'"), Ok(1_000));
        assert_eq!(ms("INTERVAL '1' MINUTE"), Ok(60_000));
        assert_eq!(ms("INTERVAL '2 minutes'"), Ok(120_000));
        assert_eq!(ms("INTERVAL '1 hour 30 minutes'"), Ok(5_400_000));
        assert_eq!(ms("INTERVAL '1 HOUR 30 MINUTES 15 SECONDS'"), Ok(5_415_000));
        assert_eq!(ms("INTERVAL '500' MILLISECOND"), Ok(500));
        assert_eq!(ms("INTERVAL '250 milliseconds'"), Ok(250));
        assert_eq!(ms("INTERVAL '3' HOUR"), Ok(10_800_000));
        assert_eq!(ms("INTERVAL '1' DAY"), Ok(86_400_000));
        assert_eq!(ms("INTERVAL '2 days'"), Ok(172_800_000));
        assert_eq!(ms("INTERVAL '1 week'"), Ok(604_800_000));
        assert_eq!(ms("INTERVAL '0.5' SECOND"), Ok(500));
        assert_eq!(ms("INTERVAL '1.5 seconds'"), Ok(1_500));
        assert_eq!(ms("INTERVAL '1500 microseconds 500 us'"), Ok(2));
        assert_eq!(ms("INTERVAL '10s'"), Ok(10_000));
        assert_eq!(ms("INTERVAL '1h30min'"), Ok(5_400_000));
        assert_eq!(ms("INTERVAL '  5   mins '"), Ok(300_000));
        assert_eq!(ms("(INTERVAL '5' SECOND)"), Ok(5_000));
        assert_eq!(ms("INTERVAL '1 hour -30 minutes'"), Ok(1_800_000));
    }

    #[test]
    fn interval_literals_refused() {
        let err = |sql: &str| ms(sql).expect_err(sql);
        assert!(err("INTERVAL '1' MONTH").contains("no fixed length"));
        assert!(err("INTERVAL '2 years'").contains("no fixed length"));
        assert!(err("INTERVAL '1 day 1 month'").contains("no fixed length"));
        assert!(err("INTERVAL '0' SECOND").contains("positive"));
        assert!(err("INTERVAL '-5' SECOND").contains("positive"));
        assert!(err("INTERVAL -5 SECOND").contains("positive"));
        assert!(err("INTERVAL '10'").contains("without a unit"));
        assert!(err("INTERVAL '10 fortnights'").contains("unknown interval unit 'fortnights'"));
        assert!(err("INTERVAL '1' MICROSECOND").contains("whole number of milliseconds"));
        assert!(err("INTERVAL '0.0001' SECOND").contains("whole number of milliseconds"));
        assert!(err("INTERVAL '1:30' HOUR TO MINUTE").contains("ranges"));
        assert!(err("INTERVAL 'ten' SECOND").contains("not a number"));
        assert!(err("INTERVAL 'seconds'").contains("expected a number"));
        assert!(err("INTERVAL ''").contains("empty"));
        assert!(err("10").contains("expected an interval literal"));
        assert!(err("size").contains("expected an interval literal"));
        assert!(err("INTERVAL '99999999999999999999 weeks'").contains("valid length") || err("INTERVAL '99999999999999999999 weeks'").contains("too long"));
    }

    #[test]
    fn canonical_interval_literals() {
        assert_eq!(interval_literal(10_000), "INTERVAL '10' SECOND");
        assert_eq!(interval_literal(60_000), "INTERVAL '1' MINUTE");
        assert_eq!(interval_literal(5_400_000), "INTERVAL '90' MINUTE");
        assert_eq!(interval_literal(86_400_000), "INTERVAL '24' HOUR");
        assert_eq!(interval_literal(1_500), "INTERVAL '1500' MILLISECOND");
    }

    #[test]
    fn tumble_becomes_a_derived_table() {
        let q = rewrite("SELECT auction, window_start, count(*) FROM TUMBLE(bid, date_time, INTERVAL '10 seconds') GROUP BY auction, window_start")
            .unwrap();
        assert_eq!(
            q,
            "SELECT auction, window_start, count(*) FROM (SELECT *, date_bin(INTERVAL '10' SECOND, date_time) AS window_start, \
             date_bin(INTERVAL '10' SECOND, date_time) + INTERVAL '10' SECOND AS window_end FROM bid) AS bid GROUP BY auction, window_start"
        );
        // The user's alias is kept; the function name is case-insensitive.
        let q = rewrite("SELECT b.price FROM tumble(bid, date_time, INTERVAL '1' MINUTE) AS b").unwrap();
        assert!(q.ends_with("FROM bid) AS b"), "{q}");
        let q = rewrite("SELECT w.k FROM Tumble(t, ts, INTERVAL '1' MINUTE) w WHERE w.k = 'a'").unwrap();
        assert!(q.contains("FROM t) w WHERE"), "{q}");
        // A qualified time column is used by its name.
        let q = rewrite("SELECT * FROM TUMBLE(s.t, w.ts, INTERVAL '1' MINUTE)").unwrap();
        assert!(q.contains("date_bin(INTERVAL '1' MINUTE, ts)") && q.ends_with("FROM s.t) AS t"), "{q}");
    }

    #[test]
    fn hop_becomes_a_union_of_branches() {
        let q = rewrite("SELECT * FROM HOP(bid, ts, INTERVAL '2' SECOND, INTERVAL '6' SECOND)").unwrap();
        assert_eq!(
            q,
            "SELECT * FROM (\
             SELECT *, date_bin(INTERVAL '2' SECOND, ts) AS window_start, date_bin(INTERVAL '2' SECOND, ts) + INTERVAL '6' SECOND AS window_end FROM bid \
             UNION ALL SELECT *, date_bin(INTERVAL '2' SECOND, ts) - INTERVAL '2' SECOND AS window_start, \
             date_bin(INTERVAL '2' SECOND, ts) - INTERVAL '2' SECOND + INTERVAL '6' SECOND AS window_end FROM bid WHERE ts IS NOT NULL \
             UNION ALL SELECT *, date_bin(INTERVAL '2' SECOND, ts) - INTERVAL '4' SECOND AS window_start, \
             date_bin(INTERVAL '2' SECOND, ts) - INTERVAL '4' SECOND + INTERVAL '6' SECOND AS window_end FROM bid WHERE ts IS NOT NULL\
             ) AS bid"
        );
        // size == slide: one branch, a tumbling window.
        let q = rewrite("SELECT * FROM HOP(bid, ts, INTERVAL '1' MINUTE, INTERVAL '60 seconds')").unwrap();
        assert!(!q.contains("UNION"), "{q}");
    }

    #[test]
    fn rewrites_everywhere_in_the_query() {
        let q = rewrite(
            "WITH c AS (SELECT * FROM TUMBLE(t, ts, INTERVAL '1' SECOND)) \
             SELECT * FROM c JOIN HOP(u, ts, INTERVAL '1' SECOND, INTERVAL '2' SECOND) h ON c.k = h.k \
             WHERE c.k IN (SELECT k FROM TUMBLE(v, ts, INTERVAL '5' SECOND)) \
             UNION SELECT * FROM (SELECT * FROM TUMBLE(w, ts, INTERVAL '7' SECOND)) x",
        )
        .unwrap();
        let lower = q.to_lowercase();
        assert!(!lower.contains("tumble(") && !lower.contains("hop("), "{q}");
        for relation in ["FROM t)", "FROM u WHERE", "FROM v)", "FROM w)"] {
            assert!(q.contains(relation), "{relation} in {q}");
        }
        // Quoted and qualified names survive.
        let q = rewrite("SELECT * FROM TUMBLE(\"Bids\", \"Date Time\", INTERVAL '1' SECOND)").unwrap();
        assert!(q.contains("date_bin(INTERVAL '1' SECOND, \"Date Time\")") && q.ends_with("FROM \"Bids\") AS \"Bids\""), "{q}");
        // A table that happens to be called hop is left alone.
        assert_eq!(rewrite("SELECT * FROM hop").unwrap(), "SELECT * FROM hop");
    }

    fn planner() -> crate::planner::Planner {
        let mut planner = crate::planner::Planner::new();
        let ddl = "CREATE TABLE bid (auction INT, price INT, ts TIMESTAMP, n BIGINT);
                   CREATE VIEW w AS SELECT auction, window_start, window_end FROM TUMBLE(bid, ts, INTERVAL '1' SECOND)";
        for stmt in parse_pipeline(ddl).unwrap() {
            planner.plan(&stmt).unwrap();
        }
        planner
    }

    #[test]
    fn views_store_the_rewritten_query() {
        let mut planner = planner();
        let view = planner
            .create_view("wc", "SELECT auction, window_start, window_end, count(*) AS c FROM TUMBLE(bid, ts, INTERVAL '10' SECOND) GROUP BY 1, 2, 3", false)
            .unwrap();
        assert!(view.query.contains("date_bin(INTERVAL '10' SECOND, ts)") && !view.query.contains("TUMBLE"), "{}", view.query);
        let names: Vec<_> = view.plan.schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
        let ts = arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None);
        assert_eq!(names[1], ("window_start".to_string(), ts.clone()));
        assert_eq!(names[2], ("window_end".to_string(), ts));
        // Qualified references through the default alias (the relation's name).
        planner.create_view("h", "SELECT bid.price, bid.window_end FROM HOP(bid, ts, INTERVAL '1' MINUTE, INTERVAL '3' MINUTE)", false).unwrap();
        // A view over a windowed view, windowed again after renaming the window columns.
        planner.create_view("w2", "SELECT window_start AS ws, c FROM wc", false).unwrap();
        planner.create_view("ww", "SELECT ws, window_start, sum(c) FROM TUMBLE(w2, ws, INTERVAL '1' MINUTE) GROUP BY 1, 2", false).unwrap();
    }

    #[test]
    fn planning_errors_are_positioned() {
        let mut planner = planner();
        let e = planner.create_view("x", "SELECT * FROM TUMBLE(bid, n, INTERVAL '10' SECOND)", false).unwrap_err();
        assert_eq!(e.message, "the time column of TUMBLE, 'n', is Int64, not a TIMESTAMP");
        assert_eq!(e.location, Location { line: 1, column: 44 }, "{e}");
        let e = planner.create_view("x", "SELECT * FROM TUMBLE(w, window_end, INTERVAL '10' SECOND)", false).unwrap_err();
        assert!(e.message.contains("TUMBLE adds a column 'window_start', and 'w' already has one"), "{e}");
        assert_eq!(e.location, Location { line: 1, column: 32 }, "{e}");
        // A CTE shadows the catalog relation of the same name: no false error.
        planner
            .create_view("x", "WITH w AS (SELECT ts AS n FROM bid) SELECT * FROM HOP(w, n, INTERVAL '1' SECOND, INTERVAL '2' SECOND)", false)
            .unwrap();
        let e = planner.create_view("x", "SELECT * FROM TUMBLE(bid, nope, INTERVAL '10' SECOND)", false).unwrap_err();
        assert!(e.message.contains("nope"), "{e}");
        assert_eq!(e.location, Location { line: 1, column: 44 }, "{e}");
        let e = planner.create_view("x", "SELECT * FROM TUMBLE(bids, ts, INTERVAL '10' SECOND)", false).unwrap_err();
        assert!(e.message.contains("bids") && e.message.contains("not found"), "{e}");
        let e = planner.create_view("x", "SELECT * FROM SESSION(bid, n, INTERVAL '10' SECOND)", false).unwrap_err();
        assert_eq!(e.message, "the time column of SESSION, 'n', is Int64, not a TIMESTAMP");
        assert_eq!(e.location, Location { line: 1, column: 45 }, "{e}");
        let e = planner.create_view("x", "SELECT * FROM SESSION(bid, ts, INTERVAL '10' SECOND, nope)", false).unwrap_err();
        assert!(e.message.contains("no column 'nope' to partition"), "{e}");
        let e = planner.create_view("x", "WITH c AS (SELECT * FROM bid) SELECT * FROM SESSION(c, ts, INTERVAL '1' SECOND)", false).unwrap_err();
        assert!(e.message.contains("first argument of SESSION must name a source, table or view"), "{e}");
        let e = planner.create_view("x", "SELECT * FROM SESSION(bid, ts, 5)", false).unwrap_err();
        assert!(e.message.contains("SESSION gap: expected an interval literal"), "{e}");
        // The engine plans the marker; the oracle text uses window functions.
        let view = planner
            .create_view("s", "SELECT auction, window_start, window_end, count(*) AS n FROM SESSION(bid, ts, INTERVAL '5' SECOND, auction) GROUP BY 1, 2, 3", false)
            .unwrap();
        assert!(view.query.contains("__illunare_session('bid', 'ts', 5000, 'auction')"), "{}", view.query);
        assert!(view.oracle_query.contains("lag(\"ts\") OVER") && !view.oracle_query.contains("__illunare_session("), "{}", view.oracle_query);
        assert!(view.plan.explain().contains("Session partition [0] time #2 gap 5000 ms"), "{}", view.plan.explain());
        let ts = arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None);
        assert_eq!(view.plan.schema.field(1).data_type(), &ts);
    }

    #[test]
    fn datafusion_computes_the_windows() {
        let ctx = crate::planner::session_context();
        let run = |sql: &str| -> Vec<String> {
            futures::executor::block_on(async {
                let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                let text = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
                text.lines().filter(|l| l.starts_with("| ")).skip(1).map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
            })
        };
        futures::executor::block_on(ctx.sql(
            "CREATE TABLE t (k VARCHAR, ts TIMESTAMP) AS VALUES ('a', TIMESTAMP '2024-01-01 00:00:07'), ('b', TIMESTAMP '1969-12-31 23:59:59.500'), ('c', NULL)",
        ))
        .unwrap();
        let stmt = parse_pipeline("CREATE VIEW v AS SELECT 1").unwrap().remove(0);
        let rewritten = |q: &str| {
            let mut query = *Parser::new(&GenericDialect {}).try_with_sql(q).unwrap().parse_query().unwrap();
            rewrite_query(&mut query, &stmt, &|_| None).unwrap();
            query.to_string()
        };
        let tumble = run(&rewritten("SELECT k, window_start, window_end FROM TUMBLE(t, ts, INTERVAL '5' SECOND) ORDER BY k"));
        assert_eq!(
            tumble,
            [
                "| a | 2024-01-01T00:00:05 | 2024-01-01T00:00:10 |",
                "| b | 1969-12-31T23:59:55 | 1970-01-01T00:00:00 |",
                "| c | | |",
            ]
        );
        let hop = run(&rewritten("SELECT k, window_start, window_end FROM HOP(t, ts, INTERVAL '2' SECOND, INTERVAL '6' SECOND) ORDER BY k, window_start"));
        assert_eq!(
            hop,
            [
                "| a | 2024-01-01T00:00:02 | 2024-01-01T00:00:08 |",
                "| a | 2024-01-01T00:00:04 | 2024-01-01T00:00:10 |",
                "| a | 2024-01-01T00:00:06 | 2024-01-01T00:00:12 |",
                "| b | 1969-12-31T23:59:54 | 1970-01-01T00:00:00 |",
                "| b | 1969-12-31T23:59:56 | 1970-01-01T00:00:02 |",
                "| b | 1969-12-31T23:59:58 | 1970-01-01T00:00:04 |",
                "| c | | |",
            ]
        );
        let ms = run(&rewritten("SELECT k, window_start FROM TUMBLE(t, ts, INTERVAL '1.5' SECOND) WHERE k = 'a'"));
        assert_eq!(ms, ["| a | 2024-01-01T00:00:06 |"]);
    }

    #[test]
    fn errors_point_at_the_call_or_argument() {
        let err = |query: &str| rewrite(query).expect_err(query);
        // "CREATE VIEW v AS " is 17 characters: the query starts at column 18.
        // Without a catalog, SESSION cannot know the relation.
        let e = err("SELECT * FROM SESSION(t, ts, INTERVAL '1' MINUTE)");
        assert!(e.message.contains("first argument of SESSION must name a source, table or view"), "{e}");
        assert_eq!(e.location, Location { line: 1, column: 32 });
        let e = err("SELECT * FROM SESSION(t, ts)");
        assert!(e.message.contains("SESSION takes at least 3 arguments, got 2"), "{e}");
        let e = err("SELECT * FROM SESSION(t, ts, INTERVAL '0' SECOND)");
        assert!(e.message.contains("SESSION gap: the interval must be positive"), "{e}");
        // The gap argument: SESSION is one letter longer than TUMBLE (column 46 below).
        assert_eq!(e.location, Location { line: 1, column: 47 });
        let e = err("SELECT * FROM TUMBLE(t, ts)");
        assert!(e.message.contains("TUMBLE takes 3 arguments, got 2"), "{e}");
        assert_eq!(e.location, Location { line: 1, column: 32 });
        let e = err("SELECT * FROM HOP(t, ts, INTERVAL '1' SECOND)");
        assert!(e.message.contains("HOP takes 4 arguments, got 3"), "{e}");
        let e = err("SELECT *\nFROM t JOIN TUMBLE(t, ts, size) x ON true");
        assert!(e.message.contains("TUMBLE size: expected an interval literal, got 'size'"), "{e}");
        assert_eq!(e.location, Location { line: 2, column: 27 });
        let e = err("SELECT * FROM HOP(t, ts, INTERVAL '3' SECOND, INTERVAL '10' SECOND)");
        assert!(e.message.contains("must be a multiple of its slide"), "{e}");
        assert_eq!(e.location, Location { line: 1, column: 64 });
        let e = err("SELECT * FROM HOP(t, ts, INTERVAL '1' MILLISECOND, INTERVAL '1' SECOND)");
        assert!(e.message.contains("1000 windows per row"), "{e}");
        let e = err("SELECT * FROM TUMBLE(t, ts, INTERVAL '1' MONTH)");
        assert!(e.message.contains("no fixed length"), "{e}");
        assert_eq!(e.location, Location { line: 1, column: 46 });
        let e = err("SELECT *\nFROM HOP(t, ts,\n  interval '1' SECOND, Interval\n'1.5' SECOND)");
        assert!(e.message.contains("must be a multiple of its slide"), "{e}");
        assert_eq!(e.location, Location { line: 3, column: 24 });
        let e = err("SELECT * FROM TUMBLE(t, ts + INTERVAL '1' SECOND, INTERVAL '1' MINUTE)");
        assert!(e.message.contains("second argument of TUMBLE must be a TIMESTAMP column"), "{e}");
        assert_eq!(e.location, Location { line: 1, column: 42 });
        let e = err("SELECT * FROM TUMBLE((SELECT 1), ts, INTERVAL '1' MINUTE)");
        assert!(e.message.contains("first argument of TUMBLE must name a source, table or view"), "{e}");
        let e = err("SELECT * FROM (SELECT * FROM TUMBLE(t, ts, INTERVAL '0' SECOND)) x");
        assert!(e.message.contains("positive"), "{e}");
    }
}
