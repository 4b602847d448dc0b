//! Accumulable aggregates (`count`, `sum`, `avg`) per group: one running [`Accum`] per group.
//!
//! The updates of such an aggregate are diffs that add up (`accum.rs`), so a group's value at a
//! time is the sum of its updates so far, whatever their signs. Differential's `count_core`
//! keeps them in an arrangement and replays a group's history of updates each time the group
//! changes; for a few hot groups changing at every tick (Nexmark q4's average per category,
//! whose input is every auction's changing maximum) that replay and the arrangement's sorting of
//! whole keys were most of the query's time. Here each group is a running sum in a hash map:
//!
//! ```text
//!  (key, Accum) updates ─exchange by key─► per completed time, in time order, per group:
//!      new = old + Σ updates;  if its value changed: (key, value(old)) −1, (key, value(new)) +1
//! ```
//! Applied in time order once the frontier has passed, so the output is the correct collection
//! at every time. A group whose sum returns to nothing (its rows all retracted, or its window
//! closed: `window_agg::retract_at_close`) is forgotten. O(1) per update; the state is one
//! `Accum` per live group.

use std::collections::HashMap;

use differential_dataflow::difference::{IsZero, Semigroup};
use differential_dataflow::{AsCollection, VecCollection};
use illunare_types::{Diff, Row, Time};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::accum::{Accum, FastKind, finish};
use crate::keyed::KeyedColl;
use crate::time_order::ByTime;


/// The value a group shows for its sum: none while it has no rows.
fn value(kinds: &[FastKind], acc: &Accum) -> Option<Row> {
    (acc.rows != 0).then(|| Row(finish(kinds, acc)))
}

/// Each group's aggregates (`finish(kinds, Σ updates)`) as `(key, values)`, updated per time.
pub fn render_accumulate<'s>(updates: VecCollection<'s, Time, Row, Accum>, kinds: Vec<FastKind>) -> KeyedColl<'s> {
    let exchange = Exchange::new(|(key, _, _): &(Row, Time, Accum)| crate::key_hash(key));
    updates
        .inner
        .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(exchange, "Accumulate", move |_, _| {
            let mut pending: ByTime<HashMap<Row, Accum>> = ByTime::default();
            let mut groups: HashMap<Row, Accum> = HashMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for (key, t, acc) in data.drain(..) {
                        pending.at(t, || cap.delayed(&t, 0)).entry(key).or_default().plus_equals(&acc);
                    }
                });
                while let Some((t, cap, changes)) = pending.pop_complete(frontier.frontier()) {
                    let mut session = output.session(&cap);
                    for (key, change) in changes {
                        if change.is_zero() {
                            continue;
                        }
                        let old = groups.get(&key).copied().unwrap_or_default();
                        let mut new = old;
                        new.plus_equals(&change);
                        let (before, after) = (value(&kinds, &old), value(&kinds, &new));
                        if new.is_zero() {
                            groups.remove(&key);
                        } else {
                            groups.insert(key.clone(), new);
                        }
                        if before == after {
                            continue;
                        }
                        if let Some(row) = before {
                            session.give(((key.clone(), row), t, -1 as Diff));
                        }
                        if let Some(row) = after {
                            session.give(((key, row), t, 1 as Diff));
                        }
                    }
                }
            }
        })
        .as_collection()
}
