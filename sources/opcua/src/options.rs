//! The `WITH (…)` options of `connector = 'opcua'`, parsed and cross-checked once in `create`
//! (so typos and contradictions fail at `CREATE SOURCE`/`check`, never at the first reconnect),
//! plus the security settings shared with [`crate::browse`].

use std::path::PathBuf;
use std::time::Duration;

use illunare_connector::{ConnectorError, Options};

use crate::nodes::{NodeSpec, parse_nodes};

/// `security_policy`: how messages are signed/encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    None,
    Basic256Sha256,
    Aes128Sha256RsaOaep,
    Aes256Sha256RsaPss,
}

impl Policy {
    pub fn parse(text: &str) -> Result<Policy, String> {
        let t = text.trim().to_lowercase().replace(['-', '_'], "");
        match t.as_str() {
            "none" => Ok(Policy::None),
            "basic256sha256" => Ok(Policy::Basic256Sha256),
            "aes128sha256rsaoaep" => Ok(Policy::Aes128Sha256RsaOaep),
            "aes256sha256rsapss" => Ok(Policy::Aes256Sha256RsaPss),
            _ => Err(format!(
                "'{text}' is not a security policy (None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss)"
            )),
        }
    }

    pub(crate) fn to_library(self) -> opcua::crypto::SecurityPolicy {
        use opcua::crypto::SecurityPolicy as S;
        match self {
            Policy::None => S::None,
            Policy::Basic256Sha256 => S::Basic256Sha256,
            Policy::Aes128Sha256RsaOaep => S::Aes128Sha256RsaOaep,
            Policy::Aes256Sha256RsaPss => S::Aes256Sha256RsaPss,
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Policy::None => "None",
            Policy::Basic256Sha256 => "Basic256Sha256",
            Policy::Aes128Sha256RsaOaep => "Aes128_Sha256_RsaOaep",
            Policy::Aes256Sha256RsaPss => "Aes256_Sha256_RsaPss",
        })
    }
}

/// `security_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    None,
    Sign,
    SignAndEncrypt,
}

impl Mode {
    pub fn parse(text: &str) -> Result<Mode, String> {
        match text.trim().to_lowercase().replace(['-', '_'], "").as_str() {
            "none" => Ok(Mode::None),
            "sign" => Ok(Mode::Sign),
            "signandencrypt" => Ok(Mode::SignAndEncrypt),
            _ => Err(format!("'{text}' is not a security mode (None, Sign, SignAndEncrypt)")),
        }
    }

    pub(crate) fn to_library(self) -> opcua::types::MessageSecurityMode {
        use opcua::types::MessageSecurityMode as M;
        match self {
            Mode::None => M::None,
            Mode::Sign => M::Sign,
            Mode::SignAndEncrypt => M::SignAndEncrypt,
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::None => "None",
            Mode::Sign => "Sign",
            Mode::SignAndEncrypt => "SignAndEncrypt",
        })
    }
}

/// Who the client is to the server.
#[derive(Clone, Default)]
pub enum Identity {
    #[default]
    Anonymous,
    UserName { user: String, password: String },
    /// A user certificate (DER or PEM) and its private key (PEM).
    Certificate { cert: PathBuf, key: PathBuf },
}

