//! The `nexmark` kind: the person, auction and bid streams of the Nexmark benchmark, modelled
//! on the reference generator (Apache Beam's `sdks/java/testing/nexmark`, also used by
//! `flink-nexmark`), re-implemented on the crate's counter-based RNG.
//!
//! ```sql
//! CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
//!                    date_time TIMESTAMP, extra VARCHAR)
//!   WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '10000000');
//! ```
//!
//! # The model (as the reference)
//!
//! There is one stream of *events* `0, 1, 2, …`; a source with `table = person | auction |
//! bid` yields the rows of the events of its table only, so three sources with the same
//! options and seed together hold the whole stream, with consistent ids. `events` counts all
//! events (the three tables together).
//!
//! - **Kinds by `event % 50`**: `0` is a person, `1..=3` auctions, `4..=49` bids (1:3:46).
//! - **Ids from event numbers**: the person of event `e` is `1000 + e / 50`; the auction of
//!   event `e` is `1000 + 3 * (e / 50) + (e % 50 - 1)`. Ids are dense and increase with `e`.
//! - **Sellers** (auctions) are *hot* with probability `1 - 1/hot_seller_ratio` (default 4):
//!   the first person of the current batch of 100 people (`⌊last/100⌋ * 100`); otherwise one
//!   of the `active_people` (1000) most recent people, or one of the next 10 not yet created
//!   (the reference's `PERSON_ID_LEAD`).
//! - **Bids** go to a hot auction with probability `1 - 1/hot_auction_ratio` (default 2): the
//!   first auction of the current batch of 100; otherwise one of the `in_flight_auctions`
//!   (100) most recent auctions or one of the next 10 (`AUCTION_ID_LEAD`). Bidders are hot with
//!   probability `1 - 1/hot_bidder_ratio` (4): the second person of the current batch of 100
//!   (hot bidders and sellers differ), otherwise chosen like non-hot sellers.
//! - **Prices** are `round(10^(6u) * 100)` cents-like units (`u` uniform): 100 … 10⁸, log-uniform.
//!   An auction's `reserve` is its `initial_bid` plus another such price.
//! - **Auction expiry**: `expires = date_time + 1 + U[0, 2h)` ms, where `h` is the event time
//!   until the `in_flight_auctions`-th next auction (`in_flight_auctions * 50 / 3` events; about
//!   167 ms at the default rate), so about `in_flight_auctions` auctions are open at a time.
//! - **Categories** `10 … 14`; **persons**: names from 11 first and 9 last names, an e-mail
//!   `xxxxx@yyy.com`, a credit card of four 4-digit groups, one of 10 US cities and (drawn
//!   independently, as the reference) one of 6 states; **item names** up to 19 and
//!   **descriptions** up to 99 random lowercase characters and spaces.
//! - **Channels and urls** (as `flink-nexmark`'s bids): half the bids come from one of 4 hot
//!   channels (`Google`, `Facebook`, `Baidu`, `Apple`, each with one url), the others from
//!   `channel-0 … channel-9999`, each with its own `https://www.nexmark.com/…/item.htm?query=1`
//!   url, 90% of them with `&channel_id=` the bit-reversed channel number.
//! - **`extra`** pads each row towards the reference's average sizes (person 200, auction 500,
//!   bid 100 bytes; the reference's size accounting: 8 bytes per number or time plus string
//!   lengths), to within ±20%, with random lowercase letters.
//! - **Time**: `date_time = start + event * interval`, `interval` defaulting to the reference's
//!   first event rate (10 000 events/s, 100 µs) when bounded, and to `1/rate` when unbounded.
//!
//! # Where it deviates
//!
//! - Randomness: values are hashed from (seed, event) (`rng.rs`), not drawn from
//!   `java.util.Random(eventId)`; the distributions are the same, the values are not.
//! - `out_of_order` (a duration, default `0s`): each event's `date_time` is moved back by a
//!   pseudo-random whole number of microseconds in `[0, out_of_order)`, a function of (seed,
//!   event), so watermarks (`date_time - INTERVAL …`) have something to do. The reference's own
//!   `outOfOrderGroupSize` (shuffling event numbers within groups) is not implemented; its
//!   default (1) is in order, as is `out_of_order = '0s'` here. An auction's `expires` is
//!   relative to its shifted `date_time`, as in the reference.
//! - Random strings are never empty (the reference may trim one to `""`, which CSV files
//!   cannot tell from NULL): an all-space draw becomes one letter.
//! - `extra` is a substring of a 1 MiB pool of random letters made once per source from the
//!   seed (as `flink-nexmark` does for speed), not freshly drawn letters.
//! - Bidders get `FIRST_PERSON_ID` added once (`flink-nexmark` adds it twice, a bug).
//! - Rates are constant (no `rateShape`/`nextEventRate` variation) and there is a single
//!   generator timeline however many splits read it (splits partition the event numbers:
//!   contiguous ranges when bounded, blocks of 50 events taking turns when unbounded, so that
//!   every split has rows of every table).
//! - The reference ratios (`hot_*_ratio`, `in_flight_auctions`, `active_people`) are options
//!   with the reference defaults; the batch of 100 that defines the hot ids, the id leads (10),
//!   the 5 categories and the average sizes are fixed.

