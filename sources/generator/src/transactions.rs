//! The `transactions` kind: card payments for fraud-detection style pipelines.
//!
//! Realism is in the joint distribution, not in any one column:
//! - cards and merchants are Zipf-skewed (a few heavy cards and merchants, a long light tail),
//!   with the heavy ranks scattered over the ids by a seed-dependent permutation;
//! - every card has a home city (one of [`CITIES`], weighted towards large Brazilian cities)
//!   and a spending multiplier; payments happen at the home city with a few km of jitter, in
//!   the city's currency (Brazilian cards pay some foreign online merchants in USD/EUR);
//! - amounts are log-normal around the merchant category's typical ticket (~R$50 overall),
//!   rounded to cents and always > 0;
//! - ~0.2% of rows are fraud-like: a large amount, in another city, at a high-risk merchant.
//!
//! Merchant attributes (category, risk, city) are a function of (seed, merchant id) only, so
//! [`merchants_batch`](crate::merchants_batch) can emit the matching dimension table.

use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::DataType;

use crate::rng::{self, Permutation, Rng, Zipf};
use crate::{Rows, TimeAxis};

/// A city: name, latitude, longitude, currency, weight for card homes.
pub(crate) struct City {
    pub name: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub currency: &'static str,
    pub weight: f64,
}

const fn city(name: &'static str, lat: f64, lon: f64, currency: &'static str, weight: f64) -> City {
    City { name, lat, lon, currency, weight }
}

/// Real city coordinates; the first [`BRAZILIAN_CITIES`] are Brazilian.
pub(crate) const CITIES: [City; 20] = [
    city("São Paulo", -23.5505, -46.6333, "BRL", 20.0),
    city("Rio de Janeiro", -22.9068, -43.1729, "BRL", 12.0),
    city("Belo Horizonte", -19.9167, -43.9345, "BRL", 6.0),
    city("Brasília", -15.7939, -47.8828, "BRL", 5.0),
    city("Salvador", -12.9777, -38.5016, "BRL", 5.0),
    city("Fortaleza", -3.7319, -38.5267, "BRL", 4.0),
    city("Curitiba", -25.4284, -49.2733, "BRL", 4.0),
    city("Recife", -8.0476, -34.8770, "BRL", 4.0),
    city("Porto Alegre", -30.0346, -51.2177, "BRL", 4.0),
    city("Manaus", -3.1190, -60.0217, "BRL", 3.0),
    city("Belém", -1.4558, -48.4902, "BRL", 2.0),
    city("Goiânia", -16.6869, -49.2648, "BRL", 2.0),
    city("Campinas", -22.9099, -47.0626, "BRL", 2.0),
    city("Florianópolis", -27.5954, -48.5480, "BRL", 2.0),
    city("New York", 40.7128, -74.0060, "USD", 3.0),
    city("Miami", 25.7617, -80.1918, "USD", 3.0),
    city("Lisbon", 38.7223, -9.1393, "EUR", 3.0),
    city("Madrid", 40.4168, -3.7038, "EUR", 2.0),
    city("Paris", 48.8566, 2.3522, "EUR", 2.0),
    city("Berlin", 52.5200, 13.4050, "EUR", 2.0),
];

/// How many of [`CITIES`] (from the start) are Brazilian.
pub(crate) const BRAZILIAN_CITIES: usize = 14;

/// Merchant categories with their share of merchants and median ticket (BRL).
const CATEGORIES: [(&str, f64, f64); 10] = [
    ("grocery", 22.0, 35.0),
    ("restaurant", 18.0, 45.0),
    ("fuel", 12.0, 60.0),
    ("online", 12.0, 55.0),
    ("pharmacy", 10.0, 30.0),
    ("clothing", 8.0, 90.0),
    ("entertainment", 7.0, 40.0),
    ("health", 5.0, 120.0),
    ("electronics", 4.0, 250.0),
    ("travel", 2.0, 400.0),
];

pub(crate) const RISKS: [&str; 3] = ["low", "medium", "high"];

/// The kind's columns (without `ts`, which every kind shares), with native types.
pub(crate) const COLUMNS: &[(&str, DataType)] = &[
    ("tx_id", DataType::Int64),
    ("card_id", DataType::Utf8),
    ("merchant", DataType::Utf8),
    ("amount", DataType::Float64),
    ("currency", DataType::Utf8),
    ("lat", DataType::Float64),
    ("lon", DataType::Float64),
];

pub(crate) const DEFAULT_CARDS: u64 = 10_000;
pub(crate) const DEFAULT_MERCHANTS: u64 = 1_000;

/// Share of fraud-like rows.
const ANOMALY_RATE: f64 = 0.002;
/// Log-normal spread of amounts around the category median.
const AMOUNT_SIGMA: f64 = 0.6;
/// Location jitter around a city centre, in degrees (~3 km).
const JITTER_DEG: f64 = 0.03;

/// A merchant's fixed attributes.
pub(crate) struct MerchantProfile {
    pub category: usize,
    pub risk: usize,
    pub city: usize,
}

