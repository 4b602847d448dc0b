//! Identifiers and the tables the sink needs: the target table (created with
//! `create_table = 'true'`, otherwise checked), the progress table, the session's staging table.
//!
//! Why these rules: every identifier is double-quoted (names keep their case, spaces and quotes
//! and can never end a statement: `a"b` becomes `"a""b"`), and catalog lookups pass names as
//! bind parameters, so no identifier or value is ever spliced into SQL unquoted. The sink never
//! drops or alters a user table: an existing table is only checked (every column of the view
//! present, and in upsert mode a unique index on exactly the key, which `ON CONFLICT` needs),
//! with errors that list what is missing.

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::error::PgSinkError;
use crate::options::{Mode, OP_COLUMN, SinkOptions};

/// The progress table's name (in the target table's schema).
pub const PROGRESS_TABLE: &str = "illunare_sink_progress";
/// The session's staging table (a temporary table, so one per connection).
pub const STAGING_TABLE: &str = "illunare_staging";

/// PostgreSQL's longest identifier in bytes (NAMEDATALEN - 1); longer names are truncated.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// `name` as a quoted SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Rejects names PostgreSQL would change or refuse (empty, NUL, truncated).
pub fn check_identifier(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.contains('\0') {
        return Err("contains a NUL character".into());
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(format!("'{name}' is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte identifier limit (it would be truncated)"));
    }
    Ok(())
}

fn column_list(names: &[&str]) -> String {
    names.iter().map(|n| quote_ident(n)).collect::<Vec<_>>().join(", ")
}

/// The SQL text of one sink, built once from its options.
#[derive(Debug, Clone)]
pub struct Statements {
    pub target: String,
    pub create_table: String,
    pub create_progress: String,
    pub read_progress: String,
    pub write_progress: String,
    /// Upsert mode: the staging table, its COPY, and the merge: the deletes, then the upserts
    /// (each run only when the commit has such rows — a DELETE joining the staging table with a
    /// large target costs a scan of the target even when there is nothing to delete).
    pub create_staging: String,
    pub copy_staging: String,
    pub merge_delete: String,
    pub merge_insert: String,
    /// Append mode: COPY straight into the target.
    pub copy_target: String,
}

impl Statements {
    pub fn new(o: &SinkOptions) -> Statements {
        let target = qualified(&o.schema, &o.table);
        let progress = qualified(&o.schema, PROGRESS_TABLE);
        let names: Vec<&str> = o.columns.iter().map(|c| c.name.as_str()).collect();
        let cols = column_list(&names);
        let mut defs: Vec<String> = o.columns.iter().map(|c| format!("{} {}", quote_ident(&c.name), c.pg.ddl())).collect();
        let key = o.key_names();
        if !key.is_empty() {
            defs.push(format!("PRIMARY KEY ({})", column_list(&key)));
        }
        let create_table = format!("CREATE TABLE IF NOT EXISTS {target} ({})", defs.join(", "));
        let staging = format!("pg_temp.{}", quote_ident(STAGING_TABLE));
        let op = quote_ident(OP_COLUMN);
        let create_staging = format!(
            "CREATE TEMPORARY TABLE {} ON COMMIT DELETE ROWS AS SELECT {cols}, true AS {op} FROM {target} WITH NO DATA",
            quote_ident(STAGING_TABLE)
        );
        let copy_staging = format!("COPY {staging} ({cols}, {op}) FROM STDIN");
        let (merge_delete, merge_insert) = match &o.mode {
            Mode::Upsert { .. } => {
                let matches = key.iter().map(|k| format!("t.{q} = s.{q}", q = quote_ident(k))).collect::<Vec<_>>().join(" AND ");
                let delete = format!("DELETE FROM {target} AS t USING {staging} AS s WHERE NOT s.{op} AND {matches}");
                let others: Vec<&str> = names.iter().copied().filter(|n| !key.contains(n)).collect();
                let action = if others.is_empty() {
                    // Every column is part of the key: a present row is already right.
                    "DO NOTHING".to_string()
                } else {
                    format!("DO UPDATE SET {}", others.iter().map(|n| format!("{q} = EXCLUDED.{q}", q = quote_ident(n))).collect::<Vec<_>>().join(", "))
                };
                let insert = format!("INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging} WHERE {op} ON CONFLICT ({}) {action}", column_list(&key));
                (delete, insert)
            }
            Mode::Append { .. } => (String::new(), String::new()),
        };
        Statements {
            create_progress: format!(
                "CREATE TABLE IF NOT EXISTS {progress} (sink TEXT PRIMARY KEY, table_name TEXT, frontier BIGINT, updated_at TIMESTAMPTZ)"
            ),
            read_progress: format!("SELECT table_name, frontier FROM {progress} WHERE sink = $1::text FOR UPDATE"),
            write_progress: format!(
                "INSERT INTO {progress} (sink, table_name, frontier, updated_at) VALUES ($1::text, $2::text, $3::int8, now()) \
                 ON CONFLICT (sink) DO UPDATE SET table_name = EXCLUDED.table_name, frontier = EXCLUDED.frontier, updated_at = EXCLUDED.updated_at"
            ),
            copy_target: format!("COPY {target} ({cols}) FROM STDIN"),
            target,
            create_table,
            create_staging,
            copy_staging,
            merge_delete,
            merge_insert,
        }
    }
}

