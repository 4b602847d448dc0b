//! `illunare modbus scan`: which unit ids answer on an endpoint and which registers they serve.
//!
//! Commissioning a plant starts with a PLC whose register documentation is missing or wrong.
//! A unit "answers" when it replies to a read at all — an exception is a reply — and does not
//! when the request times out or a gateway says the unit is unreachable (exceptions 0A/0B). For each answering unit and each data table, the scan reads the
//! requested address range in protocol-sized requests and bisects any request the device
//! refuses, down to single registers, so the report lists exactly the readable ranges. The
//! starter map it can write names each readable item after its table and address
//! (`holding_12`, type `uint16`; `coil_3`, `bool`) for the user to rename and retype.

use std::time::Duration;

use crate::device::{Connection, Failure};
use crate::error::ModbusError;
use crate::map::RegisterKind;

#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Unit ids to try, inclusive.
    pub units: (u8, u8),
    /// 0-based addresses to probe in each table, inclusive.
    pub registers: (u16, u16),
    pub timeout: Duration,
}

/// One answering unit and its readable ranges: `(table, first, last)` inclusive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitReport {
    pub unit: u8,
    pub ranges: Vec<(RegisterKind, u16, u16)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanReport {
    pub endpoint: String,
    pub units: Vec<UnitReport>,
}

/// Parses `1-247` or `5` into an inclusive range.
pub fn parse_range<T: std::str::FromStr + PartialOrd + Copy>(text: &str) -> Result<(T, T), String> {
    let parse = |s: &str| s.trim().parse::<T>().map_err(|_| format!("'{s}' is not a number in range"));
    let (lo, hi) = match text.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let v = parse(text)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(format!("range '{text}' is empty"));
    }
    Ok((lo, hi))
}

const KINDS: [RegisterKind; 4] = [RegisterKind::Coil, RegisterKind::Discrete, RegisterKind::Holding, RegisterKind::Input];

/// Scans `endpoint` (`host:port`).
pub async fn scan(endpoint: &str, options: &ScanOptions) -> Result<ScanReport, ModbusError> {
    let mut conn = Connection::new(endpoint, options.timeout);
    let mut units = Vec::new();
    for unit in options.units.0..=options.units.1 {
        match conn.read(unit, RegisterKind::Holding, options.registers.0, 1).await {
            Err(Failure::Exception(0x0A | 0x0B)) => continue,
            Ok(_) | Err(Failure::Exception(_)) => {}
            Err(Failure::Disconnected(e)) if units.is_empty() && unit == options.units.0 => {
                return Err(ModbusError::Scan(format!("cannot connect to {endpoint}: {e}")));
            }
            Err(_) => continue,
        }
        let mut ranges = Vec::new();
        for kind in KINDS {
            let mut found = Vec::new();
            let (lo, hi) = (u32::from(options.registers.0), u32::from(options.registers.1));
            let step = u32::from(kind.max_per_request());
            let mut start = lo;
            while start <= hi {
                let end = (start + step - 1).min(hi);
                probe(&mut conn, unit, kind, start as u16, end as u16, &mut found).await;
                start = end + 1;
            }
            ranges.extend(merge(found).into_iter().map(|(a, b)| (kind, a, b)));
        }
        units.push(UnitReport { unit, ranges });
    }
    Ok(ScanReport { endpoint: endpoint.to_string(), units })
}

/// Records the readable parts of `first..=last`, bisecting refused requests.
async fn probe(conn: &mut Connection, unit: u8, kind: RegisterKind, first: u16, last: u16, found: &mut Vec<(u16, u16)>) {
    let mut pending = vec![(first, last)];
    while let Some((a, b)) = pending.pop() {
        match conn.read(unit, kind, a, b - a + 1).await {
            Ok(_) => found.push((a, b)),
            Err(Failure::Exception(_) | Failure::Protocol(_)) if a < b => {
                let mid = a + (b - a) / 2;
                pending.push((mid + 1, b));
                pending.push((a, mid));
            }
            Err(_) => {}
        }
    }
}

fn merge(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// A register map with one field per readable item of `unit`, to rename and retype.
pub fn starter_map(report: &ScanReport, unit: &UnitReport) -> String {
    let mut out = format!(
        "# Starter register map written by `illunare modbus scan {}` for unit {}.\n\
         # Every readable item is a uint16 register or a bool bit: rename the fields, merge\n\
         # multi-register values (type = \"float32\", order = \"CDAB\", …) and delete the rest.\n",
        report.endpoint, unit.unit
    );
    for (kind, first, last) in &unit.ranges {
        for address in *first..=*last {
            let ty = if kind.is_bit() { "bool" } else { "uint16" };
            out.push_str(&format!(
                "\n[[field]]\nname = \"{k}_{address}\"\nregister = \"{k}\"\naddress = {address}\ntype = \"{ty}\"\n",
                k = kind.name()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::RegisterMap;

    #[test]
    fn ranges_parse_and_merge() {
        assert_eq!(parse_range::<u8>("1-247"), Ok((1, 247)));
        assert_eq!(parse_range::<u16>("5"), Ok((5, 5)));
        assert!(parse_range::<u8>("9-3").is_err());
        assert!(parse_range::<u8>("1-300").is_err());
        assert_eq!(merge(vec![(5, 9), (0, 3), (4, 4), (20, 21)]), vec![(0, 9), (20, 21)]);
    }

    #[test]
    fn starter_map_is_a_valid_map() {
        let unit = UnitReport { unit: 1, ranges: vec![(RegisterKind::Coil, 0, 1), (RegisterKind::Holding, 10, 12)] };
        let report = ScanReport { endpoint: "127.0.0.1:502".into(), units: vec![unit.clone()] };
        let map = RegisterMap::from_toml(&starter_map(&report, &unit), "starter").unwrap();
        assert_eq!(map.fields.len(), 5);
        assert_eq!(map.fields[2].name, "holding_10");
    }
}
