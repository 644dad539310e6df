//! The raw futex core under every primitive of `sync/`: a robust mutex word and a counting
//! semaphore, both `#[repr(C)]` atomics living in shared memory, waiting on shared futexes
//! through the wait core (`crate::wait`), and the raw lock trait with its generic guard.
//!
//! # The mutex word
//!
//! One `u32`, the owner word of [`MutexState::owner`] (the owner record of
//! `sys::liveness`: the owner's pid in the low 22 bits), with one flag:
//!
//! | value | meaning |
//! |---|---|
//! | `0` | unlocked |
//! | `pid` | locked by a thread of process `pid`; nobody sleeps |
//! | `pid \| CONTENDED` | locked by `pid`; someone may sleep on the futex |
//!
//! Transitions (the model test in `model.rs` explores every interleaving of them):
//!
//! | from | operation | to | who |
//! |---|---|---|---|
//! | `0` | CAS | `me` | fast path of `lock`, `try_lock`, the spin phase |
//! | `0` | CAS | `me \| CONTENDED` | sleep phase, and a timed lock's last look at its deadline: someone may still sleep, so keep the bit |
//! | `p` | CAS | `p \| CONTENDED` | sleep phase, before sleeping on `p \| CONTENDED` |
//! | `p \| c`, `p` dead | CAS | `me \| CONTENDED`, `inconsistent = 1` | sleep phase after a slice, a timed lock at its deadline, `try_lock` |
//! | any | swap | `0` | `unlock`; wake one sleeper iff the old value had `CONTENDED` |
//!
//! Waiting follows [`wait::MUTEX`]: spin (stopping early once
//! `CONTENDED` is set: others already sleep), then sleep in slices; when a slice ends with the
//! lock still held, the owner's liveness is probed ([`owner_is_dead`](crate::sys::liveness::owner_is_dead)); the uncontended paths
//! never probe. The recovery rule is in `sys/liveness.rs`; what it means for these locks (the
//! `inconsistent` flag) in `robust.rs`.
//!
//! # The semaphore
//!
//! [`SemState::value`] is the count (the futex word), [`SemState::sleepers`] counts the
//! threads that are about to sleep or sleep on it. An acquirer that must sleep increments
//! `sleepers` *before* it re-reads `value`; a releaser increments `value` *before* it reads
//! `sleepers`. Both are `SeqCst`, so at least one of them sees the other (Dekker): either the
//! acquirer sees the new permit, or the releaser sees the sleeper and wakes it.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::shm::ShmSafe;
use crate::sys::futex;
use crate::sys::liveness::{Owner, OwnerRecord};
use crate::wait::{self, Look, Next, Waiter};

/// Set in the mutex word when a thread may be sleeping on it (above the owner's pid bits).
pub(crate) const CONTENDED: u32 = 1 << 31;
const _: () = assert!(CONTENDED & crate::sys::liveness::OWNER_MASK == 0);

/// What the mutex slow path does next, given the word it observed (shared with the model
/// checker in `model.rs`, so the checked transitions are the ones the code runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SlowStep {
    /// The lock is free: CAS `0` to this value (owner plus `CONTENDED`: others may sleep).
    Take(u32),
    /// Held without the sleeper bit: CAS the observed word to this value, then sleep on it.
    Mark(u32),
    /// Held with the sleeper bit: sleep while the word equals this value.
    Sleep(u32),
}

/// The slow-path transition of the mutex word (see the table in the module doc).
#[inline]
pub(crate) fn slow_step(w: u32, me: u32) -> SlowStep {
    if w == 0 {
        SlowStep::Take(me | CONTENDED)
    } else if w & CONTENDED == 0 {
        SlowStep::Mark(w | CONTENDED)
    } else {
        SlowStep::Sleep(w)
    }
}

/// Must `unlock`, having swapped `old` out of the word, wake a sleeper?
#[inline]
pub(crate) fn unlock_wakes(old: u32) -> bool {
    old & CONTENDED != 0
}

/// The outcome of a raw acquire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquire {
    /// The caller holds the lock; the protected state is consistent.
    Acquired,
    /// The caller holds the lock, but a previous owner died holding it. How long the report
    /// repeats is the implementation's part of the recovery rule (`sys/liveness.rs`): the
    /// mutex repeats it until `make_consistent`, the ring's lock reports it once.
    OwnerDied,
    /// Not acquired: `try_lock` found it held, or the deadline passed.
    NotAcquired,
}