async fn relation_exists(client: &Client, schema: &str, name: &str) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1::text AND c.relname = $2::text",
            &[&schema, &name],
        )
        .await?;
    Ok(row.is_some())
}

/// Runs `CREATE … IF NOT EXISTS` tolerating a concurrent creator (two sinks in one schema).
async fn create_if_missing(client: &Client, sql: &str) -> Result<(), tokio_postgres::Error> {
    match client.batch_execute(sql).await {
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) || e.code() == Some(&SqlState::DUPLICATE_TABLE) => Ok(()),
        other => other,
    }
}

/// A table column as the catalog describes it: name, type OID, and the element type's OID
/// when the type is an array (0 otherwise).
pub type TableColumn = (String, u32, u32);

/// Prepares a fresh session: progress table, target table (created or checked), staging
/// table. Returns the target table's columns.
pub async fn prepare(client: &Client, sink: &str, o: &SinkOptions, sql: &Statements) -> Result<Vec<TableColumn>, PgSinkError> {
    let pg = |context: &str| {
        let context = context.to_string();
        move |e: tokio_postgres::Error| PgSinkError::postgres(sink, context, &e)
    };
    let schema_exists = client
        .query_opt("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1::text", &[&o.schema])
        .await
        .map_err(pg("reading the catalog"))?
        .is_some();
    if !schema_exists {
        if !o.create_table {
            return Err(PgSinkError::MissingSchema { sink: sink.to_string(), schema: o.schema.clone() });
        }
        create_if_missing(client, &format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&o.schema))).await.map_err(pg("creating the schema"))?;
    }
    if !relation_exists(client, &o.schema, PROGRESS_TABLE).await.map_err(pg("reading the catalog"))? {
        create_if_missing(client, &sql.create_progress).await.map_err(pg("creating the progress table"))?;
    }
    if !relation_exists(client, &o.schema, &o.table).await.map_err(pg("reading the catalog"))? {
        if !o.create_table {
            return Err(PgSinkError::MissingTable { sink: sink.to_string(), table: sql.target.clone() });
        }
        create_if_missing(client, &sql.create_table).await.map_err(pg("creating the table"))?;
    }
    let columns = check_table(client, sink, o, sql).await?;
    if matches!(o.mode, Mode::Upsert { .. }) {
        client.batch_execute(&sql.create_staging).await.map_err(pg("creating the staging table"))?;
    }
    Ok(columns)
}

