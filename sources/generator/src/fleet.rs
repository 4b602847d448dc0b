//! The `fleet` kind: vehicle telemetry for session-window and geo pipelines.
//!
//! Row `i` is a reading of vehicle `i % vehicles` at the row's event time. Everything is a
//! function of (seed, vehicle, event time), so readings are consistent across rows and splits:
//! - each vehicle works one shift a day (10–13 h, starting at a vehicle-specific time of day
//!   ± 30 min: a 24/7 fleet, so about half the vehicles are on shift at any moment); a shift is
//!   driving segments (20–100 min at a segment speed of mostly 40–90 km/h) separated by breaks
//!   (5–25 min, a longer 30–50 min one every third); the engine is on only while driving;
//! - a vehicle drives a closed loop around its depot (in a Brazilian city), covering a whole
//!   number of laps per shift, so consecutive readings are close and it parks at the depot
//!   between shifts; during breaks it stays where it stopped;
//! - the speed of a reading is the segment speed with noise and occasional traffic slowdowns,
//!   0 whenever the engine is off;
//! - a vehicle has its own driver except on one weekday, when a relief driver takes it.

use std::collections::HashMap;

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, StringBuilder};
use arrow::datatypes::DataType;

use crate::rng::{self, Rng};
use crate::transactions::{BRAZILIAN_CITIES, CITIES};
use crate::{Rows, TimeAxis};

/// The kind's columns (without `ts`), with native types.
pub(crate) const COLUMNS: &[(&str, DataType)] = &[
    ("vehicle", DataType::Utf8),
    ("driver", DataType::Utf8),
    ("speed", DataType::Float64),
    ("lat", DataType::Float64),
    ("lon", DataType::Float64),
    ("engine_on", DataType::Boolean),
];

pub(crate) const DEFAULT_VEHICLES: u64 = 50;

const DAY: f64 = 86_400.0;
const MAX_SPEED: f64 = 120.0;

/// The fixed attributes of one vehicle.
struct Vehicle {
    depot_lat: f64,
    depot_lon: f64,
    /// Loop half-width and depth (km), a wiggle amplitude (km), and its rotation.
    a: f64,
    b: f64,
    wiggle: f64,
    rot_sin: f64,
    rot_cos: f64,
    /// Approximate loop length (km).
    perimeter: f64,
    /// Time of day the shift usually starts (s).
    shift_offset: f64,
}

/// One driving segment of a shift (a break follows until the next segment starts).
struct Segment {
    /// Start, relative to the shift start (s).
    start: f64,
    drive: f64,
    /// km/h.
    speed: f64,
    /// Distance along the route at the segment start (km).
    dist0: f64,
}

struct Shift {
    start: f64,
    len: f64,
    segments: Vec<Segment>,
    total_km: f64,
    laps: f64,
}

/// Where a vehicle is at some instant.
struct State {
    engine_on: bool,
    /// Nominal speed of the segment (km/h), 0 when parked.
    speed: f64,
    /// Angle along its loop (0 = depot).
    theta: f64,
    /// The day of the shift this reading belongs to (current or last), for the driver.
    day: i64,
}

pub(crate) struct Fleet {
    row_key: u64,
    vehicle_key: u64,
    shift_key: u64,
    vehicles: u64,
    /// Weekday on which vehicle 0 has its relief driver (others shift by their id).
    relief_offset: u64,
    vehicle_width: usize,
    driver_width: usize,
}

impl Fleet {
    pub(crate) fn new(seed: u64, vehicles: u64) -> Self {
        let relief = vehicles.div_ceil(7);
        Fleet {
            row_key: rng::stream_key(seed, "fleet/row"),
            vehicle_key: rng::stream_key(seed, "fleet/vehicle"),
            shift_key: rng::stream_key(seed, "fleet/shift"),
            vehicles,
            relief_offset: rng::stream_key(seed, "fleet/relief") % 7,
            vehicle_width: digits(vehicles).max(3),
            driver_width: digits(vehicles.saturating_add(relief)).max(3),
        }
    }

