//! Synchronisation between processes: [`Lock`], [`RLock`], [`Semaphore`],
//! [`BoundedSemaphore`], [`Event`], [`Condition`] and [`Barrier`], Python's
//! `multiprocessing.synchronize` with RAII guards and typed errors.
//!
//! Every primitive keeps its state in a small shared-memory segment (a memfd) and serializes
//! as a handle to it, so it can be put in the arguments of a [`Process`](crate::Process) (or
//! sent like any other handle) under every start method; clones share the same state. All
//! waiting is on shared futexes: a blocked call spins briefly, then sleeps, and wakers make a
//! syscall only when someone sleeps.
//!
//! Unlike CPython's, a [`Lock`] or [`RLock`] whose holder process dies does not hang the
//! others: the next acquirer gets [`OwnerDied`] within about a tenth of a second (see the
//! recovery rule in the `robust` module docs, summarised on [`OwnerDied`]).
//!
//! Every primitive follows the crate's [conventions](crate#conventions): `x()` blocks,
//! `try_x()` never waits, `x_timeout(d)` waits at most `d` (zero only checks, `Duration::MAX`
//! waits forever), and each fails with a typed error:
//!
//! | type: call | `try_` fails with | `_timeout` fails with |
//! |---|---|---|
//! | [`Lock`], [`RLock`], [`Condition`] (and [`Value`](crate::Value), [`Array`](crate::Array)): `acquire` | [`TryAcquireError`] (`WouldBlock`, or `OwnerDied` with the guard) | [`AcquireTimeoutError`] (`Timeout`, or `OwnerDied` with the guard) |
//! | [`Semaphore`], [`BoundedSemaphore`]: `acquire` | [`WouldBlock`] | [`Timeout`] |
//! | [`Event`]: `wait` | (check [`Event::is_set`]) | [`Timeout`] |
//! | [`Condition`]: `wait`, `wait_for` | - | [`ConditionTimeoutError`] (`Timeout`, `NotOwner`, `OwnerDied`) |
//! | [`Barrier`]: `wait` | - | [`BarrierError`] (`Timeout`, which breaks the barrier as in Python, or `Broken`) |
//!
//! | file | holds |
//! |---|---|
//! | `raw.rs` | the futex core: the robust mutex word and the semaphore, with state tables; the raw lock trait and its generic guard |
//! | `robust.rs` | what owner death means for these locks (the rule itself is in `sys/liveness.rs`) |
//! | `lock.rs`, `rlock.rs` | [`Lock`], [`RLock`] and their guards |
//! | `semaphore.rs` | [`Semaphore`], [`BoundedSemaphore`] |
//! | `event.rs`, `condition.rs`, `barrier.rs` | [`Event`], [`Condition`], [`Barrier`] |
//! | `model.rs` | exhaustive interleaving checks of the state machines (tests only) |
//!
//! `README.md` beside this file describes the condition-variable and barrier protocols.

mod barrier;
mod condition;
mod error;
mod event;
mod lock;
#[cfg(test)]
mod model;
mod raw;
mod rlock;
mod robust;
mod semaphore;

pub use self::barrier::{Barrier, BarrierBuilder, BarrierError};
pub use self::condition::{Condition, ConditionError, ConditionLock, ConditionTimeoutError};
pub use self::error::{AcquireTimeoutError, OwnerDied, ReleaseError, Timeout, TryAcquireError, WouldBlock};
pub use self::event::Event;
pub use self::lock::{Lock, LockGuard};
pub(crate) use self::raw::{Acquire, RawGuard, RawLock};
pub use self::rlock::{RLock, RLockGuard};
pub use self::semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
