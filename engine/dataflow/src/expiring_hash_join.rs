//! The expiring join (interval joins, window joins) as a hash join in event-time order.
//!
//! `interval_join.rs` proves which pairs an expiring join outputs: a pair of updates
//! `(l, tl, dl)`, `(r, tr, dr)` whose rows match on the key gives `(l ++ r, max(tl, tr), dl·dr)`
//! exactly when `max(tl, tr)` is before both rows' expiries `e(l)`, `e(r)`. Built from
//! differential arrangements, that meant inserting every row into a sorted arrangement and
//! retracting it again at its expiry — two sorts of whole rows per row, and for a side whose
//! rows expire right after their own time (a bid meets only auctions that started before it:
//! `e(b) = stamp(b.ts) + 1`) both were pure overhead. Here the same pairs come from the
//! symmetric hash join of Flink's interval join, run in time order:
//!
//! ```text
//!  left ─key_by─┐ exchange by key; per completed time t, in order:
//!               ├─► forget rows with e ≤ t; left rows at t probe the right rows kept,
//!  right ─key_by┘   then join them; right rows at t probe the left rows kept (now with t's)
//! ```
//! Every kept row `x` has `tx ≤ t < e(x)`, so each emitted pair is one the proof keeps, at
//! `max(tl, tr) = t`; a pair the proof keeps is emitted when its later row arrives (the other is
//! still kept then). Rows are never retracted and nothing is sorted; the state is the rows not
//! yet expired, per side. Rows whose time is NULL match nothing; a row stamped after its own
//! latest time becomes an error row, as in the differential version.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use differential_dataflow::AsCollection;
use illunare_types::{Diff, Row, Time};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;

use crate::interval_join::Expiry;
use crate::join::JoinSpec;
use crate::keyed::{KeyedColl, key_by};
use crate::mfp::{Step, render_chain};
use crate::state_metrics::StateMetrics;
use crate::time_order::ByTime;
use crate::{Failure, Rendered, error_row};


/// The rows of one side not yet expired, by key: (row, expiry, multiplicity).
#[derive(Default)]
struct Side {
    rows: HashMap<Row, Vec<(Row, Time, Diff)>>,
    /// Keys by the expiry of a row they hold, to forget expired rows.
    expiries: BTreeMap<Time, Vec<Row>>,
    held: i64,
}

impl Side {
    fn insert(&mut self, key: Row, row: Row, expiry: Time, d: Diff) {
        self.expiries.entry(expiry).or_default().push(key.clone());
        self.rows.entry(key).or_default().push((row, expiry, d));
        self.held += 1;
    }

    /// Forgets the rows whose expiry is at or before `t`.
    fn expire(&mut self, t: Time) {
        while let Some(entry) = self.expiries.first_entry() {
            if *entry.key() > t {
                break;
            }
            for key in entry.remove() {
                if let Some(rows) = self.rows.get_mut(&key) {
                    let before = rows.len();
                    rows.retain(|(_, e, _)| *e > t);
                    self.held -= (before - rows.len()) as i64;
                    if rows.is_empty() {
                        self.rows.remove(&key);
                    }
                }
            }
        }
    }
}

/// Each side's updates at a time: (key, row, multiplicity).
type Updates = (Vec<(Row, Row, Diff)>, Vec<(Row, Row, Diff)>);

/// The inner join of `left` and `right` where each row only meets partners before its expiry
/// (see the module doc), then the residual.
pub fn render_hash_expiring_join<'s>(left: crate::Coll<'s>, right: crate::Coll<'s>, spec: JoinSpec, left_expiry: Expiry, right_expiry: Expiry, relation: &str) -> Rendered<'s> {
    let drop_nulls = !spec.nulls_equal;
    let (lk, lerr) = key_by(left, spec.left_keys, spec.left_schema, drop_nulls, relation);
    let (rk, rerr) = key_by(right, spec.right_keys, spec.right_schema, drop_nulls, relation);
    let metrics = crate::render::STATE.with(|s| s.borrow().clone());
    let (pairs, late) = join(lk, rk, left_expiry, right_expiry, relation.to_string(), metrics);
    let errors = lerr.concat(rerr).concat(late);
    match spec.residual {
        None => Rendered { ok: pairs, err: errors },
        Some(predicate) => {
            let filtered = render_chain(pairs, vec![Step::Filter { predicate, input: spec.pair_schema }], relation);
            Rendered { ok: filtered.ok, err: errors.concat(filtered.err) }
        }
    }
}