    fn vehicle(&self, v: u64) -> Vehicle {
        let mut r = Rng::new(self.vehicle_key, v);
        let weights: Vec<f64> = CITIES[..BRAZILIAN_CITIES].iter().map(|c| c.weight).collect();
        let total: f64 = weights.iter().sum();
        let city = &CITIES[rng::pick_weighted(&weights, total, r.unit())];
        let (dx, dy) = r.normal_pair();
        let depot_lat = city.lat + 0.03 * dy;
        let depot_lon = city.lon + 0.03 * dx;
        let a = r.range(3.0, 12.0);
        let b = r.range(3.0, 12.0);
        let wiggle = r.range(0.0, 0.15) * a.min(b);
        let (rot_sin, rot_cos) = r.range(0.0, std::f64::consts::TAU).sin_cos();
        // Ramanujan's ellipse perimeter (semi-axes a and b); the wiggle adds a little.
        let perimeter = std::f64::consts::PI * (3.0 * (a + b) - ((3.0 * a + b) * (a + 3.0 * b)).sqrt()) + 4.0 * wiggle;
        let shift_offset = r.range(0.0, DAY);
        Vehicle { depot_lat, depot_lon, a, b, wiggle, rot_sin, rot_cos, perimeter, shift_offset }
    }

    /// Start (absolute seconds) and length of vehicle `v`'s shift of day `d`.
    fn shift_bounds(&self, v: u64, veh: &Vehicle, d: i64) -> (f64, f64) {
        let mut r = Rng::new(rng::hash2(self.shift_key, v), d as u64);
        let jitter = r.range(-1800.0, 1800.0);
        let len = r.range(10.0, 13.0) * 3600.0;
        (d as f64 * DAY + veh.shift_offset + jitter, len)
    }

    fn shift(&self, v: u64, veh: &Vehicle, d: i64) -> Shift {
        let (start, len) = self.shift_bounds(v, veh, d);
        let mut r = Rng::new(rng::hash2(self.shift_key, v ^ 0x5EED_0F5E_6D17_u64), d as u64);
        let mut segments = Vec::with_capacity(16);
        let (mut t, mut dist) = (0.0, 0.0);
        let mut k = 0u32;
        while t < len && k < 1000 {
            let drive = (r.range(20.0, 100.0) * 60.0).min(len - t);
            let speed = (65.0 + 12.0 * r.normal()).clamp(25.0, 110.0);
            let brk = if k % 3 == 2 { r.range(30.0, 50.0) } else { r.range(5.0, 25.0) } * 60.0;
            segments.push(Segment { start: t, drive, speed, dist0: dist });
            dist += speed * drive / 3600.0;
            t += drive + brk;
            k += 1;
        }
        let laps = (dist / veh.perimeter.max(0.1)).round().max(1.0);
        Shift { start, len, segments, total_km: dist, laps }
    }

    fn state(&self, v: u64, veh: &Vehicle, t: f64, shifts: &mut HashMap<(u64, i64), Shift>) -> State {
        let d0 = (t / DAY).floor() as i64;
        for d in [d0 + 1, d0, d0 - 1] {
            let (start, len) = self.shift_bounds(v, veh, d);
            if t < start || t >= start + len {
                continue;
            }
            let shift = shifts.entry((v, d)).or_insert_with(|| self.shift(v, veh, d));
            let rel = t - shift.start;
            let at = shift.segments.partition_point(|s| s.start <= rel).saturating_sub(1);
            let Some(seg) = shift.segments.get(at) else { break };
            let into = (rel - seg.start).max(0.0);
            let driving = into < seg.drive && rel < shift.len;
            let dist = seg.dist0 + seg.speed * into.min(seg.drive) / 3600.0;
            let theta =
                if shift.total_km > 0.0 { std::f64::consts::TAU * shift.laps * (dist / shift.total_km) } else { 0.0 };
            return State { engine_on: driving, speed: if driving { seg.speed } else { 0.0 }, theta, day: d };
        }
        // Off shift: parked at the depot; the driver is the one of the last shift that ended.
        let day = [d0 + 1, d0, d0 - 1]
            .into_iter()
            .find(|&d| {
                let (start, len) = self.shift_bounds(v, veh, d);
                start + len <= t
            })
            .unwrap_or(d0 - 2);
        State { engine_on: false, speed: 0.0, theta: 0.0, day }
    }

