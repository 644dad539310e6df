//! The ring's producer and consumer locks: [`RingLock`], the second implementation of `sync`'s
//! `RawLock`.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::Instant;

use crate::sync::{Acquire, RawLock};
use crate::sys::futex;
use crate::sys::liveness::{Owner, owner_is_dead, take_over};
use crate::wait::{self, Look, Next, Waiter};

/// The deadline of a wait: `None` waits forever; a deadline in the past does not wait.
type Deadline = Option<Instant>;

/// A producer or consumer lock of the ring: the second implementation of `sync`'s
/// [`RawLock`] (the first is the robust mutex under `Lock`). Its word is an owner word
/// (`sys/liveness.rs`) with no flag bits and no thread beside it; waiters are counted beside
/// it.
///
/// | owner word | meaning | transitions |
/// |---|---|---|
/// | `0` | free | CAS `0 -> me`: fast path, spin phase, sleep phase, a timed lock's last look |
/// | `pid` | held by a thread of `pid` | the holder stores `0`, issues a SeqCst fence and wakes one sleeper iff `waiters > 0`; a waiter whose slice ended (or whose deadline passed, or `try_lock`) finding `pid` dead CASes `pid -> me` and is told [`Acquire::OwnerDied`] |
///
/// `waiters` counts the threads in the sleep phase: incremented (SeqCst) before the first
/// sleep, which then re-checks the word inside `FUTEX_WAIT`, decremented when the wait ends;
/// the unlock's fence pairs with the increment, so an unlock either sees the waiter or the
/// waiter sees the free word. The fence also orders every commit made under the lock before
/// the sleeper-flag checks that follow an unlock ([`Ring::wake_check`](super::ring::Ring::wake_check)). Waiting follows
/// [`wait::RING_LOCK`].
///
/// Recovery (the rule of `sys/liveness.rs`): a takeover is reported once, and needs no repair,
/// since nothing a holder does is visible before its single commit store; the producer side
/// ends the dead producer's stream (`README.md`).
#[repr(C)]
pub(crate) struct RingLock {
    /// The owner word: `0` or the holder's pid.
    pub(super) owner: AtomicU32,
    /// Threads in the sleep phase of `lock`.
    pub(super) waiters: AtomicU32,
}

impl RingLock {
    #[inline]
    fn word(&self) -> &AtomicU32 {
        &self.owner
    }

    /// Has the holder (if any) died?
    pub(super) fn owner_is_dead(&self) -> bool {
        owner_is_dead(self.word().load(Ordering::Acquire))
    }

    /// Takes the lock over from a dead owner, if it has one.
    fn take_over_if_dead(&self, me: u32) -> bool {
        take_over(self.word(), self.word().load(Ordering::SeqCst), me)
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self, me: u32, deadline: Deadline) -> Acquire {
        wait::run(&wait::RING_LOCK, None, deadline, LockWaiter { lock: self, me, registered: false })
    }
}

// SAFETY: every transition out of 0 is a CAS, every transition to 0 is by the holder, and a
// takeover is a CAS from the exact word of a dead owner, so one thread holds it at a time. A
// sleeper is counted in `waiters` (SeqCst) before it sleeps on exactly the word it saw, and an
// unlock's fence and `waiters` check wake one of them; sleeps end at the RING_LOCK policy's
// slice, after which a dead owner is detected. The fast path makes no syscall.
unsafe impl RawLock for RingLock {
    #[inline]
    fn lock(&self, deadline: Deadline) -> Acquire {
        let me = Owner::me().word();
        if self.word().compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return Acquire::Acquired;
        }
        self.lock_slow(me, deadline)
    }

    fn try_lock(&self) -> Acquire {
        let me = Owner::me().word();
        if self.word().compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return Acquire::Acquired;
        }
        if self.take_over_if_dead(me) { Acquire::OwnerDied } else { Acquire::NotAcquired }
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.word().store(0, Ordering::Release);
        // Pairs with a sleeper's increment of `waiters` followed by FUTEX_WAIT's own check of
        // the word; it also orders every commit made under the lock before the sleeper-flag
        // checks that follow an unlock (`wake_check`).
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) > 0 {
            futex::wake(self.word(), 1);
        }
    }

    fn is_locked(&self) -> bool {
        self.word().load(Ordering::Relaxed) != 0
    }
}

/// [`RingLock::lock`]'s slow path, as a waiter of the wait core.
struct LockWaiter<'a> {
    lock: &'a RingLock,
    /// The caller's owner word.
    me: u32,
    /// Counted in `waiters` (from the first sleep until the wait ends).
    registered: bool,
}

impl LockWaiter<'_> {
    fn take(&self) -> bool {
        self.lock.word().compare_exchange(0, self.me, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }
}

impl Waiter for LockWaiter<'_> {
    type Output = Acquire;

    #[inline]
    fn look(&mut self) -> Look<Acquire> {
        if self.lock.word().load(Ordering::Relaxed) == 0 && self.take() {
            Look::Done(Acquire::Acquired)
        } else {
            Look::NotYet
        }
    }

    fn prepare(&mut self) -> Next<'_, Acquire> {
        if !self.registered {
            self.lock.waiters.fetch_add(1, Ordering::SeqCst);
            self.registered = true;
        }
        let o = self.lock.word().load(Ordering::SeqCst);
        if o != 0 {
            return Next::Futex(self.lock.word(), o);
        }
        if self.take() { Next::Done(Acquire::Acquired) } else { Next::Again }
    }

    fn slice_ended(&mut self) -> Option<Acquire> {
        self.lock.take_over_if_dead(self.me).then_some(Acquire::OwnerDied)
    }

    fn deadline_passed(&mut self) -> Acquire {
        if self.take() {
            Acquire::Acquired
        } else if self.lock.take_over_if_dead(self.me) {
            Acquire::OwnerDied
        } else {
            Acquire::NotAcquired
        }
    }
}

impl Drop for LockWaiter<'_> {
    fn drop(&mut self) {
        if self.registered {
            self.lock.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
