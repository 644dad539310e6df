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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_are_forever_and_never_panic() {
        assert_eq!(after(Duration::MAX), None);
        assert!(after(Duration::ZERO).is_some());
        assert!(after(Duration::from_secs(3600)).is_some_and(|d| d > Instant::now()));
    }
}
