//! The register map: which registers hold which column, in what type and byte order.
//!
//! A TOML file with a `[[field]]` table per field, like Telegraf's `inputs.modbus`
//! (`docs/sql.md` has the full reference):
//!
//! ```toml
//! base = 0                 # optional: 1 makes every address 1-based (as in many PLC manuals)
//! [[field]]
//! name = "temperature"
//! register = "holding"     # coil | discrete | holding | input
//! address = 0
//! type = "float32"         # bool | int8 | uint8 | int16 | uint16 | int32 | uint32 | int64 | uint64
//!                          # | float16 | float32 | float64 | string
//! order = "CDAB"           # ABCD (default) | DCBA | BADC | CDAB; 8-letter and AB/BA forms too
//! scale = 0.1              # value * scale + offset
//! offset = 0.0
//! ```
//!
//! The `fields` option takes the same tables inline (`{ name = "t", register = "holding", … },
//! { … }`), so a map can live in the SQL file. Everything is checked when the source is created:
//! a typo in a map must not surface as a wrong value at 3 a.m.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::error::ModbusError;

/// The four Modbus data tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegisterKind {
    Coil,
    Discrete,
    Holding,
    Input,
}

impl RegisterKind {
    /// Coils and discrete inputs are single bits; holding and input registers are 16-bit words.
    pub fn is_bit(self) -> bool {
        matches!(self, RegisterKind::Coil | RegisterKind::Discrete)
    }

    /// The most items one read request may ask for (Modbus application protocol §6.1–6.4).
    pub fn max_per_request(self) -> u16 {
        if self.is_bit() { 2000 } else { 125 }
    }

    pub fn name(self) -> &'static str {
        match self {
            RegisterKind::Coil => "coil",
            RegisterKind::Discrete => "discrete",
            RegisterKind::Holding => "holding",
            RegisterKind::Input => "input",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "coil" | "coils" => RegisterKind::Coil,
            "discrete" | "discrete_input" | "discrete_inputs" => RegisterKind::Discrete,
            "holding" | "holding_register" | "holding_registers" => RegisterKind::Holding,
            "input" | "input_register" | "input_registers" => RegisterKind::Input,
            _ => return None,
        })
    }
}

/// How a field's registers are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    /// One byte of a register (`byte = "low"` (default) or `"high"`).
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    /// IEEE 754 half precision, one register.
    Float16,
    Float32,
    Float64,
    String,
}

impl FieldType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "bool" | "boolean" | "bit" => FieldType::Bool,
            "int8" | "i8" => FieldType::Int8,
            "uint8" | "u8" => FieldType::UInt8,
            "int16" | "i16" => FieldType::Int16,
            "uint16" | "u16" => FieldType::UInt16,
            "int32" | "i32" => FieldType::Int32,
            "uint32" | "u32" => FieldType::UInt32,
            "int64" | "i64" => FieldType::Int64,
            "uint64" | "u64" => FieldType::UInt64,
            "float16" | "f16" | "half" => FieldType::Float16,
            "float32" | "f32" | "float" => FieldType::Float32,
            "float64" | "f64" | "double" => FieldType::Float64,
            "string" => FieldType::String,
            _ => return None,
        })
    }

    /// Registers a value of this type spans (strings: `length`).
    fn words(self) -> u16 {
        match self {
            FieldType::Bool | FieldType::Int8 | FieldType::UInt8 | FieldType::Int16 | FieldType::UInt16 | FieldType::Float16 => 1,
            FieldType::Int32 | FieldType::UInt32 | FieldType::Float32 => 2,
            FieldType::Int64 | FieldType::UInt64 | FieldType::Float64 => 4,
            FieldType::String => 0,
        }
    }

    pub fn is_numeric(self) -> bool {
        !matches!(self, FieldType::Bool | FieldType::String)
    }
}

/// Byte order of a multi-register value, as the letters of the big-endian value `ABCD` appear
/// in the registers: word order (`CDAB`: low word first) and byte order within each word
/// (`BADC`: low byte first), independently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WordOrder {
    pub low_word_first: bool,
    pub low_byte_first: bool,
}

impl WordOrder {
    fn parse(text: &str) -> Option<Self> {
        let (low_word_first, low_byte_first) = match text.to_ascii_uppercase().as_str() {
            "ABCD" | "ABCDEFGH" | "AB" | "BIG" => (false, false),
            "CDAB" | "GHEFCDAB" => (true, false),
            "BADC" | "BADCFEHG" | "BA" => (false, true),
            "DCBA" | "HGFEDCBA" | "LITTLE" => (true, true),
            _ => return None,
        };
        Some(WordOrder { low_word_first, low_byte_first })
    }
}

