//! Errors of the synchronisation primitives.

use std::error::Error;
use std::fmt;

/// The lock was acquired, but its previous owner's process died while holding it.
///
/// The caller holds the lock: the guard is inside. The protected data may be half-updated.
/// Repair it, call `make_consistent()` on the guard, and carry on; dropping the guard without
/// `make_consistent()` leaves the lock marked, so the next acquirer gets `OwnerDied` as well.
///
/// # Examples
/// ```
/// use multiproc::sync::{Lock, OwnerDied};
///
/// let lock = Lock::new()?;
/// let guard = match lock.acquire() {
///     Ok(g) => g,
///     Err(died) => {
///         let g = died.into_guard();
///         // ... repair the shared data here ...
///         g.make_consistent();
///         g
///     }
/// };
/// drop(guard);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct OwnerDied<G> {
    guard: G,
}

impl<G> OwnerDied<G> {
    pub(crate) fn new(guard: G) -> Self {
        OwnerDied { guard }
    }

    /// The guard: the caller holds the lock.
    ///
    /// # Examples
    /// See [`OwnerDied`].
    pub fn into_guard(self) -> G {
        self.guard
    }

    /// A reference to the guard.
    ///
    /// # Examples
    /// ```
    /// # use multiproc::sync::Lock;
    /// let lock = Lock::new()?;
    /// if let Err(died) = lock.acquire() {
    ///     died.guard().make_consistent();
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn guard(&self) -> &G {
        &self.guard
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerDied { .. }")
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a process died while holding the lock; the lock is now held by the caller: repair the data it \
             protects, then call make_consistent() on the guard",
        )
    }
}

impl<G> Error for OwnerDied<G> {}

/// Why `try_acquire` of a [`Lock`](super::Lock), an [`RLock`](super::RLock), a
/// [`Value`](crate::Value) or an [`Array`](crate::Array) did not simply succeed.
///
/// # Examples
/// ```
/// use multiproc::sync::{Lock, TryAcquireError};
/// let lock = Lock::new()?;
/// let _held = lock.acquire().unwrap();
/// assert!(matches!(lock.try_acquire(), Err(TryAcquireError::WouldBlock)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[non_exhaustive]
pub enum TryAcquireError<G> {
    /// The lock is held by someone else.
    WouldBlock,
    /// Acquired, but the previous owner had died holding it.
    OwnerDied(OwnerDied<G>),
}

/// Why `acquire_timeout` of a [`Lock`](super::Lock), an [`RLock`](super::RLock), a
/// [`Value`](crate::Value) or an [`Array`](crate::Array) did not simply succeed.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use multiproc::sync::{AcquireTimeoutError, Lock};
/// let lock = Lock::new()?;
/// let _held = lock.acquire().unwrap();
/// let r = lock.acquire_timeout(Duration::from_millis(10));
/// assert!(matches!(r, Err(AcquireTimeoutError::Timeout)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[non_exhaustive]
pub enum AcquireTimeoutError<G> {
    /// The timeout passed with the lock still held by someone else.
    Timeout,
    /// Acquired, but the previous owner had died holding it.
    OwnerDied(OwnerDied<G>),
}

impl<G> TryAcquireError<G> {
    /// Is this [`TryAcquireError::WouldBlock`]?
    ///
    /// # Examples
    /// See [`TryAcquireError`].
    pub fn is_would_block(&self) -> bool {
        matches!(self, TryAcquireError::WouldBlock)
    }

    /// Is this [`TryAcquireError::OwnerDied`] (the caller holds the lock)?
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::sync::Lock::new()?;
    /// let _held = lock.acquire().unwrap();
    /// assert!(!lock.try_acquire().unwrap_err().is_owner_died());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_owner_died(&self) -> bool {
        matches!(self, TryAcquireError::OwnerDied(_))
    }
}

impl<G> AcquireTimeoutError<G> {
    /// Is this [`AcquireTimeoutError::Timeout`]?
    ///
    /// # Examples
    /// See [`AcquireTimeoutError`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, AcquireTimeoutError::Timeout)
    }

    /// Is this [`AcquireTimeoutError::OwnerDied`] (the caller holds the lock)?
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let lock = multiproc::sync::Lock::new()?;
    /// let _held = lock.acquire().unwrap();
    /// assert!(!lock.acquire_timeout(Duration::ZERO).unwrap_err().is_owner_died());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_owner_died(&self) -> bool {
        matches!(self, AcquireTimeoutError::OwnerDied(_))
    }
}

impl<G> fmt::Debug for TryAcquireError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::WouldBlock => f.write_str("WouldBlock"),
            TryAcquireError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
        }
    }
}

impl<G> fmt::Display for TryAcquireError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::WouldBlock => {
                f.write_str("the lock is held elsewhere; try again later or block with acquire()")
            }
            TryAcquireError::OwnerDied(d) => d.fmt(f),
        }
    }
}

impl<G> Error for TryAcquireError<G> {}

impl<G> fmt::Debug for AcquireTimeoutError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireTimeoutError::Timeout => f.write_str("Timeout"),
            AcquireTimeoutError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
        }
    }
}

impl<G> fmt::Display for AcquireTimeoutError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireTimeoutError::Timeout => {
                f.write_str("timed out waiting for the lock; its holder is alive but has not released it")
            }
            AcquireTimeoutError::OwnerDied(d) => d.fmt(f),
        }
    }
}

impl<G> Error for AcquireTimeoutError<G> {}

/// A `try_` call found that it would have to wait, and did nothing: no permit of a
/// [`Semaphore`](super::Semaphore) or [`BoundedSemaphore`](super::BoundedSemaphore) was free.
///
/// # Examples
/// ```
/// use multiproc::sync::{Semaphore, WouldBlock};
/// let sem = Semaphore::new(0)?;
/// assert_eq!(sem.try_acquire().unwrap_err(), WouldBlock);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WouldBlock;

impl fmt::Display for WouldBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the call would block, so nothing was done; try again later, or wait with the blocking or _timeout form",
        )
    }
}

impl Error for WouldBlock {}

/// A `_timeout` call waited for the whole timeout and what it waited for did not happen: an
/// [`Event`](super::Event) stayed unset, no permit of a [`Semaphore`](super::Semaphore) came
/// free, or the tasks of a [`JoinableQueue`](crate::JoinableQueue) were not all done.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use multiproc::sync::{Event, Timeout};
/// let e = Event::new()?;
/// assert_eq!(e.wait_timeout(Duration::ZERO), Err(Timeout));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "timed out: what the call waited for did not happen within the timeout; wait longer, or check that the \
             process or thread meant to make it happen is still running",
        )
    }
}

impl Error for Timeout {}

/// A `release` that Python would reject.
///
/// # Examples
/// ```
/// use multiproc::sync::{Lock, ReleaseError};
/// let lock = Lock::new()?;
/// assert_eq!(lock.release(), Err(ReleaseError::NotHeld));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The lock was not held (Python: `ValueError: semaphore or lock released too many times`).
    NotHeld,
    /// An `RLock` released by a thread that does not own it (Python: `AssertionError`).
    NotOwner,
    /// A `BoundedSemaphore` released above its initial value (Python: `ValueError`).
    TooManyReleases,
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReleaseError::NotHeld => "lock released while not held: release only after a successful acquire",
            ReleaseError::NotOwner => {
                "attempt to release a recursive lock not owned by this thread: only the owning thread of the owning process may release it"
            }
            ReleaseError::TooManyReleases => {
                "semaphore released too many times: a BoundedSemaphore cannot go above its initial value"
            }
        })
    }
}

impl Error for ReleaseError {}
