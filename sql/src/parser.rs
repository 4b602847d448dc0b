//! Splits a pipeline file into statements and parses illunare's own DDL.
//!
//! Standard statements (CREATE TABLE / VIEW / MATERIALIZED VIEW, INSERT, UPDATE, DELETE, SELECT)
//! are parsed by sqlparser, DataFusion's parser. `CREATE SOURCE name [(columns…)] WITH (…)` (the
//! column list may hold a `WATERMARK FOR col AS expr`, or be left out) and `CREATE SINK … FROM … WITH (…)` are parsed here with the same
//! parser's primitives, so positions stay exact for every statement of the file.

use datafusion::sql::sqlparser::ast::{ColumnDef, Expr as SqlExpr, Ident, ObjectName, Statement as SqlStatement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, Word};

use crate::error::{Location, SqlError};

/// One statement of a pipeline file, with where it starts and its text.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    pub ast: StatementAst,
    pub location: Location,
    pub text: String,
    /// Where `EMIT ON WINDOW CLOSE` follows a CREATE [MATERIALIZED] VIEW's query, if it does.
    pub emit_on_window_close: Option<Location>,
}

#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum StatementAst {
    CreateSource {
        name: String,
        columns: Vec<ColumnDef>,
        watermark: Option<(Ident, SqlExpr)>,
        options: Vec<(String, String)>,
    },
    CreateSink {
        name: String,
        from: String,
        options: Vec<(String, String)>,
    },
    /// `DROP SOURCE | SINK | TABLE | [MATERIALIZED] VIEW [IF EXISTS] name, …`.
    Drop {
        kind: DropKind,
        names: Vec<String>,
        if_exists: bool,
    },
    Sql(Box<SqlStatement>),
}

/// What a DROP statement names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropKind {
    Source,
    Sink,
    Table,
    View,
    MaterializedView,
}

impl DropKind {
    /// The SQL words after DROP.
    pub fn keyword(self) -> &'static str {
        match self {
            DropKind::Source => "SOURCE",
            DropKind::Sink => "SINK",
            DropKind::Table => "TABLE",
            DropKind::View => "VIEW",
            DropKind::MaterializedView => "MATERIALIZED VIEW",
        }
    }
}

fn location_of(e: &ParserError) -> Option<Location> {
    let text = e.to_string();
    let line_at = text.find("Line: ")?;
    let rest = &text[line_at + 6..];
    let line: u64 = rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    let col_at = rest.find("Column: ")?;
    let column: u64 = rest[col_at + 8..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    Some(Location { line, column })
}

fn parse_error(e: ParserError, fallback: Location) -> SqlError {
    let location = location_of(&e).unwrap_or(fallback);
    let message = e.to_string();
    let message = message.split(" at Line: ").next().unwrap_or(&message).replace("sql parser error: ", "");
    SqlError::new(location, format!("syntax error: {message}"))
}

fn loc(t: &datafusion::sql::sqlparser::tokenizer::TokenWithSpan) -> Location {
    Location { line: t.span.start.line, column: t.span.start.column }
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(Word { value, quote_style: None, .. }) if value.eq_ignore_ascii_case(word))
}

/// Byte offset of a 1-based line/column in `text`.
fn byte_offset(text: &str, at: Location) -> usize {
    let mut offset = 0;
    for (index, l) in text.split_inclusive('\n').enumerate() {
        if index as u64 + 1 == at.line {
            return offset + l.char_indices().nth(at.column.saturating_sub(1) as usize).map(|(i, _)| i).unwrap_or(l.len());
        }
        offset += l.len();
    }
    text.len()
}