/// A lock whose state can live in memory shared between processes.
///
/// Two implementations: [`MutexState`] (under `Lock`, `RLock` and a `Condition`'s lock) and
/// the queue ring's producer and consumer locks (`queue::ring::RingLock`). Both record their
/// owner in the one owner record of `sys::liveness` and mean the same by "owner died".
///
/// Invariants every implementation keeps:
/// - at most one thread (of any process) holds the lock between a successful `lock`/`try_lock`
///   (including an [`Acquire::OwnerDied`] one) and the matching `unlock`;
/// - a thread sleeping in `lock` is woken by the `unlock` that makes it able to proceed, or
///   learns within a bounded time (its policy's slice) that the owner's process died;
/// - a timed `lock` whose deadline has passed (already at the call: the non-blocking form)
///   takes one last look: the lock if it is free, or from a dead owner;
/// - the uncontended `lock` + `unlock` makes no syscall.
///
/// # Safety
/// Implementations must uphold the invariants above: safe guards hand out access to shared
/// data on the strength of them.
pub(crate) unsafe trait RawLock {
    /// Acquires, sleeping until `deadline` (`None`: forever).
    fn lock(&self, deadline: Option<Instant>) -> Acquire;
    /// Acquires without blocking (a free lock, or one whose owner died).
    fn try_lock(&self) -> Acquire;
    /// Releases.
    ///
    /// # Safety
    /// The lock must be held (by the caller, or handed over to it: Python lets any process
    /// release a `Lock`).
    unsafe fn unlock(&self);
    /// Is the lock held by anyone?
    fn is_locked(&self) -> bool;
}

/// A held [`RawLock`], released on drop (unwinding included): the generic safe wrapper over
/// either implementation. (`Lock`'s and `RLock`'s public guards are their own, for
/// `make_consistent` and the recursion count.)
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub(crate) struct RawGuard<'a, R: RawLock> {
    lock: &'a R,
}

impl<'a, R: RawLock> RawGuard<'a, R> {
    /// Acquires `lock`, sleeping until `deadline`: the guard, and whether a previous owner
    /// died holding it; `None` when the deadline passed.
    #[inline]
    pub(crate) fn acquire(lock: &'a R, deadline: Option<Instant>) -> Option<(RawGuard<'a, R>, bool)> {
        match lock.lock(deadline) {
            Acquire::Acquired => Some((RawGuard { lock }, false)),
            Acquire::OwnerDied => Some((RawGuard { lock }, true)),
            Acquire::NotAcquired => None,
        }
    }
}

impl<R: RawLock> Drop for RawGuard<'_, R> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a guard is made only by a successful acquire, and released only here.
        unsafe { self.lock.unlock() }
    }
}

/// A counting semaphore whose state can live in shared memory.
///
/// Invariants: `value` never goes below zero; a sleeping acquirer is woken by a release that
/// makes a permit available to it (or another acquirer takes that permit).
///
/// # Safety
/// Implementations must uphold the invariants above.
pub(crate) unsafe trait RawSemaphore {
    /// Takes a permit, sleeping until `deadline`; `false` if the deadline passed.
    fn acquire(&self, deadline: Option<Instant>) -> bool;
    /// Takes a permit if one is free.
    fn try_acquire(&self) -> bool;
    /// Returns a permit; `false` (and nothing changes) if that would exceed `max`.
    fn release(&self) -> bool;
    /// The current count.
    fn value(&self) -> u32;
}

/// The shared state of a [`Lock`](super::Lock) or an [`RLock`](super::RLock).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct MutexState {
    /// The owner record: the mutex word (`0`, `pid` or `pid | CONTENDED`, see the module doc)
    /// and the owning thread.
    pub(crate) owner: OwnerRecord,
    /// Non-zero once an owner died holding the lock, until `make_consistent`.
    pub(crate) inconsistent: AtomicU32,
    /// Recursion count of an `RLock` (touched only by the owning thread).
    pub(crate) count: AtomicU32,
}

// SAFETY: repr(C), four AtomicU32s (two in the owner record), no pointers; every bit pattern
// is a valid state.
unsafe impl ShmSafe for MutexState {}

impl MutexState {
    pub(crate) const fn new() -> MutexState {
        MutexState { owner: OwnerRecord::new(), inconsistent: AtomicU32::new(0), count: AtomicU32::new(0) }
    }

    #[inline]
    fn word(&self) -> &AtomicU32 {
        &self.owner.word
    }

    /// After taking the word: record the thread and report the consistency flag.
    #[inline]
    fn acquired(&self) -> Acquire {
        self.owner.set_thread();
        if self.inconsistent.load(Ordering::Relaxed) != 0 { Acquire::OwnerDied } else { Acquire::Acquired }
    }

