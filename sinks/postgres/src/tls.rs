//! TLS for the sink's connections (rustls, the same stack the rest of the binary uses).
//!
//! tokio-postgres decides *whether* to encrypt from the URL's `sslmode` (`disable`, `prefer` —
//! the default, as in libpq — or `require`); this module decides *how the server is checked*,
//! following libpq: with `ssl_root_cert = 'ca.pem'` the server's certificate must chain to that
//! CA and name the host (libpq's `verify-full`); without it the connection is encrypted but the
//! server is not authenticated (libpq's `require`/`prefer`), which is what a self-signed server
//! certificate needs. The handshake's signatures are checked in both cases.
//!
//! Rejected: native-tls/OpenSSL (a second TLS stack in the binary, system-dependent behaviour);
//! always verifying against the system roots (database servers mostly use private CAs, so every
//! user would have to pass a CA anyway, and `sslmode=require` URLs copied from psql would fail).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector for a sink: verifying against `root_cert` (a PEM file) when given.
pub fn connector(root_cert: Option<&str>) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
    let config = match root_cert {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| format!("cannot read '{path}': {e}"))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("'{path}' is not a PEM certificate file: {e}"))?;
                roots.add(cert).map_err(|e| format!("'{path}': {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("'{path}' holds no certificate"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly { algorithms: provider.signature_verification_algorithms }))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// Accepts any server certificate (libpq's `sslmode=require` without a root certificate) but
/// still checks that the server holds its key.
#[derive(Debug)]
struct EncryptOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
