//! Window aggregates that release their state once the watermark passes the window.
//!
//! A GROUP BY that includes a `window_end` key (from `TUMBLE`/`HOP`) over event-time sources
//! only would otherwise keep every row of every window forever. Instead:
//!
//! ```text
//!  rows ─► retract each row at window_end + 1 ms ─► reduce ─► freeze ─► view
//! ```
//! - the retraction (`temporal.rs`) empties a window's groups once the frontier passes its end,
//!   so the reduce's arrangements compact the window away: state holds open windows only;
//! - *freeze* drops every output update at or after the window's close time, so the view keeps
//!   each window's final row (the retraction never reaches it).
//!
//! Rows are stamped at most at their window's end (event time rounded up to a tick that divides
//! the window), and a source sends rows behind its frontier to `<source>_late`, so no on-time row
//! can reach a closed window. One that does (a join partner arriving after the window closed)
//! is reported in the view's errors, never dropped silently. Whole windows retract at once, so
//! float sums stay exact diffs (see `reduce.rs`).

use arrow::datatypes::{DataType, Schema};
use datafusion_physical_expr::expressions::Column;
use illunare_plan::Expr;
use illunare_types::{Datum, Diff, Row, Time};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use crate::Coll;
use crate::temporal::until_ms;

/// Where a window closes: the group key index of `window_end`, its type, and the tick the
/// dataflow stamps rows in.
#[derive(Clone, Debug)]
pub struct WindowClose {
    pub key: usize,
    pub key_type: DataType,
    pub tick: Time,
}

/// The `window_end` group key (a TIMESTAMP column of that name), if any.
pub fn window_close_key(group_keys: &[Expr], input: &Schema) -> Option<WindowClose> {
    group_keys.iter().enumerate().find_map(|(i, k)| {
        let column = k.physical.downcast_ref::<Column>()?;
        let field = input.fields().get(column.index())?;
        (field.name() == "window_end" && matches!(field.data_type(), DataType::Timestamp(..)))
            .then(|| WindowClose { key: i, key_type: field.data_type().clone(), tick: crate::render::TICK_MS.with(|t| t.get()) })
    })
}

/// A group key that is the input's event-time column itself (`render::event_time_column`): rows
/// with the value `v` are all stamped `stamp(v)`, so the group is complete, closed, after that.
/// What a GROUP BY over the output of a window aggregate that emits on close (whose
/// `window_end` is its event time, however it was renamed) closes on.
pub fn event_time_close_key(group_keys: &[Expr], input: &illunare_plan::Plan) -> Option<WindowClose> {
    let time = crate::render::event_time_column(input)?;
    let field = input.schema.fields().get(time)?;
    if !matches!(field.data_type(), DataType::Timestamp(..)) {
        return None;
    }
    let key = group_keys.iter().position(|k| k.physical.downcast_ref::<Column>().is_some_and(|c| c.index() == time))?;
    Some(WindowClose { key, key_type: field.data_type().clone(), tick: crate::render::TICK_MS.with(|t| t.get()) })
}

/// The message of a row that reached its window after the window closed.
pub const AFTER_CLOSE: &str = "row arrived after its window closed (the watermark had passed window_end)";

/// Keeps only the updates of each output row (whose `close.key` column is its window end)
/// made before the window closed, so the view keeps every window's final value.
pub fn freeze<'s>(output: Coll<'s>, close: WindowClose) -> Coll<'s> {
    use differential_dataflow::AsCollection;
    output
        .inner
        .unary::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(Pipeline, "FreezeClosedWindows", move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for (row, t, d) in data.drain(..) {
                        if close_time(&row, &close).is_none_or(|c| t < c) {
                            session.give((row, t, d));
                        }
                    }
                });
            }
        })
        .as_collection()
}

/// When the window of output row `row` closes: 1 ms after its `window_end` (rounded up to the
/// millisecond), or after the time a source stamps an event at `window_end` with if that is
/// later (a `window_end` that does not fall on a tick).
pub fn close_time(row: &Row, close: &WindowClose) -> Option<Time> {
    let value = row.0.get(close.key)?;
    let end = until_ms(value, &close.key_type)?;
    let stamped = match (value, &close.key_type) {
        (Datum::Timestamp(v), DataType::Timestamp(unit, _)) => crate::window_hold::stamp(*v, *unit, close.tick),
        _ => end,
    };
    Some(end.max(stamped).saturating_add(1))
}


