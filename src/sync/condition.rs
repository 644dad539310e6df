//! [`Condition`]: a condition variable shared between processes, over a [`Lock`] or an
//! [`RLock`].
//!
//! # Protocol
//!
//! One futex word, changed only by CAS:
//!
//! | bits | field |
//! |---|---|
//! | 0-14 | `signals`: notifications issued and not yet taken by a waiter |
//! | 15-29 | `waiters`: registered waiters not yet notified |
//! | 31 | `REGISTRANT`: a new waiter waits for `signals` to drain |
//!
//! - `wait` (lock held): register (`waiters += 1`), release the lock, then take a signal
//!   (`signals -= 1`) when there is one, sleeping on the word otherwise; re-acquire the lock.
//! - `notify(n)` (lock held): move `k = min(n, waiters)` from `waiters` to `signals`, wake `k`.
//! - A waiter that times out takes a signal if one is pending (it was notified after all and
//!   returns `Ok`), otherwise it unregisters (`waiters -= 1`) and reports a timeout: the counts
//!   stay exact, which is what CPython's test of timed-out waiters checks.
//! - Signals are anonymous, so a waiter that registers while older signals are pending could
//!   steal one meant for an earlier waiter. To prevent that, a registrant (holding the lock)
//!   first waits until `signals` is zero, setting `REGISTRANT`; whoever takes a signal and sees
//!   that bit wakes it. The wait is bounded (a notified waiter that died would never take its
//!   signal): after [`REGISTER_PATIENCE`] the registrant proceeds anyway.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{AcquireTimeoutError, OwnerDied, TryAcquireError};
use super::lock::{Lock, LockGuard};
use super::raw::{Acquire, CondState, RawLock};
use super::rlock::{RLock, RLockGuard};
use crate::shm::ShmBox;
use crate::sys::futex;
use crate::wait::{self, Look, Next, Waiter};

const SIGNAL: u32 = 1;
const SIGNALS: u32 = 0x7fff;
const WAITER: u32 = 1 << 15;
const WAITERS_SHIFT: u32 = 15;
const WAITERS: u32 = 0x7fff << WAITERS_SHIFT;
const REGISTRANT: u32 = 1 << 31;

/// How long a new waiter waits for earlier notifications to be taken before registering.
const REGISTER_PATIENCE: Duration = Duration::from_secs(1);

mod sealed {
    pub trait Sealed {
        fn is_mine(&self) -> bool;
        /// Releases the lock completely; returns what `relock` needs.
        fn release_for_wait(&self) -> u32;
        /// Re-acquires after a wait; `true` if a previous owner had died.
        fn relock(&self, saved: u32) -> bool;
    }
}

/// The locks a [`Condition`] can use: [`Lock`] and [`RLock`].
///
/// # Examples
/// ```
/// use multiproc::sync::{Condition, Lock};
/// let cond = Condition::with_lock(Lock::new()?)?;
/// let _g = cond.acquire().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ConditionLock: sealed::Sealed + Clone + Serialize + DeserializeOwned + fmt::Debug + Send + Sync {
    /// The guard `acquire` returns.
    type Guard<'a>
    where
        Self: 'a;
    /// Acquires the lock (see [`Lock::acquire`], [`RLock::acquire`]).
    ///
    /// # Errors
    /// [`OwnerDied`] if a process died holding the lock.
    fn acquire_guard(&self) -> Result<Self::Guard<'_>, OwnerDied<Self::Guard<'_>>>;
    /// Acquires the lock if it is free (see [`Lock::try_acquire`], [`RLock::try_acquire`]).
    ///
    /// # Errors
    /// As [`Lock::try_acquire`].
    fn try_acquire_guard(&self) -> Result<Self::Guard<'_>, TryAcquireError<Self::Guard<'_>>>;
    /// Acquires the lock, waiting at most `timeout` (see [`Lock::acquire_timeout`],
    /// [`RLock::acquire_timeout`]).
    ///
    /// # Errors
    /// As [`Lock::acquire_timeout`].
    fn acquire_timeout_guard(&self, timeout: Duration)
    -> Result<Self::Guard<'_>, AcquireTimeoutError<Self::Guard<'_>>>;
}

