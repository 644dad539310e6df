//! What `Value<T>` and `Array<T>` share: the lock choice ([`ValueLock`]) and the guard that
//! hands out `&mut T` / `&mut [T]` ([`SharedGuard`]).
//!
//! # Why a borrow word besides the lock
//!
//! The default lock is an [`RLock`], which the same thread may take twice, and a `Lock` may be
//! released by anyone with [`Lock::release`]. Either would let two guards hand out `&mut` to
//! the same memory. So the segment holds, after the data, a borrow word: an owner word of the
//! owner record every lock uses (`sys/liveness.rs`: 0 when free, else the pid of the process
//! whose guard is alive; no flags, no thread: it is a claim nobody sleeps on). A guard is
//! created only after the lock is held *and* the word is claimed with a compare-and-swap.
//! A word whose owner died ([`owner_is_dead`], the one check of every lock) is taken over by
//! the recovery rule, silently: its holder died mid-update, and the lock under it has already
//! reported that as `OwnerDied`. A word naming this process or another live one means a second
//! guard would alias the first: the lock level just taken is released and the call panics, as
//! `RefCell` does.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sync::{AcquireTimeoutError, Lock, LockGuard, OwnerDied, RLock, RLockGuard, TryAcquireError};
use crate::sys::liveness::{Owner, owner_is_dead, take_over};

/// The lock of a [`Value`](crate::Value) or an [`Array`](crate::Array): a [`Lock`] or an
/// [`RLock`], as Python's `lock=` argument. `get_lock()` returns exactly the lock given.
///
/// # Examples
/// ```
/// use multiproc::{Value, ValueLock, sync::Lock};
/// let lock = Lock::new()?;
/// let v = Value::with_lock(0u32, lock.clone())?;
/// let _held = lock.acquire().unwrap();
/// assert!(v.get_lock().is_locked()); // the very same lock
/// assert!(matches!(v.get_lock(), ValueLock::Lock(_)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ValueLock {
    /// A non-recursive [`Lock`].
    Lock(Lock),
    /// A recursive [`RLock`] (the default, as in Python).
    RLock(RLock),
}

impl From<Lock> for ValueLock {
    fn from(l: Lock) -> ValueLock {
        ValueLock::Lock(l)
    }
}

impl From<RLock> for ValueLock {
    fn from(l: RLock) -> ValueLock {
        ValueLock::RLock(l)
    }
}

impl ValueLock {
    /// Is the lock held (by anyone)? (Python 3.14's `locked()`.)
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::Value::new(1i64)?;
    /// assert!(!v.get_lock().is_locked());
    /// let g = v.acquire().unwrap();
    /// assert!(v.get_lock().is_locked());
    /// # drop(g);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_locked(&self) -> bool {
        match self {
            ValueLock::Lock(l) => l.is_locked(),
            ValueLock::RLock(l) => l.is_locked(),
        }
    }

    /// A new recursive lock: the default of `Value::new` and `Array::zeroed`.
    pub(crate) fn new_rlock() -> std::io::Result<ValueLock> {
        Ok(ValueLock::RLock(RLock::new()?))
    }

    pub(crate) fn take(&self, how: How) -> Got<'_> {
        match self {
            ValueLock::Lock(l) => {
                take_with(how, || l.acquire(), || l.try_acquire(), |t| l.acquire_timeout(t), Held::Lock)
            }
            ValueLock::RLock(l) => {
                take_with(how, || l.acquire(), || l.try_acquire(), |t| l.acquire_timeout(t), Held::RLock)
            }
        }
    }
}

/// Takes a lock the way `how` says, with the three acquire forms of that lock type.
fn take_with<'a, G>(
    how: How,
    block: impl FnOnce() -> Result<G, OwnerDied<G>>,
    try_once: impl FnOnce() -> Result<G, TryAcquireError<G>>,
    timed: impl FnOnce(Duration) -> Result<G, AcquireTimeoutError<G>>,
    held: impl Fn(G) -> Held<'a>,
) -> Got<'a> {
    let r = match how {
        How::Block => block().map_err(Some),
        How::Try => try_once().map_err(|e| match e {
            TryAcquireError::WouldBlock => None,
            TryAcquireError::OwnerDied(d) => Some(d),
        }),
        How::Timeout(t) => timed(t).map_err(|e| match e {
            AcquireTimeoutError::Timeout => None,
            AcquireTimeoutError::OwnerDied(d) => Some(d),
        }),
    };
    match r {
        Ok(g) => Got::Ok(held(g)),
        Err(Some(died)) => Got::Died(held(died.into_guard())),
        Err(None) => Got::Busy,
    }
}

#[derive(Clone, Copy)]
pub(crate) enum How {
    Block,
    Try,
    Timeout(Duration),
}