impl Identity {
    /// How error messages name the identity (never the password).
    pub(crate) fn describe(&self) -> String {
        match self {
            Identity::Anonymous => "anonymous access".to_string(),
            Identity::UserName { user, .. } => format!("user '{user}'"),
            Identity::Certificate { cert, .. } => format!("the user certificate '{}'", cert.display()),
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Everything needed to open a secure session: used by the source and by [`crate::browse`].
#[derive(Clone, Debug)]
pub struct SecurityOptions {
    pub policy: Policy,
    pub mode: Mode,
    pub identity: Identity,
    /// The client's PKI directory: `own/cert.der` + `private/private.pem` (created when
    /// missing), `trusted/` and `rejected/` server certificates.
    pub pki_dir: PathBuf,
    /// Accept (and store into `trusted/`) a server certificate that is not trusted yet.
    pub trust_server_certificate: bool,
    /// Limit for establishing a connection (discovery, channel, session).
    pub connect_timeout: Duration,
}

impl Default for SecurityOptions {
    fn default() -> Self {
        SecurityOptions {
            policy: Policy::None,
            mode: Mode::None,
            identity: Identity::Anonymous,
            pki_dir: default_pki_dir(),
            trust_server_certificate: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// `$XDG_DATA_HOME/illunare/opcua-pki`, else `~/.local/share/illunare/opcua-pki`.
pub fn default_pki_dir() -> PathBuf {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(h) => PathBuf::from(h).join(".local").join("share"),
            None => PathBuf::from("."),
        },
    };
    base.join("illunare").join("opcua-pki")
}

impl SecurityOptions {
    /// Reads `security_policy`, `security_mode`, `username`, `password`, `user_certificate`,
    /// `user_private_key`, `pki_dir`, `trust_server_certificate` and `connect_timeout`.
    pub fn from_options(options: &Options) -> Result<SecurityOptions, ConnectorError> {
        let policy = match options.get("security_policy")? {
            Some(p) => Policy::parse(&p).map_err(|e| ConnectorError::option("security_policy", e))?,
            None => Policy::None,
        };
        let mode_given = match options.get("security_mode")? {
            Some(m) => Some(Mode::parse(&m).map_err(|e| ConnectorError::option("security_mode", e))?),
            None => None,
        };
        let mode = match (policy, mode_given) {
            (Policy::None, None | Some(Mode::None)) => Mode::None,
            (Policy::None, Some(m)) => {
                return Err(ConnectorError::option(
                    "security_mode",
                    format!("'{m}' needs a security_policy other than None (e.g. 'Basic256Sha256')"),
                ));
            }
            (_, None) => Mode::SignAndEncrypt,
            (p, Some(Mode::None)) => {
                return Err(ConnectorError::option("security_mode", format!("'None' contradicts security_policy = '{p}' (use Sign or SignAndEncrypt)")));
            }
            (_, Some(m)) => m,
        };
        let user = options.get("username")?;
        let password = options.get("password")?;
        let cert = options.get("user_certificate")?;
        let key = options.get("user_private_key")?;
        let identity = match (user, password, cert, key) {
            (None, None, None, None) => Identity::Anonymous,
            (Some(user), Some(password), None, None) => {
                if user.is_empty() {
                    return Err(ConnectorError::option("username", "must not be empty"));
                }
                Identity::UserName { user, password }
            }
            (Some(_), None, _, _) => return Err(ConnectorError::option("password", "is required with username")),
            (None, Some(_), _, _) => return Err(ConnectorError::option("username", "is required with password")),
            (None, None, Some(cert), Some(key)) => Identity::Certificate { cert: PathBuf::from(cert), key: PathBuf::from(key) },
            (None, None, Some(_), None) => return Err(ConnectorError::option("user_private_key", "is required with user_certificate")),
            (None, None, None, Some(_)) => return Err(ConnectorError::option("user_certificate", "is required with user_private_key")),
            (Some(_), Some(_), _, _) => {
                return Err(ConnectorError::option("user_certificate", "cannot be combined with username/password (pick one identity)"));
            }
        };
        let pki_dir = options.get("pki_dir")?.map(PathBuf::from).unwrap_or_else(default_pki_dir);
        let trust_server_certificate = options.bool("trust_server_certificate", false)?;
        let connect_timeout = options.duration("connect_timeout")?.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        if connect_timeout.is_zero() {
            return Err(ConnectorError::option("connect_timeout", "must be positive"));
        }
        Ok(SecurityOptions { policy, mode, identity, pki_dir, trust_server_certificate, connect_timeout })
    }
}

/// `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadMode {
    Subscribe,
    Poll,
}

/// `deadband_type`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Deadband {
    Absolute(f64),
    Percent(f64),
}

/// `timestamps` (the TimestampsToReturn of reads and monitored items).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timestamps {
    Both,
    Source,
    Server,
}

impl Timestamps {
    pub(crate) fn to_library(self) -> opcua::types::TimestampsToReturn {
        use opcua::types::TimestampsToReturn as T;
        match self {
            Timestamps::Both => T::Both,
            Timestamps::Source => T::Source,
            Timestamps::Server => T::Server,
        }
    }
}

/// Everything `create` validated.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub name: String,
    pub endpoint: String,
    pub nodes: Vec<NodeSpec>,
    pub mode: ReadMode,
    pub sampling_interval: Duration,
    pub publishing_interval: Duration,
    pub queue_size: u32,
    pub deadband: Option<Deadband>,
    pub poll_interval: Duration,
    pub polls: Option<u64>,
    pub timestamps: Timestamps,
    pub source_ts_fallback_server: bool,
    pub security: SecurityOptions,
}

const DEFAULT_SAMPLING: Duration = Duration::from_millis(100);
const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// Checks that `endpoint` is an `opc.tcp://host:port/…` URL.
pub(crate) fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let rest = endpoint.strip_prefix("opc.tcp://").ok_or_else(|| format!("'{endpoint}' is not an opc.tcp:// URL"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("'{endpoint}' has no host"));
    }
    Ok(())
}

fn only_for(options: &Options, key: &str, mode: &str) -> Result<bool, ConnectorError> {
    if options.get(key)?.is_some() {
        return Err(ConnectorError::option(key, format!("only applies to mode = '{mode}'")));
    }
    Ok(false)
}

