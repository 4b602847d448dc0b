//! Devices and the connection to a Modbus TCP endpoint.
//!
//! A device is `host:port/unit` as written in the `devices` option. Devices behind one
//! `host:port` (a gateway, or a PLC with several unit ids) share one TCP connection and are
//! polled one after another, because most servers answer one request at a time. Every request
//! has a timeout; after a timeout or a transport error the connection is dropped and made
//! anew, since a late answer to the abandoned request would otherwise be taken for the next.

use std::time::Duration;

use tokio_modbus::client::{Context, Reader};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{ExceptionCode, Slave};

use crate::error::ModbusError;
use crate::map::RegisterKind;

/// A device of the `devices` option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceAddr {
    /// As written (trimmed): the `device` column's value.
    pub written: String,
    /// `host:port` (port 502 when not written).
    pub endpoint: String,
    pub unit: u8,
}

/// Parses `127.0.0.1:5020/1, plc.local/3, [::1]:502` (unit 1 when not written).
pub fn parse_devices(text: &str) -> Result<Vec<DeviceAddr>, ModbusError> {
    let mut out: Vec<DeviceAddr> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, unit) = match item.rsplit_once('/') {
            Some((h, u)) => (h.trim(), u.trim().parse::<u8>().map_err(|_| ModbusError::Device(item.to_string()))?),
            None => (item, 1),
        };
        let has_port = match host.strip_prefix('[') {
            Some(v6) => v6.contains("]:"),
            None => host.contains(':'),
        };
        if host.is_empty() || host.starts_with(':') {
            return Err(ModbusError::Device(item.to_string()));
        }
        if let Some((_, port)) = host.rsplit_once(':').filter(|_| has_port)
            && port.parse::<u16>().is_err()
        {
            return Err(ModbusError::Device(item.to_string()));
        }
        let endpoint = if has_port { host.to_string() } else { format!("{host}:502") };
        if out.iter().any(|d| d.endpoint == endpoint && d.unit == unit) {
            return Err(ModbusError::Device(format!("{item} (listed twice)")));
        }
        out.push(DeviceAddr { written: item.to_string(), endpoint, unit });
    }
    if out.is_empty() {
        return Err(ModbusError::Device(text.to_string()));
    }
    Ok(out)
}

/// Why a request gave no data; its [`Failure::quality`] is what the `quality` column says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    Disconnected(String),
    Exception(u8),
    Protocol(String),
}

impl Failure {
    pub fn quality(&self) -> String {
        match self {
            Failure::Timeout => "timeout".into(),
            Failure::Disconnected(_) => "disconnected".into(),
            Failure::Exception(code) => format!("exception:{code:02X}"),
            Failure::Protocol(_) => "protocol_error".into(),
        }
    }

    /// Whether the device answered (an exception is an answer: no reconnect, no backoff).
    pub fn is_transport(&self) -> bool {
        !matches!(self, Failure::Exception(_))
    }

    pub fn describe(&self, timeout: Duration) -> String {
        match self {
            Failure::Timeout => format!("no answer within {timeout:?}"),
            Failure::Disconnected(e) => format!("disconnected: {e}"),
            Failure::Exception(code) => format!("exception {code:02X} ({})", exception_name(*code)),
            Failure::Protocol(e) => format!("protocol error: {e}"),
        }
    }
}

fn exception_name(code: u8) -> &'static str {
    match code {
        0x01 => "illegal function",
        0x02 => "illegal data address",
        0x03 => "illegal data value",
        0x04 => "server device failure",
        0x05 => "acknowledge",
        0x06 => "server device busy",
        0x08 => "memory parity error",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target device failed to respond",
        _ => "non-standard",
    }
}

/// What a read returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Words(Vec<u16>),
    Bits(Vec<bool>),
}

/// A (re)connecting client for one `host:port`.
pub struct Connection {
    endpoint: String,
    timeout: Duration,
    ctx: Option<Context>,
}

impl Connection {
    pub fn new(endpoint: &str, timeout: Duration) -> Self {
        Connection { endpoint: endpoint.to_string(), timeout, ctx: None }
    }

