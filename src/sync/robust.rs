//! Owner death in `sync/`: how a [`Lock`](super::Lock), an [`RLock`](super::RLock) or a
//! [`Condition`](super::Condition)'s lock survives a holder that dies.
//!
//! CPython's locks are POSIX semaphores, which have no owner: when a process holding one is
//! killed, every other process blocks forever (or until its timeout). Here the mutex word is
//! an owner word (`sys/liveness.rs`), so a waiter can ask the kernel whether the owner still
//! exists. What "owner died" means, how it is probed and the recovery rule (the first taker
//! that finds the owner dead takes the lock over with a compare-and-swap and is told) are
//! written down once, in `sys/liveness.rs`, for every lock of the crate; this file says what
//! they mean for these three.
//!
//! # Detection
//!
//! - A waiter sleeps in the slices of [`wait::MUTEX`](crate::wait::MUTEX) (100 ms); at the
//!   end of each, if the lock is still held, it probes the owner. A timed acquire also probes
//!   once when its deadline passes, and `try_acquire` probes when it finds the lock held by
//!   another process. So a blocked acquirer learns of the death within about one slice.
//! - The uncontended paths never probe; a lock nobody waits for costs nothing extra.
//! - Only process death counts (see `sys/liveness.rs`): a thread that exits while holding a
//!   `Lock` leaves it held (another thread may release it, as in Python).
//!
//! # What the taker repairs
//!
//! The taker receives [`OwnerDied`](super::OwnerDied), which carries its guard: it holds the
//! lock. The data the lock protects may be half-updated, so the lock is marked *inconsistent*
//! and stays so until someone calls `make_consistent()` on a guard:
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