mod auction;
mod bid;
mod person;

use std::sync::OnceLock;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, TimeUnit};
use illunare_connector::{ConnectorError, Options};

use crate::rng::{self, Rng};
use crate::{Rows, TimeAxis};

/// Of every [`TOTAL_PROPORTION`] consecutive events, this many are persons, then auctions, then
/// bids (the reference's 1:3:46).
pub(crate) const PERSON_PROPORTION: u64 = 1;
pub(crate) const AUCTION_PROPORTION: u64 = 3;
pub(crate) const BID_PROPORTION: u64 = 46;
pub(crate) const TOTAL_PROPORTION: u64 = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION;

/// Ids start here (so small data sets still join, as in the reference).
pub(crate) const FIRST_PERSON_ID: u64 = 1000;
pub(crate) const FIRST_AUCTION_ID: u64 = 1000;
pub(crate) const FIRST_CATEGORY_ID: u64 = 10;
const NUM_CATEGORIES: u64 = 5;

/// How many not-yet-created people / auctions a random reference may point at.
pub(crate) const PERSON_ID_LEAD: u64 = 10;
pub(crate) const AUCTION_ID_LEAD: u64 = 10;
/// Hot sellers, bidders and auctions are the first (bidders: second) of each batch of this
/// many consecutive ids (the reference's `HOT_*_RATIO = 100` constants).
pub(crate) const HOT_BATCH: u64 = 100;

/// Average row sizes the `extra` column pads towards (the reference defaults).
const AVG_PERSON_BYTES: usize = 200;
const AVG_AUCTION_BYTES: usize = 500;
const AVG_BID_BYTES: usize = 100;

/// Unbounded default rate (events/s over all splits) and bounded default event interval: the
/// reference's `firstEventRate` of 10 000 events/s.
pub(crate) const DEFAULT_RATE: f64 = 10_000.0;
pub(crate) const DEFAULT_INTERVAL_NS: i128 = 100_000;

pub(crate) const DEFAULT_HOT_AUCTION_RATIO: u64 = 2;
pub(crate) const DEFAULT_HOT_SELLER_RATIO: u64 = 4;
pub(crate) const DEFAULT_HOT_BIDDER_RATIO: u64 = 4;
pub(crate) const DEFAULT_IN_FLIGHT_AUCTIONS: u64 = 100;
pub(crate) const DEFAULT_ACTIVE_PEOPLE: u64 = 1000;

const TS_US: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// The three tables of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    Person,
    Auction,
    Bid,
}

pub(crate) const TABLES: &str = "person, auction, bid";

impl Table {
    pub(crate) fn parse(text: &str) -> Result<Table, ConnectorError> {
        match text.trim().to_lowercase().as_str() {
            "person" => Ok(Table::Person),
            "auction" => Ok(Table::Auction),
            "bid" => Ok(Table::Bid),
            _ => Err(ConnectorError::option("table", format!("'{text}' is not a nexmark table (tables: {TABLES})"))),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Person => "person",
            Table::Auction => "auction",
            Table::Bid => "bid",
        }
    }

    /// The table's columns (the reference's names), with native types.
    pub(crate) fn columns(self) -> &'static [(&'static str, DataType)] {
        match self {
            Table::Person => person::COLUMNS,
            Table::Auction => auction::COLUMNS,
            Table::Bid => bid::COLUMNS,
        }
    }

    /// How many of every [`TOTAL_PROPORTION`] events are of this table.
    pub(crate) fn proportion(self) -> u64 {
        match self {
            Table::Person => PERSON_PROPORTION,
            Table::Auction => AUCTION_PROPORTION,
            Table::Bid => BID_PROPORTION,
        }
    }

    /// The table of event `e`.
    #[inline]
    pub(crate) fn of_event(e: u64) -> Table {
        let offset = e % TOTAL_PROPORTION;
        if offset < PERSON_PROPORTION {
            Table::Person
        } else if offset < PERSON_PROPORTION + AUCTION_PROPORTION {
            Table::Auction
        } else {
            Table::Bid
        }
    }
}