    fn position(veh: &Vehicle, theta: f64) -> (f64, f64) {
        let x = veh.a * theta.sin() + veh.wiggle * (2.0 * theta).sin();
        let y = veh.b * (1.0 - theta.cos());
        let (xr, yr) = (x * veh.rot_cos - y * veh.rot_sin, x * veh.rot_sin + y * veh.rot_cos);
        let lat = veh.depot_lat + yr / 110.574;
        let lon = veh.depot_lon + xr / (111.320 * veh.depot_lat.to_radians().cos());
        (lat, lon)
    }

    fn driver(&self, v: u64, day: i64) -> u64 {
        let weekday = (day.rem_euclid(7)) as u64;
        if (v + self.relief_offset) % 7 == weekday {
            // Relief drivers: vehicles off the same day have distinct `v / 7`.
            self.vehicles + v / 7
        } else {
            v
        }
    }

    /// Native arrays for the wanted columns of [`COLUMNS`], `None` for the others.
    pub(crate) fn fill(&self, rows: &Rows, time: &TimeAxis, wanted: &[bool]) -> Vec<Option<ArrayRef>> {
        let n = rows.count;
        let want = |c: usize| wanted.get(c).copied().unwrap_or(false);
        let mut vehicle = want(0).then(|| StringBuilder::with_capacity(n, n * 5));
        let mut driver = want(1).then(|| StringBuilder::with_capacity(n, n * 5));
        let mut speed = want(2).then(|| Float64Builder::with_capacity(n));
        let mut lat = want(3).then(|| Float64Builder::with_capacity(n));
        let mut lon = want(4).then(|| Float64Builder::with_capacity(n));
        let mut engine_on = want(5).then(|| BooleanBuilder::with_capacity(n));
        let need_state = want(1) || want(2) || want(3) || want(4) || want(5);

        let mut vehicles: HashMap<u64, Vehicle> = HashMap::new();
        let mut shifts: HashMap<(u64, i64), Shift> = HashMap::new();
        let mut buf = [0u8; 48];

        for i in rows.indices() {
            let v = i % self.vehicles;
            if let Some(b) = vehicle.as_mut() {
                b.append_value(rng::format_id(&mut buf, "v-", v + 1, self.vehicle_width));
            }
            if !need_state {
                continue;
            }
            let veh = vehicles.entry(v).or_insert_with(|| self.vehicle(v));
            let st = self.state(v, veh, time.seconds(i), &mut shifts);

            if let Some(b) = driver.as_mut() {
                b.append_value(rng::format_id(&mut buf, "d-", self.driver(v, st.day) + 1, self.driver_width));
            }
            let mut r = Rng::new(self.row_key, i);
            let (u_traffic, u_slow, u_n1, u_n2, u_gx, u_gy) =
                (r.unit(), r.unit(), r.unit(), r.unit(), r.unit(), r.unit());
            if let Some(b) = speed.as_mut() {
                let s = if !st.engine_on {
                    0.0
                } else if u_traffic < 0.1 {
                    // Traffic or a light: crawling, sometimes stopped.
                    st.speed * 0.4 * u_slow
                } else {
                    st.speed + 7.0 * rng::normal_pair(u_n1, u_n2).0
                };
                b.append_value(rng::round_to(s.clamp(0.0, MAX_SPEED), 10.0));
            }
            if lat.is_some() || lon.is_some() {
                let (la, lo) = Self::position(veh, st.theta);
                // GPS noise of a few metres.
                let (la, lo) = (la + (u_gy - 0.5) * 6e-5, lo + (u_gx - 0.5) * 6e-5);
                if let Some(b) = lat.as_mut() {
                    b.append_value(rng::round_to(la, 1e6));
                }
                if let Some(b) = lon.as_mut() {
                    b.append_value(rng::round_to(lo, 1e6));
                }
            }
            if let Some(b) = engine_on.as_mut() {
                b.append_value(st.engine_on);
            }
        }

        fn done<B: arrow::array::ArrayBuilder>(b: Option<B>) -> Option<ArrayRef> {
            b.map(|mut b| b.finish())
        }
        vec![done(vehicle), done(driver), done(speed), done(lat), done(lon), done(engine_on)]
    }
}

fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}
