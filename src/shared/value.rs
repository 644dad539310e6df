//! `RawValue<T>` (and, with a lock, `Value<T>`): one plain-data value in shared memory.
//! Python's `multiprocessing.sharedctypes.RawValue` / `Value`.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::locked::{Held, How, ValueGuard, ValueLock, blocking, borrow_offset, claim, timed, trying};
use crate::shm::{Segment, ShmSafe};
use crate::sync::{AcquireTimeoutError, OwnerDied, TryAcquireError};

/// One `T` in shared memory without a lock: Python's `RawValue`.
///
/// Reads and writes are whole-value copies ([`get`](Self::get), [`set`](Self::set)) done
/// with volatile accesses: they never tear a value of up to 8 aligned bytes on x86-64 and
/// aarch64, but a read-modify-write such as `v.set(v.get() + 1)` is not atomic across
/// processes. Use [`Value`] (with its lock) or a `T` of atomics for that.
///
/// Cloning shares the value. `RawValue` is `Serialize`: put it in a child's arguments and
/// the child sees the same memory (as a passed descriptor under `Spawn`/`ForkServer`, by
/// inheritance under `Fork`).
///
/// # Examples
/// ```no_run
/// use multiproc::{Process, RawValue};
///
/// let v = RawValue::new(1.5f64)?;
/// let p = Process::new(|v: RawValue<f64>| v.set(v.get() * 2.0), v.clone());
/// p.start()?;
/// p.join()?;
/// assert_eq!(v.get(), 3.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RawValue<T: ShmSafe + Copy> {
    seg: Segment,
    _t: PhantomData<T>,
}

pub(crate) fn check_layout<T>() {
    const { assert!(std::mem::align_of::<T>() <= 4096, "alignment over a page is not supported") };
}

impl<T: ShmSafe + Copy> RawValue<T> {
    /// A new shared value holding `value`.
    ///
    /// # Errors
    /// OS errors creating the segment (`memfd_create`, `mmap`).
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::RawValue::new(7i32)?;
    /// assert_eq!(v.get(), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(value: T) -> io::Result<RawValue<T>> {
        check_layout::<T>();
        let seg = Segment::new("multiproc-value", std::mem::size_of::<T>(), std::mem::align_of::<T>())?;
        let v = RawValue { seg, _t: PhantomData };
        v.set(value);
        Ok(v)
    }

    pub(crate) fn from_segment(seg: Segment) -> io::Result<RawValue<T>> {
        seg.check_fits::<T>(std::mem::size_of::<T>())?;
        Ok(RawValue { seg, _t: PhantomData })
    }

    /// A copy of the current value.
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::RawValue::new(2u64.pow(33))?;
    /// assert_eq!(v.get(), 8589934592);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get(&self) -> T {
        // SAFETY: the segment is aligned for T and at least size_of::<T>() bytes (checked at
        // construction and on receipt); T is ShmSafe, so whatever bytes another process left are a valid T.
        unsafe { self.as_ptr().read_volatile() }
    }

    /// Stores `value`.
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::RawValue::new(0i16)?;
    /// v.set(-3);
    /// assert_eq!(v.get(), -3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set(&self, value: T) {
        // SAFETY: as in `get`; any T is a valid state of the shared memory.
        unsafe { self.as_ptr().write_volatile(value) }
    }

    /// Pointer to the shared value.
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::RawValue::new(1u8)?;
    /// assert!(!v.as_ptr().is_null());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut T {
        self.seg.as_ptr().cast()
    }

    /// A mutable reference to the shared value, for in-place updates of a large `T`.
    ///
    /// # Safety
    /// Nothing else (another process, thread or handle) may read or write the value while the
    /// reference is alive.
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::RawValue::new([0u32; 4])?;
    /// // SAFETY: no other process or handle uses `v` yet.
    /// unsafe { v.as_mut()[2] = 5 };
    /// assert_eq!(v.get(), [0, 0, 5, 0]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut(&self) -> &mut T {
        // SAFETY: valid and aligned as in `get`; exclusivity is the caller's promise.
        unsafe { &mut *self.as_ptr() }
    }

    /// A new, independent shared value with the same contents (Python's `sharedctypes.copy`).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawValue::new(1i32)?;
    /// let b = a.copy()?;
    /// b.set(2);
    /// assert_eq!((a.get(), b.get()), (1, 2));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn copy(&self) -> io::Result<RawValue<T>> {
        RawValue::new(self.get())
    }
}

impl<T: ShmSafe + Copy> Clone for RawValue<T> {
    fn clone(&self) -> Self {
        RawValue { seg: self.seg.clone(), _t: PhantomData }
    }
}

impl<T: ShmSafe + Copy + fmt::Debug> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawValue<{}>({:?})", std::any::type_name::<T>(), self.get())
    }
}

impl<T: ShmSafe + Copy> Serialize for RawValue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.seg.serialize(s)
    }
}

