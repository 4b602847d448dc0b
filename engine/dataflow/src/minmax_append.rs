//! `min` / `max` over append-only input: one current value per group, no arrangement.
//!
//! When nothing is ever retracted, a group's minimum only falls and its maximum only rises, so
//! the group's current extremes are all the state it needs. Differential's `reduce` instead
//! keeps every (prefolded) input row of the group in an arrangement and re-reads them all each
//! time the group changes: O(times the group was touched) per change, and the arrangement
//! grows with the input (Nexmark q4's maximum bid per auction spent most of its time there).
//!
//! ```text
//!  prefolded (key, extremes) ─exchange by key─► per completed time, in time order:
//!      fold into the group's current row; if it changed: (key, old) −1, (key, new) +1
//! ```
//! Updates are applied in time order once the frontier has passed their time, so the output is
//! the correct collection at every time, not only at the end. A window aggregate that closes
//! (`window_agg.rs`) forgets a group once the frontier passes the window's close; a row that
//! reaches a closed window becomes an error row (as `retract_at_close` reports it), and no
//! output is ever produced at or after the close (what `freeze` would drop anyway).

use std::collections::{BTreeMap, HashMap};

use differential_dataflow::AsCollection;
use illunare_types::{Diff, Row, Time};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;

use crate::keyed::KeyedColl;
use crate::time_order::ByTime;
use crate::minmax::{Extreme, fold};
use crate::window_agg::{WindowClose, close_time};
use crate::Coll;


/// The groups' extremes over `prefolded` (append-only `(key, extremes)` rows; retractions are
/// not expected and ignored), and the error rows (`late(key)`) of rows that reached a closed
/// window.
pub fn render_append_minmax<'s>(
    prefolded: KeyedColl<'s>,
    kinds: Vec<Extreme>,
    closing: Option<WindowClose>,
    late: impl Fn(&Row) -> Row + 'static,
) -> (KeyedColl<'s>, Coll<'s>) {
    let exchange = Exchange::new(|((key, _), _, _): &((Row, Row), Time, Diff)| crate::key_hash(key));
    let tagged = prefolded.inner.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(exchange, "MinMax(append-only)", move |_, _| {
        // Updates not yet applied (their time is not complete), by time, with a capability.
        let mut pending: ByTime<Vec<(Row, Row)>> = ByTime::default();
        let mut current: HashMap<Row, Row> = HashMap::new();
        // Groups of closing windows by close time, to forget them once closed.
        let mut closes: BTreeMap<Time, Vec<Row>> = BTreeMap::new();
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                for ((key, values), t, d) in data.drain(..) {
                    if d <= 0 {
                        continue;
                    }
                    pending.at(t, || cap.delayed(&t, 0)).push((key, values));
                }
            });
            let frontier = frontier.frontier();
            while let Some((t, cap, updates)) = pending.pop_complete(frontier) {
                let mut session = output.session(&cap);
                for (key, values) in updates {
                    let close = closing.as_ref().and_then(|c| close_time(&key, c));
                    if close.is_some_and(|c| c <= t) {
                        session.give((Err(late(&key)), t, 1));
                        continue;
                    }
                    match current.get_mut(&key) {
                        Some(old) => {
                            let new = fold(&kinds, &[(&*old, 1), (&values, 1)]);
                            if new != *old {
                                session.give((Ok((key.clone(), std::mem::replace(old, new.clone()))), t, -1));
                                session.give((Ok((key, new)), t, 1));
                            }
                        }
                        None => {
                            let new = fold(&kinds, &[(&values, 1)]);
                            if let Some(c) = close {
                                closes.entry(c).or_default().push(key.clone());
                            }
                            current.insert(key.clone(), new.clone());
                            session.give((Ok((key, new)), t, 1));
                        }
                    }
                }
            }
            // Closed windows: no on-time row can reach them any more.
            while let Some(entry) = closes.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                for key in entry.remove() {
                    current.remove(&key);
                }
            }
        }
    });
    let (ok, err) = tagged.ok_err(|(x, t, d): (Result<(Row, Row), Row>, Time, Diff)| match x {
        Ok(kv) => Ok((kv, t, d)),
        Err(row) => Err((row, t, d)),
    });
    (ok.as_collection(), err.as_collection())
}
