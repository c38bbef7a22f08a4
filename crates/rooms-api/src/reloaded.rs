//! Caches that a reload from the store and this node's own changes both write.

/// A cache the watchdog reloads from the store and this node's requests change in between. A
/// reload whose read began before a local change is dropped (the next one has the change), so
/// a kick or a PK's end made here never flickers back for a moment.
#[derive(Debug, Default)]
pub(crate) struct Reloaded<T> {
    /// The cached value.
    pub(crate) value: T,
    /// Local changes so far.
    pub(crate) changes: u64,
}

impl<T> Reloaded<T> {
    /// The value, to change it.
    pub(crate) fn change(&mut self) -> &mut T {
        self.changes += 1;
        &mut self.value
    }

    /// Replaces the value with one read from the store after `seen` local changes, unless
    /// another local change came since.
    pub(crate) fn reload(&mut self, seen: u64, value: T) {
        if self.changes == seen {
            self.value = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_read_before_a_local_change_is_dropped() {
        let mut cache: Reloaded<Vec<&str>> = Reloaded::default();
        let seen = cache.changes;
        cache.change().push("kicked here");
        cache.reload(seen, vec!["read before the kick"]);
        assert_eq!(cache.value, ["kicked here"]);
        let seen = cache.changes;
        cache.reload(seen, vec!["kicked here", "kicked elsewhere"]);
        assert_eq!(cache.value, ["kicked here", "kicked elsewhere"]);
    }
}