impl<'de, T: ShmSafe + Copy> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawValue::from_segment(Segment::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// One `T` in shared memory with a lock: Python's `Value` (a "synchronized wrapper").
///
/// | Python | multiproc |
/// |---|---|
/// | `Value('i', 0)` (a new `RLock`) | [`Value::new`]`(0i32)` |
/// | `Value('i', 0, lock=my_lock)` | [`Value::with_lock`]`(0i32, my_lock)` |
/// | `Value('i', 0, lock=False)` | [`RawValue::new`]`(0i32)` (no `get_lock` at all) |
/// | `v.value`, `v.value = x` (each under the lock) | [`get`](Self::get), [`set`](Self::set) |
/// | `with v.get_lock(): v.value += 1` | `*v.acquire().unwrap() += 1` |
/// | `v.acquire()`, `v.acquire(False)`, `v.acquire(timeout=t)` | [`acquire`](Self::acquire), [`try_acquire`](Self::try_acquire), [`acquire_timeout`](Self::acquire_timeout) (a guard) |
/// | `v.get_lock()`, `v.get_obj()` | [`get_lock`](Self::get_lock), [`get_obj`](Self::get_obj) |
///
/// [`acquire`](Self::acquire) returns a guard that derefs to `&mut T` (zero-copy) and
/// releases the lock on drop. If a process died holding the lock, `acquire` returns
/// [`OwnerDied`] with the guard inside: the value may be half-updated.
///
/// Cloning shares the value and its lock; `Value` is `Serialize` and reaches children under
/// every start method.
///
/// # Costs
///
/// A `Value` of up to 1 KiB and its lock are blocks of shared arenas of 32 KiB (Python's
/// `multiprocessing.heap`): a few dozen bytes each, and thousands of them share a handful of
/// descriptors, which travel once per message whatever the number of values in it. An arena
/// lives as long as any block of it does, so one long-lived value keeps its 32 KiB. A larger
/// value gets a memfd of its own. Reading or writing takes the lock: a shared-futex
/// acquire and release, about 10 ns uncontended.
///
/// # Examples
/// ```no_run
/// use multiproc::{Process, Value};
///
/// fn add(v: Value<u64>) {
///     for _ in 0..1000 {
///         *v.acquire().unwrap() += 1;
///     }
/// }
///
/// let v = Value::new(0u64)?;
/// let ps: Vec<Process> = (0..4).map(|_| Process::new(add, v.clone())).collect();
/// for p in &ps { p.start()?; }
/// for p in &ps { p.join()?; }
/// assert_eq!(v.get(), 4000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A `Value` made without a lock has no `get_lock` (Python's `AttributeError`, at compile time):
/// ```compile_fail
/// let raw = multiproc::RawValue::new(1i32).unwrap();
/// raw.get_lock();
/// ```
pub struct Value<T: ShmSafe + Copy> {
    raw: RawValue<T>,
    lock: ValueLock,
}

