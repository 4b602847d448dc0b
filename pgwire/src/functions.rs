//! The Postgres functions clients call about the session and the catalog — `version()`,
//! `current_database()`, `current_setting(…)`, `pg_table_is_visible(…)`, `format_type(…)`,
//! `quote_ident(…)` … — as DataFusion functions (`catalog::rewrite` drops the `pg_catalog.`
//! clients put before them).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray, ListBuilder, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};
use datafusion::prelude::SessionContext;

use crate::session::Session;

/// What a function computes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Body {
    /// The same value whatever the arguments.
    Constant(ScalarValue),
    /// A value per row, from the first argument.
    Row(RowFn),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RowFn {
    /// `quote_ident(name)`: double-quoted when it is not a plain lower-case identifier.
    QuoteIdent,
    /// `format_type(oid, typmod)`: the type's name.
    FormatType,
    /// `current_setting(name)`: from the session's settings.
    Setting(Vec<(String, String)>),
    /// `parse_ident(text)`: the dotted name's parts.
    ParseIdent,
    /// `array_lower(array, dim)` / `array_upper(array, dim)`.
    ArrayBound { upper: bool },
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgFunction {
    name: String,
    signature: Signature,
    returns: DataType,
    body: Body,
}

fn text_list() -> DataType {
    DataType::new_list(DataType::Utf8, true)
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let function = match &self.body {
            Body::Constant(value) => return Ok(ColumnarValue::Scalar(value.clone())),
            Body::Row(function) => function,
        };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let first = arrays.first().cloned().unwrap_or_else(|| Arc::new(StringArray::new_null(args.number_rows)));
        let out: ArrayRef = match function {
            RowFn::QuoteIdent => Arc::new(map_text(&first, quote_ident)?),
            RowFn::FormatType => {
                let oids = arrow::compute::cast(&first, &DataType::Int64)?;
                let oids = oids.as_primitive::<arrow::datatypes::Int64Type>();
                Arc::new(oids.iter().map(|o| o.map(|o| crate::catalog::type_name(o).to_string())).collect::<StringArray>())
            }
            RowFn::Setting(settings) => Arc::new(map_text(&first, |s| settings.iter().find(|(k, _)| k.eq_ignore_ascii_case(s)).map(|(_, v)| v.clone()).unwrap_or_default())?),
            RowFn::ParseIdent => {
                let text = arrow::compute::cast(&first, &DataType::Utf8)?;
                Arc::new(text_lists(text.as_string::<i32>().iter().map(|s| s.map(parse_ident))))
            }
            RowFn::ArrayBound { upper } => {
                let lists = first.as_list_opt::<i32>();
                let bounds: Int64Array = (0..args.number_rows)
                    .map(|row| {
                        let list = lists?;
                        if list.is_null(row) || list.value_length(row) == 0 {
                            return None;
                        }
                        Some(if *upper { list.value_length(row) as i64 } else { 1 })
                    })
                    .collect();
                Arc::new(bounds)
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// A list-of-text column.
fn text_lists(values: impl Iterator<Item = Option<Vec<String>>>) -> ListArray {
    let mut builder = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new("item", DataType::Utf8, true)));
    for value in values {
        match value {
            Some(items) => {
                for item in items {
                    builder.values().append_value(item);
                }
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    builder.finish()
}

fn map_text(array: &ArrayRef, f: impl Fn(&str) -> String) -> DfResult<StringArray> {
    let text = arrow::compute::cast(array, &DataType::Utf8)?;
    Ok(text.as_string::<i32>().iter().map(|s| s.map(&f)).collect())
}

/// Postgres' reserved words, and the column-name keywords often used as names: `quote_ident`
/// quotes them.
const KEYWORDS: &[&str] = &[
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "between", "bigint", "both", "case", "cast", "check", "collate",
    "column", "constraint", "create", "current_catalog", "current_date", "current_role", "current_time", "current_timestamp", "current_user",
    "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false", "fetch", "for", "foreign", "from", "grant", "group",
    "having", "in", "initially", "integer", "intersect", "interval", "into", "lateral", "leading", "limit", "localtime", "localtimestamp", "not",
    "null", "offset", "on", "only", "or", "order", "placing", "primary", "references", "returning", "select", "session_user", "some",
    "symmetric", "table", "then", "time", "timestamp", "to", "trailing", "true", "union", "unique", "user", "using", "values", "variadic",
    "when", "where", "window", "with",
];

/// `quote_ident`: names that are not plain lower-case identifiers, or are keywords, are
/// double-quoted.
pub(crate) fn quote_ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !KEYWORDS.contains(&name);
    if plain { name.to_string() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

/// `parse_ident`: `public."My Table"` → [public, My Table].
fn parse_ident(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            c if quoted => current.push(c),
            c => current.push(c.to_ascii_lowercase()),
        }
    }
    parts.push(current);
    parts
}

/// Registers the functions on `ctx`, answering for `session`.
pub(crate) fn register(ctx: &SessionContext, session: &Session) {
    let any = |n: usize| Signature::any(n, Volatility::Stable);
    let none = Signature::nullary(Volatility::Stable);
    let variadic = Signature::one_of(vec![TypeSignature::Nullary, TypeSignature::VariadicAny], Volatility::Stable);
    let text = |v: &str| Body::Constant(ScalarValue::Utf8(Some(v.to_string())));
    let yes = Body::Constant(ScalarValue::Boolean(Some(true)));
    let null = Body::Constant(ScalarValue::Utf8(None));
    let settings: Vec<(String, String)> = crate::session::all_settings()
        .map(|(k, _)| (k.to_string(), session.setting(k).unwrap_or_default()))
        .chain(["application_name", "session_authorization"].iter().map(|k| (k.to_string(), session.setting(k).unwrap_or_default())))
        .collect();
    let functions: Vec<(&str, Signature, DataType, Body)> = vec![
        ("version", none.clone(), DataType::Utf8, text(&format!("PostgreSQL {} on illunare {}", crate::session::SERVER_VERSION, env!("CARGO_PKG_VERSION")))),
        ("current_database", none.clone(), DataType::Utf8, text(&session.database)),
        ("current_catalog", none.clone(), DataType::Utf8, text(&session.database)),
        ("current_schema", none.clone(), DataType::Utf8, text("public")),
        ("current_user", none.clone(), DataType::Utf8, text(&session.user)),
        ("session_user", none.clone(), DataType::Utf8, text(&session.user)),
        ("user", none.clone(), DataType::Utf8, text(&session.user)),
        ("pg_backend_pid", none.clone(), DataType::Int64, Body::Constant(ScalarValue::Int64(Some(session.pid as i64)))),
        ("pg_table_is_visible", any(1), DataType::Boolean, yes.clone()),
        ("pg_type_is_visible", any(1), DataType::Boolean, yes.clone()),
        ("pg_function_is_visible", any(1), DataType::Boolean, yes.clone()),
        ("has_table_privilege", variadic.clone(), DataType::Boolean, yes.clone()),
        ("has_schema_privilege", variadic.clone(), DataType::Boolean, yes.clone()),
        ("has_database_privilege", variadic.clone(), DataType::Boolean, yes.clone()),
        ("pg_get_userbyid", any(1), DataType::Utf8, text("illunare")),
        ("pg_encoding_to_char", any(1), DataType::Utf8, text("UTF8")),
        ("obj_description", variadic.clone(), DataType::Utf8, null.clone()),
        ("col_description", variadic.clone(), DataType::Utf8, null.clone()),
        ("shobj_description", variadic.clone(), DataType::Utf8, null.clone()),
        ("pg_get_expr", variadic.clone(), DataType::Utf8, null.clone()),
        ("pg_get_viewdef", variadic, DataType::Utf8, null.clone()),
        ("format_type", any(2), DataType::Utf8, Body::Row(RowFn::FormatType)),
        ("quote_ident", any(1), DataType::Utf8, Body::Row(RowFn::QuoteIdent)),
        ("current_setting", Signature::one_of(vec![TypeSignature::Any(1), TypeSignature::Any(2)], Volatility::Stable), DataType::Utf8, Body::Row(RowFn::Setting(settings))),
        ("parse_ident", Signature::one_of(vec![TypeSignature::Any(1), TypeSignature::Any(2)], Volatility::Stable), text_list(), Body::Row(RowFn::ParseIdent)),
        ("array_lower", any(2), DataType::Int64, Body::Row(RowFn::ArrayBound { upper: false })),
        ("array_upper", any(2), DataType::Int64, Body::Row(RowFn::ArrayBound { upper: true })),
    ];
    for (name, signature, returns, body) in functions {
        let function = PgFunction { name: name.to_string(), signature, returns, body };
        ctx.register_udf(ScalarUDF::new_from_impl(function));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_parsed_as_postgres_does() {
        assert_eq!(quote_ident("per_second"), "per_second");
        assert_eq!(quote_ident("Per Second"), "\"Per Second\"");
        assert_eq!((quote_ident("second"), quote_ident("time")), ("second".to_string(), "\"time\"".to_string()));
        assert_eq!(parse_ident("public.\"My \"\"T\"\"\""), vec!["public".to_string(), "My \"T\"".to_string()]);
        assert_eq!(parse_ident("Views"), vec!["views".to_string()]);
    }
}
