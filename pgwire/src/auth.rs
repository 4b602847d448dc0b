//! Startup: who may connect and what they may do.
//!
//! With no token configured (the server then listens on loopback only, unless `--insecure`)
//! any user, database and password is accepted and may do everything. With tokens set, the
//! client is asked for a cleartext password, which must be the admin token (everything) or the
//! read token (queries only); the user and database names are not checked — the token is the
//! credential, as the bearer token is over HTTP. A wrong password ends the connection with
//! FATAL 28P01, as Postgres does.
//!
//! Cleartext is what a token allows (SCRAM would need the server to store the secret salted,
//! which adds nothing for a random token); over a network, put TLS in front.

use std::collections::HashMap;
use std::fmt::Debug;

use async_trait::async_trait;
use futures::sink::{Sink, SinkExt};
use illunare_serve::{Access, Tokens};
use pgwire::api::auth::{ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata};
use pgwire::api::{ClientInfo, METADATA_APPLICATION_NAME, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::session::{SERVER_VERSION, setting};

/// Answers the startup and password messages.
pub(crate) struct Startup {
    tokens: Tokens,
    pids: RandomPidSecretKeyGenerator,
}

impl Startup {
    pub(crate) fn new(tokens: Tokens) -> Startup {
        Startup { tokens, pids: RandomPidSecretKeyGenerator::default() }
    }

    /// Grants `access` and sends AuthenticationOk, the parameters and ReadyForQuery.
    async fn admit<C>(&self, client: &mut C, access: Access) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.session_extensions().insert(access);
        let (pid, secret) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret);
        finish_authentication(client, &Parameters).await
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                if self.tokens.any() {
                    client.set_state(PgWireConnectionState::AuthenticationInProgress);
                    client.send(PgWireBackendMessage::Authentication(Authentication::CleartextPassword)).await?;
                    Ok(())
                } else {
                    self.admit(client, Access::Admin).await
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                if !matches!(client.state(), PgWireConnectionState::AuthenticationInProgress) {
                    return Err(PgWireError::NoAuthenticationInProgress);
                }
                let password = message.into_password()?;
                match self.tokens.access(Some(&password.password)) {
                    Some(access) => self.admit(client, access).await,
                    None => Err(PgWireError::InvalidPassword(client.metadata().get(METADATA_USER).cloned().unwrap_or_default())),
                }
            }
            _ => Ok(()),
        }
    }
}

/// The ParameterStatus messages sent after authentication: what drivers read to decide how to
/// parse values (UTF-8, ISO dates, integer timestamps, standard strings, UTC).
struct Parameters;

impl ServerParameterProvider for Parameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let mut parameters: HashMap<String, String> = [
            "server_encoding",
            "client_encoding",
            "DateStyle",
            "IntervalStyle",
            "TimeZone",
            "integer_datetimes",
            "standard_conforming_strings",
            "is_superuser",
            "default_transaction_read_only",
            "in_hot_standby",
        ]
        .iter()
        .filter_map(|name| setting(name).map(|value| (name.to_string(), value.to_string())))
        .collect();
        parameters.insert("server_version".into(), SERVER_VERSION.into());
        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        parameters.insert("session_authorization".into(), user);
        let application = client.metadata().get(METADATA_APPLICATION_NAME).cloned().unwrap_or_default();
        parameters.insert("application_name".into(), application);
        Some(parameters)
    }
}
