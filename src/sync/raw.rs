//! The raw futex core under every primitive of `sync/`: a robust mutex word and a counting
//! semaphore, both `#[repr(C)]` atomics living in shared memory, waiting on shared futexes.
//!
//! # The mutex word
//!
//! One `u32`, [`MutexState::word`]:
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
//! | `0` | CAS | `me` | fast path of `lock`, `try_lock` |
//! | `0` | CAS | `me \| CONTENDED` | slow path: someone may still sleep, so keep the bit |
//! | `p` | CAS | `p \| CONTENDED` | slow path, before sleeping on `p \| CONTENDED` |
//! | `p \| c` | CAS, `p` dead | `me \| CONTENDED` | slow path after a sleep slice: owner died |
//! | any | swap | `0` | `unlock`; wake one sleeper iff the old value had `CONTENDED` |
//!
//! A sleeper sleeps in slices of [`robust::SLICE`](super::robust::SLICE). When a slice ends
//! with the lock still held by the same pid, it probes that pid's liveness; the uncontended
//! paths never probe. See `robust.rs` for the recovery rule.
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
use crate::sys::liveness::{my_pid, my_tid};

/// Set in the mutex word when a thread may be sleeping on it.
pub(crate) const CONTENDED: u32 = 1 << 31;
/// The owner's pid in the mutex word (Linux pids are below 2^22).
pub(crate) const PID_MASK: u32 = !CONTENDED;

/// How many times a blocking path re-checks its condition before it sleeps: about 3 µs
/// here (measured through `Event::wait_timeout(0)`: 30 rounds of 1-4 `pause`s).
pub(crate) const SPIN_LIMIT: u32 = 30;

/// Spins for one round of a bounded busy-wait.
#[inline]
pub(crate) fn spin_round(i: u32) {
    for _ in 0..(1 << i.min(2)) {
        std::hint::spin_loop();
    }
}

/// Busy-waits up to [`SPIN_LIMIT`] rounds for `ready` to turn true.
#[inline]
pub(crate) fn spin_until(mut ready: impl FnMut() -> bool) -> bool {
    for i in 0..SPIN_LIMIT {
        if ready() {
            return true;
        }
        spin_round(i);
    }
    ready()
}

/// A process-local, adaptive spin budget for one handle: it grows by one round (up to
/// [`SPIN_LIMIT`]) after a spin that saw the condition turn true, and halves (down to 2
/// rounds) after one that had to give up and sleep (additive increase, multiplicative
/// decrease: doubling made the budget oscillate and cost 1.5x against bare futexes when the
/// peer sleeps anyway). When the peer answers within microseconds (both processes busy)
/// waits stay in user space; when the peer sleeps anyway, a waiter stops burning the CPU the
/// peer needs before the inevitable futex wait.
#[derive(Debug)]
pub(crate) struct SpinBudget(AtomicU32);

impl SpinBudget {
    const MIN: u32 = 2;

    pub(crate) const fn new() -> SpinBudget {
        SpinBudget(AtomicU32::new(SPIN_LIMIT))
    }

    /// Busy-waits within the budget for `ready`; adapts the budget to the outcome.
    #[inline]
    pub(crate) fn spin_until(&self, mut ready: impl FnMut() -> bool) -> bool {
        let limit = self.0.load(Ordering::Relaxed);
        for i in 0..limit {
            if ready() {
                self.0.store((limit + 1).min(SPIN_LIMIT), Ordering::Relaxed);
                return true;
            }
            spin_round(i);
        }
        self.0.store((limit / 2).max(Self::MIN), Ordering::Relaxed);
        ready()
    }
}

impl Default for SpinBudget {
    fn default() -> SpinBudget {
        SpinBudget::new()
    }
}

impl Clone for SpinBudget {
    fn clone(&self) -> SpinBudget {
        SpinBudget::new()
    }
}

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
    /// The caller holds the lock, but a previous owner died holding it (now or earlier and
    /// nobody has called `make_consistent` since).
    OwnerDied,
    /// Not acquired: `try_lock` found it held, or the deadline passed.
    NotAcquired,
}

/// A lock whose state can live in memory shared between processes.
///
/// Invariants every implementation keeps:
/// - at most one thread (of any process) holds the lock between a successful `lock`/`try_lock`
///   (including an [`Acquire::OwnerDied`] one) and the matching `unlock`;
/// - a thread sleeping in `lock` is woken by the `unlock` that makes it able to proceed, or
///   learns within a bounded time that the owner's process died;
/// - the uncontended `lock` + `unlock` makes no syscall.
///
/// # Safety
/// Implementations must uphold the invariants above: safe guards hand out access to shared
/// data on the strength of them.
pub(crate) unsafe trait RawLock {
    /// Acquires, sleeping until `deadline` (`None`: forever).
    fn lock(&self, deadline: Option<Instant>) -> Acquire;
    /// Acquires without blocking.
    fn try_lock(&self) -> Acquire;
    /// Releases.
    ///
    /// # Safety
    /// The lock must be held (by the caller, or handed over to it: Python lets any process
    /// release a `Lock`).
    unsafe fn unlock(&self);
    /// Is the lock held by anyone?
    fn is_locked(&self) -> bool;
    /// Is the lock held by the calling thread?
    fn is_owned_by_me(&self) -> bool;
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
    /// `0`, `pid` or `pid | CONTENDED` (see the module doc).
    pub(crate) word: AtomicU32,
    /// Kernel tid of the owning thread; meaningful only while `word`'s pid is the reader's.
    pub(crate) tid: AtomicU32,
    /// Non-zero once an owner died holding the lock, until `make_consistent`.
    pub(crate) inconsistent: AtomicU32,
    /// Recursion count of an `RLock` (touched only by the owning thread).
    pub(crate) count: AtomicU32,
}

