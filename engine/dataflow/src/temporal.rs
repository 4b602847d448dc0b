//! Temporal filters: rows that leave the view when time passes them.
//!
//! `WHERE ts > WATERMARK(src) - INTERVAL '10' MINUTE` keeps a row while the dataflow's time
//! (event time: the watermark) is before `ts + 10 min`. Since the timestamp *is* event time,
//! that is an update scheduled in the future: each row `(r, t, +d)` also emits `(r, until, -d)`.
//! Once the frontier passes `until` the two cancel, and compaction drops both, so a
//! retention view's state stays bounded by its window. Rows whose `until` is NULL, or not after
//! their own time, never appear (as `ts > NULL` is not true).

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use illunare_eval::map_rows;
use illunare_plan::Expr;
use illunare_types::{Datum, Row, Time};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use crate::{Coll, Failure, Rendered, error_row};

/// Milliseconds of a timestamp value of type `dt`, rounded up (a row at `until` is gone).
pub(crate) fn until_ms(d: &Datum, dt: &DataType) -> Option<Time> {
    let Datum::Timestamp(v) = d else { return None };
    let ms = match dt {
        DataType::Timestamp(TimeUnit::Second, _) => v.saturating_mul(1000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => *v,
        DataType::Timestamp(TimeUnit::Microsecond, _) => v.div_euclid(1000) + i64::from(v.rem_euclid(1000) != 0),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => v.div_euclid(1_000_000) + i64::from(v.rem_euclid(1_000_000) != 0),
        _ => return None,
    };
    Some(ms.max(0) as Time)
}

/// Retention (`WATERMARK` in WHERE): each row is retracted at `until`.
pub fn render_temporal<'s>(input: Coll<'s>, until: Expr, schema: SchemaRef, relation: &str) -> Rendered<'s> {
    let relation = relation.to_string();
    let until_type = until.physical.data_type(&schema).unwrap_or(DataType::Null);
    let tagged = input.inner.unary::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(Pipeline, "Temporal", move |_, _| {
        move |input, output| {
            input.for_each(|cap, data| {
                let refs: Vec<&Row> = data.iter().map(|(r, _, _)| r).collect();
                let results = map_rows(std::slice::from_ref(&until), &schema, &refs);
                let mut retractions: Vec<(Time, crate::Tagged<Row>)> = Vec::new();
                {
                    let mut session = output.session(&cap);
                    for ((row, t, d), result) in data.drain(..).zip(results) {
                        match result {
                            Ok(value) => match until_ms(&value.0[0], &until_type) {
                                Some(u) if u > t => {
                                    retractions.push((u, (Ok(row.clone()), u, -d)));
                                    session.give((Ok(row), t, d));
                                }
                                // Already expired (or NULL): the condition is false, the row never appears.
                                _ => {}
                            },
                            Err(e) => {
                                let raw = crate::mfp::describe(&row);
                                session.give((Err(error_row(&relation, Failure { message: e.0, raw })), t, d));
                            }
                        }
                    }
                }
                // The future retractions, grouped by time.
                retractions.sort_unstable_by_key(|(u, _)| *u);
                for group in retractions.chunk_by(|a, b| a.0 == b.0) {
                    let at = cap.delayed(&group[0].0, 0);
                    output.session(&at).give_iterator(group.iter().map(|(_, update)| update.clone()));
                }
            });
        }
    });
    crate::split_tagged(tagged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_rounds_up_to_the_millisecond() {
        let us = DataType::Timestamp(TimeUnit::Microsecond, None);
        assert_eq!(until_ms(&Datum::Timestamp(1_500), &us), Some(2));
        assert_eq!(until_ms(&Datum::Timestamp(2_000), &us), Some(2));
        assert_eq!(until_ms(&Datum::Null, &us), None);
        assert_eq!(until_ms(&Datum::Timestamp(3), &DataType::Timestamp(TimeUnit::Second, None)), Some(3000));
    }
}