fn merchant_key(seed: u64) -> u64 {
    rng::stream_key(seed, "transactions/merchant")
}

/// The attributes of merchant `n` (0-based: `m{n+1}`) under `seed`.
#[inline]
pub(crate) fn merchant_profile(key: u64, n: u64) -> MerchantProfile {
    let mut r = Rng::new(key, n);
    let category = rng::pick_weighted(&CATEGORY_WEIGHTS, CATEGORY_TOTAL, r.unit());
    let u = r.unit();
    let risk = if u < 0.7 {
        0
    } else if u < 0.9 {
        1
    } else {
        2
    };
    let city = rng::pick_weighted(&CITY_WEIGHTS, CITY_TOTAL, r.unit());
    MerchantProfile { category, risk, city }
}

const CATEGORY_WEIGHTS: [f64; 10] = {
    let mut w = [0.0; 10];
    let mut i = 0;
    while i < 10 {
        w[i] = CATEGORIES[i].1;
        i += 1;
    }
    w
};
const CATEGORY_TOTAL: f64 = 100.0;

const CITY_WEIGHTS: [f64; 20] = {
    let mut w = [0.0; 20];
    let mut i = 0;
    while i < 20 {
        w[i] = CITIES[i].weight;
        i += 1;
    }
    w
};
const CITY_TOTAL: f64 = {
    let mut t = 0.0;
    let mut i = 0;
    while i < 20 {
        t += CITIES[i].weight;
        i += 1;
    }
    t
};

/// The merchant dimension: one row per merchant id `m1 … m{merchants}`.
pub(crate) fn merchants_columns(merchants: u64, seed: u64) -> Vec<ArrayRef> {
    let key = merchant_key(seed);
    let cap = usize::try_from(merchants).unwrap_or(0);
    let mut id = StringBuilder::with_capacity(cap, cap * 6);
    let mut risk = StringBuilder::with_capacity(cap, cap * 6);
    let mut category = StringBuilder::with_capacity(cap, cap * 10);
    let mut city = StringBuilder::with_capacity(cap, cap * 12);
    let mut buf = [0u8; 48];
    for n in 0..merchants {
        let p = merchant_profile(key, n);
        id.append_value(rng::format_id(&mut buf, "m", n + 1, 0));
        risk.append_value(RISKS[p.risk]);
        category.append_value(CATEGORIES[p.category].0);
        city.append_value(CITIES[p.city].name);
    }
    vec![Arc::new(id.finish()), Arc::new(risk.finish()), Arc::new(category.finish()), Arc::new(city.finish())]
}

/// A card, by popularity rank: its id (0-based), home city and spending multiplier.
#[derive(Clone, Copy)]
struct Card {
    id: u64,
    home: u8,
    spend: f32,
}

/// A merchant, by popularity rank: its id (0-based) and category.
#[derive(Clone, Copy)]
struct Merchant {
    id: u64,
    category: u8,
    risk: u8,
}

/// Cards or merchants up to this count are tabulated by rank on first use (a few MB at most);
/// beyond, every row recomputes the entity from its hash (slower, same values).
const TABLE_LIMIT: u64 = 1 << 20;

/// The generator of the `transactions` kind.
pub(crate) struct Transactions {
    row_key: u64,
    card_key: u64,
    merchant_key: u64,
    cards: u64,
    merchants: u64,
    card_zipf: Zipf,
    card_perm: Permutation,
    merchant_zipf: Zipf,
    merchant_perm: Permutation,
    card_table: OnceLock<Vec<Card>>,
    merchant_table: OnceLock<Vec<Merchant>>,
}

impl Transactions {
    pub(crate) fn new(seed: u64, cards: u64, merchants: u64) -> Self {
        Transactions {
            row_key: rng::stream_key(seed, "transactions/row"),
            card_key: rng::stream_key(seed, "transactions/card"),
            merchant_key: merchant_key(seed),
            cards,
            merchants,
            card_zipf: Zipf::new(cards, 0.8),
            card_perm: Permutation::new(cards, rng::stream_key(seed, "transactions/card-perm")),
            merchant_zipf: Zipf::new(merchants, 0.9),
            merchant_perm: Permutation::new(merchants, rng::stream_key(seed, "transactions/merchant-perm")),
            card_table: OnceLock::new(),
            merchant_table: OnceLock::new(),
        }
    }

    /// The card of popularity rank `rank`.
    fn card_at(&self, rank: u64) -> Card {
        let id = self.card_perm.apply(rank);
        let mut r = Rng::new(self.card_key, id);
        let home = rng::pick_weighted(&CITY_WEIGHTS, CITY_TOTAL, r.unit()) as u8;
        let spend = (0.35 * r.normal()).exp() as f32;
        Card { id, home, spend }
    }

    /// The merchant of popularity rank `rank`.
    fn merchant_at(&self, rank: u64) -> Merchant {
        let id = self.merchant_perm.apply(rank);
        let p = merchant_profile(self.merchant_key, id);
        Merchant { id, category: p.category as u8, risk: p.risk as u8 }
    }

