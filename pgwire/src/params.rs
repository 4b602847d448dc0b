//! Parameters (`$1`, `$2`, …): how many a statement has, their values as the client sent them
//! (text or binary), and the statement with each replaced by a typed literal,
//! `CAST('…' AS type)`.
//!
//! Substitution works on tokens, so a `$1` inside a string or a comment is left alone and the
//! rest of the text is kept as written. The engine's entry points (`adhoc::query`,
//! `Pipeline::execute`) take SQL text; binding into the text keeps them the one path every
//! client goes through. Rejected alternative: planning with DataFusion placeholders and
//! `LogicalPlan::with_param_values` — it would need a second way to register the engine's
//! relations for reads, and none exists for DML.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldFormat;
use postgres_types::FromSql;

use crate::error::Failure;

fn tokens(sql: &str) -> Result<Vec<Token>, Failure> {
    Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().map_err(|e| Failure::new("42601", format!("syntax error: {e}")))
}

/// `$n` → n (1-based), for the placeholders Postgres numbers.
fn index(token: &Token) -> Option<usize> {
    match token {
        Token::Placeholder(p) => p.strip_prefix('$')?.parse().ok().filter(|&n| n > 0),
        _ => None,
    }
}

/// How many parameters `sql` takes: the highest `$n`.
pub(crate) fn count(sql: &str) -> Result<usize, Failure> {
    Ok(tokens(sql)?.iter().filter_map(index).max().unwrap_or(0))
}

/// `sql` with each `$n` replaced by `literals[n - 1]`.
pub(crate) fn substitute(sql: &str, literals: &[String]) -> Result<String, Failure> {
    let tokens = tokens(sql)?;
    if !tokens.iter().any(|t| index(t).is_some()) {
        return Ok(sql.to_string());
    }
    let mut out = String::with_capacity(sql.len());
    for token in tokens {
        match index(&token) {
            Some(n) => out.push_str(literals.get(n - 1).ok_or_else(|| Failure::new("08P01", format!("there is no parameter ${n}")))?),
            None => out.push_str(&token.to_string()),
        }
    }
    Ok(out)
}

/// The SQL name of a parameter type (text for anything else: the value's text is kept).
fn sql_type(ty: &Type) -> &'static str {
    match *ty {
        Type::BOOL => "BOOLEAN",
        Type::INT2 => "SMALLINT",
        Type::INT4 => "INTEGER",
        Type::INT8 => "BIGINT",
        Type::FLOAT4 => "REAL",
        Type::FLOAT8 => "DOUBLE PRECISION",
        Type::NUMERIC => "DECIMAL",
        Type::DATE => "DATE",
        Type::TIME => "TIME",
        Type::TIMESTAMP => "TIMESTAMP",
        Type::TIMESTAMPTZ => "TIMESTAMP WITH TIME ZONE",
        _ => "TEXT",
    }
}

/// The literal a parameter of type `ty` with text `value` (`None`: NULL) becomes.
pub(crate) fn literal(value: Option<&str>, ty: &Type) -> String {
    match value {
        None => format!("CAST(NULL AS {})", sql_type(ty)),
        Some(v) if *ty == Type::BYTEA => format!("decode('{}', 'hex')", v.trim_start_matches("\\x").replace('\'', "''")),
        Some(v) => format!("CAST('{}' AS {})", v.replace('\'', "''"), sql_type(ty)),
    }
}

/// The format of parameter `i` (a client that sends fewer codes than values is refused).
fn format_of(format: &Format, i: usize) -> Result<FieldFormat, Failure> {
    match format {
        Format::Individual(codes) if i >= codes.len() => Err(Failure::new("08P01", format!("no format code for parameter ${}", i + 1))),
        other => Ok(other.format_for(i)),
    }
}

