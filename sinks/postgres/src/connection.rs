//! Connecting to PostgreSQL: the session's `application_name`, reconnect backoff, and keeping
//! the password out of every message.
//!
//! Why here and not in the sink: three rules must hold on every path that touches the
//! connection string or a server error, so they live in one place: (1) the session is named
//! `illunare-sink-<sink>` (operators find the sink's backend in `pg_stat_activity`); (2) after a
//! failed connect the next attempt waits 100 ms, doubling up to 30 s, so a down server is not
//! hammered by the engine's commit retries (a commit during the wait fails at once, without
//! blocking the worker); (3) no text leaves the crate before [`clean`] removed the password
//! (from `postgres://user:pw@…` URLs, `password=…` key/value strings and the password itself).

use std::error::Error as _;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Config};

/// The backoff after the first failed connect.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two connect attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The `application_name` of the sink's sessions.
pub fn application_name(sink: &str) -> String {
    format!("illunare-sink-{sink}")
}

/// Opens a session named after the sink and drives it on the current runtime; TLS as the URL's
/// `sslmode` says, the server checked as [`crate::tls`] says.
pub async fn connect(config: &Config, tls: &tokio_postgres_rustls::MakeRustlsConnect, sink: &str, url: &str) -> Result<Client, tokio_postgres::Error> {
    let mut config = config.clone();
    config.application_name(application_name(sink));
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.keepalives_idle(Duration::from_secs(60));
    let (client, connection) = config.connect(tls.clone()).await?;
    let sink = sink.to_string();
    let url = url.to_string();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(sink = %sink, "postgres connection ended: {}", clean(&url, &describe(&e)));
        }
    });
    Ok(client)
}

/// A server or client error as one line: the server's message, code, detail and hint, or the
/// chain of causes (tokio-postgres' own `Display` shows only the outermost kind).
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str("; ");
            text.push_str(detail);
        }
        if let Some(hint) = db.hint() {
            text.push_str("; hint: ");
            text.push_str(hint);
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Exponential backoff between connect attempts.
#[derive(Debug, Default)]
pub struct Backoff {
    delay: Option<Duration>,
    next_attempt: Option<Instant>,
}

impl Backoff {
    /// How long to wait before the next attempt (`None`: try now).
    pub fn remaining(&self) -> Option<Duration> {
        self.next_attempt.and_then(|t| t.checked_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }

    /// Records a failed attempt; returns the wait before the next one.
    pub fn failed(&mut self) -> Duration {
        let delay = match self.delay {
            None => FIRST_BACKOFF,
            Some(d) => (d * 2).min(MAX_BACKOFF),
        };
        self.delay = Some(delay);
        self.next_attempt = Some(Instant::now() + delay);
        delay
    }

    pub fn succeeded(&mut self) {
        self.delay = None;
        self.next_attempt = None;
    }
}

/// `url` with its password replaced by `***` (URL and key/value forms).
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?']).map_or(out.len(), |i| rest_start + i);
        // The password may contain '/' or '?' when not percent-encoded: the userinfo ends at
        // the last '@' before the host, so look for it in the whole string if needed.
        let at = out[rest_start..authority_end].rfind('@').map(|i| rest_start + i).or_else(|| out[rest_start..].rfind('@').map(|i| rest_start + i));
        if let Some(at) = at
            && let Some(colon) = out[rest_start..at].find(':').map(|i| rest_start + i)
        {
            out.replace_range(colon + 1..at, "***");
        }
    }
    redact_key_value(&out)
}

/// Replaces the value of every `password=…` (quoted or not) with `***`.
fn redact_key_value(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(found) = lower[i..].find("password") {
        let key_end = i + found + "password".len();
        let after = &text[key_end..];
        let trimmed = after.trim_start();
        if !trimmed.starts_with('=') {
            out.push_str(&text[i..key_end]);
            i = key_end;
            continue;
        }
        let eq = key_end + (after.len() - trimmed.len());
        let value_start = eq + 1 + (text[eq + 1..].len() - text[eq + 1..].trim_start().len());
        let value = &text[value_start..];
        let value_len = if let Some(quoted) = value.strip_prefix('\'') {
            let mut end = quoted.len() + 1;
            let mut chars = quoted.char_indices();
            while let Some((j, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => {
                        end = j + 2;
                        break;
                    }
                    _ => {}
                }
            }
            end
        } else {
            value.find(|c: char| c.is_whitespace() || c == '&').unwrap_or(value.len())
        };
        out.push_str(&text[i..value_start]);
        out.push_str("***");
        i = value_start + value_len;
    }
    out.push_str(&text[i..]);
    out
}

/// The password of `url`, as written and as tokio-postgres decoded it (percent-decoding).
fn secrets(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(config) = url.parse::<Config>()
        && let Some(pw) = config.get_password()
    {
        found.push(String::from_utf8_lossy(pw).into_owned());
    }
    let redacted = redact_url(url);
    // Whatever redaction removed is secret too (the raw, possibly percent-encoded, form).
    let (mut a, mut b) = (url.chars().peekable(), redacted.chars().peekable());
    let mut prefix = 0;
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        if x != y {
            break;
        }
        prefix += x.len_utf8();
        a.next();
        b.next();
    }
    let suffix = url[prefix..].chars().rev().zip(redacted[prefix..].chars().rev()).take_while(|(x, y)| x == y).map(|(x, _)| x.len_utf8()).sum::<usize>();
    if prefix + suffix < url.len() {
        let raw = url[prefix..url.len() - suffix].to_string();
        if raw != "***" {
            found.push(raw);
        }
    }
    // Very short passwords would blank unrelated words; the URL forms are handled above.
    found.retain(|s| s.chars().count() >= 3);
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found
}

/// `text` (an error message, a log line) with every form of `url`'s password removed.
pub fn clean(url: &str, text: &str) -> String {
    let replaced = if url.is_empty() { text.to_string() } else { text.replace(url, &redact_url(url)) };
    let mut out = redact_key_value(&replaced);
    for secret in secrets(url) {
        out = out.replace(&secret, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:s3cret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgresql://u:p/w?x@h/db?sslmode=disable"), "postgresql://u:***@h/db?sslmode=disable");
        assert_eq!(redact_url("postgres://h/db?user=u&password=s3cret&x=1"), "postgres://h/db?user=u&password=***&x=1");
        assert_eq!(redact_url("host=h password='a b\\'c' user=u"), "host=h password=*** user=u");
        assert_eq!(redact_url("host=h PASSWORD = xyz user=u"), "host=h PASSWORD = *** user=u");
        let url = "postgres://u:pa%40ss@h/db";
        let text = clean(url, "failed for pa@ss and pa%40ss via postgres://u:pa%40ss@h/db");
        assert!(!text.contains("pa@ss") && !text.contains("pa%40ss"), "{text}");
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        let mut b = Backoff::default();
        assert!(b.remaining().is_none());
        assert_eq!(b.failed(), FIRST_BACKOFF);
        assert_eq!(b.failed(), FIRST_BACKOFF * 2);
        assert!(b.remaining().is_some());
        for _ in 0..20 {
            b.failed();
        }
        assert_eq!(b.failed(), MAX_BACKOFF);
        b.succeeded();
        assert!(b.remaining().is_none());
        assert_eq!(b.failed(), FIRST_BACKOFF);
    }

    #[test]
    fn sessions_are_named_after_the_sink() {
        assert_eq!(application_name("alerts_pg"), "illunare-sink-alerts_pg");
    }
}
