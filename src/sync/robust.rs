//! Owner death: how a [`Lock`](super::Lock), an [`RLock`](super::RLock) or a
//! [`Condition`](super::Condition)'s lock survives a holder that dies.
//!
//! CPython's locks are POSIX semaphores, which have no owner: when a process holding one is
//! killed, every other process blocks forever (or until its timeout). Here the lock word holds
//! the owner's pid, so a waiter can ask the kernel whether that process still exists.
//!
//! # Detection
//!
//! - A waiter sleeps on the futex in slices of [`SLICE`]. When a slice ends and the word still
//!   names the same owner pid, the waiter probes that pid (a pidfd: gone, or exited and not yet
//!   reaped, both count as dead). A timed acquire also probes once when its deadline passes,
//!   and `try_acquire` probes when it finds the lock held by another process.
//! - So a blocked acquirer learns of the death within about one slice (well under a second).
//! - The uncontended paths never probe; a lock nobody waits for costs nothing extra.
//! - Only process death is detected. A thread that exits while holding a lock, or a process
//!   that hangs or is stopped, still blocks the others (use the `_timeout` forms).
//! - A pid reused by a new process before anyone probes would look alive: the lock then waits
//!   for the new process, like a hang. Linux hands out pids sequentially, so this needs the pid
//!   space to wrap around first.
//!
//! # Recovery rule
//!
//! The first acquirer that finds the owner dead takes the lock over and receives
//! [`OwnerDied`](super::OwnerDied), which carries its guard: it holds the lock. The data the
//! lock protects may be half-updated. The lock is marked *inconsistent* and stays so until
//! someone calls `make_consistent()` on a guard:
//!
//! - repair the data, then call `make_consistent()`, then drop the guard: later acquirers see a
//!   normal lock;
//! - drop the guard without `make_consistent()`: the lock is released but stays inconsistent,
//!   so the next acquirer gets `OwnerDied` too and can try the repair itself.
//!
//! Unlike a pthread robust mutex there is no "not recoverable" state: the lock always stays
//! usable, and the flag only stops anyone from overlooking the death.
//!
//! # Semaphores
//!
//! A [`Semaphore`](super::Semaphore) has no owner, as in Python: a process that dies after
//! `acquire` and before `release` takes its permit with it, and the count stays one lower
//! for good. An [`Event`](super::Event) and a [`Barrier`](super::Barrier) hold no lock across
//! calls; a party that dies before reaching a barrier leaves the others waiting until their
//! timeout, which breaks the barrier for everyone.

use std::time::Duration;

/// How long a waiter sleeps before it checks whether the lock's owner is still alive.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// Is the process `pid` (a lock owner) gone?
pub(crate) fn owner_dead(pid: u32) -> bool {
    crate::sys::liveness::process_exited(pid)
}