/// Schedules, for every update of `coll` whose group (`key_of`) belongs to a window, its
/// retraction at the window's close; updates already at or past the close are not kept and
/// become error rows through `late` (given the group key; the view's errors). Applied *after* pre-aggregation (so
/// the retraction cancels exactly what the arrangement holds) and before the final reduce.
pub fn retract_at_close<'s, D, R>(
    coll: differential_dataflow::VecCollection<'s, Time, D, R>,
    close: WindowClose,
    key_of: impl Fn(&D) -> &Row + 'static,
    late: impl Fn(&Row) -> Row + 'static,
) -> (differential_dataflow::VecCollection<'s, Time, D, R>, Coll<'s>)
where
    D: Clone + 'static,
    R: differential_dataflow::difference::Abelian + Clone + 'static,
{
    use differential_dataflow::AsCollection;
    use timely::dataflow::operators::core::OkErr;
    let tagged = coll.inner.unary::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(Pipeline, "CloseWindows", move |_, _| {
        move |input, output| {
            input.for_each(|cap, data| {
                let mut later: Vec<(Time, crate::Tagged<D, R>)> = Vec::new();
                {
                    let mut session = output.session(&cap);
                    for (d, t, r) in data.drain(..) {
                        match close_time(key_of(&d), &close) {
                            Some(c) if c <= t => session.give((Err(late(key_of(&d))), t, r)),
                            Some(c) => {
                                let mut negated = r.clone();
                                negated.negate();
                                later.push((c, (Ok(d.clone()), c, negated)));
                                session.give((Ok(d), t, r));
                            }
                            None => session.give((Ok(d), t, r)),
                        }
                    }
                }
                later.sort_unstable_by_key(|(c, _)| *c);
                for group in later.chunk_by(|a, b| a.0 == b.0) {
                    let at = cap.delayed(&group[0].0, 0);
                    output.session(&at).give_iterator(group.iter().map(|(_, u)| u.clone()));
                }
            });
        }
    });
    let (ok, err) = tagged.ok_err(|(x, t, r): (Result<D, Row>, Time, R)| match x {
        Ok(d) => Ok((d, t, r)),
        Err(row) => Err((row, t, 1 as Diff)),
    });
    (ok.as_collection(), err.as_collection())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, TimeUnit};
    use illunare_types::Datum;

    use super::*;

    #[test]
    fn only_a_timestamp_column_named_window_end_closes_groups() {
        let schema = Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("window_end", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]);
        let col = |i: usize, name: &str| Expr::new(Arc::new(Column::new(name, i)), name.to_string());
        let close = window_close_key(&[col(0, "k"), col(1, "window_end")], &schema).expect("closes");
        assert_eq!(close.key, 1);
        assert!(window_close_key(&[col(0, "k")], &schema).is_none());
    }

    /// The updates `freeze` keeps.
    fn kept(updates: Vec<(Row, Time, Diff)>, close: &WindowClose) -> Vec<(Row, Time, Diff)> {
        updates.into_iter().filter(|(r, t, _)| close_time(r, close).is_none_or(|c| *t < c)).collect()
    }

    #[test]
    fn updates_after_the_close_are_dropped() {
        let close = WindowClose { key: 0, key_type: DataType::Timestamp(TimeUnit::Millisecond, None), tick: 1 };
        let row = |end: i64, n: i64| Row(vec![Datum::Timestamp(end), Datum::Int(n)]);
        let updates = vec![(row(10, 1), 5, 1), (row(10, 1), 8, -1), (row(10, 2), 8, 1), (row(10, 2), 11, -1), (row(20, 1), 15, 1)];
        assert_eq!(kept(updates, &close), vec![(row(10, 1), 5, 1), (row(10, 1), 8, -1), (row(10, 2), 8, 1), (row(20, 1), 15, 1)]);
    }
}
