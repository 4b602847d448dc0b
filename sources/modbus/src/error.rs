//! Errors of the Modbus connector, meant for the pipeline author: they name the map field,
//! the device or the option at fault.

use illunare_connector::ConnectorError;

#[derive(Debug, thiserror::Error)]
pub enum ModbusError {
    #[error("register map {path}: {message}")]
    Map { path: String, message: String },
    #[error("device '{0}': expected host:port/unit (unit 0-255, default 1), e.g. 127.0.0.1:502/1")]
    Device(String),
    #[error("column '{column}': {message}")]
    Column { column: String, message: String },
    #[error("{0}")]
    Scan(String),
}

impl ModbusError {
    pub fn map(path: &str, message: impl Into<String>) -> Self {
        ModbusError::Map { path: path.to_string(), message: message.into() }
    }

    pub fn column(column: &str, message: impl Into<String>) -> Self {
        ModbusError::Column { column: column.to_string(), message: message.into() }
    }
}

impl From<ModbusError> for ConnectorError {
    fn from(e: ModbusError) -> Self {
        ConnectorError::Other(e.to_string())
    }
}