impl sealed::Sealed for Lock {
    fn is_mine(&self) -> bool {
        Lock::is_mine(self)
    }
    fn release_for_wait(&self) -> u32 {
        self.raw().unlock_held();
        0
    }
    fn relock(&self, _: u32) -> bool {
        self.raw().lock(None) == Acquire::OwnerDied
    }
}

impl ConditionLock for Lock {
    type Guard<'a> = LockGuard<'a>;
    fn acquire_guard(&self) -> Result<LockGuard<'_>, OwnerDied<LockGuard<'_>>> {
        self.acquire()
    }
    fn try_acquire_guard(&self) -> Result<LockGuard<'_>, TryAcquireError<LockGuard<'_>>> {
        self.try_acquire()
    }
    fn acquire_timeout_guard(&self, timeout: Duration) -> Result<LockGuard<'_>, AcquireTimeoutError<LockGuard<'_>>> {
        self.acquire_timeout(timeout)
    }
}

impl sealed::Sealed for RLock {
    fn is_mine(&self) -> bool {
        RLock::is_mine(self)
    }
    fn release_for_wait(&self) -> u32 {
        self.release_all()
    }
    fn relock(&self, saved: u32) -> bool {
        let died = self.raw().lock(None) == Acquire::OwnerDied;
        self.restore(saved);
        died
    }
}

impl ConditionLock for RLock {
    type Guard<'a> = RLockGuard<'a>;
    fn acquire_guard(&self) -> Result<RLockGuard<'_>, OwnerDied<RLockGuard<'_>>> {
        self.acquire()
    }
    fn try_acquire_guard(&self) -> Result<RLockGuard<'_>, TryAcquireError<RLockGuard<'_>>> {
        self.try_acquire()
    }
    fn acquire_timeout_guard(&self, timeout: Duration) -> Result<RLockGuard<'_>, AcquireTimeoutError<RLockGuard<'_>>> {
        self.acquire_timeout(timeout)
    }
}

/// Why a [`Condition`] call failed.
///
/// # Examples
/// ```
/// use multiproc::sync::{Condition, ConditionError};
/// let cond = Condition::new()?;
/// assert_eq!(cond.notify(1), Err(ConditionError::NotOwner));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConditionError {
    /// `wait` or `notify` without holding the lock (Python: `AssertionError`).
    NotOwner,
    /// The wait ended and the lock is held again, but a process died holding it in the
    /// meantime: repair the data, then call `make_consistent()` on your guard.
    OwnerDied,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConditionError::NotOwner => "wait or notify on a condition whose lock this thread does not hold: acquire it first",
            ConditionError::OwnerDied => {
                "a process died holding the condition's lock; the caller holds it again: repair the shared data, then call make_consistent() on the guard"
            }
        })
    }
}

impl std::error::Error for ConditionError {}

/// Why [`Condition::wait_timeout`] or [`Condition::wait_for_timeout`] did not return `Ok`.
/// Whatever the variant, the caller holds the lock again (unless it never held it:
/// `NotOwner`).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use multiproc::sync::{Condition, ConditionTimeoutError};
/// let cond = Condition::new()?;
/// assert_eq!(cond.wait_timeout(Duration::ZERO), Err(ConditionTimeoutError::NotOwner));
/// let _g = cond.acquire().unwrap();
/// let e = cond.wait_timeout(Duration::from_millis(10)).unwrap_err();
/// assert!(e.is_timeout());
/// assert!(cond.get_lock().is_mine()); // the lock is held again
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConditionTimeoutError {
    /// No notification came within the timeout (for `wait_for_timeout`: the predicate was
    /// still false); the lock is held again.
    Timeout,
    /// As [`ConditionError::NotOwner`].
    NotOwner,
    /// As [`ConditionError::OwnerDied`]; reported instead of `Timeout` when both happened.
    OwnerDied,
}

impl ConditionTimeoutError {
    /// Is this [`ConditionTimeoutError::Timeout`]?
    ///
    /// # Examples
    /// See [`ConditionTimeoutError`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, ConditionTimeoutError::Timeout)
    }
}

impl From<ConditionError> for ConditionTimeoutError {
    fn from(e: ConditionError) -> ConditionTimeoutError {
        match e {
            ConditionError::NotOwner => ConditionTimeoutError::NotOwner,
            ConditionError::OwnerDied => ConditionTimeoutError::OwnerDied,
        }
    }
}