/// The last person created at or before event `e` (0-based; event `e`'s own when a person).
#[inline]
pub(crate) fn last_base0_person(e: u64) -> u64 {
    let offset = e % TOTAL_PROPORTION;
    // An auction or bid: back to the last person of this epoch.
    let offset = if offset >= PERSON_PROPORTION { PERSON_PROPORTION - 1 } else { offset };
    (e / TOTAL_PROPORTION) * PERSON_PROPORTION + offset
}

/// The last auction created at or before event `e` (0-based; event `e`'s own when an auction).
/// Before the first auction (event 0) this is 0 too.
#[inline]
pub(crate) fn last_base0_auction(e: u64) -> u64 {
    let epoch = e / TOTAL_PROPORTION;
    let offset = e % TOTAL_PROPORTION;
    if offset < PERSON_PROPORTION {
        // A person: the last auction of the previous epoch.
        (epoch * AUCTION_PROPORTION).saturating_sub(1)
    } else if offset >= PERSON_PROPORTION + AUCTION_PROPORTION {
        // A bid: the last auction of this epoch.
        epoch * AUCTION_PROPORTION + AUCTION_PROPORTION - 1
    } else {
        epoch * AUCTION_PROPORTION + offset - PERSON_PROPORTION
    }
}

/// Reference tuning knobs (options of the kind).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub hot_auction_ratio: u64,
    pub hot_seller_ratio: u64,
    pub hot_bidder_ratio: u64,
    pub in_flight_auctions: u64,
    pub active_people: u64,
    /// Upper bound (exclusive) of each event's backwards time shift, in microseconds.
    pub out_of_order_us: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hot_auction_ratio: DEFAULT_HOT_AUCTION_RATIO,
            hot_seller_ratio: DEFAULT_HOT_SELLER_RATIO,
            hot_bidder_ratio: DEFAULT_HOT_BIDDER_RATIO,
            in_flight_auctions: DEFAULT_IN_FLIGHT_AUCTIONS,
            active_people: DEFAULT_ACTIVE_PEOPLE,
            out_of_order_us: 0,
        }
    }
}

impl Config {
    pub(crate) fn from_options(options: &Options) -> Result<Config, ConnectorError> {
        let out_of_order_us = match crate::duration_option(options, "out_of_order")? {
            None => 0,
            Some(d) => u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
        };
        Ok(Config {
            hot_auction_ratio: crate::positive(options, "hot_auction_ratio", DEFAULT_HOT_AUCTION_RATIO)?,
            hot_seller_ratio: crate::positive(options, "hot_seller_ratio", DEFAULT_HOT_SELLER_RATIO)?,
            hot_bidder_ratio: crate::positive(options, "hot_bidder_ratio", DEFAULT_HOT_BIDDER_RATIO)?,
            in_flight_auctions: crate::positive(options, "in_flight_auctions", DEFAULT_IN_FLIGHT_AUCTIONS)?,
            active_people: crate::positive(options, "active_people", DEFAULT_ACTIVE_PEOPLE)?,
            out_of_order_us,
        })
    }
}

/// Size of the pool `extra` values are cut from.
const POOL_BYTES: usize = 1 << 20;
/// Channels besides the hot ones.
const CHANNELS: u64 = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];

/// The channel urls: one per hot channel, one per `channel-N`.
struct Urls {
    hot: Vec<String>,
    channels: Vec<String>,
}

/// The generator of one table of the `nexmark` kind.
pub(crate) struct Nexmark {
    table: Table,
    cfg: Config,
    /// Row streams, one per table (an event is of one table only, but distinct keys keep the
    /// tables' values unrelated).
    person_key: u64,
    auction_key: u64,
    bid_key: u64,
    delay_key: u64,
    pool_key: u64,
    url_key: u64,
    pool: OnceLock<String>,
    urls: OnceLock<Urls>,
}

impl Nexmark {
    pub(crate) fn new(seed: u64, table: Table, cfg: Config) -> Self {
        Nexmark {
            table,
            cfg,
            person_key: rng::stream_key(seed, "nexmark/person"),
            auction_key: rng::stream_key(seed, "nexmark/auction"),
            bid_key: rng::stream_key(seed, "nexmark/bid"),
            delay_key: rng::stream_key(seed, "nexmark/delay"),
            pool_key: rng::stream_key(seed, "nexmark/pool"),
            url_key: rng::stream_key(seed, "nexmark/url"),
            pool: OnceLock::new(),
            urls: OnceLock::new(),
        }
    }

