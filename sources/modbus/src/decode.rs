//! Turning raw registers into field values: byte order, sign, IEEE 754, strings, scale/offset.
//!
//! Pure functions of the map field and the words read, so every type and byte order is checked
//! by unit tests here and against a real server in `tests/modbus_interop.rs`.

use crate::map::{Field, FieldType, WordOrder};

/// A decoded field value, before it is cast to the declared column type.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
}

/// The big-endian bytes of the value held in `words`, undoing the field's word and byte order.
fn value_bytes(words: &[u16], order: WordOrder) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(words.len() * 2);
    let ordered: Box<dyn Iterator<Item = &u16>> =
        if order.low_word_first { Box::new(words.iter().rev()) } else { Box::new(words.iter()) };
    for w in ordered {
        let [hi, lo] = w.to_be_bytes();
        if order.low_byte_first {
            bytes.extend([lo, hi]);
        } else {
            bytes.extend([hi, lo]);
        }
    }
    bytes
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Decodes a register field from exactly `field.count` words.
pub fn decode_words(field: &Field, words: &[u16]) -> Value {
    debug_assert_eq!(words.len(), usize::from(field.count));
    let raw = match field.ty {
        FieldType::Bool => {
            let w = words[0];
            return Value::Bool(match field.bit {
                Some(b) => (w >> b) & 1 == 1,
                None => w != 0,
            });
        }
        FieldType::String => {
            let bytes: Vec<u8> = words
                .iter()
                .flat_map(|w| {
                    let [hi, lo] = w.to_be_bytes();
                    if field.order.low_byte_first { [lo, hi] } else { [hi, lo] }
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            return Value::Str(text.trim_end_matches(['\0', ' ']).to_string());
        }
        _ => be_u64(&value_bytes(words, field.order)),
    };
    let byte = || {
        let w = raw as u16;
        if field.high_byte { (w >> 8) as u8 } else { w as u8 }
    };
    let native = match field.ty {
        FieldType::Int8 => Value::Int(i64::from(byte() as i8)),
        FieldType::UInt8 => Value::UInt(u64::from(byte())),
        FieldType::Int16 => Value::Int(i64::from(raw as u16 as i16)),
        FieldType::UInt16 => Value::UInt(raw),
        FieldType::Int32 => Value::Int(i64::from(raw as u32 as i32)),
        FieldType::UInt32 => Value::UInt(raw),
        FieldType::Int64 => Value::Int(raw as i64),
        FieldType::UInt64 => Value::UInt(raw),
        FieldType::Float16 => Value::Float(half::f16::from_bits(raw as u16).to_f64()),
        FieldType::Float32 => Value::Float(f64::from(f32::from_bits(raw as u32))),
        FieldType::Float64 => Value::Float(f64::from_bits(raw)),
        FieldType::Bool | FieldType::String => unreachable!("handled above"),
    };
    scaled(field, native)
}

/// `value * scale + offset`, as a float, when the field asks for it.
fn scaled(field: &Field, value: Value) -> Value {
    if !field.is_scaled() {
        return value;
    }
    let x = match value {
        Value::Int(i) => i as f64,
        Value::UInt(u) => u as f64,
        Value::Float(f) => f,
        other => return other,
    };
    Value::Float(x * field.scale + field.offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::RegisterMap;

    fn field(ty: &str, order: &str, extra: &str) -> Field {
        let text = format!("[[field]]\nname='f'\nregister='holding'\naddress=0\ntype='{ty}'\norder='{order}'\n{extra}");
        RegisterMap::from_toml(&text, "t").unwrap().fields.remove(0)
    }

    /// The registers a device stores for the big-endian bytes `be` in the given order.
    fn encode(be: &[u8], order: &str) -> Vec<u16> {
        let mut words: Vec<u16> = be.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        let (low_word_first, low_byte_first) = match order {
            "ABCD" => (false, false),
            "CDAB" => (true, false),
            "BADC" => (false, true),
            _ => (true, true),
        };
        if low_word_first {
            words.reverse();
        }
        if low_byte_first {
            words = words.into_iter().map(u16::swap_bytes).collect();
        }
        words
    }

    #[test]
    fn every_type_in_every_order() {
        for order in ["ABCD", "CDAB", "BADC", "DCBA"] {
            let f = field("float32", order, "");
            assert_eq!(decode_words(&f, &encode(&(-12.5f32).to_be_bytes(), order)), Value::Float(-12.5), "{order}");
            let f = field("float64", order, "");
            assert_eq!(decode_words(&f, &encode(&1234.5678f64.to_be_bytes(), order)), Value::Float(1234.5678), "{order}");
            let f = field("int32", order, "");
            assert_eq!(decode_words(&f, &encode(&(-123_456i32).to_be_bytes(), order)), Value::Int(-123_456), "{order}");
            let f = field("uint32", order, "");
            assert_eq!(decode_words(&f, &encode(&4_000_000_000u32.to_be_bytes(), order)), Value::UInt(4_000_000_000), "{order}");
            let f = field("int64", order, "");
            assert_eq!(decode_words(&f, &encode(&(-9_000_000_000_000i64).to_be_bytes(), order)), Value::Int(-9_000_000_000_000));
            let f = field("uint64", order, "");
            assert_eq!(decode_words(&f, &encode(&u64::MAX.to_be_bytes(), order)), Value::UInt(u64::MAX));
        }
        assert_eq!(decode_words(&field("int16", "ABCD", ""), &[0xFFFE]), Value::Int(-2));
        assert_eq!(decode_words(&field("int16", "BA", ""), &[0xFEFF]), Value::Int(-2));
        assert_eq!(decode_words(&field("uint16", "ABCD", ""), &[0xFFFE]), Value::UInt(65534));
        assert_eq!(decode_words(&field("int8", "ABCD", "byte = 'high'"), &[0xFB2E]), Value::Int(-5));
        assert_eq!(decode_words(&field("uint8", "ABCD", ""), &[0xFB2E]), Value::UInt(0x2E));
        assert_eq!(decode_words(&field("uint8", "BA", "byte = 'high'"), &[0xFB2E]), Value::UInt(0x2E));
        assert_eq!(decode_words(&field("float16", "ABCD", ""), &[0xC100]), Value::Float(-2.5));
    }

    #[test]
    fn scale_offset_bits_and_strings() {
        let f = field("int16", "ABCD", "scale = 0.1\noffset = -40.0");
        match decode_words(&f, &[0xFFF6]) {
            Value::Float(x) => assert!((x - -41.0).abs() < 1e-9, "{x}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(decode_words(&field("bool", "ABCD", "bit = 3"), &[0b1000]), Value::Bool(true));
        assert_eq!(decode_words(&field("bool", "ABCD", "bit = 2"), &[0b1000]), Value::Bool(false));
        assert_eq!(decode_words(&field("bool", "ABCD", ""), &[7]), Value::Bool(true));
        let s = field("string", "ABCD", "length = 3");
        assert_eq!(decode_words(&s, &[u16::from_be_bytes(*b"PR"), u16::from_be_bytes(*b"ES"), 0]), Value::Str("PRES".into()));
        let s = field("string", "BADC", "length = 2");
        assert_eq!(decode_words(&s, &[u16::from_be_bytes(*b"RP"), u16::from_be_bytes(*b"SE")]), Value::Str("PRES".into()));
    }
}
