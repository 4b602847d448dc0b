//! Counter-based randomness for the generator.
//!
//! Every value the generator emits must be a pure function of (seed, options, row index), so
//! that the same rows come out whatever the split count and whatever the order splits are read
//! in. A sequential RNG cannot give that cheaply; instead every row (and every entity — card,
//! merchant, device, vehicle, shift) gets its own tiny RNG seeded from a SplitMix64 hash of a
//! stream key and its index. SplitMix64 is fast (a few multiplies), passes BigCrush as a
//! hash of a counter, and needs no allocation, which keeps the generator above the
//! multi-million-rows-per-second target.

/// The SplitMix64 increment (2^64 / φ).
pub(crate) const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finaliser: a bijective, well-avalanched 64-bit mix.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of two words (order matters).
#[inline]
pub(crate) fn hash2(a: u64, b: u64) -> u64 {
    mix64(a ^ mix64(b.wrapping_add(GOLDEN)))
}

/// A key for one independent stream of values (`tag` names the stream) under `seed`.
pub(crate) fn stream_key(seed: u64, tag: &str) -> u64 {
    // FNV-1a over the tag, then mixed with the seed: different tags give unrelated streams.
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in tag.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    hash2(mix64(seed), h)
}

/// A uniform value in [0, 1) from 53 bits of `h`.
#[inline]
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in [0, n) (Lemire's multiply-shift; `n = 0` gives 0).
#[inline]
pub(crate) fn below(h: u64, n: u64) -> u64 {
    ((u128::from(h) * u128::from(n)) >> 64) as u64
}

/// A small RNG for one row or entity: the SplitMix64 sequence started at a hash of
/// (key, index), so neighbouring indices give unrelated sequences.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    #[inline]
    pub(crate) fn new(key: u64, index: u64) -> Self {
        Rng(hash2(key, index))
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in [0, 1).
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        unit(self.next_u64())
    }

    /// Uniform in [lo, hi).
    #[inline]
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [0, n).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        below(self.next_u64(), n)
    }

    /// Two independent standard normal values (Box–Muller).
    #[inline]
    pub(crate) fn normal_pair(&mut self) -> (f64, f64) {
        let u1 = self.unit();
        let u2 = self.unit();
        normal_pair(u1, u2)
    }

    /// One standard normal value.
    #[inline]
    pub(crate) fn normal(&mut self) -> f64 {
        self.normal_pair().0
    }
}

/// Two independent standard normal values from two uniforms in [0, 1) (Box–Muller).
#[inline]
pub(crate) fn normal_pair(u1: f64, u2: f64) -> (f64, f64) {
    let r = (-2.0 * (1.0 - u1).ln()).sqrt(); // 1 - u1 is in (0, 1]: ln is finite
    let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

/// Zipf-like ranks over [0, n): the continuous power law `x^-s` on [1, n+1], inverted, so a
/// sample costs one `powf` and needs no table whatever `n` is. Rank 0 is the heaviest.
#[derive(Clone, Debug)]
pub(crate) struct Zipf {
    n: u64,
    one_minus_s: f64,
    /// `(n+1)^(1-s) - 1`, or `ln(n+1)` when `s = 1`.
    span: f64,
}

impl Zipf {
    pub(crate) fn new(n: u64, s: f64) -> Self {
        let top = n as f64 + 1.0;
        let one_minus_s = 1.0 - s;
        let span = if one_minus_s.abs() < 1e-9 { top.ln() } else { top.powf(one_minus_s) - 1.0 };
        Zipf { n, one_minus_s, span }
    }

    #[inline]
    pub(crate) fn sample(&self, u: f64) -> u64 {
        let x = if self.one_minus_s.abs() < 1e-9 {
            (u * self.span).exp()
        } else {
            (1.0 + u * self.span).powf(1.0 / self.one_minus_s)
        };
        // x is in [1, n+1); float rounding may touch the ends.
        let rank = (x - 1.0).max(0.0) as u64;
        rank.min(self.n.saturating_sub(1))
    }
}

/// A seed-dependent bijection of [0, n), so the heavy Zipf ranks land on scattered ids instead
/// of `1, 2, 3…`: a 4-round Feistel network on the smallest even bit width covering `n`, with
/// cycle walking to stay below `n` (fewer than 4 rounds of walking on average).
#[derive(Clone, Debug)]
pub(crate) struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; 4],
}

impl Permutation {
    pub(crate) fn new(n: u64, key: u64) -> Self {
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let keys = [hash2(key, 1), hash2(key, 2), hash2(key, 3), hash2(key, 4)];
        Permutation { n, half_bits, keys }
    }

    #[inline]
    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for k in self.keys {
            (left, right) = (right, left ^ (mix64(right ^ k) & mask));
        }
        (left << self.half_bits) | right
    }

    #[inline]
    pub(crate) fn apply(&self, i: u64) -> u64 {
        if self.n <= 1 {
            return 0;
        }
        // `i < n` always; the cycle through `i` returns below `n`, usually at once. The bound
        // only guards against misuse (an `i` outside the domain).
        let mut x = self.feistel(i);
        for _ in 0..1000 {
            if x < self.n {
                return x;
            }
            x = self.feistel(x);
        }
        i % self.n
    }
}

/// Index into `weights` chosen with probability proportional to each weight, by `u` in [0, 1).
#[inline]
pub(crate) fn pick_weighted(weights: &[f64], total: f64, u: f64) -> usize {
    let mut x = u * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len().saturating_sub(1)
}

/// Rounds to `decimals` places (for cents, coordinates, readings).
#[inline]
pub(crate) fn round_to(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

/// Writes `prefix` then `n` zero-padded to `width` digits into `buf`, returning the text. No
/// allocation: ids are formatted for millions of rows per second.
#[inline]
pub(crate) fn format_id<'a>(buf: &'a mut [u8; 48], prefix: &str, n: u64, width: usize) -> &'a str {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut v = n;
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let prefix = &prefix.as_bytes()[..prefix.len().min(16)];
    let pad = width.min(20).saturating_sub(len);
    let mut at = 0;
    buf[..prefix.len()].copy_from_slice(prefix);
    at += prefix.len();
    for _ in 0..pad {
        buf[at] = b'0';
        at += 1;
    }
    for d in digits[..len].iter().rev() {
        buf[at] = *d;
        at += 1;
    }
    // Only ASCII was written (the prefix is cut at 16 bytes, ids use ASCII prefixes).
    std::str::from_utf8(&buf[..at]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_is_skewed_and_in_range() {
        let z = Zipf::new(1000, 1.0);
        let mut counts = vec![0u32; 1000];
        let mut rng = Rng::new(1, 2);
        for _ in 0..100_000 {
            let r = z.sample(rng.unit());
            counts[r as usize] += 1;
        }
        assert!(counts[0] > counts[500] * 20, "{} vs {}", counts[0], counts[500]);
        let z = Zipf::new(1, 0.8);
        assert_eq!(z.sample(0.999), 0);
    }

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 2, 3, 10, 12, 97, 1000, 1024, 1025, 4097] {
            let p = Permutation::new(n, 42);
            let mut seen: Vec<u64> = (0..n).map(|i| p.apply(i)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn ids_are_formatted() {
        let mut buf = [0u8; 48];
        assert_eq!(format_id(&mut buf, "dev-", 7, 4), "dev-0007");
        assert_eq!(format_id(&mut buf, "c", 12345, 0), "c12345");
        assert_eq!(format_id(&mut buf, "v-", 0, 3), "v-000");
        assert_eq!(format_id(&mut buf, "m", u64::MAX, 0), format!("m{}", u64::MAX));
    }
}
