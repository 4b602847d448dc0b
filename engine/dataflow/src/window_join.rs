//! Window joins of closed window aggregates that release their state.
//!
//! ```sql
//! SELECT … FROM (SELECT seller, window_end, count(*) … FROM TUMBLE(auction, …) GROUP BY seller, window_start, window_end) a
//! JOIN (SELECT id, window_end, … FROM TUMBLE(person, …) GROUP BY …) p ON p.id = a.seller AND p.window_end = a.window_end
//! ```
//! Each input is a window aggregate over event time that closes its windows
//! (`window_agg.rs`): every update of a row with `window_end = W` comes before the close
//! `c = W + 1 ms` (the aggregate's `freeze` drops the rest). Joined on equal `window_end`s, a
//! pair's two rows share `c`. So each input update `(x, t, d)` (any sign, `t < c`) is also
//! retracted at `c`, and every update of a pair at or after `c` is dropped
//! (`interval_join::render_expiring_join`). The join is bilinear: the genuine updates of a pair
//! are at `max(tl, tr) < c`; each of the others involves a retraction, so it is at `c` or
//! later. The output is therefore exactly the plain join's, and after `c` each input row has
//! cancelled out of the arrangements: state holds open windows only.
//!
//! Recognised: an inner join (NULLs not equal) with a key pair `left.window_end =
//! right.window_end` (plain columns) whose columns are the closing columns of the two inputs
//! ([`closed_window`]): a GROUP BY with a `window_end` key over append-only event-time input
//! (or its fused form), through maps (column references) and filters. Raw windowed rows are not
//! closed windows (a row's time is its own, not its window's end): their joins stay plain.

use datafusion_physical_expr::expressions::Column;
use illunare_plan::{Expr, JoinKind, Node, Plan};

use crate::interval_join::Expiry;
use crate::window_agg::WindowClose;

thread_local! {
    /// The fused window aggregates (`fuse.rs`, `__fusedagg_…`) of the dataflow being built that
    /// close their windows, with the closing column of their output.
    pub static CLOSED_WINDOWS: std::cell::RefCell<std::collections::HashMap<String, WindowClose>> = Default::default();
}

/// The output column of `plan` that closes its rows, if `plan` is a closed window aggregate
/// (seen through maps and filters): every update of a row comes before that column + 1 ms.
pub fn closed_window(plan: &Plan) -> Option<WindowClose> {
    match &plan.node {
        Node::Get { name } => CLOSED_WINDOWS.with(|c| c.borrow().get(name).cloned()),
        Node::Filter { input, .. } => closed_window(input),
        Node::Map { input, exprs } => {
            let close = closed_window(input)?;
            let key = exprs.iter().position(|e| column_of(e) == Some(close.key))?;
            Some(WindowClose { key, ..close })
        }
        // The output starts with the group keys, so the closing key's index is its column.
        Node::Reduce { input, group_keys, on_window_close, .. } => crate::render::reduce_closing(group_keys, input, *on_window_close),
        _ => None,
    }
}

fn column_of(e: &Expr) -> Option<usize> {
    e.physical.downcast_ref::<Column>().map(|c| c.index())
}

/// The expiries of a window join of `left` and `right` on these keys, if it is one.
pub fn window_join_expiries(left: &Plan, right: &Plan, kind: JoinKind, nulls_equal: bool, left_keys: &[Expr], right_keys: &[Expr]) -> Option<(Expiry, Expiry)> {
    if kind != JoinKind::Inner || nulls_equal {
        return None;
    }
    let (lc, rc) = (closed_window(left)?, closed_window(right)?);
    let joined = left_keys
        .iter()
        .zip(right_keys)
        .any(|(l, r)| column_of(l) == Some(lc.key) && column_of(r) == Some(rc.key));
    (joined && lc.key_type == rc.key_type).then_some((Expiry::Window(lc), Expiry::Window(rc)))
}