    #[inline]
    fn card(&self, rank: u64) -> Card {
        if self.cards <= TABLE_LIMIT {
            let table = self.card_table.get_or_init(|| (0..self.cards).map(|r| self.card_at(r)).collect());
            if let Some(c) = table.get(rank as usize) {
                return *c;
            }
        }
        self.card_at(rank)
    }

    #[inline]
    fn merchant(&self, rank: u64) -> Merchant {
        if self.merchants <= TABLE_LIMIT {
            let table = self.merchant_table.get_or_init(|| (0..self.merchants).map(|r| self.merchant_at(r)).collect());
            if let Some(m) = table.get(rank as usize) {
                return *m;
            }
        }
        self.merchant_at(rank)
    }

    /// A uniformly drawn high-risk merchant (a few tries; falls back to the last draw).
    fn risky_merchant(&self, r: &mut Rng) -> Merchant {
        let mut m = self.merchant(r.below(self.merchants));
        for _ in 0..32 {
            if usize::from(m.risk) == RISKS.len() - 1 {
                break;
            }
            m = self.merchant(r.below(self.merchants));
        }
        m
    }

    /// Native arrays for the wanted columns of [`COLUMNS`], `None` for the others.
    pub(crate) fn fill(&self, rows: &Rows, _time: &TimeAxis, wanted: &[bool]) -> Vec<Option<ArrayRef>> {
        let n = rows.count;
        let want = |c: usize| wanted.get(c).copied().unwrap_or(false);
        let mut tx_id = want(0).then(|| Int64Builder::with_capacity(n));
        let mut card_id = want(1).then(|| StringBuilder::with_capacity(n, n * 6));
        let mut merchant = want(2).then(|| StringBuilder::with_capacity(n, n * 5));
        let mut amount = want(3).then(|| Float64Builder::with_capacity(n));
        let mut currency = want(4).then(|| StringBuilder::with_capacity(n, n * 3));
        let mut lat = want(5).then(|| Float64Builder::with_capacity(n));
        let mut lon = want(6).then(|| Float64Builder::with_capacity(n));
        let mut buf = [0u8; 48];

        for i in rows.indices() {
            // Every draw is made whatever columns are wanted, so a value never depends on the
            // projection; only the formatting is skipped.
            let mut r = Rng::new(self.row_key, i);
            let u_card = r.unit();
            let u_anomaly = r.unit();
            let u_merchant = r.next_u64();
            let u_city = r.next_u64();
            let (u_amount1, u_amount2) = (r.unit(), r.unit());
            let u_boost = r.unit();
            let u_currency = r.unit();
            let (u_lat, u_lon) = (r.unit(), r.unit());

            let card = self.card(self.card_zipf.sample(u_card));
            let home = usize::from(card.home);
            let anomaly = u_anomaly < ANOMALY_RATE;
            let m = if anomaly {
                self.risky_merchant(&mut Rng::new(u_merchant, i))
            } else {
                self.merchant(self.merchant_zipf.sample(rng::unit(u_merchant)))
            };
            let city = if anomaly {
                // Anywhere but home.
                let other = rng::below(u_city, CITIES.len() as u64 - 1) as usize;
                if other >= home { other + 1 } else { other }
            } else {
                home
            };

            if let Some(b) = tx_id.as_mut() {
                b.append_value(i64::try_from(i).unwrap_or(i64::MAX));
            }
            if let Some(b) = card_id.as_mut() {
                b.append_value(rng::format_id(&mut buf, "c", card.id + 1, 0));
            }
            if let Some(b) = merchant.as_mut() {
                b.append_value(rng::format_id(&mut buf, "m", m.id + 1, 0));
            }
            if let Some(b) = amount.as_mut() {
                let (z, _) = rng::normal_pair(u_amount1, u_amount2);
                let mut a = CATEGORIES[usize::from(m.category)].2 * f64::from(card.spend) * (AMOUNT_SIGMA * z).exp();
                if anomaly {
                    a *= 5.0 + 15.0 * u_boost;
                }
                b.append_value(rng::round_to(a, 100.0).max(0.01));
            }
            let c = &CITIES[city];
            if let Some(b) = currency.as_mut() {
                let cur = if c.currency != "BRL" {
                    c.currency
                } else if u_currency < 0.95 {
                    "BRL"
                } else if u_currency < 0.99 {
                    "USD"
                } else {
                    "EUR"
                };
                b.append_value(cur);
            }
            if lat.is_some() || lon.is_some() {
                let (jx, jy) = rng::normal_pair(u_lat, u_lon);
                if let Some(b) = lat.as_mut() {
                    b.append_value(rng::round_to(c.lat + JITTER_DEG * jy, 1e5));
                }
                if let Some(b) = lon.as_mut() {
                    b.append_value(rng::round_to(c.lon + JITTER_DEG * jx, 1e5));
                }
            }
        }

        fn done<B: arrow::array::ArrayBuilder>(b: Option<B>) -> Option<ArrayRef> {
            b.map(|mut b| b.finish())
        }
        vec![done(tx_id), done(card_id), done(merchant), done(amount), done(currency), done(lat), done(lon)]
    }
}
