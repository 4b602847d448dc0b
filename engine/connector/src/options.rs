//! `WITH (key = 'value', …)` options of a source or sink, with typed getters.
//!
//! Every getter records the key it read, so [`Options::finish`] can reject typos
//! (`rowz = '10'`) instead of silently ignoring them. Values of the form `${env:NAME}` are read
//! from the environment; they are secrets and never appear in `Debug` output or errors.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use crate::ConnectorError;

#[derive(Default)]
pub struct Options {
    values: BTreeMap<String, String>,
    read: Mutex<BTreeSet<String>>,
}

impl Clone for Options {
    fn clone(&self) -> Self {
        Options { values: self.values.clone(), read: Mutex::new(self.read.lock().map(|r| r.clone()).unwrap_or_default()) }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: BTreeMap<&str, &str> = self
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), if v.contains("${env:") { "<from environment>" } else { v.as_str() }))
            .collect();
        shown.fmt(f)
    }
}

impl Options {
    pub fn new(values: impl IntoIterator<Item = (String, String)>) -> Self {
        Options { values: values.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect(), read: Mutex::default() }
    }

    /// The raw option map (secrets unresolved).
    pub fn raw(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    fn mark(&self, key: &str) {
        if let Ok(mut read) = self.read.lock() {
            read.insert(key.to_string());
        }
    }

    /// The value of `key`, with `${env:NAME}` references resolved.
    pub fn get(&self, key: &str) -> Result<Option<String>, ConnectorError> {
        self.mark(key);
        match self.values.get(key) {
            None => Ok(None),
            Some(v) => resolve_env(v).map(Some).map_err(|name| ConnectorError::option(key, format!("environment variable {name} is not set"))),
        }
    }

    pub fn require(&self, key: &str) -> Result<String, ConnectorError> {
        self.get(key)?.ok_or_else(|| ConnectorError::option(key, "is required"))
    }

    pub fn get_or(&self, key: &str, default: &str) -> Result<String, ConnectorError> {
        Ok(self.get(key)?.unwrap_or_else(|| default.to_string()))
    }

    /// A value parsed with `FromStr`.
    pub fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ConnectorError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => v.trim().replace('_', "").parse::<T>().map(Some).map_err(|e| ConnectorError::option(key, format!("'{v}': {e}"))),
        }
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ConnectorError> {
        match self.get(key)?.map(|v| v.to_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" || v == "1" || v == "yes" => Ok(true),
            Some(v) if v == "false" || v == "0" || v == "no" => Ok(false),
            Some(v) => Err(ConnectorError::option(key, format!("'{v}' is not a boolean (true/false)"))),
        }
    }

    pub fn duration(&self, key: &str) -> Result<Option<Duration>, ConnectorError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => parse_duration(&v).map(Some).map_err(|e| ConnectorError::option(key, e)),
        }
    }

    /// Every option named `prefix…` (e.g. `properties.` for client settings passed through),
    /// with the prefix stripped and `${env:NAME}` resolved, sorted by key.
    pub fn with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, ConnectorError> {
        let keys: Vec<&String> = self.values.keys().filter(|k| k.starts_with(prefix) && k.len() > prefix.len()).collect();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(value) = self.get(key)? {
                out.push((key[prefix.len()..].to_string(), value));
            }
        }
        Ok(out)
    }

    /// Fails when an option was given that no getter asked for.
    pub fn finish(&self, connector: &str) -> Result<(), ConnectorError> {
        let read = self.read.lock().map(|r| r.clone()).unwrap_or_default();
        let unknown: Vec<&String> = self.values.keys().filter(|k| !read.contains(*k) && k.as_str() != "connector").collect();
        match unknown.first() {
            None => Ok(()),
            Some(k) => {
                let known: Vec<String> = read.into_iter().collect();
                Err(ConnectorError::option(k, format!("is not an option of connector '{connector}' (known: {})", known.join(", "))))
            }
        }
    }
}

fn resolve_env(value: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        out.push_str(&std::env::var(name).map_err(|_| name.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses `100ms`, `1s`, `2.5s`, `5m`, `1h`, `3d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim().to_lowercase();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("'{text}' is not a duration (e.g. 100ms, 1s, 5m)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => n,
        "ms" | "millis" | "milliseconds" => n / 1e3,
        "us" | "micros" => n / 1e6,
        "m" | "min" | "mins" | "minute" | "minutes" => n * 60.0,
        "h" | "hour" | "hours" => n * 3600.0,
        "d" | "day" | "days" => n * 86400.0,
        other => return Err(format!("unknown duration unit '{other}' in '{text}'")),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_options_are_rejected() {
        let o = Options::new([("rows".to_string(), "10".to_string()), ("rowz".to_string(), "1".to_string())]);
        assert_eq!(o.parse::<u64>("rows").unwrap(), Some(10));
        let err = o.finish("generator").unwrap_err().to_string();
        assert!(err.contains("rowz"), "{err}");
    }

    #[test]
    fn prefixed_options_pass_through_and_count_as_read() {
        let o = Options::new([
            ("properties.security.protocol".to_string(), "SSL".to_string()),
            ("properties.".to_string(), "x".to_string()),
            ("topic".to_string(), "t".to_string()),
        ]);
        assert_eq!(o.with_prefix("properties.").unwrap(), vec![("security.protocol".to_string(), "SSL".to_string())]);
        let _ = o.get("topic");
        // The bare prefix is not a property: still reported as unknown.
        assert!(o.finish("kafka").unwrap_err().to_string().contains("'properties.'"));
    }

    #[test]
    fn durations_and_env() {
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("2 parsecs").is_err());
        // SAFETY-free: tests run single-threaded per process for env access in this module.
        let o = Options::new([("url".to_string(), "${env:ILLUNARE_TEST_NOT_SET_XYZ}".to_string())]);
        assert!(o.get("url").is_err());
        assert!(!format!("{o:?}").contains("ILLUNARE_TEST"));
    }
}
