//! The extended query protocol (prepared statements: tokio-postgres, psycopg, pgx/Grafana):
//! Parse splits and describes the statement (`describe.rs`), Bind stores the values, Execute
//! binds them into the text (`params.rs`) and runs it; rows come back in the formats the
//! client asked for (binary for tokio-postgres and pgx). Errors make pgwire skip to Sync, as
//! the protocol wants.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::backend::{Backend, Engine};
use crate::describe::Description;
use crate::encode;
use crate::error::Failure;
use crate::params;
use crate::session::Session;
use crate::statement::{Statement, split};

/// A parsed and described statement.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    /// The text the client sent with Parse (error positions point into it).
    query: String,
    statement: Statement,
    description: Description,
}

/// Parses and describes statements for pgwire's statement store.
pub(crate) struct Prepare {
    engine: Engine,
}

impl Prepare {
    pub(crate) fn new(engine: Engine) -> Prepare {
        Prepare { engine }
    }
}

/// The format of result column `i` (missing codes read as text rather than failing).
fn column_format(format: Option<&Format>, i: usize) -> FieldFormat {
    match format {
        Some(Format::Individual(codes)) if i >= codes.len() => FieldFormat::Text,
        Some(format) => format.format_for(i),
        None => FieldFormat::Text,
    }
}

fn fields(prepared: &Prepared, format: Option<&Format>) -> Vec<FieldInfo> {
    match &prepared.description.columns {
        Some(schema) => encode::fields(schema, |i| column_format(format, i)),
        None => Vec::new(),
    }
}

impl Prepared {
    fn fail(&self, failure: Failure) -> PgWireError {
        PgWireError::UserError(Box::new(failure.report(&self.query, self.statement.location)))
    }
}

#[async_trait]
impl QueryParser for Prepare {
    type Statement = Prepared;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = split(sql).map_err(|f| f.into_pgwire(sql))?;
        let statement = match statements.len() {
            0 => return Ok(None),
            1 => statements.remove(0),
            _ => return Err(Failure::new("42601", "cannot insert multiple commands into a prepared statement").into_pgwire(sql)),
        };
        let session = Session::of(client);
        let description = self
            .engine
            .describe(&session, &statement, types)
            .await
            .map_err(|f| PgWireError::UserError(Box::new(f.report(sql, statement.location))))?;
        Ok(Some(Prepared { query: sql.to_string(), statement, description }))
    }

    fn get_parameter_types(&self, prepared: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(prepared.description.params.clone())
    }

    fn get_result_schema(&self, prepared: &Prepared, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        Ok(fields(prepared, format))
    }
}

#[async_trait]
impl ExtendedQueryHandler for Backend {
    type Statement = Prepared;
    type QueryParser = Prepare;

    fn query_parser(&self) -> Arc<Prepare> {
        self.parser.clone()
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Prepared>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let session = Session::of(client);
        let types = &prepared.description.params;
        let values = params::values(&portal.parameters, &portal.parameter_format, types).map_err(|f| prepared.fail(f))?;
        let literals: Vec<String> = values.iter().zip(types).map(|(v, ty)| params::literal(v.as_deref(), ty)).collect();
        let sql = params::substitute(&prepared.statement.text, &literals).map_err(|f| prepared.fail(f))?;
        let outcome = self.engine.run(&session, &prepared.statement, &sql).await.map_err(|f| prepared.fail(f))?;
        let mut failure = None;
        let response = outcome.into_response(|schema, batches| {
            // Rows come back as Describe said they would.
            let (schema, batches) = match &prepared.description.columns {
                Some(described) => match encode::conform(batches, described) {
                    Ok(batches) => (described.clone(), batches),
                    Err(e) => {
                        failure = Some(Failure::new("0A000", format!("the answer does not match its description: {e}")));
                        (schema, Vec::new())
                    }
                },
                None => (schema, batches),
            };
            let fields = Arc::new(encode::fields(&schema, |i| column_format(Some(&portal.result_column_format), i)));
            Response::Query(QueryResponse::new(fields.clone(), encode::rows(batches, fields)))
        });
        match failure {
            Some(f) => Err(prepared.fail(f)),
            None => Ok(response),
        }
    }
}
