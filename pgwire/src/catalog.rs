//! The system catalog clients read: a small `pg_catalog` and `information_schema` built from
//! the engine's catalog, queried through DataFusion like any other query.
//!
//! Enough for what real clients send: psql's `\dt`, `\dv`, `\dm`, `\l`; Grafana's version
//! probe, schema, table and column pickers (`information_schema.schemata/tables/columns`,
//! `quote_ident`, `parse_ident`, the search-path subquery); drivers' `SELECT version()`,
//! `current_database()`. Relations live in schema `public`; sources show as foreign tables
//! (`relkind 'f'`), materialized views as `'m'`, views as `'v'`, tables as `'r'`. OIDs of
//! relations are their position in the catalog, stable while the catalog is.
//!
//! Rejected alternative: answering known catalog queries with canned results. Clients vary
//! their queries by version; a real (small) catalog answers the variants too.

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, ListArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::common::TableReference;
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, ObjectName, Statement as Sql, Value, visit_expressions_mut};
use datafusion::prelude::SessionContext;
use illunare_sql::RelationKind;

use crate::encode::pg_type;
use crate::error::Failure;
use crate::session::Session;

/// The catalog's schemas.
pub(crate) const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

/// Tables of `pg_catalog` (also found without the schema, as in Postgres' search path).
const PG_TABLES: [&str; 11] =
    ["pg_namespace", "pg_class", "pg_attribute", "pg_type", "pg_database", "pg_am", "pg_extension", "pg_settings", "pg_description", "pg_roles", "pg_index"];

/// Whether an unqualified `name` is a `pg_catalog` table.
pub(crate) fn is_pg_table(name: &str) -> bool {
    PG_TABLES.contains(&name)
}

/// Built-in types: OID, `pg_type.typname`, SQL name (`format_type`, `data_type`), length.
const TYPES: &[(i64, &str, &str, i64)] = &[
    (16, "bool", "boolean", 1),
    (17, "bytea", "bytea", -1),
    (18, "char", "\"char\"", 1),
    (19, "name", "name", 64),
    (20, "int8", "bigint", 8),
    (21, "int2", "smallint", 2),
    (23, "int4", "integer", 4),
    (25, "text", "text", -1),
    (26, "oid", "oid", 4),
    (700, "float4", "real", 4),
    (701, "float8", "double precision", 8),
    (1043, "varchar", "character varying", -1),
    (1082, "date", "date", 4),
    (1083, "time", "time without time zone", 8),
    (1114, "timestamp", "timestamp without time zone", 8),
    (1184, "timestamptz", "timestamp with time zone", 8),
    (1186, "interval", "interval", 16),
    (1700, "numeric", "numeric", -1),
];

/// The SQL name of type `oid` (`format_type`).
pub(crate) fn type_name(oid: i64) -> &'static str {
    TYPES.iter().find(|t| t.0 == oid).map_or("unknown", |t| t.2)
}

const NS_CATALOG: i64 = 11;
const NS_PUBLIC: i64 = 2200;
const NS_INFORMATION: i64 = 13000;
const OWNER: i64 = 10;
/// The first OID Postgres gives user objects.
const FIRST_OID: i64 = 16384;

/// A relation of the engine, as the catalog shows it.
#[derive(Clone, Debug)]
pub(crate) struct Relation {
    pub name: String,
    pub kind: RelationKind,
    pub schema: SchemaRef,
}

/// A table being filled column by column.
struct Table {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl Table {
    fn new() -> Table {
        Table { fields: Vec::new(), columns: Vec::new() }
    }

    fn text<S: Into<String>>(mut self, name: &str, values: impl IntoIterator<Item = Option<S>>) -> Table {
        self.fields.push(Field::new(name, DataType::Utf8, true));
        self.columns.push(Arc::new(values.into_iter().map(|v| v.map(Into::into)).collect::<StringArray>()));
        self
    }

    fn int(mut self, name: &str, values: impl IntoIterator<Item = i64>) -> Table {
        self.fields.push(Field::new(name, DataType::Int64, true));
        self.columns.push(Arc::new(values.into_iter().collect::<Int64Array>()));
        self
    }

    fn bool(mut self, name: &str, values: impl IntoIterator<Item = bool>) -> Table {
        self.fields.push(Field::new(name, DataType::Boolean, true));
        self.columns.push(Arc::new(values.into_iter().map(Some).collect::<BooleanArray>()));
        self
    }