impl fmt::Display for ConditionTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConditionTimeoutError::Timeout => f.write_str(
                "no notification came within the timeout; the lock is held again: re-check the shared state, then \
                 wait again or give up",
            ),
            ConditionTimeoutError::NotOwner => ConditionError::NotOwner.fmt(f),
            ConditionTimeoutError::OwnerDied => ConditionError::OwnerDied.fmt(f),
        }
    }
}

impl std::error::Error for ConditionTimeoutError {}

/// Python's `multiprocessing.Condition`: wait for a state change that another process (or
/// thread) announces with `notify`.
///
/// The lock defaults to an [`RLock`]; [`Condition::with_lock`] takes a [`Lock`] or an `RLock`
/// (also one shared with other code). As in Python, `wait` and `notify` need the lock held and
/// check it at run time.
///
/// # Examples
/// ```no_run
/// use multiproc::{Process, sync::{Condition, Event}};
///
/// fn consumer(cond: Condition) {
///     let _g = cond.acquire().unwrap();
///     cond.wait().unwrap();
///     println!("notified");
/// }
///
/// let cond = Condition::new()?;
/// let p = Process::new(consumer, cond.clone());
/// p.start()?;
/// std::thread::sleep(std::time::Duration::from_millis(100));
/// {
///     let _g = cond.acquire().unwrap();
///     cond.notify_all()?;
/// }
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "L: ConditionLock")]
pub struct Condition<L: ConditionLock = RLock> {
    lock: L,
    state: ShmBox<CondState>,
}

impl Condition<RLock> {
    /// A condition over a new [`RLock`].
    ///
    /// # Errors
    /// A shared segment cannot be created.
    ///
    /// # Examples
    /// ```
    /// let cond = multiproc::sync::Condition::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Condition<RLock>> {
        Condition::with_lock(RLock::new()?)
    }
}

impl<L: ConditionLock> Condition<L> {
    /// A condition over `lock`.
    ///
    /// # Errors
    /// A shared segment cannot be created.
    ///
    /// # Examples
    /// See [`ConditionLock`].
    pub fn with_lock(lock: L) -> io::Result<Condition<L>> {
        Ok(Condition { lock, state: ShmBox::new("multiproc-condition", CondState { word: AtomicU32::new(0) })? })
    }

    fn word(&self) -> &AtomicU32 {
        &self.state.word
    }

