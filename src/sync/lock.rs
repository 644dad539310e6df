//! [`Lock`]: a non-recursive lock shared between processes.

use std::fmt;
use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{AcquireTimeoutError, OwnerDied, ReleaseError, TryAcquireError};
use super::raw::{Acquire, MutexState, RawLock};
use crate::shm::ShmBox;
use crate::sys::liveness::my_tid;

/// Python's `multiprocessing.Lock`: a non-recursive mutual-exclusion lock that works across
/// processes.
///
/// Clones (and copies received by other processes) share one lock. `acquire` returns a guard
/// that releases on drop; as in Python, a lock may also be released by another thread or
/// process with [`Lock::release`] after the holder [`leak`](LockGuard::leak)s its guard.
///
/// If the process holding the lock dies, the next acquirer gets [`OwnerDied`] (holding the
/// lock) instead of blocking forever.
///
/// # Examples
/// ```no_run
/// use multiproc::{Process, sync::Lock};
///
/// fn worker((lock, i): (Lock, u32)) {
///     let _g = lock.acquire().unwrap();
///     println!("hello from {i}");
/// }
///
/// let lock = Lock::new()?;
/// let ps: Vec<Process> = (0..3).map(|i| Process::new(worker, (lock.clone(), i))).collect();
/// for p in &ps { p.start()?; }
/// for p in &ps { p.join()?; }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Lock {
    state: ShmBox<MutexState>,
}

impl Lock {
    /// A new, unlocked lock in its own shared-memory segment.
    ///
    /// # Errors
    /// The shared segment cannot be created (out of memory or file descriptors).
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::sync::Lock::new()?;
    /// assert!(!lock.is_locked());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Lock> {
        Ok(Lock { state: ShmBox::new("multiproc-lock", MutexState::new())? })
    }

    pub(crate) fn raw(&self) -> &MutexState {
        &self.state
    }

    fn wrap(&self, a: Acquire) -> Option<Result<LockGuard<'_>, OwnerDied<LockGuard<'_>>>> {
        match a {
            Acquire::Acquired => Some(Ok(LockGuard { lock: self })),
            Acquire::OwnerDied => Some(Err(OwnerDied::new(LockGuard { lock: self }))),
            Acquire::NotAcquired => None,
        }
    }

    /// Blocks until the lock is acquired.
    ///
    /// # Errors
    /// [`OwnerDied`] (with the guard: the lock is held) if a process died holding the lock.
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::sync::Lock::new()?;
    /// {
    ///     let _g = lock.acquire().unwrap();
    ///     assert!(lock.is_locked());
    /// }
    /// assert!(!lock.is_locked());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<LockGuard<'_>, OwnerDied<LockGuard<'_>>> {
        match self.wrap(self.raw().lock(None)) {
            Some(r) => r,
            None => unreachable!("an acquire without deadline always acquires"),
        }
    }

    /// Acquires the lock if it is free (Python's `acquire(False)`).
    ///
    /// # Errors
    /// [`TryAcquireError::WouldBlock`] if it is held; [`TryAcquireError::OwnerDied`] if it was
    /// held by a process that has died (the caller now holds it).
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::sync::Lock::new()?;
    /// let g = lock.try_acquire().unwrap();
    /// assert!(lock.try_acquire().unwrap_err().is_would_block());
    /// drop(g);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<LockGuard<'_>, TryAcquireError<LockGuard<'_>>> {
        match self.wrap(self.raw().try_lock()) {
            Some(Ok(g)) => Ok(g),
            Some(Err(d)) => Err(TryAcquireError::OwnerDied(d)),
            None => Err(TryAcquireError::WouldBlock),
        }
    }

    /// Blocks up to `timeout` for the lock (Python's `acquire(timeout=t)`). A zero timeout
    /// only checks; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`AcquireTimeoutError::Timeout`] when the time passes; [`AcquireTimeoutError::OwnerDied`]
    /// if the holder's process died (the caller now holds the lock).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let lock = multiproc::sync::Lock::new()?;
    /// let _g = lock.acquire_timeout(Duration::from_millis(10)).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>, AcquireTimeoutError<LockGuard<'_>>> {
        match self.wrap(self.raw().lock(crate::deadline::after(timeout))) {
            Some(Ok(g)) => Ok(g),
            Some(Err(d)) => Err(AcquireTimeoutError::OwnerDied(d)),
            None => Err(AcquireTimeoutError::Timeout),
        }
    }

    /// Releases the lock, whoever holds it (Python allows any process or thread to release a
    /// `Lock`). Use after [`LockGuard::leak`].
    ///
    /// # Errors
    /// [`ReleaseError::NotHeld`] if the lock is not held.
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::sync::Lock::new()?;
    /// lock.acquire().unwrap().leak();
    /// assert!(lock.is_locked());
    /// lock.release().unwrap();
    /// assert!(lock.release().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.raw().unlock_any() { Ok(()) } else { Err(ReleaseError::NotHeld) }
    }

    /// Is the lock held by anyone, in any process? (Python 3.14's `locked()`.)
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::sync::Lock::new()?;
    /// assert!(!lock.is_locked());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw().is_locked()
    }

    /// Is the lock held by the calling thread?
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::sync::Lock::new()?;
    /// let g = lock.acquire().unwrap();
    /// assert!(lock.is_mine());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_mine(&self) -> bool {
        self.raw().is_owned_by_me()
    }

    /// The pid of the process holding the lock, if any.
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::sync::Lock::new()?;
    /// let _g = lock.acquire().unwrap();
    /// assert_eq!(lock.owner_pid(), Some(std::process::id()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn owner_pid(&self) -> Option<u32> {
        self.raw().owner().map(|(owner, _)| owner.pid())
    }
}

/// Python-like: `Lock(owner=None)`, `Lock(owner=this thread)`, `Lock(owner=other thread)`
/// (of this process) or `Lock(owner=pid N)`.
impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lock(owner=")?;
        fmt_owner(self.raw(), f)?;
        write!(f, ")")
    }
}

pub(crate) fn fmt_owner(raw: &MutexState, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match raw.owner() {
        None => f.write_str("None"),
        Some((owner, tid)) if owner.is_me() => {
            f.write_str(if tid == my_tid() { "this thread" } else { "other thread" })
        }
        Some((owner, _)) => write!(f, "pid {}", owner.pid()),
    }
}

/// Holds a [`Lock`]; releases it on drop.
///
/// # Examples
/// ```
/// let lock = multiproc::sync::Lock::new()?;
/// let guard = lock.acquire().unwrap();
/// drop(guard); // released
/// assert!(!lock.is_locked());
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl LockGuard<'_> {
    /// Marks the lock consistent again after an [`OwnerDied`]: call once the protected data is
    /// repaired. A no-op on a consistent lock.
    ///
    /// # Examples
    /// See [`OwnerDied`].
    pub fn make_consistent(&self) {
        self.lock.raw().inconsistent.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Keeps the lock held without the guard; release it later with [`Lock::release`], from
    /// this or any other thread or process.
    ///
    /// # Examples
    /// See [`Lock::release`].
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for LockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.raw().unlock_held();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").field("lock", self.lock).finish()
    }
}
