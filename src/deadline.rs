//! Deadlines for every `_timeout` call: a timeout becomes an absolute monotonic deadline once,
//! at the start of the call, and `None` means "wait forever".
//!
//! `Instant::now() + d` panics when `d` is huge (`Duration::MAX`, "overflow when adding
//! duration to instant"); [`after`] never does: a timeout too large to represent is forever.

use std::time::{Duration, Instant};

/// The deadline `timeout` from now, or `None` (forever) when it cannot be represented.
#[inline]
pub(crate) fn after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The earlier of `deadline` and `slice` from now: how long one sleep of a waiter that must
/// look around every `slice` (for a dead peer, say) may last.
#[inline]
pub(crate) fn min_slice(deadline: Option<Instant>, slice: Duration) -> Option<Instant> {
    match (deadline, after(slice)) {
        (Some(d), Some(s)) => Some(d.min(s)),
        (d, s) => d.or(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_are_forever_and_never_panic() {
        assert_eq!(after(Duration::MAX), None);
        assert!(after(Duration::ZERO).is_some());
        assert!(after(Duration::from_secs(3600)).is_some_and(|d| d > Instant::now()));
        assert!(min_slice(None, Duration::from_millis(5)).is_some());
        assert_eq!(min_slice(None, Duration::MAX), None);
        let soon = after(Duration::from_millis(1));
        assert_eq!(min_slice(soon, Duration::from_secs(60)), soon);
    }
}