    /// The underlying lock (as `get_lock()` of a [`Value`](crate::Value)).
    ///
    /// # Examples
    /// ```
    /// let cond = multiproc::sync::Condition::new()?;
    /// assert!(!cond.get_lock().is_locked());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_lock(&self) -> &L {
        &self.lock
    }

    /// Acquires the underlying lock (Python's `acquire()`).
    ///
    /// # Errors
    /// [`OwnerDied`] (with the guard) if a process died holding the lock.
    ///
    /// # Examples
    /// See [`Condition`].
    pub fn acquire(&self) -> Result<L::Guard<'_>, OwnerDied<L::Guard<'_>>> {
        self.lock.acquire_guard()
    }

    /// Acquires the underlying lock if it is free now (Python's `acquire(False)`).
    ///
    /// # Errors
    /// [`TryAcquireError::WouldBlock`] if another thread or process holds it;
    /// [`TryAcquireError::OwnerDied`] (with the guard) if its holder's process died.
    ///
    /// # Examples
    /// ```
    /// use multiproc::sync::{Condition, Lock};
    /// let cond = Condition::with_lock(Lock::new()?)?;
    /// let g = cond.try_acquire().unwrap();
    /// assert!(cond.try_acquire().unwrap_err().is_would_block());
    /// # drop(g);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<L::Guard<'_>, TryAcquireError<L::Guard<'_>>> {
        self.lock.try_acquire_guard()
    }

    /// Acquires the underlying lock, waiting at most `timeout` (Python's
    /// `acquire(timeout=t)`). A zero timeout only checks; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`AcquireTimeoutError::Timeout`] when the lock stayed held;
    /// [`AcquireTimeoutError::OwnerDied`] (with the guard) if its holder's process died.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let cond = multiproc::sync::Condition::new()?;
    /// let _g = cond.acquire_timeout(Duration::from_millis(10)).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<L::Guard<'_>, AcquireTimeoutError<L::Guard<'_>>> {
        self.lock.acquire_timeout_guard(timeout)
    }

    /// Releases the lock, waits for a notification, re-acquires the lock.
    ///
    /// # Errors
    /// [`ConditionError::NotOwner`] without holding the lock; [`ConditionError::OwnerDied`]
    /// (lock held again) if a process died holding the lock meanwhile.
    ///
    /// # Examples
    /// See [`Condition`].
    pub fn wait(&self) -> Result<(), ConditionError> {
        self.wait_until(None).map(|_| ())
    }

    /// Like [`wait`](Self::wait), for at most `timeout` (Python's `wait(timeout)`, which
    /// returns `False` on a timeout). A zero timeout releases the lock and takes it back at
    /// once; `Duration::MAX` waits forever.
    ///
    /// A wait that times out re-acquires the lock before it returns, as in Python.
    ///
    /// # Errors
    /// [`ConditionTimeoutError::Timeout`] when no notification came in time; otherwise as
    /// [`wait`](Self::wait).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use multiproc::sync::{Condition, ConditionTimeoutError};
    /// let cond = Condition::new()?;
    /// let _g = cond.acquire().unwrap();
    /// assert_eq!(cond.wait_timeout(Duration::from_millis(10)), Err(ConditionTimeoutError::Timeout));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), ConditionTimeoutError> {
        match self.wait_until(crate::deadline::after(timeout))? {
            true => Ok(()),
            false => Err(ConditionTimeoutError::Timeout),
        }
    }

    /// Waits until `pred()` is true (checked first, then after each notification).
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    ///
    /// # Examples
    /// ```
    /// let cond = multiproc::sync::Condition::new()?;
    /// let _g = cond.acquire().unwrap();
    /// cond.wait_for(|| true).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_for(&self, mut pred: impl FnMut() -> bool) -> Result<(), ConditionError> {
        while !pred() {
            self.wait()?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for `pred()` (checked first, then after each notification;
    /// Python's `wait_for(pred, timeout)`, which returns the predicate's last value). A zero
    /// timeout only checks the predicate; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`ConditionTimeoutError::Timeout`] when `pred()` was still false at the end of the
    /// timeout (the lock is held); otherwise as [`wait`](Self::wait).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let cond = multiproc::sync::Condition::new()?;
    /// let _g = cond.acquire().unwrap();
    /// assert!(cond.wait_for_timeout(Duration::from_millis(10), || false).unwrap_err().is_timeout());
    /// assert_eq!(cond.wait_for_timeout(Duration::ZERO, || true), Ok(()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_for_timeout(
        &self,
        timeout: Duration,
        mut pred: impl FnMut() -> bool,
    ) -> Result<(), ConditionTimeoutError> {
        let deadline = crate::deadline::after(timeout);
        loop {
            if pred() {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(ConditionTimeoutError::Timeout);
            }
            self.wait_until(deadline)?;
        }
    }

    /// Wakes up to `n` waiters.
    ///
    /// # Errors
    /// [`ConditionError::NotOwner`] without holding the lock.
    ///
    /// # Examples
    /// ```
    /// let cond = multiproc::sync::Condition::new()?;
    /// let _g = cond.acquire().unwrap();
    /// cond.notify(2).unwrap(); // nobody waits: nothing happens
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn notify(&self, n: u32) -> Result<(), ConditionError> {
        if !self.lock.is_mine() {
            return Err(ConditionError::NotOwner);
        }
        let w = self.word();
        let mut v = w.load(Ordering::Relaxed);
        loop {
            let k = n.min((v & WAITERS) >> WAITERS_SHIFT);
            if k == 0 {
                return Ok(());
            }
            let new = v - k * WAITER + k * SIGNAL;
            match w.compare_exchange_weak(v, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    futex::wake(w, k);
                    return Ok(());
                }
                Err(now) => v = now,
            }
        }
    }

    /// Wakes every waiter.
    ///
    /// # Errors
    /// [`ConditionError::NotOwner`] without holding the lock.
    ///
    /// # Examples
    /// See [`Condition`].
    pub fn notify_all(&self) -> Result<(), ConditionError> {
        self.notify(u32::MAX)
    }

    /// How many waiters are registered and not yet notified.
    ///
    /// # Examples
    /// ```
    /// let cond = multiproc::sync::Condition::new()?;
    /// assert_eq!(cond.n_waiting(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn n_waiting(&self) -> u32 {
        (self.word().load(Ordering::Relaxed) & WAITERS) >> WAITERS_SHIFT
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, ConditionError> {
        if !self.lock.is_mine() {
            return Err(ConditionError::NotOwner);
        }
        self.register();
        let saved = self.lock.release_for_wait();
        let notified = self.take_signal(deadline);
        if self.lock.relock(saved) {
            return Err(ConditionError::OwnerDied);
        }
        Ok(notified)
    }

    /// Registers as a waiter (lock held), after earlier signals have been taken (or
    /// [`REGISTER_PATIENCE`] passed). Signals cannot grow meanwhile: `notify` needs the lock.
    fn register(&self) {
        let w = self.word();
        wait::run(&wait::REGISTRANT, None, crate::deadline::after(REGISTER_PATIENCE), Drained(w));
        w.fetch_add(WAITER, Ordering::Relaxed);
    }

    /// Takes one pending signal if there is one.
    fn try_take(&self) -> Option<bool> {
        let w = self.word();
        let mut v = w.load(Ordering::Acquire);
        while v & SIGNALS != 0 {
            match w.compare_exchange_weak(v, (v - SIGNAL) & !REGISTRANT, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => {
                    if v & REGISTRANT != 0 {
                        futex::wake(w, i32::MAX as u32);
                    }
                    return Some(true);
                }
                Err(now) => v = now,
            }
        }
        None
    }

    /// Sleeps until a signal is taken (`true`) or the deadline passes and the registration is
    /// withdrawn (`false`).
    fn take_signal(&self, deadline: Option<Instant>) -> bool {
        if wait::run(&wait::SYNC, None, deadline, Signal(self)) {
            return true;
        }
        let w = self.word();
        // Timed out: take a signal that raced with the timeout, or unregister.
        let mut v = w.load(Ordering::Relaxed);
        loop {
            if v & SIGNALS != 0 {
                if self.try_take().is_some() {
                    return true;
                }
                v = w.load(Ordering::Relaxed);
                continue;
            }
            debug_assert!(v & WAITERS != 0, "a registered waiter is counted");
            match w.compare_exchange_weak(v, v - WAITER, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return false,
                Err(now) => v = now,
            }
        }
    }
}

