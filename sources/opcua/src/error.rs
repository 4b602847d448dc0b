//! The connector's typed errors. Every variant is written for the pipeline author: it names the
//! endpoint, the node or the file involved and, where there is one, the fix (which option to
//! set, which file to move where). They become [`ConnectorError::Other`] at the engine boundary.

use std::path::PathBuf;

use illunare_connector::ConnectorError;

/// What can go wrong talking to an OPC UA server.
#[derive(Debug, thiserror::Error)]
pub enum OpcUaError {
    /// Invalid options (bad node id, contradictory security settings, …).
    #[error("{0}")]
    Config(String),
    /// The server could not be reached, or the secure channel / session could not be set up.
    #[error("cannot connect to {endpoint}: {message} ({status})")]
    Connect { endpoint: String, status: String, message: String },
    /// The server offers no endpoint with the requested security policy and mode.
    #[error(
        "{endpoint} offers no endpoint with security_policy = '{policy}' and security_mode = '{mode}' (it offers: {offered})"
    )]
    NoMatchingEndpoint { endpoint: String, policy: String, mode: String, offered: String },
    /// The endpoint does not accept the configured kind of user identity.
    #[error("the {policy}/{mode} endpoint of {endpoint} does not accept {identity} (it accepts: {accepted})")]
    IdentityNotOffered { endpoint: String, policy: String, mode: String, identity: String, accepted: String },
    /// The server's application certificate is not in the trust store.
    #[error(
        "the server certificate of {endpoint} is not trusted: subject '{subject}', thumbprint {thumbprint}. \
         It was saved to '{rejected}'; to trust this server move that file into '{trusted_dir}' \
         (or set trust_server_certificate = 'true' to accept and store it automatically)"
    )]
    UntrustedServerCertificate { endpoint: String, subject: String, thumbprint: String, rejected: PathBuf, trusted_dir: PathBuf },
    /// The server's certificate is trusted but invalid (expired, wrong host name or application URI, key too short).
    #[error("the server certificate of {endpoint} (subject '{subject}', thumbprint {thumbprint}) was rejected: {reason}")]
    InvalidServerCertificate { endpoint: String, subject: String, thumbprint: String, reason: String },
    /// The server refused the user identity (wrong user name or password, unknown certificate).
    #[error("{endpoint} rejected {identity}: {status} — check the user name and password (or the user certificate)")]
    IdentityRejected { endpoint: String, identity: String, status: String },
    /// The server refused the client: most often it does not trust the client's certificate.
    #[error(
        "{endpoint} refused the secure connection ({status}): the server probably does not trust this client's \
         certificate '{client_cert}'; add it to the server's trusted certificates"
    )]
    ClientRejected { endpoint: String, status: String, client_cert: PathBuf },
    /// A service call (Browse, Read, CreateSubscription, …) failed.
    #[error("{service} on {endpoint} failed: {message} ({status})")]
    Service { endpoint: String, service: &'static str, status: String, message: String },
    /// Connecting took longer than allowed.
    #[error("connecting to {endpoint} timed out after {seconds}s")]
    Timeout { endpoint: String, seconds: u64 },
}

impl From<OpcUaError> for ConnectorError {
    fn from(e: OpcUaError) -> Self {
        match e {
            OpcUaError::Config(message) => ConnectorError::Other(message),
            other => ConnectorError::Other(other.to_string()),
        }
    }
}