    /// A column of NULL text arrays (ACLs and the like).
    fn null_lists(mut self, name: &str, rows: usize) -> Table {
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        self.fields.push(Field::new(name, DataType::List(item.clone()), true));
        self.columns.push(Arc::new(ListArray::new_null(item, rows)));
        self
    }

    fn build(self) -> Result<MemTable, Failure> {
        let schema = Arc::new(Schema::new(self.fields));
        let batch = RecordBatch::try_new(schema.clone(), self.columns).map_err(|e| Failure::new("XX000", e.to_string()))?;
        MemTable::try_new(schema, vec![vec![batch]]).map_err(|e| Failure::new("XX000", e.to_string()))
    }
}

fn relkind(kind: RelationKind) -> &'static str {
    match kind {
        RelationKind::Table => "r",
        RelationKind::View => "v",
        RelationKind::Source => "f",
        _ => "m",
    }
}

fn oid_of(ty: &postgres_types::Type) -> i64 {
    ty.oid() as i64
}

fn pg_tables(relations: &[Relation], session: &Session) -> Vec<(&'static str, Table)> {
    let oids = || (0..relations.len() as i64).map(|i| FIRST_OID + i);
    let names = || relations.iter().map(|r| Some(r.name.clone()));
    let columns: Vec<(i64, &Field, i64)> =
        relations.iter().enumerate().flat_map(|(i, r)| r.schema.fields().iter().enumerate().map(move |(j, f)| (FIRST_OID + i as i64, f.as_ref(), j as i64 + 1))).collect();
    let settings: Vec<(&str, &str)> = crate::session::all_settings().collect();
    vec![
        (
            "pg_namespace",
            Table::new().int("oid", [NS_CATALOG, NS_PUBLIC, NS_INFORMATION]).text("nspname", ["pg_catalog", "public", "information_schema"].map(Some)).int("nspowner", [OWNER; 3]),
        ),
        (
            "pg_class",
            Table::new()
                .int("oid", oids())
                .text("relname", names())
                .int("relnamespace", relations.iter().map(|_| NS_PUBLIC))
                .text("relkind", relations.iter().map(|r| Some(relkind(r.kind))))
                .int("relowner", relations.iter().map(|_| OWNER))
                .int("relam", relations.iter().map(|_| 0))
                .int("reltablespace", relations.iter().map(|_| 0))
                .int("reltuples", relations.iter().map(|_| -1))
                .int("relnatts", relations.iter().map(|r| r.schema.fields().len() as i64))
                .int("relchecks", relations.iter().map(|_| 0))
                .bool("relhasindex", relations.iter().map(|_| false))
                .bool("relhasrules", relations.iter().map(|_| false))
                .bool("relhastriggers", relations.iter().map(|_| false))
                .bool("relrowsecurity", relations.iter().map(|_| false))
                .bool("relforcerowsecurity", relations.iter().map(|_| false))
                .bool("relispartition", relations.iter().map(|_| false))
                .text("relpersistence", relations.iter().map(|_| Some("p")))
                .text("relreplident", relations.iter().map(|_| Some("d")))
                .int("reloftype", relations.iter().map(|_| 0))
                .null_lists("relacl", relations.len()),
        ),
        (
            "pg_attribute",
            Table::new()
                .int("attrelid", columns.iter().map(|c| c.0))
                .text("attname", columns.iter().map(|c| Some(c.1.name().clone())))
                .int("atttypid", columns.iter().map(|c| oid_of(&pg_type(c.1.data_type()))))
                .int("attnum", columns.iter().map(|c| c.2))
                .int("atttypmod", columns.iter().map(|_| -1))
                .bool("attnotnull", columns.iter().map(|c| !c.1.is_nullable()))
                .bool("attisdropped", columns.iter().map(|_| false))
                .bool("atthasdef", columns.iter().map(|_| false))
                .text("attidentity", columns.iter().map(|_| Some("")))
                .text("attgenerated", columns.iter().map(|_| Some("")))
                .int("attcollation", columns.iter().map(|_| 0)),
        ),
        (
            "pg_type",
            Table::new()
                .int("oid", TYPES.iter().map(|t| t.0))
                .text("typname", TYPES.iter().map(|t| Some(t.1)))
                .int("typnamespace", TYPES.iter().map(|_| NS_CATALOG))
                .int("typowner", TYPES.iter().map(|_| OWNER))
                .int("typlen", TYPES.iter().map(|t| t.3))
                .text("typtype", TYPES.iter().map(|_| Some("b")))
                .int("typrelid", TYPES.iter().map(|_| 0))
                .int("typelem", TYPES.iter().map(|_| 0))
                .int("typbasetype", TYPES.iter().map(|_| 0))
                .int("typtypmod", TYPES.iter().map(|_| -1))
                .bool("typnotnull", TYPES.iter().map(|_| false)),
        ),
        (
            "pg_database",
            Table::new()
                .int("oid", [FIRST_OID - 1])
                .text("datname", [Some(session.database.clone())])
                .int("datdba", [OWNER])
                .int("encoding", [6])
                .text("datlocprovider", [Some("c")])
                .text("datcollate", [Some("C")])
                .text("datctype", [Some("C")])
                .text("daticulocale", [None::<String>])
                .bool("datistemplate", [false])
                .bool("datallowconn", [true])
                .int("datconnlimit", [-1])
                .null_lists("datacl", 1),
        ),
        ("pg_am", Table::new().int("oid", []).text("amname", [None::<String>; 0])),
        ("pg_extension", Table::new().int("oid", []).text("extname", [None::<String>; 0]).text("extversion", [None::<String>; 0])),
        ("pg_settings", Table::new().text("name", settings.iter().map(|s| Some(s.0))).text("setting", settings.iter().map(|s| Some(s.1)))),
        (
            "pg_description",
            Table::new().int("objoid", []).int("classoid", []).int("objsubid", []).text("description", [None::<String>; 0]),
        ),
        (
            "pg_roles",
            Table::new()
                .int("oid", [OWNER])
                .text("rolname", [Some(session.user.clone())])
                .bool("rolsuper", [false])
                .bool("rolcanlogin", [true])
                .bool("rolinherit", [true])
                .bool("rolcreaterole", [false])
                .bool("rolcreatedb", [false])
                .bool("rolreplication", [false])
                .bool("rolbypassrls", [false])
                .int("rolconnlimit", [-1]),
        ),
        ("pg_index", Table::new().int("indexrelid", []).int("indrelid", []).bool("indisprimary", []).bool("indisunique", [])),
    ]
}