// SAFETY: repr(C), four AtomicU32s, no pointers; every bit pattern is a valid state.
unsafe impl ShmSafe for MutexState {}

impl MutexState {
    pub(crate) const fn new() -> MutexState {
        MutexState {
            word: AtomicU32::new(0),
            tid: AtomicU32::new(0),
            inconsistent: AtomicU32::new(0),
            count: AtomicU32::new(0),
        }
    }

    /// After taking the word: record the thread and report the consistency flag.
    #[inline]
    fn acquired(&self) -> Acquire {
        self.tid.store(my_tid(), Ordering::Relaxed);
        if self.inconsistent.load(Ordering::Relaxed) != 0 { Acquire::OwnerDied } else { Acquire::Acquired }
    }

    /// The owner died: the caller (holding `observed`) takes the lock over.
    fn take_over(&self, observed: u32, me: u32) -> bool {
        if self.word.compare_exchange(observed, me | CONTENDED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            self.inconsistent.store(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// If the lock is held by a process that has exited, takes it over.
    fn steal_if_owner_dead(&self, me: u32) -> bool {
        let w = self.word.load(Ordering::Relaxed);
        let owner = w & PID_MASK;
        owner != 0 && owner != me && super::robust::owner_dead(owner) && self.take_over(w, me)
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self, me: u32, deadline: Option<Instant>) -> Acquire {
        // Spin a little: the owner may be about to release.
        for i in 0..SPIN_LIMIT {
            let w = self.word.load(Ordering::Relaxed);
            if w == 0 {
                if self.word.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    return self.acquired();
                }
            } else if w & CONTENDED != 0 {
                break; // others already sleep: queue up behind them
            }
            spin_round(i);
        }
        let mut watched = 0u32;
        let mut slice_end = Instant::now() + super::robust::SLICE;
        loop {
            let w = self.word.load(Ordering::Relaxed);
            let sleep_on = match slow_step(w, me) {
                SlowStep::Take(new) => {
                    // Someone else may still sleep: keep CONTENDED so our unlock wakes them.
                    if self.word.compare_exchange(0, new, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                        return self.acquired();
                    }
                    continue;
                }
                SlowStep::Mark(new) => {
                    if self.word.compare_exchange(w, new, Ordering::Relaxed, Ordering::Relaxed).is_err() {
                        continue;
                    }
                    new
                }
                SlowStep::Sleep(expected) => expected,
            };
            let owner = w & PID_MASK;
            if owner != watched {
                watched = owner;
                slice_end = Instant::now() + super::robust::SLICE;
            }
            let until = match deadline {
                Some(d) if d < slice_end => d,
                _ => slice_end,
            };
            let woken = futex::wait(&self.word, sleep_on, Some(until)).unwrap_or(true);
            if woken {
                continue;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // One last look at the owner before reporting a timeout.
                if self.steal_if_owner_dead(me) {
                    return self.acquired();
                }
                return Acquire::NotAcquired;
            }
            if Instant::now() >= slice_end {
                slice_end = Instant::now() + super::robust::SLICE;
                if self.steal_if_owner_dead(me) {
                    return self.acquired();
                }
            }
        }
    }

    /// Releases the lock if it is held by anyone (Python's `Lock.release` from any process);
    /// `false` if it was not held.
    pub(crate) fn unlock_any(&self) -> bool {
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            if w == 0 {
                return false;
            }
            self.tid.store(0, Ordering::Relaxed);
            match self.word.compare_exchange_weak(w, 0, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        if unlock_wakes(w) {
            futex::wake(&self.word, 1);
        }
        true
    }

    /// The owner's pid and (if it is this process) tid, for `Debug`.
    pub(crate) fn owner(&self) -> Option<(u32, u32)> {
        let w = self.word.load(Ordering::Relaxed) & PID_MASK;
        if w == 0 { None } else { Some((w, self.tid.load(Ordering::Relaxed))) }
    }
}

// SAFETY: the word admits one owner at a time (every transition out of 0 is a CAS, every
// transition to 0 is by the holder); a sleeper sets CONTENDED before it sleeps on exactly the
// value it saw, and unlock wakes one sleeper whenever CONTENDED was set; a sleeper that finds
// the word free re-sets CONTENDED so that the next unlock wakes the next sleeper. Sleeps are
// bounded by SLICE, after which a dead owner is detected.
unsafe impl RawLock for MutexState {
    #[inline]
    fn lock(&self, deadline: Option<Instant>) -> Acquire {
        let me = my_pid();
        if self.word.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return self.acquired();
        }
        self.lock_slow(me, deadline)
    }

    #[inline]
    fn try_lock(&self) -> Acquire {
        let me = my_pid();
        if self.word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return self.acquired();
        }
        if self.steal_if_owner_dead(me) {
            return self.acquired();
        }
        Acquire::NotAcquired
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.tid.store(0, Ordering::Relaxed);
        if unlock_wakes(self.word.swap(0, Ordering::Release)) {
            self.wake_one();
        }
    }

    fn is_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) != 0
    }

    fn is_owned_by_me(&self) -> bool {
        self.word.load(Ordering::Relaxed) & PID_MASK == my_pid() && self.tid.load(Ordering::Relaxed) == my_tid()
    }
}

impl MutexState {
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
        futex::wake(&self.word, 1);
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
        if spin_until(|| self.value.load(Ordering::Relaxed) != 0) && self.try_acquire() {
            return true;
        }
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let got = loop {
            let v = self.value.load(Ordering::SeqCst);
            if v != 0 {
                if self.value.compare_exchange(v, v - 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    break true;
                }
                continue;
            }
            match futex::wait(&self.value, 0, deadline) {
                Ok(false) => break self.try_acquire(),
                _ => continue,
            }
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        got
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