    /// Native arrays for the wanted columns of the table's columns (`None` for the others),
    /// and the number of rows: the events of `rows` that are of this table.
    pub(crate) fn fill(&self, rows: &Rows, time: &TimeAxis, wanted: &[bool]) -> (Vec<Option<ArrayRef>>, usize) {
        match self.table {
            Table::Person => person::fill(self, rows, time, wanted),
            Table::Auction => auction::fill(self, rows, time, wanted),
            Table::Bid => bid::fill(self, rows, time, wanted),
        }
    }

    /// `date_time` of event `e` in microseconds: `start + e * interval`, moved back by the
    /// event's out-of-order delay.
    #[inline]
    fn date_time_us(&self, time: &TimeAxis, e: u64) -> i64 {
        let t = time.in_unit(e, 1_000);
        if self.cfg.out_of_order_us == 0 {
            return t;
        }
        let delay = rng::below(rng::hash2(self.delay_key, e), self.cfg.out_of_order_us);
        t.saturating_sub(i64::try_from(delay).unwrap_or(i64::MAX))
    }

    /// A random person (0-based) for event `e`: one of the `active_people` latest, or one of
    /// the next [`PERSON_ID_LEAD`] to be created.
    #[inline]
    fn random_person(&self, e: u64, u: u64) -> u64 {
        let people = last_base0_person(e) + 1;
        let active = people.min(self.cfg.active_people);
        people - active + rng::below(u, active + PERSON_ID_LEAD)
    }

    /// A random auction (0-based) for event `e`: one of the `in_flight_auctions` latest (and
    /// the latest itself), or one of the next [`AUCTION_ID_LEAD`].
    #[inline]
    fn random_auction(&self, e: u64, u: u64) -> u64 {
        let last = last_base0_auction(e);
        let first = last.saturating_sub(self.cfg.in_flight_auctions);
        first + rng::below(u, last - first + 1 + AUCTION_ID_LEAD)
    }

    /// The random letters `extra` values are cut from.
    fn pool(&self) -> &str {
        self.pool.get_or_init(|| {
            let mut r = Rng::new(self.pool_key, 0);
            let mut s = String::with_capacity(POOL_BYTES);
            while s.len() < POOL_BYTES {
                push_letters(&mut s, r.next_u64(), 8);
            }
            s
        })
    }

    /// An `extra` of `len` letters (`len` well below the pool size), at a position drawn by `u`.
    #[inline]
    fn extra(&self, len: usize, u: u64) -> &str {
        let pool = self.pool();
        let len = len.min(pool.len());
        let at = rng::below(u, (pool.len() - len + 1) as u64) as usize;
        // The pool is ASCII: every index is a char boundary.
        pool.get(at..at + len).unwrap_or("")
    }

    fn urls(&self) -> &Urls {
        self.urls.get_or_init(|| {
            let hot = (0..HOT_CHANNELS.len() as u64).map(|j| base_url(&mut Rng::new(self.url_key, j))).collect();
            let channels = (0..CHANNELS)
                .map(|n| {
                    let mut r = Rng::new(self.url_key, CHANNELS + n);
                    let mut url = base_url(&mut r);
                    if r.below(10) > 0 {
                        url.push_str("&channel_id=");
                        url.push_str(&((n as u32).reverse_bits() as i32).unsigned_abs().to_string());
                    }
                    url
                })
                .collect();
            Urls { hot, channels }
        })
    }
}

/// `round(10^(6u) * 100)`: the reference's log-uniform price in [100, 10⁸].
#[inline]
fn price(u: f64) -> i64 {
    (10f64.powf(u * 6.0) * 100.0).round() as i64
}

/// The length of `extra` for a row of `current` accounted bytes, so rows average `average`
/// bytes: `average - current` ± 20% (nothing when the row is already larger).
#[inline]
fn extra_len(u: u64, current: usize, average: usize) -> usize {
    if current > average {
        return 0;
    }
    let want = average - current;
    let delta = (want as f64 * 0.2).round() as usize;
    let min = want - delta;
    if delta == 0 { min } else { min + rng::below(u, 2 * delta as u64) as usize }
}

/// Appends `n` (≤ 12) lowercase letters drawn from the bits of `x`.
#[inline]
fn push_letters(out: &mut String, mut x: u64, n: usize) {
    for _ in 0..n {
        let wide = u128::from(x) * 26;
        out.push(char::from(b'a' + (wide >> 64) as u8));
        x = wide as u64;
    }
}