    /// If the lock is held by a process that has died, takes it over (the recovery rule) and
    /// marks it inconsistent.
    fn take_over_if_dead(&self, me: u32) -> bool {
        let w = self.word().load(Ordering::Relaxed);
        if self.owner.take_over_if_dead(w, me | CONTENDED) {
            self.inconsistent.store(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self, me: u32, deadline: Option<Instant>) -> Acquire {
        wait::run(&wait::MUTEX, None, deadline, MutexWaiter { m: self, me })
    }

    /// Releases the lock if it is held by anyone (Python's `Lock.release` from any process);
    /// `false` if it was not held.
    pub(crate) fn unlock_any(&self) -> bool {
        let mut w = self.word().load(Ordering::Relaxed);
        loop {
            if w == 0 {
                return false;
            }
            self.owner.clear_thread();
            match self.word().compare_exchange_weak(w, 0, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        if unlock_wakes(w) {
            futex::wake(self.word(), 1);
        }
        true
    }

    /// The owner and (if it is this process) its thread, for `Debug` and `owner_pid`.
    pub(crate) fn owner(&self) -> Option<(Owner, u32)> {
        self.owner.owner()
    }
}

/// The mutex's slow path, as a waiter of the wait core (the transitions of the module doc).
struct MutexWaiter<'a> {
    m: &'a MutexState,
    /// The caller's owner word.
    me: u32,
}

impl Waiter for MutexWaiter<'_> {
    type Output = Acquire;

    #[inline]
    fn look(&mut self) -> Look<Acquire> {
        let word = self.m.word();
        let w = word.load(Ordering::Relaxed);
        if w == 0 {
            if word.compare_exchange_weak(0, self.me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return Look::Done(self.m.acquired());
            }
            Look::NotYet
        } else if w & CONTENDED != 0 {
            Look::Sleep // others already sleep: queue up behind them
        } else {
            Look::NotYet
        }
    }

    fn prepare(&mut self) -> Next<'_, Acquire> {
        let word = self.m.word();
        let w = word.load(Ordering::Relaxed);
        match slow_step(w, self.me) {
            // Someone else may still sleep: keep CONTENDED so our unlock wakes them.
            SlowStep::Take(new) => match word.compare_exchange(0, new, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => Next::Done(self.m.acquired()),
                Err(_) => Next::Again,
            },
            SlowStep::Mark(new) => match word.compare_exchange(w, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => Next::Futex(word, new),
                Err(_) => Next::Again,
            },
            SlowStep::Sleep(expected) => Next::Futex(word, expected),
        }
    }

    fn slice_ended(&mut self) -> Option<Acquire> {
        self.m.take_over_if_dead(self.me).then_some(Acquire::OwnerDied)
    }

    fn deadline_passed(&mut self) -> Acquire {
        // One last look: the lock may have come free (this waiter may even hold the wake-up
        // the unlock sent, so take it with CONTENDED, as a sleeper does), or its owner died.
        if self.m.word().compare_exchange(0, self.me | CONTENDED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return self.m.acquired();
        }
        if self.m.take_over_if_dead(self.me) {
            return Acquire::OwnerDied;
        }
        Acquire::NotAcquired
    }
}

// SAFETY: the word admits one owner at a time (every transition out of 0 is a CAS, every
// transition to 0 is by the holder, a takeover is a CAS from the dead owner's exact word); a
// sleeper sets CONTENDED before it sleeps on exactly the value it saw, and unlock wakes one
// sleeper whenever CONTENDED was set; a sleeper that finds the word free re-sets CONTENDED so
// that the next unlock wakes the next sleeper. Sleeps are bounded by the MUTEX policy's slice,
// after which a dead owner is detected.
unsafe impl RawLock for MutexState {
    #[inline]
    fn lock(&self, deadline: Option<Instant>) -> Acquire {
        let me = Owner::me().word();
        if self.word().compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return self.acquired();
        }
        self.lock_slow(me, deadline)
    }

    #[inline]
    fn try_lock(&self) -> Acquire {
        let me = Owner::me().word();
        if self.word().compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return self.acquired();
        }
        if self.take_over_if_dead(me) {
            return Acquire::OwnerDied;
        }
        Acquire::NotAcquired
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.owner.clear_thread();
        if unlock_wakes(self.word().swap(0, Ordering::Release)) {
            self.wake_one();
        }
    }

    fn is_locked(&self) -> bool {
        self.word().load(Ordering::Relaxed) != 0
    }
}

impl MutexState {
    /// Is the lock held by the calling thread? (The ring's locks have no use for the question,
    /// so it is not part of [`RawLock`], and only this lock records its owner's thread.)
    #[inline]
    pub(crate) fn is_owned_by_me(&self) -> bool {
        self.owner.is_mine()
    }

    /// Releases on behalf of a guard. Only guards (which exist only while the lock is held for
    /// them) and the owner-checked paths of `RLock` and `Condition` call this.
    #[inline]
    pub(crate) fn unlock_held(&self) {
        // SAFETY: per the contract above, the lock is held by the caller.
        unsafe { self.unlock() }
    }