impl<T: ShmSafe + Copy> Value<T> {
    /// A new shared value holding `value`, with a new [`RLock`](crate::RLock) (Python's default).
    ///
    /// # Errors
    /// OS errors creating the segments.
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::Value::new(2.5f64)?;
    /// assert_eq!(v.get(), 2.5);
    /// assert!(matches!(v.get_lock(), multiproc::ValueLock::RLock(_)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(value: T) -> io::Result<Value<T>> {
        Value::with_lock(value, ValueLock::new_rlock()?)
    }

    /// A new shared value guarded by `lock` (a [`Lock`](crate::Lock) or an
    /// [`RLock`](crate::RLock), possibly shared with other values).
    ///
    /// # Errors
    /// OS errors creating the segment.
    ///
    /// # Examples
    /// ```
    /// use multiproc::{RLock, Value};
    /// let lock = RLock::new()?;
    /// let a = Value::with_lock(1i32, lock.clone())?;
    /// let b = Value::with_lock(2i32, lock.clone())?;
    /// let _both = lock.acquire().unwrap(); // one lock for both values
    /// a.set(b.get() + a.get());
    /// assert_eq!(a.get(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_lock(value: T, lock: impl Into<ValueLock>) -> io::Result<Value<T>> {
        check_layout::<T>();
        let bytes = std::mem::size_of::<T>();
        let seg = Segment::new("multiproc-value", borrow_offset(bytes) + 8, std::mem::align_of::<T>().max(8))?;
        let raw = RawValue::from_segment(seg)?;
        raw.set(value);
        Ok(Value { raw, lock: lock.into() })
    }

    fn borrow_word(&self) -> &AtomicU32 {
        let off = borrow_offset(std::mem::size_of::<T>());
        // SAFETY: the segment has `off + 8` bytes (checked at construction and on receipt),
        // `off` is 8-aligned from a base aligned to at least 8, and the word is only used
        // atomically.
        unsafe { &*self.raw.seg.as_ptr().add(off).cast::<AtomicU32>() }
    }

    fn guard<'a>(&'a self, held: Held<'a>) -> ValueGuard<'a, T> {
        claim(self.raw.as_ptr(), self.borrow_word(), held)
    }

    /// Acquires the value's lock (Python's `v.acquire()`, or `with v.get_lock():`); the guard
    /// derefs to `&mut T` and releases the lock on drop.
    ///
    /// # Errors
    /// [`OwnerDied`] (holding the guard) when a process died holding the lock.
    ///
    /// # Panics
    /// If this thread already holds a guard of this value (through a re-entered `RLock`).
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::Value::new([0u8; 4])?;
    /// {
    ///     let mut g = v.acquire().unwrap();
    ///     g[1] = 7;
    /// }
    /// assert_eq!(v.get(), [0, 7, 0, 0]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire(&self) -> Result<ValueGuard<'_, T>, OwnerDied<ValueGuard<'_, T>>> {
        blocking(self.lock.take(How::Block), |h| self.guard(h))
    }

    /// Acquires the value's lock if it is free now (Python's `v.acquire(False)`).
    ///
    /// # Errors
    /// [`TryAcquireError::WouldBlock`] when the lock is held elsewhere;
    /// [`TryAcquireError::OwnerDied`] as for [`acquire`](Self::acquire).
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire).
    ///
    /// # Examples
    /// ```
    /// use multiproc::{Value, sync::Lock};
    /// let lock = Lock::new()?;
    /// let v = Value::with_lock(0i32, lock.clone())?;
    /// let held = lock.acquire().unwrap();
    /// assert!(v.try_acquire().unwrap_err().is_would_block());
    /// drop(held);
    /// assert!(v.try_acquire().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<ValueGuard<'_, T>, TryAcquireError<ValueGuard<'_, T>>> {
        trying(self.lock.take(How::Try), |h| self.guard(h))
    }

    /// Acquires the value's lock, waiting at most `timeout` (Python's
    /// `v.acquire(timeout=t)`). A zero timeout only checks; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`AcquireTimeoutError::Timeout`] when the lock stayed held;
    /// [`AcquireTimeoutError::OwnerDied`] as for [`acquire`](Self::acquire).
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let v = multiproc::Value::new(1u16)?;
    /// *v.acquire_timeout(Duration::from_secs(1)).unwrap() += 1;
    /// assert_eq!(v.get(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ValueGuard<'_, T>, AcquireTimeoutError<ValueGuard<'_, T>>> {
        timed(self.lock.take(How::Timeout(timeout)), |h| self.guard(h))
    }

    fn locked_anyway(&self) -> ValueGuard<'_, T> {
        self.acquire().unwrap_or_else(OwnerDied::into_guard)
    }

    /// The value, read under the lock (Python's `v.value`). After an owner death it reads
    /// what is there and leaves the lock marked for the next `acquire()` to report.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::Value::new(-1i64)?.get(), -1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get(&self) -> T {
        *self.locked_anyway()
    }

    /// Stores `value` under the lock (Python's `v.value = x`).
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::Value::new(0u32)?;
    /// v.set(5);
    /// assert_eq!(v.get(), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set(&self, value: T) {
        *self.locked_anyway() = value;
    }

    /// The lock: exactly the one given to [`with_lock`](Self::with_lock), or the `RLock`
    /// made by [`new`](Self::new).
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::Value::new(0i32)?;
    /// let multiproc::ValueLock::RLock(l) = v.get_lock() else { unreachable!() };
    /// let _outer = l.acquire().unwrap(); // Python's `with v.get_lock():`
    /// v.set(v.get() + 1);                // re-enters the RLock
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_lock(&self) -> &ValueLock {
        &self.lock
    }

    /// The unsynchronised value underneath (Python's `get_obj()`).
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::Value::new(3u8)?;
    /// assert_eq!(v.get_obj().get(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_obj(&self) -> &RawValue<T> {
        &self.raw
    }
}

impl<T: ShmSafe + Copy> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value { raw: self.raw.clone(), lock: self.lock.clone() }
    }
}

impl<T: ShmSafe + Copy + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Read without the lock: formatting must not block or deadlock.
        write!(f, "Synchronized(Value<{}>({:?}))", std::any::type_name::<T>(), self.raw.get())
    }
}

impl<T: ShmSafe + Copy> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.raw.seg, &self.lock).serialize(s)
    }
}

impl<'de, T: ShmSafe + Copy> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (seg, lock) = <(Segment, ValueLock)>::deserialize(d)?;
        if seg.len() < borrow_offset(std::mem::size_of::<T>()) + 8 {
            return Err(serde::de::Error::custom("the shared segment is too small for this Value"));
        }
        let raw = RawValue::from_segment(seg).map_err(serde::de::Error::custom)?;
        Ok(Value { raw, lock })
    }
}
