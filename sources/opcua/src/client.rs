//! Connecting to a server: client certificate, endpoint choice, server-certificate trust, user
//! identity, session, and noticing when the connection is lost.
//!
//! One [`connect`] makes one attempt and either returns a live [`Connection`] or a precise
//! [`OpcUaError`]; it never retries by itself (the library's own reconnect is switched off), so
//! the reader decides about backoff and can report the gap in the data. Before any secure
//! channel is opened the server's endpoints are fetched (GetEndpoints is always unsecured) and
//! its certificate is checked against the trust store here, so an untrusted certificate is an
//! error naming its subject, thumbprint and where to move it — not a generic failure deep in
//! the handshake.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use opcua::client::{ClientBuilder, IdentityToken, Session, SessionPollResult};
use opcua::crypto::{CertificateStore, SecurityPolicy, X509};
use opcua::types::{EndpointDescription, StatusCode, UserTokenType};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::OpcUaError;
use crate::convert::status_name;
use crate::options::{Identity, Policy, SecurityOptions};

const APPLICATION_URI: &str = "urn:illunare:opcua-client";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Requested session timeout (ms); the server may revise it.
const SESSION_TIMEOUT_MS: u32 = 60_000;

/// A live session and the task driving it.
pub(crate) struct Connection {
    pub session: Arc<Session>,
    pub endpoint: String,
    lost: mpsc::UnboundedReceiver<StatusCode>,
    driver: Option<JoinHandle<()>>,
}

impl Connection {
    /// Waits until the connection is lost; the status says why.
    pub(crate) async fn lost(&mut self) -> StatusCode {
        self.lost.recv().await.unwrap_or(StatusCode::BadConnectionClosed)
    }

    /// Closes the session (politely, for at most two seconds) and stops the driver.
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.session.disconnect()).await;
        if let Some(d) = self.driver.take() {
            d.abort();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let Some(driver) = self.driver.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let session = self.session.clone();
                handle.spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(2), session.disconnect()).await;
                    driver.abort();
                });
            }
            Err(_) => driver.abort(),
        }
    }
}

fn connect_error(endpoint: &str, e: &opcua::types::Error) -> OpcUaError {
    OpcUaError::Connect { endpoint: endpoint.to_string(), status: status_name(e.status()), message: e.to_string() }
}

/// `host` of `opc.tcp://host:port/path` (brackets of IPv6 literals removed).
fn hostname(endpoint: &str) -> String {
    let rest = endpoint.strip_prefix("opc.tcp://").unwrap_or(endpoint);
    let authority = rest.split('/').next().unwrap_or_default();
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default().to_string();
    }
    authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(authority).to_string()
}

fn policy_name(uri: &str) -> String {
    uri.rsplit_once('#').map(|(_, n)| n.to_string()).unwrap_or_else(|| uri.to_string())
}

fn token_type(identity: &Identity) -> UserTokenType {
    match identity {
        Identity::Anonymous => UserTokenType::Anonymous,
        Identity::UserName { .. } => UserTokenType::UserName,
        Identity::Certificate { .. } => UserTokenType::Certificate,
    }
}

/// The server endpoint matching the requested policy, mode and identity.
fn choose_endpoint(endpoint: &str, endpoints: &[EndpointDescription], security: &SecurityOptions) -> Result<EndpointDescription, OpcUaError> {
    let wanted_uri = security.policy.to_library().to_uri();
    let wanted_mode = security.mode.to_library();
    let candidates: Vec<&EndpointDescription> =
        endpoints.iter().filter(|e| e.security_policy_uri.as_ref() == wanted_uri && e.security_mode == wanted_mode).collect();
    if candidates.is_empty() {
        let offered: Vec<String> =
            endpoints.iter().map(|e| format!("{}/{:?}", policy_name(e.security_policy_uri.as_ref()), e.security_mode)).collect();
        return Err(OpcUaError::NoMatchingEndpoint {
            endpoint: endpoint.to_string(),
            policy: security.policy.to_string(),
            mode: security.mode.to_string(),
            offered: if offered.is_empty() { "nothing".into() } else { offered.join(", ") },
        });
    }
    let want = token_type(&security.identity);
    let accepts = |e: &EndpointDescription| match &e.user_identity_tokens {
        // No token policies listed: only anonymous access makes sense.
        None => want == UserTokenType::Anonymous,
        Some(tokens) => tokens.iter().any(|t| t.token_type == want),
    };
    match candidates.iter().find(|e| accepts(e)) {
        Some(e) => {
            let mut chosen = (*e).clone();
            // Servers often advertise a host name the client cannot reach (0.0.0.0, a container
            // name); connect to the URL the user gave.
            chosen.endpoint_url = endpoint.into();
            Ok(chosen)
        }
        None => {
            let accepted: Vec<String> = candidates
                .iter()
                .flat_map(|e| e.user_identity_tokens.iter().flatten().map(|t| format!("{:?}", t.token_type)))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            Err(OpcUaError::IdentityNotOffered {
                endpoint: endpoint.to_string(),
                policy: security.policy.to_string(),
                mode: security.mode.to_string(),
                identity: security.identity.describe(),
                accepted: if accepted.is_empty() { "no identity".into() } else { accepted.join(", ") },
            })
        }
    }
}