/// Checks an existing table: every column of the view, and a unique index on the key.
/// Returns the table's columns with their types.
async fn check_table(client: &Client, sink: &str, o: &SinkOptions, sql: &Statements) -> Result<Vec<TableColumn>, PgSinkError> {
    let pg = |e: tokio_postgres::Error| PgSinkError::postgres(sink, "reading the table's columns", &e);
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid, CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0::oid END \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE n.nspname = $1::text AND c.relname = $2::text AND a.attnum > 0 AND NOT a.attisdropped",
            &[&o.schema, &o.table],
        )
        .await
        .map_err(pg)?;
    let columns = rows.iter().map(|r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, u32>(1)?, r.try_get::<_, u32>(2)?))).collect::<Result<Vec<TableColumn>, tokio_postgres::Error>>().map_err(pg)?;
    let present: Vec<&String> = columns.iter().map(|(name, _, _)| name).collect();
    let missing: Vec<&str> = o.columns.iter().map(|c| c.name.as_str()).filter(|n| !present.iter().any(|p| p == n)).collect();
    if !missing.is_empty() {
        return Err(PgSinkError::MissingColumns {
            sink: sink.to_string(),
            table: sql.target.clone(),
            missing: missing.iter().map(|m| quote_ident(m)).collect::<Vec<_>>().join(", "),
            present: present.iter().map(|p| quote_ident(p)).collect::<Vec<_>>().join(", "),
        });
    }
    if let Mode::Upsert { .. } = o.mode {
        let mut key: Vec<String> = o.key_names().iter().map(|k| k.to_string()).collect();
        key.sort();
        let indexes = client
            .query(
                "SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_catalog.pg_index i \
                 JOIN pg_catalog.pg_class c ON c.oid = i.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE n.nspname = $1::text AND c.relname = $2::text AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL \
                 GROUP BY i.indexrelid",
                &[&o.schema, &o.table],
            )
            .await
            .map_err(pg)?;
        if !indexes.iter().any(|r| r.get::<_, Vec<String>>(0) == key) {
            return Err(PgSinkError::NoUniqueKey {
                sink: sink.to_string(),
                table: sql.target.clone(),
                key: o.key_names().iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", "),
            });
        }
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("Fraud Alerts"), "\"Fraud Alerts\"");
        assert_eq!(quote_ident("a\"; DROP TABLE x; --"), "\"a\"\"; DROP TABLE x; --\"");
        assert_eq!(qualified("analytics", "Fraud Alerts"), "\"analytics\".\"Fraud Alerts\"");
        assert!(check_identifier("").is_err());
        assert!(check_identifier(&"x".repeat(64)).is_err());
        assert!(check_identifier(&"x".repeat(63)).is_ok());
        assert!(check_identifier("a\0b").is_err());
    }

    fn statements(fields: &[(&str, arrow::datatypes::DataType)], options: &[(&str, &str)]) -> Statements {
        use std::sync::Arc;
        let schema = Arc::new(arrow::datatypes::Schema::new(fields.iter().map(|(n, t)| arrow::datatypes::Field::new(*n, t.clone(), true)).collect::<Vec<_>>()));
        let mut pairs = vec![("url".to_string(), "postgres://u@h/db".to_string())];
        pairs.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let spec = illunare_connector::SinkSpec { name: "s".into(), from: "v".into(), schema, options: illunare_connector::Options::new(pairs) };
        Statements::new(&SinkOptions::parse(&spec).unwrap())
    }

    #[test]
    fn merge_statements() {
        use arrow::datatypes::DataType as D;
        let s = statements(&[("Id", D::Int64), ("v w", D::Utf8)], &[("table", "a.T"), ("primary_key", "Id")]);
        assert_eq!(s.target, "\"a\".\"T\"");
        assert_eq!(s.create_table, "CREATE TABLE IF NOT EXISTS \"a\".\"T\" (\"Id\" BIGINT, \"v w\" TEXT, PRIMARY KEY (\"Id\"))");
        assert!(s.merge_insert.contains("ON CONFLICT (\"Id\") DO UPDATE SET \"v w\" = EXCLUDED.\"v w\""), "{}", s.merge_insert);
        assert!(s.merge_delete.starts_with("DELETE FROM \"a\".\"T\" AS t USING pg_temp.\"illunare_staging\" AS s WHERE NOT s.\"__illunare_upsert\" AND t.\"Id\" = s.\"Id\""), "{}", s.merge_delete);
        let all_key = statements(&[("a", D::Int64), ("b", D::Utf8)], &[("table", "t"), ("primary_key", "a, b")]);
        assert!(all_key.merge_insert.ends_with("ON CONFLICT (\"a\", \"b\") DO NOTHING"), "{}", all_key.merge_insert);
        assert!(all_key.create_table.starts_with("CREATE TABLE IF NOT EXISTS \"public\".\"t\""));
        let append = statements(&[("a", D::Int64)], &[("table", "t"), ("mode", "append")]);
        assert_eq!(append.copy_target, "COPY \"public\".\"t\" (\"a\") FROM STDIN");
        assert!(append.merge_delete.is_empty() && append.merge_insert.is_empty());
        assert!(!append.create_table.contains("PRIMARY KEY"));
    }
}