pub(crate) enum Got<'a> {
    Ok(Held<'a>),
    Died(Held<'a>),
    Busy,
}

pub(crate) enum Held<'a> {
    Lock(LockGuard<'a>),
    RLock(RLockGuard<'a>),
}

/// Exclusive access to the data of a [`Value`](crate::Value) (`SharedGuard<'_, T>`) or an
/// [`Array`](crate::Array) (`SharedGuard<'_, [T]>`) while its lock is held: derefs to `&T` /
/// `&mut T` (or slices) with no copy. Dropping it releases the lock.
///
/// Not `Send`: a lock level belongs to the thread that took it.
///
/// # Examples
/// ```
/// let a = multiproc::Array::from_slice(&[1u32, 2, 3])?;
/// let mut g = a.acquire().unwrap();
/// g.iter_mut().for_each(|x| *x *= 10);
/// assert_eq!(&*g, &[10, 20, 30]);
/// # drop(g);
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SharedGuard<'a, U: ?Sized> {
    ptr: *mut U,
    borrow: &'a AtomicU32,
    held: Held<'a>,
    _not_send: PhantomData<*const ()>,
}

/// The guard of a [`Value`](crate::Value).
///
/// # Examples
/// ```
/// let v = multiproc::Value::new(1u32)?;
/// let mut g: multiproc::ValueGuard<'_, u32> = v.acquire().unwrap();
/// *g += 1;
/// # drop(g);
/// # Ok::<(), std::io::Error>(())
/// ```
pub type ValueGuard<'a, T> = SharedGuard<'a, T>;
/// The guard of an [`Array`](crate::Array).
///
/// # Examples
/// ```
/// let a = multiproc::Array::<u32>::zeroed(2)?;
/// let mut g: multiproc::ArrayGuard<'_, u32> = a.acquire().unwrap();
/// g[1] = 5;
/// # drop(g);
/// # Ok::<(), std::io::Error>(())
/// ```
pub type ArrayGuard<'a, T> = SharedGuard<'a, [T]>;

/// Claims the borrow word for a lock just taken; see the module docs.
///
/// # Panics
/// When another guard for the same data is alive (re-entered `RLock`, or the lock released
/// behind a guard's back).
pub(crate) fn claim<'a, U: ?Sized>(ptr: *mut U, borrow: &'a AtomicU32, held: Held<'a>) -> SharedGuard<'a, U> {
    let me = Owner::me().word();
    loop {
        match borrow.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => break,
            // The recovery rule; a lost race (the word changed) looks again.
            Err(now) if owner_is_dead(now) => {
                if take_over(borrow, now, me) {
                    break;
                }
            }
            Err(0) => {}
            Err(now) => {
                drop(held);
                panic!(
                    "the shared data is already borrowed by a live guard (in process {now}): \
                     acquire() was re-entered through an RLock in the same thread, or its lock was \
                     released behind the guard's back"
                );
            }
        }
    }
    SharedGuard { ptr, borrow, held, _not_send: PhantomData }
}

impl<U: ?Sized> SharedGuard<'_, U> {
    /// After an [`OwnerDied`]: marks the lock consistent again once the data is repaired.
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::Value::new(0u8)?;
    /// let g = v.acquire().unwrap_or_else(|died| died.into_guard());
    /// g.make_consistent(); // a no-op on a consistent lock
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn make_consistent(&self) {
        match &self.held {
            Held::Lock(g) => g.make_consistent(),
            Held::RLock(g) => g.make_consistent(),
        }
    }
}

impl<U: ?Sized> Deref for SharedGuard<'_, U> {
    type Target = U;
    fn deref(&self) -> &U {
        // SAFETY: `ptr` points into a mapping that outlives the guard (the guard borrows the
        // Value/Array that owns it); the borrow word makes this the only guard for the data,
        // and the data is ShmSafe, so any bytes are a valid U.
        unsafe { &*self.ptr }
    }
}

impl<U: ?Sized> DerefMut for SharedGuard<'_, U> {
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in `deref`; `&mut self` makes this borrow unique within the guard, and
        // the claimed borrow word excludes every other guard in every process.
        unsafe { &mut *self.ptr }
    }
}

impl<U: ?Sized> Drop for SharedGuard<'_, U> {
    fn drop(&mut self) {
        // Free the borrow word before the lock level (the `held` field) is released.
        self.borrow.store(0, Ordering::Release);
    }
}

impl<U: ?Sized + fmt::Debug> fmt::Debug for SharedGuard<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedGuard").field(&&**self).finish()
    }
}

/// Turns the lock outcome into the `acquire()` result.
pub(crate) fn blocking<'a, U: ?Sized>(
    got: Got<'a>,
    make: impl FnOnce(Held<'a>) -> SharedGuard<'a, U>,
) -> Result<SharedGuard<'a, U>, OwnerDied<SharedGuard<'a, U>>> {
    match got {
        Got::Ok(h) => Ok(make(h)),
        Got::Died(h) => Err(OwnerDied::new(make(h))),
        Got::Busy => unreachable!("a blocking acquire does not give up"),
    }
}

/// Turns the lock outcome into the `try_acquire()` result.
pub(crate) fn trying<'a, U: ?Sized>(
    got: Got<'a>,
    make: impl FnOnce(Held<'a>) -> SharedGuard<'a, U>,
) -> Result<SharedGuard<'a, U>, TryAcquireError<SharedGuard<'a, U>>> {
    match got {
        Got::Ok(h) => Ok(make(h)),
        Got::Died(h) => Err(TryAcquireError::OwnerDied(OwnerDied::new(make(h)))),
        Got::Busy => Err(TryAcquireError::WouldBlock),
    }
}

/// Turns the lock outcome into the `acquire_timeout()` result.
pub(crate) fn timed<'a, U: ?Sized>(
    got: Got<'a>,
    make: impl FnOnce(Held<'a>) -> SharedGuard<'a, U>,
) -> Result<SharedGuard<'a, U>, AcquireTimeoutError<SharedGuard<'a, U>>> {
    match got {
        Got::Ok(h) => Ok(make(h)),
        Got::Died(h) => Err(AcquireTimeoutError::OwnerDied(OwnerDied::new(make(h)))),
        Got::Busy => Err(AcquireTimeoutError::Timeout),
    }
}

/// Offset of the borrow word after `data_bytes` of data (8-aligned).
pub(crate) fn borrow_offset(data_bytes: usize) -> usize {
    data_bytes.div_ceil(8) * 8
}