/// Writes into `out` (cleared first) a random string like the reference's
/// `nextString(maxLength)`: 3 to `max_len - 1` characters, each `special` with probability
/// 1/13 and a lowercase letter otherwise, trimmed of spaces. Never empty: an all-space draw
/// becomes a single letter.
fn random_string(out: &mut String, r: &mut Rng, max_len: u64, special: char) {
    out.clear();
    let len = 3 + r.below(max_len - 3);
    let (mut x, mut left) = (0u64, 0);
    for _ in 0..len {
        if left == 0 {
            x = r.next_u64();
            left = 4;
        }
        // 338 = 13 × 26 outcomes: 26 of them (1/13) are the special character.
        let wide = u128::from(x) * 338;
        let t = (wide >> 64) as u32;
        x = wide as u64;
        left -= 1;
        if t < 26 {
            out.push(special);
        } else {
            out.push(char::from(b'a' + (t % 26) as u8));
        }
    }
    if special == ' ' {
        let end = out.trim_end_matches(' ').len();
        out.truncate(end);
        let start = out.len() - out.trim_start_matches(' ').len();
        out.drain(..start);
    }
    if out.is_empty() {
        push_letters(out, r.next_u64(), 1);
    }
}

/// A url like the reference's: `https://www.nexmark.com/<s>/<s>/<s>/item.htm?query=1` with
/// three short random strings (underscores as the special character).
fn base_url(r: &mut Rng) -> String {
    let mut url = String::with_capacity(80);
    url.push_str("https://www.nexmark.com/");
    let mut part = String::new();
    for _ in 0..3 {
        random_string(&mut part, r, 5, '_');
        url.push_str(&part);
        url.push('/');
    }
    url.push_str("item.htm?query=1");
    url
}

/// Whether column `c` is wanted.
#[inline]
fn want(wanted: &[bool], c: usize) -> bool {
    wanted.get(c).copied().unwrap_or(false)
}

fn done<B: arrow::array::ArrayBuilder>(b: Option<B>) -> Option<ArrayRef> {
    b.map(|mut b| b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_reference_arithmetic() {
        // Events 0..50: one person (0), auctions 0, 1, 2 (events 1..=3), then bids.
        assert_eq!(Table::of_event(0), Table::Person);
        assert_eq!((1..4).map(Table::of_event).collect::<Vec<_>>(), [Table::Auction; 3]);
        assert!((4..50).all(|e| Table::of_event(e) == Table::Bid));
        assert_eq!(Table::of_event(50), Table::Person);
        assert_eq!(last_base0_person(0), 0);
        assert_eq!(last_base0_person(49), 0);
        assert_eq!(last_base0_person(50), 1);
        assert_eq!(last_base0_auction(1), 0);
        assert_eq!(last_base0_auction(3), 2);
        assert_eq!(last_base0_auction(4), 2);
        assert_eq!(last_base0_auction(50), 2);
        assert_eq!(last_base0_auction(51), 3);
        assert_eq!(last_base0_auction(0), 0);
    }

    #[test]
    fn strings_prices_and_extras() {
        let mut r = Rng::new(1, 2);
        let mut s = String::new();
        let (mut spaces, mut chars) = (0usize, 0usize);
        for _ in 0..20_000 {
            random_string(&mut s, &mut r, 20, ' ');
            assert!((1..=19).contains(&s.len()), "{s:?}");
            assert_eq!(s.trim(), s);
            assert!(s.bytes().all(|b| b == b' ' || b.is_ascii_lowercase()));
            spaces += s.bytes().filter(|b| *b == b' ').count();
            chars += s.len();
        }
        let share = spaces as f64 / chars as f64;
        assert!((0.04..0.08).contains(&share), "space share {share}");
        let mut letters = [0usize; 26];
        let mut t = String::new();
        for k in 0..2000 {
            push_letters(&mut t, rng::mix64(k), 8);
        }
        for b in t.bytes() {
            letters[(b - b'a') as usize] += 1;
        }
        assert!(letters.iter().all(|n| (400..840).contains(n)), "{letters:?}");

        assert_eq!(price(0.0), 100);
        assert_eq!(price(0.5), 100_000);
        assert!(price(0.999_999_9) <= 100_000_000);
        assert_eq!(extra_len(0, 300, 200), 0);
        let lens: Vec<usize> = (0..10_000).map(|k| extra_len(rng::mix64(k), 32, 100)).collect();
        assert!(lens.iter().all(|l| (54..82).contains(l)), "{:?}", lens.iter().max());
        let mean = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
        assert!((mean - 67.5).abs() < 1.0, "{mean}");
    }
}