/// One side's updates at time `t`: each joins the other side's kept rows (pairs are always
/// `left ++ right`), then is kept until its expiry; a row stamped after its latest time becomes
/// an error row, a row with a NULL time matches nothing.
#[allow(clippy::too_many_arguments)]
fn admit(
    updates: Vec<(Row, Row, Diff)>,
    t: Time,
    expiry: &Expiry,
    own: &mut Side,
    other: &Side,
    own_is_left: bool,
    relation: &str,
    out: &mut Vec<crate::Tagged<Row>>,
) {
    for (key, row, d) in updates {
        match expiry.of(&row) {
            None => {}
            Some((latest, _)) if t > latest => {
                let raw = crate::mfp::describe(&row);
                out.push((Err(error_row(relation, Failure { message: expiry.too_late().into(), raw })), t, d));
            }
            Some((_, until)) => {
                for (partner, _, dp) in other.rows.get(&key).into_iter().flatten() {
                    let pair = if own_is_left { row.concat(partner) } else { partner.concat(&row) };
                    out.push((Ok(pair), t, d * dp));
                }
                own.insert(key, row, until, d);
            }
        }
    }
}

fn join<'s>(
    left: KeyedColl<'s>,
    right: KeyedColl<'s>,
    left_expiry: Expiry,
    right_expiry: Expiry,
    relation: String,
    metrics: Option<Arc<StateMetrics>>,
) -> (crate::Coll<'s>, crate::Coll<'s>) {
    let exchange = || Exchange::new(|((key, _), _, _): &((Row, Row), Time, Diff)| crate::key_hash(key));
    let tagged = left.inner.binary_frontier::<_, timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _, _>(
        right.inner,
        exchange(),
        exchange(),
        "ExpiringHashJoin",
        move |_, _| {
            let mut pending: ByTime<Updates> = ByTime::default();
            let (mut lefts, mut rights) = (Side::default(), Side::default());
            let mut reported: i64 = 0;
            move |(input1, frontier1), (input2, frontier2), output| {
                input1.for_each(|cap, data| {
                    for ((key, row), t, d) in data.drain(..) {
                        pending.at(t, || cap.delayed(&t, 0)).0.push((key, row, d));
                    }
                });
                input2.for_each(|cap, data| {
                    for ((key, row), t, d) in data.drain(..) {
                        pending.at(t, || cap.delayed(&t, 0)).1.push((key, row, d));
                    }
                });
                // A time is complete once both inputs have passed it.
                let mut both = timely::progress::Antichain::new();
                for t in frontier1.frontier().iter().chain(frontier2.frontier().iter()) {
                    both.insert(*t);
                }
                while let Some((t, cap, (new_left, new_right))) = pending.pop_complete(both.borrow()) {
                    lefts.expire(t);
                    rights.expire(t);
                    let mut out = Vec::new();
                    admit(new_left, t, &left_expiry, &mut lefts, &rights, true, &relation, &mut out);
                    admit(new_right, t, &right_expiry, &mut rights, &lefts, false, &relation, &mut out);
                    output.session(&cap).give_iterator(out.into_iter());
                }
                if let Some(m) = &metrics {
                    let held = lefts.held + rights.held;
                    m.pending.fetch_add(held - reported, Ordering::Relaxed);
                    reported = held;
                }
            }
        },
    );
    let (ok, err) = tagged.ok_err(|(x, t, d): (Result<Row, Row>, Time, Diff)| match x {
        Ok(row) => Ok((row, t, d)),
        Err(row) => Err((row, t, d)),
    });
    (ok.as_collection(), err.as_collection())
}