/// Parses every statement of a pipeline file.
pub fn parse_pipeline(text: &str) -> Result<Vec<ParsedStatement>, SqlError> {
    let dialect = PostgreSqlDialect {};
    let start = Location { line: 1, column: 1 };
    let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(|e| parse_error(e, start))?;
    let mut out = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let first = parser.peek_token();
        if first.token == Token::EOF {
            break;
        }
        let location = loc(&first);
        let ast = parse_one(&mut parser).map_err(|e| parse_error(e, location))?;
        let emit_on_window_close = parse_emit_clause(&mut parser).map_err(|e| parse_error(e, location))?;
        if let Some(at) = emit_on_window_close
            && !matches!(&ast, StatementAst::Sql(s) if matches!(s.as_ref(), SqlStatement::CreateView(_)))
        {
            return Err(SqlError::new(at, "EMIT ON WINDOW CLOSE only follows the query of a CREATE [MATERIALIZED] VIEW"));
        }
        let end_token = parser.peek_token();
        let end = if end_token.token == Token::EOF { text.len() } else { byte_offset(text, loc(&end_token)) };
        let begin = byte_offset(text, location);
        let stmt_text = text.get(begin..end.max(begin)).unwrap_or("").trim_end().to_string();
        out.push(ParsedStatement { ast, location, text: stmt_text, emit_on_window_close });
        let next = parser.peek_token();
        if next.token != Token::EOF && next.token != Token::SemiColon {
            return Err(SqlError::new(loc(&next), format!("syntax error: expected ';' before {}", next.token)));
        }
    }
    Ok(out)
}

/// `EMIT ON WINDOW CLOSE` (RisingWave's spelling) after a statement: where it starts, if present.
fn parse_emit_clause(parser: &mut Parser) -> Result<Option<Location>, ParserError> {
    let first = parser.peek_token();
    if !is_word(&first.token, "EMIT") {
        return Ok(None);
    }
    parser.next_token();
    for word in ["ON", "WINDOW", "CLOSE"] {
        let t = parser.next_token();
        if !is_word(&t.token, word) {
            return Err(ParserError::ParserError(format!(
                "expected EMIT ON WINDOW CLOSE, found {} at Line: {}, Column: {}",
                t.token, t.span.start.line, t.span.start.column
            )));
        }
    }
    Ok(Some(loc(&first)))
}

fn parse_one(parser: &mut Parser) -> Result<StatementAst, ParserError> {
    let t0 = parser.peek_nth_token(0).token;
    let t1 = parser.peek_nth_token(1).token;
    if is_word(&t0, "CREATE") && is_word(&t1, "SOURCE") {
        parser.next_token();
        parser.next_token();
        return parse_create_source(parser);
    }
    if is_word(&t0, "CREATE") && is_word(&t1, "SINK") {
        parser.next_token();
        parser.next_token();
        return parse_create_sink(parser);
    }
    if is_word(&t0, "DROP") && ["SOURCE", "SINK", "TABLE", "VIEW", "MATERIALIZED"].iter().any(|w| is_word(&t1, w)) {
        parser.next_token();
        return parse_drop(parser);
    }
    Ok(StatementAst::Sql(Box::new(parser.parse_statement()?)))
}

fn parse_drop(parser: &mut Parser) -> Result<StatementAst, ParserError> {
    let word = parser.next_token();
    let kind = match &word.token {
        t if is_word(t, "SOURCE") => DropKind::Source,
        t if is_word(t, "SINK") => DropKind::Sink,
        t if is_word(t, "TABLE") => DropKind::Table,
        t if is_word(t, "VIEW") => DropKind::View,
        _ => {
            parser.expect_keyword(Keyword::VIEW)?;
            DropKind::MaterializedView
        }
    };
    let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let mut names = vec![normalize_name(&parser.parse_object_name(false)?)];
    while parser.consume_token(&Token::Comma) {
        names.push(normalize_name(&parser.parse_object_name(false)?));
    }
    if parser.parse_keyword(Keyword::CASCADE) {
        return Err(ParserError::ParserError("DROP … CASCADE is not supported: drop the dependent views and sinks first".into()));
    }
    let _ = parser.parse_keyword(Keyword::RESTRICT);
    Ok(StatementAst::Drop { kind, names, if_exists })
}

/// An identifier as the catalog stores it: unquoted names lower-cased, quoted names verbatim.
pub fn normalize_ident(id: &Ident) -> String {
    if id.quote_style.is_some() { id.value.clone() } else { id.value.to_lowercase() }
}

fn normalize_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| p.as_ident().map(normalize_ident).unwrap_or_else(|| p.to_string()))
        .collect::<Vec<_>>()
        .join(".")
}

