//! Joins: inner, outer, semi and anti (incl. `NOT IN`'s null-aware anti join), incremental
//! under insertions and retractions.
//!
//! ```text
//!  left ─key_by─┐
//!               join ─► pairs (l ++ r) ─residual filter─► matched pairs ─────────────► inner
//!  right ─key_by┘                                 │ distinct left/right parts
//!                                                 ▼
//!                      left − left⋉matched  (padded with NULLs) ──────────────────────► outer
//! ```
//! Rows with a NULL key never match (SQL equality), so they fall into the unmatched side of
//! outer and anti joins, as in any SQL database.

use arrow::datatypes::SchemaRef;
use differential_dataflow::VecCollection;
use illunare_plan::{Expr, JoinKind};
use illunare_types::{Diff, Row, Time};

use crate::keyed::key_by;
use crate::mfp::{Step, render_chain};
use crate::{Coll, Rendered};

pub struct JoinSpec {
    pub kind: JoinKind,
    pub left_keys: Vec<Expr>,
    pub right_keys: Vec<Expr>,
    pub residual: Option<Expr>,
    pub nulls_equal: bool,
    pub left_schema: SchemaRef,
    pub right_schema: SchemaRef,
    /// Schema of `left ++ right` (what the residual sees).
    pub pair_schema: SchemaRef,
}

/// The rows of `all` that occur in the set `present` (each with its own multiplicity).
fn rows_in<'s>(all: Coll<'s>, present: Coll<'s>) -> Coll<'s> {
    all.map(|r| (r, ())).semijoin(present).map(|(r, ())| r)
}

/// Keeps `coll` only while `flag` (a collection of `()`) is non-empty.
fn gate<'s>(coll: Coll<'s>, flag: VecCollection<'s, Time, (), Diff>) -> Coll<'s> {
    coll.map(|r| ((), r)).semijoin(flag).map(|((), r)| r)
}

pub fn render_join<'s>(left: Coll<'s>, right: Coll<'s>, spec: JoinSpec, relation: &str) -> Rendered<'s> {
    let wl = spec.left_schema.fields().len();
    let wr = spec.right_schema.fields().len();
    let drop_nulls = !spec.nulls_equal;
    let (lk, lerr) = key_by(left.clone(), spec.left_keys.clone(), spec.left_schema.clone(), false, relation);
    let (rk, rerr) = key_by(right.clone(), spec.right_keys.clone(), spec.right_schema.clone(), false, relation);
    let mut errors = lerr.concat(rerr);
    let lk_match = lk.clone().filter(move |(k, _): &(Row, Row)| !(drop_nulls && k.has_null()));
    let rk_match = rk.clone().filter(move |(k, _): &(Row, Row)| !(drop_nulls && k.has_null()));

    // Matching pairs `l ++ r` that pass the residual predicate.
    let pairs = || -> (Coll<'s>, Option<Coll<'s>>) {
        let joined = lk_match.clone().join_map(rk_match.clone(), |_k, l, r| l.concat(r));
        match &spec.residual {
            None => (joined, None),
            Some(residual) => {
                let filtered = render_chain(joined, vec![Step::Filter { predicate: residual.clone(), input: spec.pair_schema.clone() }], relation);
                (filtered.ok, Some(filtered.err))
            }
        }
    };
    // Rows of `side` that appear (as the slice `range` of a pair) in `pairs`, each with its own multiplicity.
    let matched = |side: &Coll<'s>, pairs: &Coll<'s>, range: std::ops::Range<usize>| -> Coll<'s> {
        rows_in(side.clone(), pairs.clone().map(move |r| Row(r.0[range.clone()].to_vec())).distinct())
    };
    // Left rows with at least one match; without a residual, the keys alone decide.
    let mut matched_left = || -> Coll<'s> {
        if spec.residual.is_none() {
            return lk_match.clone().semijoin(rk_match.clone().map(|(k, _)| k).distinct()).map(|(_, r)| r);
        }
        let (p, err) = pairs();
        if let Some(err) = err {
            errors = errors.clone().concat(err);
        }
        matched(&left, &p, 0..wl)
    };

    let ok = match spec.kind {
        JoinKind::Inner | JoinKind::LeftOuter | JoinKind::RightOuter | JoinKind::FullOuter => {
            let (p, err) = pairs();
            if let Some(err) = err {
                errors = errors.clone().concat(err);
            }
            let mut out = p.clone();
            if matches!(spec.kind, JoinKind::LeftOuter | JoinKind::FullOuter) {
                let unmatched = left.clone().concat(matched(&left, &p, 0..wl).negate());
                out = out.concat(unmatched.map(move |r| r.pad_nulls(wr)));
            }
            if matches!(spec.kind, JoinKind::RightOuter | JoinKind::FullOuter) {
                let unmatched = right.clone().concat(matched(&right, &p, wl..wl + wr).negate());
                out = out.concat(unmatched.map(move |r| Row::nulls_then(wl, &r)));
            }
            out
        }
        JoinKind::LeftSemi => matched_left(),
        JoinKind::LeftAnti { null_aware } => {
            let basic = left.clone().concat(matched_left().negate());
            if !null_aware {
                basic
            } else {
                // NOT IN: a NULL left key is unknown (excluded) unless the subquery is empty;
                // a NULL in the subquery makes every comparison unknown (nothing passes).
                let nullable = |keys: &[Expr], schema: &SchemaRef| keys.iter().any(|k| k.physical.nullable(schema).unwrap_or(true));
                let mut out = basic;
                if nullable(&spec.left_keys, &spec.left_schema) {
                    let right_nonempty = right.map(|_| ()).distinct();
                    let left_null = lk.filter(|(k, _)| k.has_null()).map(|(_, r)| r);
                    out = out.concat(gate(left_null, right_nonempty).negate());
                }
                // Gating every row on "the subquery holds a NULL" is costly; skip it when the
                // subquery's key cannot be NULL (e.g. a primary key).
                if nullable(&spec.right_keys, &spec.right_schema) {
                    let right_has_null = rk.filter(|(k, _)| k.has_null()).map(|_| ()).distinct();
                    out = out.clone().concat(gate(out, right_has_null).negate());
                }
                out
            }
        }
    };
    Rendered { ok, err: errors }
}
