//! The `devices` kind: IoT sensor readings for windowing and anomaly-detection pipelines.
//!
//! Row `i` is metric `i % 4` of device `(i / 4) % devices` (each device reports its four
//! metrics together, devices take turns). A reading is the (device, metric) baseline, plus a
//! slow sinusoid over event time (period 10 min – 2 h, own phase), plus Gaussian noise; about
//! 0.1% of readings are spikes of several noise deviations, so anomaly queries find something.
//! Baselines, amplitudes, periods and phases are functions of (seed, device, metric).

use arrow::array::{ArrayRef, Float64Builder, StringBuilder};
use arrow::datatypes::DataType;

use crate::rng::{self, Rng};
use crate::{Rows, TimeAxis};

/// The kind's columns (without `ts`), with native types.
pub(crate) const COLUMNS: &[(&str, DataType)] =
    &[("device", DataType::Utf8), ("metric", DataType::Utf8), ("value", DataType::Float64)];

pub(crate) const DEFAULT_DEVICES: u64 = 100;

/// Metric name, baseline range, sinusoid amplitude (fraction of baseline), noise deviation,
/// and the physical bounds of a reading.
struct Metric {
    name: &'static str,
    base: (f64, f64),
    amplitude: f64,
    noise: f64,
    bounds: (f64, f64),
}

/// temperature °C, pressure bar, vibration mm/s (RMS velocity), relative humidity %.
const METRICS: [Metric; 4] = [
    Metric { name: "temperature", base: (18.0, 35.0), amplitude: 0.12, noise: 0.4, bounds: (-40.0, 125.0) },
    Metric { name: "pressure", base: (1.5, 6.0), amplitude: 0.08, noise: 0.05, bounds: (0.0, 20.0) },
    Metric { name: "vibration", base: (0.8, 4.5), amplitude: 0.25, noise: 0.25, bounds: (0.0, 50.0) },
    Metric { name: "humidity", base: (35.0, 65.0), amplitude: 0.15, noise: 1.5, bounds: (0.0, 100.0) },
];

const SPIKE_RATE: f64 = 0.001;

pub(crate) struct Devices {
    row_key: u64,
    profile_key: u64,
    devices: u64,
}

impl Devices {
    pub(crate) fn new(seed: u64, devices: u64) -> Self {
        Devices {
            row_key: rng::stream_key(seed, "devices/row"),
            profile_key: rng::stream_key(seed, "devices/profile"),
            devices,
        }
    }

    /// Native arrays for the wanted columns of [`COLUMNS`], `None` for the others.
    pub(crate) fn fill(&self, rows: &Rows, time: &TimeAxis, wanted: &[bool]) -> Vec<Option<ArrayRef>> {
        let n = rows.count;
        let want = |c: usize| wanted.get(c).copied().unwrap_or(false);
        let mut device = want(0).then(|| StringBuilder::with_capacity(n, n * 8));
        let mut metric = want(1).then(|| StringBuilder::with_capacity(n, n * 11));
        let mut value = want(2).then(|| Float64Builder::with_capacity(n));
        let mut buf = [0u8; 48];
        let width = digits(self.devices).max(4);

        for i in rows.indices() {
            let m = (i % 4) as usize;
            let d = (i / 4) % self.devices;
            if let Some(b) = device.as_mut() {
                b.append_value(rng::format_id(&mut buf, "dev-", d + 1, width));
            }
            if let Some(b) = metric.as_mut() {
                b.append_value(METRICS[m].name);
            }
            if let Some(b) = value.as_mut() {
                b.append_value(self.reading(i, d, m, time.seconds(i)));
            }
        }

        fn done<B: arrow::array::ArrayBuilder>(b: Option<B>) -> Option<ArrayRef> {
            b.map(|mut b| b.finish())
        }
        vec![done(device), done(metric), done(value)]
    }

    /// The reading of metric `m` of device `d` at row `i`, event time `t` (seconds).
    fn reading(&self, i: u64, d: u64, m: usize, t: f64) -> f64 {
        let spec = &METRICS[m];
        let mut p = Rng::new(self.profile_key, d.wrapping_mul(4).wrapping_add(m as u64));
        let base = p.range(spec.base.0, spec.base.1);
        let amplitude = base * spec.amplitude * p.range(0.5, 1.5);
        let period = p.range(600.0, 7200.0);
        let phase = p.range(0.0, std::f64::consts::TAU);
        let noise_scale = p.range(0.7, 1.3);

        let mut r = Rng::new(self.row_key, i);
        let z = r.normal();
        let spike = r.unit() < SPIKE_RATE;
        let spike_sign = if r.unit() < 0.5 { -1.0 } else { 1.0 };

        let mut v =
            base + amplitude * (std::f64::consts::TAU * t / period + phase).sin() + spec.noise * noise_scale * z;
        if spike {
            v += spike_sign * spec.noise * 8.0;
        }
        rng::round_to(v.clamp(spec.bounds.0, spec.bounds.1), 1000.0)
    }
}

fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}