/// One field of the map, validated, with a 0-based address.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub kind: RegisterKind,
    pub address: u16,
    pub ty: FieldType,
    pub order: WordOrder,
    pub scale: f64,
    pub offset: f64,
    /// Registers (or bits) the field spans.
    pub count: u16,
    /// For `bool` in a register: the bit (0 = least significant); `None` means "register ≠ 0".
    pub bit: Option<u8>,
    /// For `int8`/`uint8`: the register's high byte rather than its low one.
    pub high_byte: bool,
}

impl Field {
    /// Whether `scale`/`offset` change the value (which then becomes a DOUBLE).
    pub fn is_scaled(&self) -> bool {
        self.scale != 1.0 || self.offset != 0.0
    }
}

/// A validated register map.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisterMap {
    pub fields: Vec<Field>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    #[serde(default)]
    base: Option<u32>,
    #[serde(default)]
    field: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldSpec {
    name: String,
    register: String,
    address: u32,
    #[serde(rename = "type")]
    ty: Option<String>,
    order: Option<String>,
    scale: Option<f64>,
    offset: Option<f64>,
    length: Option<u32>,
    bit: Option<u32>,
    byte: Option<String>,
}

impl RegisterMap {
    /// Parses a map file's text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ModbusError> {
        let file: MapFile = toml::from_str(text).map_err(|e| ModbusError::map(origin, e.to_string()))?;
        Self::build(file, origin)
    }

    /// Parses the `fields` option: the map's `[[field]]` tables as a comma-separated list of
    /// inline tables, optionally wrapped in `[ … ]`.
    pub fn from_inline(text: &str) -> Result<Self, ModbusError> {
        let trimmed = text.trim();
        let list = if trimmed.starts_with('[') { trimmed.to_string() } else { format!("[{trimmed}]") };
        Self::from_toml(&format!("field = {list}"), "option 'fields'")
    }

    fn build(file: MapFile, origin: &str) -> Result<Self, ModbusError> {
        let base = match file.base {
            None | Some(0) => 0,
            Some(1) => 1,
            Some(b) => return Err(ModbusError::map(origin, format!("base = {b}: must be 0 or 1"))),
        };
        if file.field.is_empty() {
            return Err(ModbusError::map(origin, "has no [[field]]"));
        }
        let mut names = BTreeSet::new();
        let mut fields = Vec::with_capacity(file.field.len());
        for spec in file.field {
            let err = |m: String| ModbusError::map(origin, format!("field '{}': {m}", spec.name));
            if spec.name.trim().is_empty() {
                return Err(ModbusError::map(origin, "a field has an empty name"));
            }
            if !names.insert(spec.name.to_lowercase()) {
                return Err(err("appears twice".into()));
            }
            let kind = RegisterKind::parse(&spec.register)
                .ok_or_else(|| err(format!("register '{}' is not one of coil, discrete, holding, input", spec.register)))?;
            let ty = match &spec.ty {
                None if kind.is_bit() => FieldType::Bool,
                None => FieldType::UInt16,
                Some(t) => FieldType::parse(t).ok_or_else(|| {
                    err(format!(
                        "type '{t}' is not one of bool, int8, uint8, int16, uint16, int32, uint32, int64, uint64, float16, float32, float64, string"
                    ))
                })?,
            };
            if kind.is_bit() && ty != FieldType::Bool {
                return Err(err(format!("a {} is a single bit: its type must be bool", kind.name())));
            }
            let order = match &spec.order {
                None => WordOrder::default(),
                Some(_) if kind.is_bit() => return Err(err("'order' applies to registers, not bits".into())),
                Some(o) => WordOrder::parse(o).ok_or_else(|| err(format!("order '{o}' is not one of ABCD, DCBA, BADC, CDAB")))?,
            };
            if !ty.is_numeric() && (spec.scale.is_some() || spec.offset.is_some()) {
                return Err(err("'scale' and 'offset' apply to numeric types only".into()));
            }
            let scale = spec.scale.unwrap_or(1.0);
            let offset = spec.offset.unwrap_or(0.0);
            if !scale.is_finite() || !offset.is_finite() {
                return Err(err("'scale' and 'offset' must be finite numbers".into()));
            }
            let count = match (ty, spec.length) {
                (FieldType::String, Some(l)) if (1..=125).contains(&l) => l as u16,
                (FieldType::String, Some(l)) => return Err(err(format!("length = {l}: a string spans 1 to 125 registers"))),
                (FieldType::String, None) => return Err(err("a string needs 'length' (registers, 2 characters each)".into())),
                (_, Some(_)) => return Err(err("'length' applies to strings only".into())),
                (_, None) => ty.words(),
            };
            if ty == FieldType::String && (order.low_word_first) {
                return Err(err("a string's order is ABCD (high byte first) or BADC (low byte first)".into()));
            }
            let bit = match spec.bit {
                None => None,
                Some(_) if kind.is_bit() || ty != FieldType::Bool => {
                    return Err(err("'bit' picks one bit of a register for a bool field".into()));
                }
                Some(b) if b < 16 => Some(b as u8),
                Some(b) => return Err(err(format!("bit = {b}: a register has bits 0-15"))),
            };
            let high_byte = match spec.byte.as_deref().map(str::to_ascii_lowercase) {
                None => false,
                Some(_) if !matches!(ty, FieldType::Int8 | FieldType::UInt8) => {
                    return Err(err("'byte' picks one byte of a register for int8/uint8 fields".into()));
                }
                Some(b) if b == "low" => false,
                Some(b) if b == "high" => true,
                Some(b) => return Err(err(format!("byte = '{b}': 'low' or 'high'"))),
            };
            if spec.address < base {
                return Err(err(format!("address {} is below base = {base}", spec.address)));
            }
            let address = spec.address - base;
            if address + u32::from(count) > 65536 {
                return Err(err(format!("address {} + {count} registers runs past the 65536 of a table", spec.address)));
            }
            fields.push(Field { name: spec.name, kind, address: address as u16, ty, order, scale, offset, count, bit, high_byte });
        }
        Ok(RegisterMap { fields })
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_example() {
        let map = RegisterMap::from_toml(
            r#"
            [[field]]
            name = "temperature"
            register = "holding"
            address = 0
            type = "float32"
            order = "CDAB"
            scale = 0.1
            offset = 0.0
            [[field]]
            name = "running"
            register = "coil"
            address = 3
            [[field]]
            name = "tag"
            register = "input"
            address = 10
            type = "string"
            length = 8
            "#,
            "press.toml",
        )
        .unwrap();
        let t = &map.fields[0];
        assert_eq!((t.kind, t.address, t.ty, t.count), (RegisterKind::Holding, 0, FieldType::Float32, 2));
        assert_eq!(t.order, WordOrder { low_word_first: true, low_byte_first: false });
        assert!(t.is_scaled());
        assert_eq!(map.fields[1].ty, FieldType::Bool);
        assert_eq!(map.fields[2].count, 8);
    }

    #[test]
    fn base_one_shifts_addresses() {
        let map = RegisterMap::from_toml("base = 1\n[[field]]\nname='a'\nregister='holding'\naddress=1", "m").unwrap();
        assert_eq!(map.fields[0].address, 0);
        let err = RegisterMap::from_toml("base = 1\n[[field]]\nname='a'\nregister='holding'\naddress=0", "m").unwrap_err();
        assert!(err.to_string().contains("below base"), "{err}");
    }

    #[test]
    fn inline_fields_mirror_the_file() {
        let map = RegisterMap::from_inline(
            "{ name = 'p', register = 'input', address = 2, type = 'int32', order = 'DCBA' }, { name = 'c', register = 'coil', address = 0 }",
        )
        .unwrap();
        assert_eq!(map.fields.len(), 2);
        assert_eq!(map.fields[0].order, WordOrder { low_word_first: true, low_byte_first: true });
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("[[field]]\nname='a'\nregister='holdin'\naddress=0", "register 'holdin'"),
            ("[[field]]\nname='a'\nregister='coil'\naddress=0\ntype='int16'", "single bit"),
            ("[[field]]\nname='a'\nregister='holding'\naddress=0\ntype='string'", "needs 'length'"),
            ("[[field]]\nname='a'\nregister='holding'\naddress=65535\ntype='int32'", "runs past"),
            ("[[field]]\nname='a'\nregister='holding'\naddress=0\norder='ACBD'", "order 'ACBD'"),
            ("[[field]]\nname='a'\nregister='holding'\naddress=0\nadress=1", "unknown field"),
            ("[[field]]\nname='a'\nregister='holding'\naddress=0\n[[field]]\nname='A'\nregister='input'\naddress=0", "twice"),
            ("[[field]]\nname='a'\nregister='holding'\naddress=0\ntype='string'\nlength=2\nscale=2.0", "numeric types only"),
            ("[[field]]\nname='a'\nregister='holding'\naddress=0\ntype='bool'\nbit=16", "bits 0-15"),
            ("[[field]]\nname='a'\nregister='holding'\naddress=0\ntype='int16'\nbyte='high'", "int8/uint8"),
            ("[[field]]\nname='a'\nregister='holding'\naddress=0\ntype='int8'\nbyte='middle'", "'low' or 'high'"),
            ("base = 0", "no [[field]]"),
        ];
        for (text, want) in cases {
            let err = RegisterMap::from_toml(text, "m.toml").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