impl Config {
    pub(crate) fn parse(name: &str, options: &Options) -> Result<Config, ConnectorError> {
        let endpoint = options.require("endpoint")?.trim().to_string();
        check_endpoint(&endpoint).map_err(|e| ConnectorError::option("endpoint", e))?;
        let nodes = parse_nodes(&options.require("nodes")?).map_err(|e| ConnectorError::option("nodes", e))?;
        let mode = match options.get_or("mode", "subscribe")?.trim().to_lowercase().as_str() {
            "subscribe" | "subscription" => ReadMode::Subscribe,
            "poll" | "read" => ReadMode::Poll,
            other => return Err(ConnectorError::option("mode", format!("'{other}' is not a mode (subscribe, poll)"))),
        };
        let positive = |key: &str, d: Option<Duration>| -> Result<Option<Duration>, ConnectorError> {
            match d {
                Some(d) if d.is_zero() => Err(ConnectorError::option(key, "must be positive")),
                other => Ok(other),
            }
        };
        let mut sampling_interval = DEFAULT_SAMPLING;
        let mut publishing_interval = DEFAULT_SAMPLING;
        let mut queue_size = 10;
        let mut deadband = None;
        let mut poll_interval = DEFAULT_POLL;
        let mut polls = None;
        match mode {
            ReadMode::Subscribe => {
                sampling_interval = positive("sampling_interval", options.duration("sampling_interval")?)?.unwrap_or(DEFAULT_SAMPLING);
                publishing_interval = positive("publishing_interval", options.duration("publishing_interval")?)?.unwrap_or(sampling_interval);
                queue_size = options.parse::<u32>("queue_size")?.unwrap_or(10);
                if queue_size == 0 {
                    return Err(ConnectorError::option("queue_size", "must be at least 1"));
                }
                let value = options.parse::<f64>("deadband")?;
                let kind = options.get("deadband_type")?.map(|k| k.trim().to_lowercase());
                deadband = match (value, kind.as_deref()) {
                    (None, None) => None,
                    (None, Some(_)) => return Err(ConnectorError::option("deadband_type", "needs deadband")),
                    (Some(v), _) if !v.is_finite() || v < 0.0 => {
                        return Err(ConnectorError::option("deadband", format!("{v} must be a non-negative number")));
                    }
                    (Some(v), None | Some("absolute")) => Some(Deadband::Absolute(v)),
                    (Some(v), Some("percent")) if v <= 100.0 => Some(Deadband::Percent(v)),
                    (Some(v), Some("percent")) => return Err(ConnectorError::option("deadband", format!("{v} is over 100 percent"))),
                    (Some(_), Some(other)) => {
                        return Err(ConnectorError::option("deadband_type", format!("'{other}' is not a deadband type (absolute, percent)")));
                    }
                };
                only_for(options, "poll_interval", "poll")?;
                only_for(options, "polls", "poll")?;
            }
            ReadMode::Poll => {
                poll_interval = positive("poll_interval", options.duration("poll_interval")?)?.unwrap_or(DEFAULT_POLL);
                polls = options.parse::<u64>("polls")?;
                if polls == Some(0) {
                    return Err(ConnectorError::option("polls", "must be at least 1"));
                }
                for key in ["sampling_interval", "publishing_interval", "queue_size", "deadband", "deadband_type"] {
                    only_for(options, key, "subscribe")?;
                }
            }
        }
        let timestamps = match options.get_or("timestamps", "both")?.trim().to_lowercase().as_str() {
            "both" => Timestamps::Both,
            "source" => Timestamps::Source,
            "server" => Timestamps::Server,
            other => return Err(ConnectorError::option("timestamps", format!("'{other}' is not one of both, source, server"))),
        };
        let source_ts_fallback_server = match options.get("source_ts_fallback")?.map(|v| v.trim().to_lowercase()) {
            None => false,
            Some(v) if v == "server" => true,
            Some(v) if v == "none" => false,
            Some(v) => return Err(ConnectorError::option("source_ts_fallback", format!("'{v}' is not one of server, none"))),
        };
        if source_ts_fallback_server && timestamps == Timestamps::Source {
            return Err(ConnectorError::option("source_ts_fallback", "needs server timestamps (timestamps = 'both' or 'server')"));
        }
        let security = SecurityOptions::from_options(options)?;
        options.finish("opcua")?;
        Ok(Config {
            name: name.to_string(),
            endpoint,
            nodes,
            mode,
            sampling_interval,
            publishing_interval,
            queue_size,
            deadband,
            poll_interval,
            polls,
            timestamps,
            source_ts_fallback_server,
            security,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Options {
        Options::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![("connector", "opcua"), ("endpoint", "opc.tcp://127.0.0.1:4840/"), ("nodes", "ns=2;s=Temperature, ns=2;s=Pressure")]
    }

    fn err(extra: &[(&'static str, &'static str)]) -> String {
        let mut p = base();
        p.extend_from_slice(extra);
        match Config::parse("s", &opts(&p)) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults() {
        let c = Config::parse("s", &opts(&base())).unwrap();
        assert_eq!(c.mode, ReadMode::Subscribe);
        assert_eq!(c.sampling_interval, Duration::from_millis(100));
        assert_eq!(c.publishing_interval, Duration::from_millis(100));
        assert_eq!(c.queue_size, 10);
        assert_eq!(c.deadband, None);
        assert_eq!(c.timestamps, Timestamps::Both);
        assert_eq!(c.security.policy, Policy::None);
        assert_eq!(c.security.mode, Mode::None);
        assert!(matches!(c.security.identity, Identity::Anonymous));
        assert!(!c.security.trust_server_certificate);
        assert_eq!(c.nodes.len(), 2);
    }

    #[test]
    fn publishing_defaults_to_sampling_and_secure_mode_defaults_to_encrypt() {
        let mut p = base();
        p.extend_from_slice(&[("sampling_interval", "250ms"), ("security_policy", "Basic256Sha256"), ("deadband", "0.5"), ("deadband_type", "percent")]);
        let c = Config::parse("s", &opts(&p)).unwrap();
        assert_eq!(c.publishing_interval, Duration::from_millis(250));
        assert_eq!(c.security.mode, Mode::SignAndEncrypt);
        assert_eq!(c.deadband, Some(Deadband::Percent(0.5)));
    }

    #[test]
    fn poll_mode() {
        let mut p = base();
        p.extend_from_slice(&[("mode", "poll"), ("poll_interval", "20ms"), ("polls", "3")]);
        let c = Config::parse("s", &opts(&p)).unwrap();
        assert_eq!(c.mode, ReadMode::Poll);
        assert_eq!(c.polls, Some(3));
        assert_eq!(c.poll_interval, Duration::from_millis(20));
    }

    #[test]
    fn rejections() {
        assert!(err(&[("nodez", "x")]).contains("nodez"));
        assert!(err(&[("endpoint", "http://x")]).contains("opc.tcp://"), "{}", err(&[("endpoint", "http://x")]));
        assert!(err(&[("mode", "stream")]).contains("subscribe, poll"));
        assert!(err(&[("polls", "3")]).contains("only applies to mode = 'poll'"));
        assert!(err(&[("mode", "poll"), ("queue_size", "3")]).contains("only applies to mode = 'subscribe'"));
        assert!(err(&[("deadband_type", "absolute")]).contains("needs deadband"));
        assert!(err(&[("deadband", "1"), ("deadband_type", "relative")]).contains("absolute, percent"));
        assert!(err(&[("deadband", "-1")]).contains("non-negative"));
        assert!(err(&[("queue_size", "0")]).contains("at least 1"));
        assert!(err(&[("sampling_interval", "0ms")]).contains("positive"));
        assert!(err(&[("security_policy", "Basic128")]).contains("not a security policy"));
        assert!(err(&[("security_mode", "Sign")]).contains("needs a security_policy"));
        assert!(err(&[("security_policy", "Basic256Sha256"), ("security_mode", "None")]).contains("contradicts"));
        assert!(err(&[("username", "u")]).contains("password"));
        assert!(err(&[("password", "p")]).contains("username"));
        assert!(err(&[("user_certificate", "c.der")]).contains("user_private_key"));
        assert!(err(&[("timestamps", "neither")]).contains("both, source, server"));
        assert!(err(&[("timestamps", "source"), ("source_ts_fallback", "server")]).contains("needs server timestamps"));
        assert!(err(&[("nodes", "ns=2;q=1")]).contains("ns=2;q=1"));
        assert!(err(&[("trust_server_certificate", "maybe")]).contains("boolean"));
    }

    #[test]
    fn policies_and_modes_parse() {
        assert_eq!(Policy::parse("Aes128_Sha256_RsaOaep").unwrap(), Policy::Aes128Sha256RsaOaep);
        assert_eq!(Policy::parse("aes256-sha256-rsapss").unwrap(), Policy::Aes256Sha256RsaPss);
        assert_eq!(Mode::parse("SignAndEncrypt").unwrap(), Mode::SignAndEncrypt);
        assert!(Mode::parse("encrypt").is_err());
    }

    #[test]
    fn secrets_from_environment_are_not_shown() {
        let identity = Identity::UserName { user: "bob".into(), password: "hunter2".into() };
        assert!(!format!("{identity:?}").contains("hunter2"));
    }
}
