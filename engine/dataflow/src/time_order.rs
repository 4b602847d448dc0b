//! Updates waiting for their time to complete, handed out in time order.
//!
//! The operators that keep per-key state of their own (`accumulate.rs`, `minmax_append.rs`,
//! `topk_append.rs`, `expiring_hash_join.rs`) apply updates strictly in time order, and only
//! once the input frontier has passed their time, so their output is the right collection at
//! every time. This is the buffer they share: per time, a capability to emit at it and what
//! arrived for it.

use std::collections::BTreeMap;

use illunare_types::Time;
use timely::dataflow::operators::Capability;
use timely::progress::frontier::AntichainRef;

pub struct ByTime<V> {
    pending: BTreeMap<Time, (Capability<Time>, V)>,
}

impl<V: Default> Default for ByTime<V> {
    fn default() -> Self {
        ByTime { pending: BTreeMap::new() }
    }
}

impl<V: Default> ByTime<V> {
    /// What has arrived for time `t` so far; `capability` makes the capability to emit at `t`
    /// the first time `t` is seen.
    pub fn at(&mut self, t: Time, capability: impl FnOnce() -> Capability<Time>) -> &mut V {
        &mut self.pending.entry(t).or_insert_with(|| (capability(), V::default())).1
    }

    /// The earliest time the frontier has passed, with its capability and updates.
    pub fn pop_complete(&mut self, frontier: AntichainRef<'_, Time>) -> Option<(Time, Capability<Time>, V)> {
        let entry = self.pending.first_entry()?;
        if frontier.less_equal(entry.key()) {
            return None;
        }
        let (t, (cap, value)) = entry.remove_entry();
        Some((t, cap, value))
    }
}
