//! The simple query protocol (psql, `batch_execute`): a query string of one or more
//! statements, run in order; rows come back as text. The first failing statement ends the
//! string with an ErrorResponse (the ones before it stay applied, as without a transaction in
//! Postgres); the connection stays usable.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{FieldFormat, QueryResponse, Response};
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::backend::Backend;
use crate::encode;
use crate::session::Session;
use crate::statement::split;

#[async_trait]
impl SimpleQueryHandler for Backend {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = Session::of(client);
        let statements = match split(query) {
            Ok(statements) => statements,
            Err(failure) => return Ok(vec![Response::Error(Box::new(failure.report(query, illunare_sql::Location { line: 1, column: 1 })))]),
        };
        let mut responses = Vec::with_capacity(statements.len());
        for statement in &statements {
            match self.engine.run(&session, statement, &statement.text).await {
                Ok(outcome) => responses.push(outcome.into_response(|schema, batches| {
                    let fields = Arc::new(encode::fields(&schema, |_| FieldFormat::Text));
                    Response::Query(QueryResponse::new(fields.clone(), encode::rows(batches, fields)))
                })),
                Err(failure) => {
                    responses.push(Response::Error(Box::new(failure.report(query, statement.location))));
                    break;
                }
            }
        }
        if responses.is_empty() {
            responses.push(Response::EmptyQuery);
        }
        Ok(responses)
    }
}
