//! The system-wide monotonic clock, as plain nanoseconds that mean the same in every process
//! (`Instant` is process-local: it cannot be sent to another process).

/// Nanoseconds of `CLOCK_MONOTONIC`: the same clock in every process of the machine, so a time
/// written by one process into shared memory can be compared with another's.
///
/// # References
/// - [clock_gettime(2)](https://man7.org/linux/man-pages/man2/clock_gettime.2.html)
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(t.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_forward_with_instant() {
        let a = monotonic_ns();
        let t = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = monotonic_ns();
        assert!(b > a);
        let dt = b - a;
        assert!(dt >= 5_000_000 && (dt as u128) <= t.elapsed().as_nanos() + 1_000_000, "{dt}");
    }
}
