//! Futex wait and wake on words that may live in shared memory.
//!
//! Always the shared form: `FUTEX_PRIVATE_FLAG` would key the wait queue on this process's
//! address space, and a waiter in another process mapping the same page would never be woken.

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

use rustix::thread::futex;

/// Sleeps while `*word == expected`, until woken, or until `deadline`.
///
/// Returns `false` if the deadline passed. Spurious wake-ups and `EAGAIN` (the value had
/// already changed) return `true`: the caller re-checks its condition.
///
/// # References
/// - [futex(2)](https://man7.org/linux/man-pages/man2/futex.2.html)
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> io::Result<bool> {
    let timeout = match deadline {
        None => None,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            Some(
                rustix::time::Timespec::try_from(left)
                    .unwrap_or(rustix::time::Timespec { tv_sec: i64::MAX / 2, tv_nsec: 0 }),
            )
        }
    };
    match futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref()) {
        Ok(()) | Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => Ok(true),
        Err(rustix::io::Errno::TIMEDOUT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Wakes up to `n` waiters sleeping on `word`; returns how many were woken.
pub(crate) fn wake(word: &AtomicU32, n: u32) -> usize {
    futex::wake(word, futex::Flags::empty(), n).unwrap_or(0)
}
