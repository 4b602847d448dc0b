//! NUMERIC in Postgres' binary form (base-10000 digits), to and from its decimal text: what
//! binary clients (tokio-postgres, pgx) exchange for DECIMAL columns and parameters.
//!
//! Written here rather than through `rust_decimal`, whose 28 digits cannot hold every Arrow
//! Decimal128 (38 digits).

use bytes::{BufMut, BytesMut};

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;

#[derive(Debug, thiserror::Error)]
#[error("invalid numeric value '{0}'")]
pub(crate) struct BadNumeric(String);

/// Appends decimal `text` (`-12.340`, `NaN`) in binary NUMERIC form.
pub(crate) fn encode(text: &str, out: &mut BytesMut) -> Result<(), BadNumeric> {
    let bad = || BadNumeric(text.to_string());
    if text.eq_ignore_ascii_case("nan") {
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(NAN);
        out.put_u16(0);
        return Ok(());
    }
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (NEGATIVE, rest),
        None => (POSITIVE, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int_part.is_empty() && frac_part.is_empty() || !int_part.chars().chain(frac_part.chars()).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let dscale = u16::try_from(frac_part.len()).map_err(|_| bad())?;
    // Pad to whole groups of four digits on both sides of the point.
    let int_pad = (4 - int_part.len() % 4) % 4;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let digits: String = "0".repeat(int_pad) + int_part + frac_part + &"0".repeat(frac_pad);
    let mut groups: Vec<i16> = digits.as_bytes().chunks(4).map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + (d - b'0') as i16)).collect();
    let mut weight = ((int_pad + int_part.len()) / 4) as i32 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i16(i16::try_from(groups.len()).map_err(|_| bad())?);
    out.put_i16(i16::try_from(weight).map_err(|_| bad())?);
    out.put_u16(if groups.is_empty() { POSITIVE } else { sign });
    out.put_u16(dscale);
    for g in groups {
        out.put_i16(g);
    }
    Ok(())
}

/// The decimal text of a binary NUMERIC.
pub(crate) fn decode(raw: &[u8]) -> Result<String, BadNumeric> {
    let bad = || BadNumeric(format!("{} bytes of binary numeric", raw.len()));
    let word = |i: usize| raw.get(i * 2..i * 2 + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(bad);
    let ndigits = word(0)? as usize;
    let weight = word(1)? as i16 as i32;
    let sign = word(2)?;
    let dscale = word(3)? as usize;
    if sign == NAN {
        return Ok("NaN".into());
    }
    let groups: Vec<u16> = (0..ndigits).map(|i| word(4 + i)).collect::<Result<_, _>>()?;
    if groups.iter().any(|&g| g > 9999) {
        return Err(bad());
    }
    // Integer part: groups with exponent weight … 0.
    let mut int_part = String::new();
    for e in (0..=weight).rev() {
        let index = weight - e;
        let g = groups.get(index as usize).copied().unwrap_or(0);
        if int_part.is_empty() {
            if g != 0 {
                int_part = g.to_string();
            }
        } else {
            int_part.push_str(&format!("{g:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    // Fraction: groups with exponent -1, -2, …, cut to dscale digits.
    let mut frac = String::new();
    let mut e = -1;
    while frac.len() < dscale {
        let index = weight - e;
        let g = if index >= 0 { groups.get(index as usize).copied().unwrap_or(0) } else { 0 };
        frac.push_str(&format!("{g:04}"));
        e -= 1;
    }
    frac.truncate(dscale);
    let sign = if sign == NEGATIVE { "-" } else { "" };
    Ok(if frac.is_empty() { format!("{sign}{int_part}") } else { format!("{sign}{int_part}.{frac}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut out = BytesMut::new();
        encode(text, &mut out).expect("encodes");
        decode(&out).expect("decodes")
    }

    #[test]
    fn numerics_round_trip() {
        for text in ["0", "1", "-1", "12.340", "0.0001", "-0.5", "10000", "123456789.123456789", "99999999999999999999999999999999999999", "NaN", "0.00"] {
            assert_eq!(round_trip(text), text, "{text}");
        }
    }

    #[test]
    fn encoding_matches_postgres() {
        // 12.34 in Postgres: ndigits 2, weight 0, sign +, dscale 2, digits [12, 3400].
        let mut out = BytesMut::new();
        encode("12.34", &mut out).expect("encodes");
        assert_eq!(&out[..], &[0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x0d, 0x48]);
    }

    #[test]
    fn garbage_is_refused() {
        let mut out = BytesMut::new();
        assert!(encode("12a", &mut out).is_err());
        assert!(encode("", &mut out).is_err());
        assert!(decode(&[0, 1]).is_err());
    }
}