    #[cold]
    #[inline(never)]
    fn wake_one(&self) {
        futex::wake(self.word(), 1);
    }
}

/// The shared state of a [`Semaphore`](super::Semaphore) or a
/// [`BoundedSemaphore`](super::BoundedSemaphore).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SemState {
    /// The count; the futex word.
    pub(crate) value: AtomicU32,
    /// Threads about to sleep or sleeping on `value`.
    pub(crate) sleepers: AtomicU32,
    /// The bound (`u32::MAX` for an unbounded semaphore).
    pub(crate) max: AtomicU32,
}

// SAFETY: repr(C), three AtomicU32s, no pointers; every bit pattern is a valid state.
unsafe impl ShmSafe for SemState {}

impl SemState {
    pub(crate) const fn new(value: u32, max: u32) -> SemState {
        SemState { value: AtomicU32::new(value), sleepers: AtomicU32::new(0), max: AtomicU32::new(max) }
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, deadline: Option<Instant>) -> bool {
        wait::run(&wait::SYNC, None, deadline, SemWaiter { s: self, registered: false })
    }
}

/// The semaphore's slow path: registered in `sleepers` from its first sleep until it ends.
struct SemWaiter<'a> {
    s: &'a SemState,
    registered: bool,
}

impl Waiter for SemWaiter<'_> {
    type Output = bool;

    #[inline]
    fn look(&mut self) -> Look<bool> {
        if self.s.value.load(Ordering::Relaxed) != 0 && self.s.try_acquire() { Look::Done(true) } else { Look::NotYet }
    }

    fn prepare(&mut self) -> Next<'_, bool> {
        if !self.registered {
            // Before re-reading the value (the Dekker pair of the module doc).
            self.s.sleepers.fetch_add(1, Ordering::SeqCst);
            self.registered = true;
        }
        let v = self.s.value.load(Ordering::SeqCst);
        if v == 0 {
            return Next::Futex(&self.s.value, 0);
        }
        match self.s.value.compare_exchange(v, v - 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => Next::Done(true),
            Err(_) => Next::Again,
        }
    }

    fn deadline_passed(&mut self) -> bool {
        self.s.try_acquire()
    }
}

impl Drop for SemWaiter<'_> {
    fn drop(&mut self) {
        if self.registered {
            self.s.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

// SAFETY: `value` only decreases by a CAS from a non-zero value; the Dekker pair described in
// the module doc guarantees a release either is seen by a would-be sleeper or wakes it.
unsafe impl RawSemaphore for SemState {
    #[inline]
    fn acquire(&self, deadline: Option<Instant>) -> bool {
        self.try_acquire() || self.acquire_slow(deadline)
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        let mut v = self.value.load(Ordering::Relaxed);
        while v != 0 {
            match self.value.compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    #[inline]
    fn release(&self) -> bool {
        let max = self.max.load(Ordering::Relaxed);
        let mut v = self.value.load(Ordering::Relaxed);
        loop {
            if v >= max {
                return false;
            }
            match self.value.compare_exchange_weak(v, v + 1, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            futex::wake(&self.value, 1);
        }
        true
    }

    fn value(&self) -> u32 {
        self.value.load(Ordering::Relaxed)
    }
}

/// The shared state of an [`Event`](super::Event): one futex word (see `event.rs`).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct EventState {
    pub(crate) word: AtomicU32,
}

// SAFETY: repr(C), one AtomicU32, no pointers; every bit pattern is valid.
unsafe impl ShmSafe for EventState {}

/// The shared state of a [`Condition`](super::Condition): one futex word packing pending
/// signals, registered waiters and a "registrant waits" bit (see `condition.rs`).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct CondState {
    pub(crate) word: AtomicU32,
}

// SAFETY: repr(C), one AtomicU32, no pointers; every bit pattern is valid.
unsafe impl ShmSafe for CondState {}

/// The shared state of a [`Barrier`](super::Barrier) (see `barrier.rs`).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct BarrierState {
    /// Generation, arrivals and the broken bit; the futex word.
    pub(crate) word: AtomicU32,
    /// One more than the last generation ended by `reset` (0: none yet).
    pub(crate) reset_gen: AtomicU32,
    /// The number of parties (fixed at creation).
    pub(crate) parties: u32,
    pub(crate) _pad: u32,
    /// The default timeout in nanoseconds (`u64::MAX`: none; fixed at creation).
    pub(crate) timeout_ns: u64,
}

// SAFETY: repr(C), atomics and plain integers written only before the segment is shared; no
// pointers; every bit pattern is valid.
unsafe impl ShmSafe for BarrierState {}
