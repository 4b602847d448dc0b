//! Rows of the `bid` table: one per event `e` with `e % 50` in `4..=49` (92% of events).

use arrow::array::{ArrayRef, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::DataType;

use super::{
    AVG_BID_BYTES, BID_PROPORTION, CHANNELS, FIRST_AUCTION_ID, FIRST_PERSON_ID, HOT_BATCH, HOT_CHANNELS, Nexmark,
    TOTAL_PROPORTION, TS_US, Table, done, extra_len, last_base0_auction, last_base0_person, price, want,
};
use crate::rng::{self, Rng};
use crate::{Rows, TimeAxis};

pub(super) const COLUMNS: &[(&str, DataType)] = &[
    ("auction", DataType::Int64),
    ("bidder", DataType::Int64),
    ("price", DataType::Int64),
    ("channel", DataType::Utf8),
    ("url", DataType::Utf8),
    ("date_time", TS_US),
    ("extra", DataType::Utf8),
];

/// The reference's accounting: auction, bidder, price, date_time (8 bytes each).
const ACCOUNTED: usize = 8 * 4;

pub(super) fn fill(g: &Nexmark, rows: &Rows, time: &TimeAxis, wanted: &[bool]) -> (Vec<Option<ArrayRef>>, usize) {
    let cap = rows.count * BID_PROPORTION as usize / TOTAL_PROPORTION as usize + 1;
    let mut auction = want(wanted, 0).then(|| Int64Builder::with_capacity(cap));
    let mut bidder = want(wanted, 1).then(|| Int64Builder::with_capacity(cap));
    let mut price_b = want(wanted, 2).then(|| Int64Builder::with_capacity(cap));
    let mut channel = want(wanted, 3).then(|| StringBuilder::with_capacity(cap, cap * 10));
    let mut url = want(wanted, 4).then(|| StringBuilder::with_capacity(cap, cap * 60));
    let mut date_time = want(wanted, 5).then(|| TimestampMicrosecondBuilder::with_capacity(cap));
    let mut extra = want(wanted, 6).then(|| StringBuilder::with_capacity(cap, cap * 70));
    let urls = url.is_some().then(|| g.urls());
    let hot_auction_ratio = g.cfg.hot_auction_ratio;
    let hot_bidder_ratio = g.cfg.hot_bidder_ratio;

    let mut count = 0;
    let mut buf = [0u8; 48];
    for e in rows.indices() {
        if Table::of_event(e) != Table::Bid {
            continue;
        }
        count += 1;
        let mut r = Rng::new(g.bid_key, e);
        let (u_hot_auction, u_auction) = (r.next_u64(), r.next_u64());
        let (u_hot_bidder, u_bidder) = (r.next_u64(), r.next_u64());
        let u_price = r.unit();
        let (u_hot_channel, u_channel) = (r.next_u64(), r.next_u64());
        let (u_extra_len, u_extra_at) = (r.next_u64(), r.next_u64());

        if let Some(b) = auction.as_mut() {
            let a = if rng::below(u_hot_auction, hot_auction_ratio) > 0 {
                // The first auction of the current batch of 100.
                (last_base0_auction(e) / HOT_BATCH) * HOT_BATCH
            } else {
                g.random_auction(e, u_auction)
            };
            b.append_value(i64::try_from(a + FIRST_AUCTION_ID).unwrap_or(i64::MAX));
        }
        if let Some(b) = bidder.as_mut() {
            let p = if rng::below(u_hot_bidder, hot_bidder_ratio) > 0 {
                // The second person of the current batch of 100 (hot sellers are the first).
                (last_base0_person(e) / HOT_BATCH) * HOT_BATCH + 1
            } else {
                g.random_person(e, u_bidder)
            };
            b.append_value(i64::try_from(p + FIRST_PERSON_ID).unwrap_or(i64::MAX));
        }
        if let Some(b) = price_b.as_mut() {
            b.append_value(price(u_price));
        }
        if channel.is_some() || url.is_some() {
            // Half the bids come from the 4 hot channels, the others from `channel-N`.
            let hot = rng::below(u_hot_channel, 2) > 0;
            let n = if hot { rng::below(u_channel, HOT_CHANNELS.len() as u64) } else { rng::below(u_channel, CHANNELS) };
            if let Some(b) = channel.as_mut() {
                if hot {
                    b.append_value(HOT_CHANNELS[n as usize]);
                } else {
                    b.append_value(rng::format_id(&mut buf, "channel-", n, 0));
                }
            }
            if let (Some(b), Some(urls)) = (url.as_mut(), urls) {
                let list = if hot { &urls.hot } else { &urls.channels };
                b.append_value(list.get(n as usize).map(String::as_str).unwrap_or(""));
            }
        }
        if let Some(b) = date_time.as_mut() {
            b.append_value(g.date_time_us(time, e));
        }
        if let Some(b) = extra.as_mut() {
            b.append_value(g.extra(extra_len(u_extra_len, ACCOUNTED, AVG_BID_BYTES), u_extra_at));
        }
    }
    (vec![done(auction), done(bidder), done(price_b), done(channel), done(url), done(date_time), done(extra)], count)
}