/// Checks the server certificate of `chosen` the way the session will, with a clear error.
fn check_server_certificate(
    endpoint: &str,
    chosen: &EndpointDescription,
    policy: SecurityPolicy,
    store: &CertificateStore,
    trust: bool,
) -> Result<(), OpcUaError> {
    let cert = X509::from_byte_string(&chosen.server_certificate).map_err(|e| OpcUaError::InvalidServerCertificate {
        endpoint: endpoint.to_string(),
        subject: "?".into(),
        thumbprint: "?".into(),
        reason: format!("the server sent no readable certificate ({e})"),
    })?;
    let subject = cert.subject_name();
    let thumbprint = cert.thumbprint().as_hex_string();
    let file = CertificateStore::cert_file_name(&cert);
    let rejected = store.rejected_certs_dir().join(&file);
    if trust && rejected.exists() {
        // The user opted in to trusting this server: forget an earlier rejection.
        let _ = std::fs::remove_file(&rejected);
    }
    let was_rejected = rejected.exists();
    let host = hostname(endpoint);
    let application_uri = chosen.server.application_uri.as_ref().to_string();
    match store.validate_or_reject_application_instance_cert(&cert, policy, Some(&host), Some(&application_uri)) {
        Ok(()) => Ok(()),
        Err(e) if e.status() == StatusCode::BadCertificateUntrusted || (was_rejected && e.status() == StatusCode::BadSecurityChecksFailed) => {
            Err(OpcUaError::UntrustedServerCertificate {
                endpoint: endpoint.to_string(),
                subject,
                thumbprint,
                rejected,
                trusted_dir: store.trusted_certs_dir(),
            })
        }
        Err(e) => Err(OpcUaError::InvalidServerCertificate {
            endpoint: endpoint.to_string(),
            subject,
            thumbprint,
            reason: format!("{e} ({})", status_name(e.status())),
        }),
    }
}

fn identity_token(identity: &Identity) -> Result<IdentityToken, OpcUaError> {
    Ok(match identity {
        Identity::Anonymous => IdentityToken::Anonymous,
        Identity::UserName { user, password } => IdentityToken::new_user_name(user.clone(), password.clone()),
        Identity::Certificate { cert, key } => IdentityToken::new_x509_path(cert, key).map_err(|e| {
            OpcUaError::Config(format!("cannot read the user certificate '{}' / key '{}': {e}", cert.display(), key.display()))
        })?,
    })
}

fn first_failure(endpoint: &str, code: StatusCode, security: &SecurityOptions, client_cert: &Path) -> OpcUaError {
    let name = status_name(code);
    match code {
        StatusCode::BadUserAccessDenied
        | StatusCode::BadIdentityTokenInvalid
        | StatusCode::BadIdentityTokenRejected
        | StatusCode::BadUserSignatureInvalid => {
            OpcUaError::IdentityRejected { endpoint: endpoint.to_string(), identity: security.identity.describe(), status: name }
        }
        StatusCode::BadSecurityChecksFailed
        | StatusCode::BadCertificateUntrusted
        | StatusCode::BadCertificateInvalid
        | StatusCode::BadCertificateUseNotAllowed
        | StatusCode::BadSecurityPolicyRejected
        | StatusCode::BadApplicationSignatureInvalid
        | StatusCode::BadNoValidCertificates
            if security.policy != Policy::None =>
        {
            OpcUaError::ClientRejected { endpoint: endpoint.to_string(), status: name, client_cert: client_cert.to_path_buf() }
        }
        _ => OpcUaError::Connect {
            endpoint: endpoint.to_string(),
            status: name,
            message: "the secure channel or session could not be established".into(),
        },
    }
}

/// One attempt to open a session on `endpoint`.
pub(crate) async fn connect(endpoint: &str, security: &SecurityOptions) -> Result<Connection, OpcUaError> {
    match tokio::time::timeout(security.connect_timeout, connect_once(endpoint, security)).await {
        Ok(r) => r,
        Err(_) => Err(OpcUaError::Timeout { endpoint: endpoint.to_string(), seconds: security.connect_timeout.as_secs().max(1) }),
    }
}

