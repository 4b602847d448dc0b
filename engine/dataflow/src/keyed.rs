//! Keying: evaluates key expressions (join keys, GROUP BY keys) vectorised and pairs each row
//! with its key, so differential can arrange by key. Rows whose key fails to evaluate go to the
//! error output.

use arrow::datatypes::SchemaRef;
use differential_dataflow::{AsCollection, VecCollection};
use illunare_eval::map_rows;
use illunare_plan::Expr;
use illunare_types::{Diff, Row, Time};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;

use crate::mfp::describe;
use crate::{Coll, Failure, error_row};

pub type KeyedColl<'s> = VecCollection<'s, Time, (Row, Row), Diff>;

/// Pairs every row with `keys` evaluated on it (`Row::empty()` when there are no keys).
/// With `drop_null_keys`, rows with a NULL in their key are left out (they can never match).
pub fn key_by<'s>(input: Coll<'s>, keys: Vec<Expr>, schema: SchemaRef, drop_null_keys: bool, relation: &str) -> (KeyedColl<'s>, Coll<'s>) {
    if keys.is_empty() {
        let keyed = input.map(|row| (Row::empty(), row));
        let err = keyed.scope().empty_collection();
        return (keyed, err);
    }
    let relation = relation.to_string();
    let tagged = input.inner.unary::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(Pipeline, "KeyBy", move |_, _| {
        move |input, output| {
            input.for_each(|time, data| {
                let refs: Vec<&Row> = data.iter().map(|(r, _, _)| r).collect();
                let results = map_rows(&keys, &schema, &refs);
                let mut session = output.session(&time);
                for ((row, t, d), key) in data.drain(..).zip(results) {
                    match key {
                        Ok(key) if drop_null_keys && key.has_null() => {}
                        Ok(key) => session.give((Ok((key, row)), t, d)),
                        Err(e) => {
                            let raw = describe(&row);
                            session.give((Err(error_row(&relation, Failure { message: e.0, raw })), t, d))
                        }
                    }
                }
            });
        }
    });
    let (ok, err) = tagged.ok_err(|(r, t, d): (Result<(Row, Row), Row>, Time, Diff)| match r {
        Ok(kv) => Ok((kv, t, d)),
        Err(row) => Err((row, t, d)),
    });
    (ok.as_collection(), err.as_collection())
}

/// Extension to make empty collections in a scope.
pub trait EmptyCollection<'s> {
    fn empty_collection<D: Clone + 'static>(&self) -> VecCollection<'s, Time, D, Diff>;
}

impl<'s> EmptyCollection<'s> for timely::dataflow::Scope<'s, Time> {
    fn empty_collection<D: Clone + 'static>(&self) -> VecCollection<'s, Time, D, Diff> {
        timely::dataflow::operators::generic::operator::empty(*self).as_collection()
    }
}
