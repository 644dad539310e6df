//! [`RLock`]: a recursive lock shared between processes, owned by one thread of one process.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{AcquireTimeoutError, OwnerDied, ReleaseError, TryAcquireError};
use super::raw::{Acquire, MutexState, RawLock};
use crate::shm::ShmBox;

/// Python's `multiprocessing.RLock`: a recursive lock, owned by one thread of one process,
/// which may acquire it again; it is free once released as many times as it was acquired.
///
/// If the owning process dies, the next acquirer gets [`OwnerDied`] (holding the lock, with a
/// recursion count of one) instead of blocking forever.
///
/// # Examples
/// ```
/// let rlock = multiproc::sync::RLock::new()?;
/// let a = rlock.acquire().unwrap();
/// let b = rlock.acquire().unwrap(); // same thread: fine
/// assert_eq!(rlock.count(), 2);
/// drop(b);
/// drop(a);
/// assert!(!rlock.is_locked());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct RLock {
    state: ShmBox<MutexState>,
}

impl RLock {
    /// A new, unlocked recursive lock in its own shared-memory segment.
    ///
    /// # Errors
    /// The shared segment cannot be created.
    ///
    /// # Examples
    /// ```
    /// let rlock = multiproc::sync::RLock::new()?;
    /// assert!(!rlock.is_locked());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<RLock> {
        Ok(RLock { state: ShmBox::new("multiproc-rlock", MutexState::new())? })
    }

    pub(crate) fn raw(&self) -> &MutexState {
        &self.state
    }

    /// Takes one more level if the calling thread already owns the lock.
    #[inline]
    fn reenter(&self) -> bool {
        let raw = self.raw();
        if raw.is_owned_by_me() {
            raw.count.store(raw.count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    fn wrap(&self, a: Acquire) -> Option<Result<RLockGuard<'_>, OwnerDied<RLockGuard<'_>>>> {
        let guard = RLockGuard { lock: self, _thread: PhantomData };
        match a {
            Acquire::Acquired => {
                self.raw().count.store(1, Ordering::Relaxed);
                Some(Ok(guard))
            }
            Acquire::OwnerDied => {
                self.raw().count.store(1, Ordering::Relaxed);
                Some(Err(OwnerDied::new(guard)))
            }
            Acquire::NotAcquired => {
                std::mem::forget(guard);
                None
            }
        }
    }

    /// Blocks until the lock is acquired; returns at once if this thread already owns it.
    ///
    /// # Errors
    /// [`OwnerDied`] (with the guard: the lock is held) if a process died holding the lock.
    ///
    /// # Examples
    /// See [`RLock`].
    pub fn acquire(&self) -> Result<RLockGuard<'_>, OwnerDied<RLockGuard<'_>>> {
        if self.reenter() {
            return Ok(RLockGuard { lock: self, _thread: PhantomData });
        }
        match self.wrap(self.raw().lock(None)) {
            Some(r) => r,
            None => unreachable!("an acquire without deadline always acquires"),
        }
    }

    /// Acquires if free or already owned by this thread.
    ///
    /// # Errors
    /// [`TryAcquireError::WouldBlock`] if another thread or process holds it;
    /// [`TryAcquireError::OwnerDied`] if its owner's process died (the caller now holds it).
    ///
    /// # Examples
    /// ```
    /// let rlock = multiproc::sync::RLock::new()?;
    /// let _g = rlock.try_acquire().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<RLockGuard<'_>, TryAcquireError<RLockGuard<'_>>> {
        if self.reenter() {
            return Ok(RLockGuard { lock: self, _thread: PhantomData });
        }
        match self.wrap(self.raw().try_lock()) {
            Some(Ok(g)) => Ok(g),
            Some(Err(d)) => Err(TryAcquireError::OwnerDied(d)),
            None => Err(TryAcquireError::WouldBlock),
        }
    }

    /// Blocks up to `timeout` for the lock (Python's `acquire(timeout=t)`); returns at once if
    /// this thread already owns it. A zero timeout only checks; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`AcquireTimeoutError::Timeout`] when the time passes; [`AcquireTimeoutError::OwnerDied`]
    /// if the owner's process died (the caller now holds the lock).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let rlock = multiproc::sync::RLock::new()?;
    /// let _g = rlock.acquire_timeout(Duration::from_millis(10)).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_>, AcquireTimeoutError<RLockGuard<'_>>> {
        if self.reenter() {
            return Ok(RLockGuard { lock: self, _thread: PhantomData });
        }
        match self.wrap(self.raw().lock(crate::deadline::after(timeout))) {
            Some(Ok(g)) => Ok(g),
            Some(Err(d)) => Err(AcquireTimeoutError::OwnerDied(d)),
            None => Err(AcquireTimeoutError::Timeout),
        }
    }

    /// Releases one level; use after [`RLockGuard::leak`].
    ///
    /// # Errors
    /// [`ReleaseError::NotOwner`] if the calling thread does not own the lock (Python raises
    /// `AssertionError`).
    ///
    /// # Examples
    /// ```
    /// use multiproc::sync::{RLock, ReleaseError};
    /// let rlock = RLock::new()?;
    /// rlock.acquire().unwrap().leak();
    /// rlock.release().unwrap();
    /// assert_eq!(rlock.release(), Err(ReleaseError::NotOwner));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        let raw = self.raw();
        if !raw.is_owned_by_me() {
            return Err(ReleaseError::NotOwner);
        }
        let c = raw.count.load(Ordering::Relaxed);
        if c <= 1 {
            raw.count.store(0, Ordering::Relaxed);
            raw.unlock_held();
        } else {
            raw.count.store(c - 1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Is the lock held by anyone, in any process? (Python 3.14's `locked()`.)
    ///
    /// # Examples
    /// See [`RLock`].
    pub fn is_locked(&self) -> bool {
        self.raw().is_locked()
    }

    /// Is the lock owned by the calling thread?
    ///
    /// # Examples
    /// ```
    /// let rlock = multiproc::sync::RLock::new()?;
    /// let _g = rlock.acquire().unwrap();
    /// assert!(rlock.is_mine());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_mine(&self) -> bool {
        self.raw().is_owned_by_me()
    }

    /// The recursion level: how many releases free the lock (0 when free). Only meaningful in
    /// the owning thread; elsewhere it is a snapshot of another thread's count.
    ///
    /// # Examples
    /// See [`RLock`].
    pub fn count(&self) -> u32 {
        if self.is_locked() { self.raw().count.load(Ordering::Relaxed) } else { 0 }
    }

    /// The pid of the process owning the lock, if any.
    ///
    /// # Examples
    /// ```
    /// let rlock = multiproc::sync::RLock::new()?;
    /// assert_eq!(rlock.owner_pid(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn owner_pid(&self) -> Option<u32> {
        self.raw().owner().map(|(owner, _)| owner.pid())
    }

    /// Releases every level at once (a condition wait); returns the count to restore.
    pub(crate) fn release_all(&self) -> u32 {
        let raw = self.raw();
        let c = raw.count.load(Ordering::Relaxed);
        raw.count.store(0, Ordering::Relaxed);
        raw.unlock_held();
        c
    }

    /// Restores the count saved by [`release_all`](Self::release_all) after re-acquiring.
    pub(crate) fn restore(&self, count: u32) {
        self.raw().count.store(count, Ordering::Relaxed);
    }
}

/// Python-like: `RLock(owner, count)`; the count is `nonzero` when another thread owns it.
impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RLock(")?;
        super::lock::fmt_owner(self.raw(), f)?;
        if !self.is_locked() {
            write!(f, ", 0)")
        } else if self.is_mine() {
            write!(f, ", {})", self.count())
        } else {
            write!(f, ", nonzero)")
        }
    }
}

/// Holds one level of an [`RLock`]; releases that level on drop.
///
/// # Examples
/// See [`RLock`].
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    /// Not `Send`: the level belongs to the thread that acquired it.
    _thread: PhantomData<*const ()>,
}

impl RLockGuard<'_> {
    /// Marks the lock consistent again after an [`OwnerDied`]: call once the protected data is
    /// repaired.
    ///
    /// # Examples
    /// ```
    /// let rlock = multiproc::sync::RLock::new()?;
    /// let g = rlock.acquire().unwrap_or_else(|died| died.into_guard());
    /// g.make_consistent();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn make_consistent(&self) {
        self.lock.raw().inconsistent.store(0, Ordering::Relaxed);
    }

    /// Keeps this level held without the guard; release it later with [`RLock::release`] from
    /// the same thread.
    ///
    /// # Examples
    /// See [`RLock::release`].
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        // The guard's thread owns the lock unless someone misused `release`; never panic here.
        let _ = self.lock.release();
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard").field("lock", self.lock).finish()
    }
}