fn parse_create_source(parser: &mut Parser) -> Result<StatementAst, ParserError> {
    let _ = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = normalize_name(&parser.parse_object_name(false)?);
    let mut columns = Vec::new();
    let mut watermark = None;
    // Without a column list (or with only a WATERMARK in it) the connector supplies the
    // columns from the data (`SourceConnector::infer_schema`).
    if parser.parse_keyword(Keyword::WITH) {
        parser.prev_token();
        let options = parse_with_options(parser)?;
        return Ok(StatementAst::CreateSource { name, columns, watermark, options });
    }
    parser.expect_token(&Token::LParen)?;
    loop {
        if is_word(&parser.peek_token().token, "WATERMARK") {
            parser.next_token();
            parser.expect_keyword(Keyword::FOR)?;
            let column = parser.parse_identifier()?;
            parser.expect_keyword(Keyword::AS)?;
            let expr = parser.parse_expr()?;
            watermark = Some((column, expr));
        } else {
            columns.push(parser.parse_column_def()?);
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    let options = parse_with_options(parser)?;
    Ok(StatementAst::CreateSource { name, columns, watermark, options })
}

fn parse_create_sink(parser: &mut Parser) -> Result<StatementAst, ParserError> {
    let _ = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = normalize_name(&parser.parse_object_name(false)?);
    parser.expect_keyword(Keyword::FROM)?;
    let from = normalize_name(&parser.parse_object_name(false)?);
    let options = parse_with_options(parser)?;
    Ok(StatementAst::CreateSink { name, from, options })
}

/// `WITH (key = 'value', 'dotted.key' = 42, flag = true)`.
fn parse_with_options(parser: &mut Parser) -> Result<Vec<(String, String)>, ParserError> {
    parser.expect_keyword(Keyword::WITH)?;
    parser.expect_token(&Token::LParen)?;
    let mut options = Vec::new();
    loop {
        let key_token = parser.next_token();
        let mut key = match key_token.token {
            Token::Word(w) => w.value.to_lowercase(),
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s,
            other => return parser.expected("an option name", datafusion::sql::sqlparser::tokenizer::TokenWithSpan::wrap(other)),
        };
        while parser.consume_token(&Token::Period) {
            key.push('.');
            key.push_str(&parser.parse_identifier()?.value);
        }
        parser.expect_token(&Token::Eq)?;
        let value_token = parser.next_token();
        let value = match value_token.token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s,
            Token::Number(n, _) => n,
            Token::Word(w) => w.value,
            other => return parser.expected("an option value", datafusion::sql::sqlparser::tokenizer::TokenWithSpan::wrap(other)),
        };
        options.push((key, value));
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pipeline_statements_with_locations() {
        let text = "CREATE SOURCE tx (card_id VARCHAR, amount DOUBLE, ts TIMESTAMP,\n  WATERMARK FOR ts AS ts - INTERVAL '4' SECOND)\n  WITH (connector = 'generator', rows = 10, kind = transactions);\n\nCREATE VIEW v AS SELECT card_id FROM tx;\nCREATE SINK out FROM v WITH (connector = 'stdout');";
        let stmts = parse_pipeline(text).unwrap();
        assert_eq!(stmts.len(), 3);
        match &stmts[0].ast {
            StatementAst::CreateSource { name, columns, watermark, options } => {
                assert_eq!(name, "tx");
                assert_eq!(columns.len(), 3);
                assert!(watermark.is_some());
                assert_eq!(options[1], ("rows".to_string(), "10".to_string()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(stmts[1].location, Location { line: 5, column: 1 });
        assert_eq!(stmts[1].text, "CREATE VIEW v AS SELECT card_id FROM tx");
        assert!(matches!(&stmts[2].ast, StatementAst::CreateSink { from, .. } if from == "v"));
    }

    #[test]
    fn syntax_errors_point_at_the_token() {
        let err = parse_pipeline("CREATE VIEW v AS\nSELECT a FROM t WHERE;").unwrap_err();
        assert_eq!(err.location.line, 2, "{err}");
        match &parse_pipeline("CREATE SOURCE h WITH (connector = 'parquet', path = 'x');").unwrap()[0].ast {
            StatementAst::CreateSource { columns, watermark, options, .. } => {
                assert!(columns.is_empty() && watermark.is_none() && options.len() == 2);
            }
            other => panic!("{other:?}"),
        }
        match &parse_pipeline("CREATE SOURCE h (WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (connector = 'parquet');").unwrap()[0].ast {
            StatementAst::CreateSource { columns, watermark, .. } => assert!(columns.is_empty() && watermark.is_some()),
            other => panic!("{other:?}"),
        }
        let err = parse_pipeline("CREATE SOURCE s (a INT) WITH (x 'y');").unwrap_err();
        assert_eq!(err.location.line, 1);
        assert!(err.location.column > 20, "{err}");
    }
}