fn information_tables(relations: &[Relation], session: &Session) -> Vec<(&'static str, Table)> {
    let db = || Some(session.database.clone());
    let columns: Vec<(&Relation, &Field, i64)> =
        relations.iter().flat_map(|r| r.schema.fields().iter().enumerate().map(move |(j, f)| (r, f.as_ref(), j as i64 + 1))).collect();
    let type_of = |f: &Field| TYPES.iter().find(|t| t.0 == oid_of(&pg_type(f.data_type()))).copied().unwrap_or(TYPES[7]);
    vec![
        (
            "schemata",
            Table::new()
                .text("catalog_name", [db(), db(), db()])
                .text("schema_name", ["public", "pg_catalog", "information_schema"].map(Some))
                .text("schema_owner", [Some("illunare"); 3]),
        ),
        (
            "tables",
            Table::new()
                .text("table_catalog", relations.iter().map(|_| db()))
                .text("table_schema", relations.iter().map(|_| Some("public")))
                .text("table_name", relations.iter().map(|r| Some(r.name.clone())))
                .text("table_type", relations.iter().map(|r| Some(if r.kind == RelationKind::View { "VIEW" } else { "BASE TABLE" }))),
        ),
        (
            "columns",
            Table::new()
                .text("table_catalog", columns.iter().map(|_| db()))
                .text("table_schema", columns.iter().map(|_| Some("public")))
                .text("table_name", columns.iter().map(|c| Some(c.0.name.clone())))
                .text("column_name", columns.iter().map(|c| Some(c.1.name().clone())))
                .int("ordinal_position", columns.iter().map(|c| c.2))
                .text("column_default", columns.iter().map(|_| None::<String>))
                .text("is_nullable", columns.iter().map(|c| Some(if c.1.is_nullable() { "YES" } else { "NO" })))
                .text("data_type", columns.iter().map(|c| Some(type_of(c.1).2)))
                .text("udt_name", columns.iter().map(|c| Some(type_of(c.1).1))),
        ),
    ]
}