    async fn connect(&mut self) -> Result<&mut Context, Failure> {
        if self.ctx.is_none() {
            let attempt = async {
                let addr = tokio::net::lookup_host(&self.endpoint)
                    .await
                    .map_err(|e| Failure::Disconnected(format!("cannot resolve {}: {e}", self.endpoint)))?
                    .next()
                    .ok_or_else(|| Failure::Disconnected(format!("{} resolves to no address", self.endpoint)))?;
                tokio_modbus::client::tcp::connect(addr).await.map_err(|e| Failure::Disconnected(e.to_string()))
            };
            let ctx = tokio::time::timeout(self.timeout, attempt).await.map_err(|_| Failure::Timeout)??;
            self.ctx = Some(ctx);
        }
        self.ctx.as_mut().ok_or_else(|| Failure::Disconnected("not connected".into()))
    }

    /// Reads `count` items of `kind` from `unit`, once (retries are the caller's).
    pub async fn read(&mut self, unit: u8, kind: RegisterKind, start: u16, count: u16) -> Result<Response, Failure> {
        let timeout = self.timeout;
        let ctx = self.connect().await?;
        ctx.set_slave(Slave(unit));
        let request = async {
            Ok::<_, tokio_modbus::Error>(match kind {
                RegisterKind::Coil => ctx.read_coils(start, count).await?.map(Response::Bits),
                RegisterKind::Discrete => ctx.read_discrete_inputs(start, count).await?.map(Response::Bits),
                RegisterKind::Holding => ctx.read_holding_registers(start, count).await?.map(Response::Words),
                RegisterKind::Input => ctx.read_input_registers(start, count).await?.map(Response::Words),
            })
        };
        let outcome = tokio::time::timeout(timeout, request).await;
        let result = match outcome {
            Err(_) => Err(Failure::Timeout),
            Ok(Err(tokio_modbus::Error::Transport(e))) => Err(Failure::Disconnected(e.to_string())),
            Ok(Err(tokio_modbus::Error::Protocol(e))) => Err(Failure::Protocol(e.to_string())),
            Ok(Ok(Err(code))) => Err(Failure::Exception(exception_code(code))),
            Ok(Ok(Ok(Response::Bits(mut bits)))) if bits.len() >= usize::from(count) => {
                bits.truncate(usize::from(count));
                Ok(Response::Bits(bits))
            }
            Ok(Ok(Ok(Response::Words(words)))) if words.len() == usize::from(count) => Ok(Response::Words(words)),
            Ok(Ok(Ok(_))) => Err(Failure::Protocol(format!("asked for {count} items, got a different number"))),
        };
        if matches!(&result, Err(f) if f.is_transport()) {
            self.ctx = None;
        }
        result
    }
}

fn exception_code(code: ExceptionCode) -> u8 {
    u8::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_as_written() {
        let d = parse_devices("127.0.0.1:5020/1, 127.0.0.1:5021/7 ,plc.local, [::1]:1502/3, [::1]").unwrap();
        assert_eq!(d[0], DeviceAddr { written: "127.0.0.1:5020/1".into(), endpoint: "127.0.0.1:5020".into(), unit: 1 });
        assert_eq!((d[1].endpoint.as_str(), d[1].unit), ("127.0.0.1:5021", 7));
        assert_eq!((d[2].written.as_str(), d[2].endpoint.as_str(), d[2].unit), ("plc.local", "plc.local:502", 1));
        assert_eq!((d[3].endpoint.as_str(), d[3].unit), ("[::1]:1502", 3));
        assert_eq!(d[4].endpoint, "[::1]:502");
        for bad in ["", "h:1/300", "h:port/1", ":502/1", "h:1/1, h:1/1"] {
            assert!(parse_devices(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quality_names() {
        assert_eq!(Failure::Exception(2).quality(), "exception:02");
        assert_eq!(Failure::Timeout.quality(), "timeout");
        assert_eq!(Failure::Disconnected("refused".into()).quality(), "disconnected");
        assert!(!Failure::Exception(2).is_transport());
    }
}
