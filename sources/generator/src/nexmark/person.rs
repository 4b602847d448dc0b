//! Rows of the `person` table: one per event `e` with `e % 50 == 0`.

use arrow::array::{ArrayRef, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::DataType;

use super::{AVG_PERSON_BYTES, FIRST_PERSON_ID, Nexmark, TS_US, Table, done, extra_len, last_base0_person, want};
use crate::rng::{self, Rng};
use crate::{Rows, TimeAxis};

pub(super) const COLUMNS: &[(&str, DataType)] = &[
    ("id", DataType::Int64),
    ("name", DataType::Utf8),
    ("email_address", DataType::Utf8),
    ("credit_card", DataType::Utf8),
    ("city", DataType::Utf8),
    ("state", DataType::Utf8),
    ("date_time", TS_US),
    ("extra", DataType::Utf8),
];

/// Few states and cities, so the example queries find matches in small data sets.
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] =
    ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"];
const FIRST_NAMES: [&str; 11] =
    ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
const LAST_NAMES: [&str; 9] = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];

/// `dddd dddd dddd dddd`.
const CARD_LEN: usize = 19;

pub(super) fn fill(g: &Nexmark, rows: &Rows, time: &TimeAxis, wanted: &[bool]) -> (Vec<Option<ArrayRef>>, usize) {
    let cap = rows.count / super::TOTAL_PROPORTION as usize + 1;
    let mut id = want(wanted, 0).then(|| Int64Builder::with_capacity(cap));
    let mut name = want(wanted, 1).then(|| StringBuilder::with_capacity(cap, cap * 12));
    let mut email = want(wanted, 2).then(|| StringBuilder::with_capacity(cap, cap * 14));
    let mut card = want(wanted, 3).then(|| StringBuilder::with_capacity(cap, cap * CARD_LEN));
    let mut city = want(wanted, 4).then(|| StringBuilder::with_capacity(cap, cap * 8));
    let mut state = want(wanted, 5).then(|| StringBuilder::with_capacity(cap, cap * 2));
    let mut date_time = want(wanted, 6).then(|| TimestampMicrosecondBuilder::with_capacity(cap));
    let mut extra = want(wanted, 7).then(|| StringBuilder::with_capacity(cap, cap * 130));
    let need_email = email.is_some() || extra.is_some();

    let mut count = 0;
    let (mut text, mut part) = (String::new(), String::new());
    let mut buf = [0u8; 48];
    for e in rows.indices() {
        if Table::of_event(e) != Table::Person {
            continue;
        }
        count += 1;
        // Fixed draws whatever the projection, so values never depend on it.
        let mut r = Rng::new(g.person_key, e);
        let first = FIRST_NAMES[r.below(FIRST_NAMES.len() as u64) as usize];
        let last = LAST_NAMES[r.below(LAST_NAMES.len() as u64) as usize];
        let u_email = r.next_u64();
        let u_card = r.next_u64();
        let c = US_CITIES[r.below(US_CITIES.len() as u64) as usize];
        let s = US_STATES[r.below(US_STATES.len() as u64) as usize];
        let (u_extra_len, u_extra_at) = (r.next_u64(), r.next_u64());

        if let Some(b) = id.as_mut() {
            let v = last_base0_person(e) + FIRST_PERSON_ID;
            b.append_value(i64::try_from(v).unwrap_or(i64::MAX));
        }
        if let Some(b) = name.as_mut() {
            text.clear();
            text.push_str(first);
            text.push(' ');
            text.push_str(last);
            b.append_value(&text);
        }
        let mut email_len = 0;
        if need_email {
            // `xxx@yyy.com`: strings of up to 6 and 4 characters.
            let mut er = Rng::new(u_email, e);
            text.clear();
            super::random_string(&mut part, &mut er, 7, ' ');
            text.push_str(&part);
            text.push('@');
            super::random_string(&mut part, &mut er, 5, ' ');
            text.push_str(&part);
            text.push_str(".com");
            email_len = text.len();
            if let Some(b) = email.as_mut() {
                b.append_value(&text);
            }
        }
        if let Some(b) = card.as_mut() {
            let mut cr = Rng::new(u_card, e);
            text.clear();
            for k in 0..4 {
                if k > 0 {
                    text.push(' ');
                }
                text.push_str(rng::format_id(&mut buf, "", cr.below(10_000), 4));
            }
            b.append_value(&text);
        }
        if let Some(b) = city.as_mut() {
            b.append_value(c);
        }
        if let Some(b) = state.as_mut() {
            b.append_value(s);
        }
        if let Some(b) = date_time.as_mut() {
            b.append_value(g.date_time_us(time, e));
        }
        if let Some(b) = extra.as_mut() {
            // The reference's accounting: 8 for the id plus the strings.
            let current = 8 + first.len() + 1 + last.len() + email_len + CARD_LEN + c.len() + s.len();
            b.append_value(g.extra(extra_len(u_extra_len, current, AVG_PERSON_BYTES), u_extra_at));
        }
    }
    (vec![done(id), done(name), done(email), done(card), done(city), done(state), done(date_time), done(extra)], count)
}
