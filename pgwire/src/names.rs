//! Result column names as Postgres gives them. DataFusion names an unaliased expression after
//! its text (`sum(per_second.n)`, `Int64(1)`); Postgres after the function, the column a cast
//! reads, the cast's type, or `?column?` — and clients show those names (psql headers, Grafana
//! series names), so the Postgres names are used.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{Expr, Ident, SelectItem, SetExpr, Statement as Sql};

use crate::encode::pg_type;

fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() { i.value.clone() } else { i.value.to_lowercase() }
}

/// Postgres' name for an unaliased expression whose type is named `type_name` (`None`: it has
/// none, `?column?`). A cast is named after what it casts, or else its type.
fn figure(expr: &Expr, type_name: &str) -> Option<String> {
    Some(match expr {
        Expr::Identifier(i) => ident(i),
        Expr::CompoundIdentifier(parts) => ident(parts.last()?),
        Expr::Function(f) => f.name.0.last()?.as_ident().map(ident)?,
        Expr::Cast { expr, .. } => return figure(expr, type_name).or_else(|| Some(type_name.to_string())),
        Expr::Nested(inner) => return figure(inner, type_name),
        Expr::Case { .. } => "case".into(),
        Expr::Extract { .. } => "extract".into(),
        Expr::Floor { .. } => "floor".into(),
        Expr::Ceil { .. } => "ceil".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Trim { .. } => "btrim".into(),
        Expr::AtTimeZone { .. } => "timezone".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Array(_) => "array".into(),
        _ => return None,
    })
}

/// The select list that names a query's columns (the left-most of a set operation).
fn projection(body: &SetExpr) -> Option<&[SelectItem]> {
    match body {
        SetExpr::Select(select) => Some(&select.projection),
        SetExpr::Query(query) => projection(&query.body),
        SetExpr::SetOperation { left, .. } => projection(left),
        _ => None,
    }
}

/// `schema` with unaliased expressions of query `ast` named as Postgres names them. Left as
/// is when the select list holds a wildcard (its columns keep their own names).
pub(crate) fn rename(schema: &SchemaRef, ast: &Sql) -> SchemaRef {
    let Sql::Query(query) = ast else { return schema.clone() };
    let Some(items) = projection(&query.body) else { return schema.clone() };
    if items.len() != schema.fields().len() || items.iter().any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..))) {
        return schema.clone();
    }
    let fields: Vec<Field> = items
        .iter()
        .zip(schema.fields())
        .map(|(item, field)| match item {
            SelectItem::UnnamedExpr(expr) => {
                let name = figure(expr, pg_type(field.data_type()).name()).unwrap_or_else(|| "?column?".to_string());
                field.as_ref().clone().with_name(name)
            }
            _ => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    #[test]
    fn unaliased_expressions_get_postgres_names() {
        let ast = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT k, t.v, sum(n), 1, '2'::float8, k::text, count(*) AS total FROM t").expect("parses").remove(0);
        let schema = Arc::new(Schema::new(
            ["k", "t.v", "sum(t.n)", "Int64(1)", "Utf8(\"2\")", "t.k", "total"]
                .iter()
                .map(|n| Field::new(*n, if n.starts_with("Utf8") { DataType::Float64 } else { DataType::Int64 }, true))
                .collect::<Vec<_>>(),
        ));
        let names: Vec<String> = rename(&schema, &ast).fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["k", "v", "sum", "?column?", "float8", "k", "total"]);
    }
}