async fn connect_once(endpoint: &str, security: &SecurityOptions) -> Result<Connection, OpcUaError> {
    std::fs::create_dir_all(&security.pki_dir)
        .map_err(|e| OpcUaError::Config(format!("cannot create pki_dir '{}': {e}", security.pki_dir.display())))?;
    let mut client = ClientBuilder::new()
        .application_name("illunare")
        .application_uri(APPLICATION_URI)
        .product_uri("urn:illunare")
        .pki_dir(security.pki_dir.clone())
        .create_sample_keypair(true)
        .trust_server_certs(security.trust_server_certificate)
        .verify_server_certs(true)
        .session_retry_limit(0)
        .request_timeout(REQUEST_TIMEOUT)
        .session_timeout(SESSION_TIMEOUT_MS)
        .session_name("illunare")
        .client()
        .map_err(|errors| OpcUaError::Config(format!("invalid OPC UA client configuration: {}", errors.join("; "))))?;

    let (client_cert, client_key): (PathBuf, PathBuf) = {
        let store = client.certificate_store().read();
        (store.own_certificate_path(), store.own_private_key_path())
    };
    if security.policy != Policy::None && !(client_cert.exists() && client_key.exists()) {
        return Err(OpcUaError::Config(format!(
            "no client certificate: '{}' / '{}' are missing and could not be created (check that pki_dir is writable)",
            client_cert.display(),
            client_key.display()
        )));
    }

    let endpoints = client.get_server_endpoints_from_url(endpoint).await.map_err(|e| connect_error(endpoint, &e))?;
    let chosen = choose_endpoint(endpoint, &endpoints, security)?;
    if security.policy != Policy::None {
        let store = client.certificate_store().read();
        check_server_certificate(endpoint, &chosen, security.policy.to_library(), &store, security.trust_server_certificate)?;
    }
    let token = identity_token(&security.identity)?;
    let store = client.certificate_store().clone();
    let (session, event_loop) = client
        .session_builder()
        .connect_to_endpoint_directly(chosen)
        .map_err(|e| connect_error(endpoint, &e))?
        .user_identity_token(token)
        .build(store)
        .map_err(|e| connect_error(endpoint, &e))?;
    let _ = &mut client;

    // The driver polls the session's event loop: it reports the outcome of the first attempt,
    // then the loss of the connection, and stops (reconnecting is the reader's business).
    let (first_tx, first_rx) = oneshot::channel::<Result<(), StatusCode>>();
    let (lost_tx, lost_rx) = mpsc::unbounded_channel::<StatusCode>();
    let driver = tokio::spawn(async move {
        let stream = event_loop.enter();
        futures::pin_mut!(stream);
        let mut first = Some(first_tx);
        let report = |first: &mut Option<oneshot::Sender<Result<(), StatusCode>>>, code: StatusCode| match first.take() {
            Some(tx) => {
                let _ = tx.send(Err(code));
            }
            None => {
                let _ = lost_tx.send(code);
            }
        };
        loop {
            match stream.next().await {
                Some(Ok(SessionPollResult::Reconnected(_))) => {
                    if let Some(tx) = first.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
                Some(Ok(SessionPollResult::ConnectionLost(code) | SessionPollResult::ReconnectFailed(code))) => {
                    report(&mut first, if code.is_bad() { code } else { StatusCode::BadConnectionClosed });
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(code)) => {
                    report(&mut first, if code.is_bad() { code } else { StatusCode::BadConnectionClosed });
                    return;
                }
                None => {
                    report(&mut first, StatusCode::BadConnectionClosed);
                    return;
                }
            }
        }
    });
    let mut connection = Connection { session, endpoint: endpoint.to_string(), lost: lost_rx, driver: Some(driver) };
    match first_rx.await {
        Ok(Ok(())) => Ok(connection),
        Ok(Err(code)) => {
            if let Some(d) = connection.driver.take() {
                d.abort();
            }
            Err(first_failure(endpoint, code, security, &client_cert))
        }
        Err(_) => {
            if let Some(d) = connection.driver.take() {
                d.abort();
            }
            Err(OpcUaError::Connect {
                endpoint: endpoint.to_string(),
                status: "BadConnectionClosed".into(),
                message: "the session ended before it was established".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert_eq!(hostname("opc.tcp://127.0.0.1:4840/"), "127.0.0.1");
        assert_eq!(hostname("opc.tcp://plc.local:4840/a/b"), "plc.local");
        assert_eq!(hostname("opc.tcp://[::1]:4840/"), "::1");
        assert_eq!(hostname("opc.tcp://plc"), "plc");
    }
}