/// A registrant waiting until no signal is pending, with `REGISTRANT` set so that the taker
/// of the last one wakes it.
struct Drained<'a>(&'a AtomicU32);

impl Waiter for Drained<'_> {
    type Output = ();

    fn look(&mut self) -> Look<()> {
        if self.0.load(Ordering::Relaxed) & SIGNALS == 0 { Look::Done(()) } else { Look::NotYet }
    }

    fn prepare(&mut self) -> Next<'_, ()> {
        let v = self.0.load(Ordering::Relaxed);
        if v & SIGNALS == 0 {
            return Next::Done(());
        }
        if v & REGISTRANT == 0 {
            return match self.0.compare_exchange(v, v | REGISTRANT, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => Next::Futex(self.0, v | REGISTRANT),
                Err(_) => Next::Again,
            };
        }
        Next::Futex(self.0, v)
    }

    /// Out of patience: register anyway (a notified waiter that died never takes its signal).
    fn deadline_passed(&mut self) {}
}

/// A registered waiter taking a signal; `false` when the deadline passed first (the caller
/// then takes a signal that raced with it, or unregisters).
struct Signal<'a, L: ConditionLock>(&'a Condition<L>);

impl<L: ConditionLock> Waiter for Signal<'_, L> {
    type Output = bool;

    #[inline]
    fn look(&mut self) -> Look<bool> {
        if self.0.try_take().is_some() { Look::Done(true) } else { Look::NotYet }
    }

    fn prepare(&mut self) -> Next<'_, bool> {
        if self.0.try_take().is_some() {
            return Next::Done(true);
        }
        let w = self.0.word();
        let v = w.load(Ordering::Relaxed);
        if v & SIGNALS != 0 {
            return Next::Again;
        }
        Next::Futex(w, v)
    }

    fn deadline_passed(&mut self) -> bool {
        false
    }
}

impl<L: ConditionLock> fmt::Debug for Condition<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition").field("lock", &self.lock).field("waiting", &self.n_waiting()).finish()
    }
}
