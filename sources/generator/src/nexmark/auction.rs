//! Rows of the `auction` table: one per event `e` with `e % 50` in `1..=3`.

use arrow::array::{ArrayRef, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::DataType;

use super::{
    AUCTION_PROPORTION, AVG_AUCTION_BYTES, FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, HOT_BATCH,
    NUM_CATEGORIES, Nexmark, TOTAL_PROPORTION, TS_US, Table, done, extra_len, last_base0_auction, last_base0_person,
    price, random_string, want,
};
use crate::rng::{self, Rng};
use crate::{Rows, TimeAxis};

pub(super) const COLUMNS: &[(&str, DataType)] = &[
    ("id", DataType::Int64),
    ("item_name", DataType::Utf8),
    ("description", DataType::Utf8),
    ("initial_bid", DataType::Int64),
    ("reserve", DataType::Int64),
    ("date_time", TS_US),
    ("expires", TS_US),
    ("seller", DataType::Int64),
    ("category", DataType::Int64),
    ("extra", DataType::Utf8),
];

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn fill(g: &Nexmark, rows: &Rows, time: &TimeAxis, wanted: &[bool]) -> (Vec<Option<ArrayRef>>, usize) {
    let cap = rows.count * AUCTION_PROPORTION as usize / TOTAL_PROPORTION as usize + 1;
    let mut id = want(wanted, 0).then(|| Int64Builder::with_capacity(cap));
    let mut item_name = want(wanted, 1).then(|| StringBuilder::with_capacity(cap, cap * 10));
    let mut description = want(wanted, 2).then(|| StringBuilder::with_capacity(cap, cap * 50));
    let mut initial_bid = want(wanted, 3).then(|| Int64Builder::with_capacity(cap));
    let mut reserve = want(wanted, 4).then(|| Int64Builder::with_capacity(cap));
    let mut date_time = want(wanted, 5).then(|| TimestampMicrosecondBuilder::with_capacity(cap));
    let mut expires = want(wanted, 6).then(|| TimestampMicrosecondBuilder::with_capacity(cap));
    let mut seller = want(wanted, 7).then(|| Int64Builder::with_capacity(cap));
    let mut category = want(wanted, 8).then(|| Int64Builder::with_capacity(cap));
    let mut extra = want(wanted, 9).then(|| StringBuilder::with_capacity(cap, cap * 400));
    let need_text = item_name.is_some() || description.is_some() || extra.is_some();
    // Events until the `in_flight_auctions`-th next auction: auctions last about that long.
    let horizon_events = g.cfg.in_flight_auctions.saturating_mul(TOTAL_PROPORTION) / AUCTION_PROPORTION;

    let mut count = 0;
    let (mut name, mut desc) = (String::new(), String::new());
    for e in rows.indices() {
        if Table::of_event(e) != Table::Auction {
            continue;
        }
        count += 1;
        let mut r = Rng::new(g.auction_key, e);
        let (u_hot, u_seller) = (r.next_u64(), r.next_u64());
        let cat = FIRST_CATEGORY_ID + r.below(NUM_CATEGORIES);
        let initial = price(r.unit());
        let u_length = r.next_u64();
        let (u_name, u_desc) = (r.next_u64(), r.next_u64());
        let reserve_value = initial + price(r.unit());
        let (u_extra_len, u_extra_at) = (r.next_u64(), r.next_u64());

        if let Some(b) = id.as_mut() {
            b.append_value(int(last_base0_auction(e) + FIRST_AUCTION_ID));
        }
        if need_text {
            random_string(&mut name, &mut Rng::new(u_name, e), 20, ' ');
            random_string(&mut desc, &mut Rng::new(u_desc, e), 100, ' ');
        }
        if let Some(b) = item_name.as_mut() {
            b.append_value(&name);
        }
        if let Some(b) = description.as_mut() {
            b.append_value(&desc);
        }
        if let Some(b) = initial_bid.as_mut() {
            b.append_value(initial);
        }
        if let Some(b) = reserve.as_mut() {
            b.append_value(reserve_value);
        }
        if date_time.is_some() || expires.is_some() {
            let at = g.date_time_us(time, e);
            if let Some(b) = date_time.as_mut() {
                b.append_value(at);
            }
            if let Some(b) = expires.as_mut() {
                // 1 ms + U[0, 2 × horizon) ms, the horizon in whole ms as the reference.
                let horizon_ns = time.nanos(e.saturating_add(horizon_events)) - time.nanos(e);
                let horizon_ms = u64::try_from(horizon_ns / 1_000_000).unwrap_or(0);
                let length_ms = 1 + rng::below(u_length, horizon_ms.saturating_mul(2).max(1));
                b.append_value(at.saturating_add(int(length_ms).saturating_mul(1000)));
            }
        }
        if let Some(b) = seller.as_mut() {
            let s = if rng::below(u_hot, g.cfg.hot_seller_ratio) > 0 {
                // The first person of the current batch of 100.
                (last_base0_person(e) / HOT_BATCH) * HOT_BATCH
            } else {
                g.random_person(e, u_seller)
            };
            b.append_value(int(s + FIRST_PERSON_ID));
        }
        if let Some(b) = category.as_mut() {
            b.append_value(int(cat));
        }
        if let Some(b) = extra.as_mut() {
            // The reference's accounting: 8 per number or time (id, initial_bid, reserve,
            // date_time, expires, seller) plus the strings.
            let current = 8 + name.len() + desc.len() + 8 * 5;
            b.append_value(g.extra(extra_len(u_extra_len, current, AVG_AUCTION_BYTES), u_extra_at));
        }
    }
    let columns = vec![
        done(id),
        done(item_name),
        done(description),
        done(initial_bid),
        done(reserve),
        done(date_time),
        done(expires),
        done(seller),
        done(category),
        done(extra),
    ];
    (columns, count)
}