/// The text of each bound value, decoded by its type when sent in binary.
pub(crate) fn values(raw: &[Option<Bytes>], format: &Format, types: &[Type]) -> Result<Vec<Option<String>>, Failure> {
    if raw.len() != types.len() {
        return Err(Failure::new("08P01", format!("bind message supplies {} parameters, but the prepared statement requires {}", raw.len(), types.len())));
    }
    raw.iter()
        .zip(types)
        .enumerate()
        .map(|(i, (value, ty))| {
            let Some(bytes) = value else { return Ok(None) };
            match format_of(format, i)? {
                FieldFormat::Text => String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| Failure::new("22021", format!("parameter ${} is not UTF-8", i + 1))),
                FieldFormat::Binary => from_binary(ty, bytes).map(Some).map_err(|e| Failure::new("22P03", format!("parameter ${}: invalid binary {}: {e}", i + 1, ty.name()))),
            }
        })
        .collect()
}

type DecodeError = Box<dyn std::error::Error + Sync + Send>;

/// The text of a binary value of type `ty`.
fn from_binary(ty: &Type, raw: &[u8]) -> Result<String, DecodeError> {
    let trim = |s: String| s.trim_end_matches('0').trim_end_matches('.').to_string();
    Ok(match *ty {
        Type::BOOL => bool::from_sql(ty, raw)?.to_string(),
        Type::INT2 => i16::from_sql(ty, raw)?.to_string(),
        Type::INT4 => i32::from_sql(ty, raw)?.to_string(),
        Type::INT8 => i64::from_sql(ty, raw)?.to_string(),
        Type::FLOAT4 => f32::from_sql(ty, raw)?.to_string(),
        Type::FLOAT8 => f64::from_sql(ty, raw)?.to_string(),
        Type::NUMERIC => crate::numeric::decode(raw)?,
        Type::DATE => NaiveDate::from_sql(ty, raw)?.format("%Y-%m-%d").to_string(),
        Type::TIME => trim(NaiveTime::from_sql(ty, raw)?.format("%H:%M:%S%.6f").to_string()),
        Type::TIMESTAMP => trim(NaiveDateTime::from_sql(ty, raw)?.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
        Type::TIMESTAMPTZ => trim(DateTime::<Utc>::from_sql(ty, raw)?.format("%Y-%m-%d %H:%M:%S%.6f").to_string()) + "+00:00",
        Type::BYTEA => format!("\\x{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => String::from_utf8(raw.to_vec())?,
        _ => return Err(format!("binary {} parameters are not supported; send them as text", ty.name()).into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_counted_outside_strings_and_comments() {
        assert_eq!(count("SELECT * FROM t WHERE a = $1 AND b = $3").expect("counts"), 3);
        assert_eq!(count("SELECT '$1' -- $2\n").expect("counts"), 0);
    }

    #[test]
    fn substitution_keeps_the_rest_of_the_text() {
        let literals = vec![literal(Some("it's"), &Type::TEXT), literal(None, &Type::INT8)];
        let sql = substitute("SELECT a, '$1' FROM t WHERE b = $1 AND c = $2 -- note", &literals).expect("binds");
        assert_eq!(sql, "SELECT a, '$1' FROM t WHERE b = CAST('it''s' AS TEXT) AND c = CAST(NULL AS BIGINT) -- note");
    }

    #[test]
    fn binary_values_decode_to_their_text() {
        assert_eq!(from_binary(&Type::INT8, &42i64.to_be_bytes()).expect("int8"), "42");
        assert_eq!(from_binary(&Type::BOOL, &[1]).expect("bool"), "true");
        // 2000-01-02 00:00:01.5 is 86401.5 s after the Postgres epoch.
        assert_eq!(from_binary(&Type::TIMESTAMP, &86_401_500_000i64.to_be_bytes()).expect("ts"), "2000-01-02 00:00:01.5");
        assert!(from_binary(&Type::INT8, &[1, 2]).is_err());
    }

    #[test]
    fn missing_and_extra_values_are_refused() {
        let raw = vec![Some(Bytes::from_static(b"1"))];
        assert!(values(&raw, &Format::UnifiedText, &[]).is_err());
        assert_eq!(values(&raw, &Format::UnifiedText, &[Type::INT8]).expect("text"), vec![Some("1".to_string())]);
        assert!(values(&raw, &Format::Individual(vec![]), &[Type::INT8]).is_err());
    }
}