/// A DataFusion context holding the catalog of `relations` and the session functions.
pub(crate) fn context(relations: &[Relation], session: &Session) -> Result<SessionContext, Failure> {
    let ctx = illunare_sql::session_context();
    crate::functions::register(&ctx, session);
    let default = ctx.state().config().options().catalog.default_catalog.clone();
    let catalog = ctx.catalog(&default).ok_or_else(|| Failure::new("XX000", "no default catalog"))?;
    for schema in SYSTEM_SCHEMAS {
        catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new())).map_err(|e| Failure::new("XX000", e.to_string()))?;
    }
    let fail = |e: datafusion::error::DataFusionError| Failure::new("XX000", e.to_string());
    for (name, table) in pg_tables(relations, session) {
        let table = Arc::new(table.build()?);
        ctx.register_table(TableReference::partial("pg_catalog", name), table.clone()).map_err(fail)?;
        ctx.register_table(TableReference::bare(name), table).map_err(fail)?;
    }
    for (name, table) in information_tables(relations, session) {
        ctx.register_table(TableReference::partial("information_schema", name), Arc::new(table.build()?)).map_err(fail)?;
    }
    Ok(ctx)
}

/// Whether relation `name` is one of the catalog's.
pub(crate) fn is_system(name: &ObjectName) -> bool {
    let parts: Vec<String> = name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_lowercase()).collect();
    match parts.as_slice() {
        [.., schema, _] => SYSTEM_SCHEMAS.contains(&schema.as_str()),
        [table] => is_pg_table(table),
        [] => false,
    }
}

/// Postgres spellings DataFusion does not plan, in catalog queries: `pg_catalog.` before a
/// function name (dropped), `COLLATE` (dropped), `OPERATOR(pg_catalog.~)` (the operator), and
/// the search-path subquery Grafana filters schemas with (the search path is `public`).
pub(crate) fn rewrite(statement: &mut Sql) {
    let _ = visit_expressions_mut(statement, |expr| {
        match expr {
            Expr::Function(function) => {
                let qualified = matches!(function.name.0.as_slice(), [schema, _] if schema.as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog")));
                if qualified {
                    function.name.0.remove(0);
                }
            }
            Expr::Collate { expr: inner, .. } => {
                let inner = std::mem::replace(inner.as_mut(), Expr::Value(Value::Null.into()));
                *expr = inner;
            }
            Expr::BinaryOp { op, .. } => {
                if let BinaryOperator::PGCustomBinaryOperator(parts) = op {
                    let replacement = match parts.last().map(String::as_str) {
                        Some("~") => Some(BinaryOperator::PGRegexMatch),
                        Some("~*") => Some(BinaryOperator::PGRegexIMatch),
                        Some("!~") => Some(BinaryOperator::PGRegexNotMatch),
                        Some("!~*") => Some(BinaryOperator::PGRegexNotIMatch),
                        Some("=") => Some(BinaryOperator::Eq),
                        _ => None,
                    };
                    if let Some(replacement) = replacement {
                        *op = replacement;
                    }
                }
            }
            Expr::InSubquery { expr: inner, subquery, negated } if subquery.to_string().contains("current_setting('search_path')") => {
                let inner = std::mem::replace(inner.as_mut(), Expr::Value(Value::Null.into()));
                *expr = Expr::InList { expr: Box::new(inner), list: vec![Expr::Value(Value::SingleQuotedString("public".into()).into())], negated: *negated };
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn parse(sql: &str) -> Sql {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses").remove(0)
    }

    #[test]
    fn catalog_spellings_are_rewritten() {
        let mut s = parse("SELECT pg_catalog.array_to_string(x, ',') FROM pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default");
        rewrite(&mut s);
        assert_eq!(s.to_string(), "SELECT array_to_string(x, ',') FROM pg_class c WHERE c.relname ~ '^(t)$'");
        let mut s = parse("SELECT 1 WHERE quote_ident(table_schema) IN (SELECT trim(s[i]) FROM generate_series(1, 2) AS i, string_to_array(current_setting('search_path'), ',') s)");
        rewrite(&mut s);
        assert_eq!(s.to_string(), "SELECT 1 WHERE quote_ident(table_schema) IN ('public')");
    }

    #[test]
    fn system_relations_are_recognised() {
        let name = |s: &str| ObjectName::from(s.split('.').map(datafusion::sql::sqlparser::ast::Ident::new).collect::<Vec<_>>());
        assert!(is_system(&name("pg_catalog.pg_class")));
        assert!(is_system(&name("pg_type")));
        assert!(is_system(&name("information_schema.tables")));
        assert!(!is_system(&name("tables")));
    }
}
