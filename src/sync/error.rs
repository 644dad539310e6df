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

/// Why `try_acquire` did not simply succeed.
///
/// # Examples
/// ```
/// use multiproc::sync::{Lock, TryAcquireError};
/// let lock = Lock::new()?;
/// let _held = lock.acquire().unwrap();
/// assert!(matches!(lock.try_acquire(), Err(TryAcquireError::WouldBlock)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub enum TryAcquireError<G> {
    /// The lock is held by someone else (or the semaphore has no permit).
    WouldBlock,
    /// Acquired, but the previous owner had died holding it.
    OwnerDied(OwnerDied<G>),
}

/// Why `acquire_timeout` did not simply succeed.
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
}

impl<G> AcquireTimeoutError<G> {
    /// Is this [`AcquireTimeoutError::Timeout`]?
    ///
    /// # Examples
    /// See [`AcquireTimeoutError`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, AcquireTimeoutError::Timeout)
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
