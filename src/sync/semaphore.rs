//! [`Semaphore`] and [`BoundedSemaphore`]: counting semaphores shared between processes.

use std::fmt;
use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ReleaseError, Timeout, WouldBlock};
use super::raw::{RawSemaphore, SemState};
use crate::shm::ShmBox;

/// Python's `multiprocessing.Semaphore`: a counter of permits shared between processes.
///
/// `acquire` takes a permit (blocking while there is none) and returns a guard that gives it
/// back on drop; [`release`](Semaphore::release) adds a permit from anywhere, and may go above
/// the initial value (use [`BoundedSemaphore`] to forbid that).
///
/// A semaphore has no owner: a process that dies holding a permit takes it with it, and the
/// count stays one lower (as in Python).
///
/// # Examples
/// ```
/// let sem = multiproc::sync::Semaphore::new(2)?;
/// let a = sem.acquire();
/// let b = sem.acquire();
/// assert!(sem.try_acquire().is_err()); // WouldBlock: no permit is free
/// drop(a);
/// assert_eq!(sem.get_value(), 1);
/// # drop(b);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Semaphore {
    state: ShmBox<SemState>,
}

impl Semaphore {
    /// A semaphore with `value` permits.
    ///
    /// # Errors
    /// The shared segment cannot be created.
    ///
    /// # Examples
    /// ```
    /// let sem = multiproc::sync::Semaphore::new(3)?;
    /// assert_eq!(sem.get_value(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(value: u32) -> io::Result<Semaphore> {
        Semaphore::with_max(value, u32::MAX)
    }

    fn with_max(value: u32, max: u32) -> io::Result<Semaphore> {
        Ok(Semaphore { state: ShmBox::new("multiproc-semaphore", SemState::new(value, max))? })
    }

    fn raw(&self) -> &SemState {
        &self.state
    }

    /// Takes a permit, blocking until one is available.
    ///
    /// # Examples
    /// See [`Semaphore`].
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        self.raw().acquire(None);
        SemaphoreGuard { sem: self.raw() }
    }

    /// Takes a permit if one is available now (Python's `acquire(False)`).
    ///
    /// # Errors
    /// [`WouldBlock`] when no permit is free.
    ///
    /// # Examples
    /// ```
    /// use multiproc::sync::{Semaphore, WouldBlock};
    /// let sem = Semaphore::new(1)?;
    /// let p = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().unwrap_err(), WouldBlock);
    /// # drop(p);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphoreGuard<'_>, WouldBlock> {
        if self.raw().try_acquire() { Ok(SemaphoreGuard { sem: self.raw() }) } else { Err(WouldBlock) }
    }

    /// Takes a permit, blocking up to `timeout` (Python's `acquire(timeout=t)`). A zero
    /// timeout only checks; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`Timeout`] when no permit came free in time.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use multiproc::sync::{Semaphore, Timeout};
    /// let sem = Semaphore::new(0)?;
    /// assert_eq!(sem.acquire_timeout(Duration::from_millis(10)).unwrap_err(), Timeout);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphoreGuard<'_>, Timeout> {
        if self.raw().acquire(crate::deadline::after(timeout)) {
            Ok(SemaphoreGuard { sem: self.raw() })
        } else {
            Err(Timeout)
        }
    }

    /// Adds a permit (from any thread or process), waking one waiter if someone sleeps.
    ///
    /// # Errors
    /// Never for a `Semaphore` (the count may exceed its initial value); see
    /// [`BoundedSemaphore::release`].
    ///
    /// # Examples
    /// ```
    /// let sem = multiproc::sync::Semaphore::new(0)?;
    /// sem.release()?;
    /// assert_eq!(sem.get_value(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.raw().release() { Ok(()) } else { Err(ReleaseError::TooManyReleases) }
    }

    /// The number of free permits.
    ///
    /// # Examples
    /// See [`Semaphore`].
    pub fn get_value(&self) -> u32 {
        self.raw().value()
    }

    /// Is no permit free? (Python 3.14's `locked()`.)
    ///
    /// # Examples
    /// ```
    /// let sem = multiproc::sync::Semaphore::new(1)?;
    /// let _p = sem.acquire();
    /// assert!(sem.is_locked());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_locked(&self) -> bool {
        self.get_value() == 0
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Semaphore(value={})", self.get_value())
    }
}

/// Python's `multiprocessing.BoundedSemaphore`: a [`Semaphore`] whose count may not go above
/// its initial value; an extra `release` is an error.
///
/// # Examples
/// ```
/// use multiproc::sync::{BoundedSemaphore, ReleaseError};
/// let sem = BoundedSemaphore::new(1)?;
/// sem.acquire().leak();
/// sem.release().unwrap();
/// assert_eq!(sem.release(), Err(ReleaseError::TooManyReleases));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct BoundedSemaphore {
    inner: Semaphore,
}

impl BoundedSemaphore {
    /// A semaphore with `value` permits, never more.
    ///
    /// # Errors
    /// The shared segment cannot be created.
    ///
    /// # Examples
    /// See [`BoundedSemaphore`].
    pub fn new(value: u32) -> io::Result<BoundedSemaphore> {
        Ok(BoundedSemaphore { inner: Semaphore::with_max(value, value)? })
    }

    /// Takes a permit, blocking until one is available.
    ///
    /// # Examples
    /// See [`BoundedSemaphore`].
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        self.inner.acquire()
    }

    /// Takes a permit if one is available now.
    ///
    /// # Errors
    /// [`WouldBlock`] when no permit is free.
    ///
    /// # Examples
    /// ```
    /// let sem = multiproc::sync::BoundedSemaphore::new(1)?;
    /// let p = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_err());
    /// # drop(p);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphoreGuard<'_>, WouldBlock> {
        self.inner.try_acquire()
    }

    /// Takes a permit, blocking up to `timeout`. A zero timeout only checks; `Duration::MAX`
    /// waits forever.
    ///
    /// # Errors
    /// [`Timeout`] when no permit came free in time.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let sem = multiproc::sync::BoundedSemaphore::new(1)?;
    /// let _p = sem.acquire_timeout(Duration::from_millis(10)).unwrap();
    /// assert!(sem.acquire_timeout(Duration::ZERO).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphoreGuard<'_>, Timeout> {
        self.inner.acquire_timeout(timeout)
    }

    /// Returns a permit.
    ///
    /// # Errors
    /// [`ReleaseError::TooManyReleases`] if the count is already at its initial value.
    ///
    /// # Examples
    /// See [`BoundedSemaphore`].
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.inner.release()
    }

    /// The number of free permits.
    ///
    /// # Examples
    /// ```
    /// let sem = multiproc::sync::BoundedSemaphore::new(2)?;
    /// assert_eq!(sem.get_value(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_value(&self) -> u32 {
        self.inner.get_value()
    }

    /// Is no permit free? (Python 3.14's `locked()`.)
    ///
    /// # Examples
    /// ```
    /// let sem = multiproc::sync::BoundedSemaphore::new(0)?;
    /// assert!(sem.is_locked());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BoundedSemaphore(value={})", self.get_value())
    }
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`]; given back on drop.
///
/// # Examples
/// See [`Semaphore`].
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    sem: &'a SemState,
}

impl SemaphoreGuard<'_> {
    /// Keeps the permit without the guard; give it back later with `release`, from any thread
    /// or process.
    ///
    /// # Examples
    /// See [`BoundedSemaphore`].
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // Cannot exceed a bound: this permit was taken from the count.
        self.sem.release();
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphoreGuard")
    }
}
