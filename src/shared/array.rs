//! `RawArray<T>` (and, with a lock, `Array<T>`): a fixed-length array of plain data in shared
//! memory. Python's `multiprocessing.sharedctypes.RawArray` / `Array`.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::locked::{ArrayGuard, Held, How, ValueLock, blocking, borrow_offset, claim, timed, trying};
use super::value::check_layout;
use crate::shm::{Segment, ShmSafe};
use crate::sync::{AcquireTimeoutError, OwnerDied, TryAcquireError};

/// A fixed-length array of `T` in shared memory without a lock: Python's `RawArray`.
///
/// Element access copies ([`get`](Self::get), [`set`](Self::set), [`to_vec`](Self::to_vec),
/// [`write_slice`](Self::write_slice)); plain slices need `unsafe` (another process may write
/// at any moment) or an [`Array`] and its lock.
///
/// Cloning shares the array; `RawArray` is `Serialize` and reaches children under every
/// start method.
///
/// # Examples
/// ```no_run
/// use multiproc::{Process, RawArray};
///
/// let a = RawArray::from_slice(&[1i32, 2, 3, 4])?;
/// let p = Process::new(
///     |a: RawArray<i32>| {
///         for i in 1..a.len() {
///             a.set(i, a.get(i - 1).unwrap() + a.get(i).unwrap()); // prefix sum
///         }
///     },
///     a.clone(),
/// );
/// p.start()?;
/// p.join()?;
/// assert_eq!(a.to_vec(), [1, 3, 6, 10]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RawArray<T: ShmSafe + Copy> {
    seg: Segment,
    len: usize,
    _t: PhantomData<T>,
}

fn bytes_for<T>(len: usize) -> io::Result<usize> {
    len.checked_mul(std::mem::size_of::<T>())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("an array of {len} elements is too large")))
}

impl<T: ShmSafe + Copy> RawArray<T> {
    /// A zero-filled array of `len` elements (Python's `RawArray('i', 10)`).
    ///
    /// # Errors
    /// `InvalidInput` if the size overflows; OS errors creating the segment.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::<f64>::zeroed(3)?;
    /// assert_eq!(a.to_vec(), [0.0; 3]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn zeroed(len: usize) -> io::Result<RawArray<T>> {
        check_layout::<T>();
        let seg = Segment::new("multiproc-array", bytes_for::<T>(len)?, std::mem::align_of::<T>())?;
        Ok(RawArray { seg, len, _t: PhantomData })
    }

    /// An array holding a copy of `items`.
    ///
    /// # Errors
    /// As [`zeroed`](Self::zeroed).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::from_slice(&[1u8, 2, 3])?;
    /// assert_eq!(a.len(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_slice(items: &[T]) -> io::Result<RawArray<T>> {
        let a = RawArray::zeroed(items.len())?;
        a.write_slice(0, items);
        Ok(a)
    }

    pub(crate) fn from_parts(seg: Segment, len: usize) -> io::Result<RawArray<T>> {
        seg.check_fits::<T>(bytes_for::<T>(len)?)?;
        Ok(RawArray { seg, len, _t: PhantomData })
    }

    pub(crate) fn segment(&self) -> &Segment {
        &self.seg
    }

    /// Number of elements.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::RawArray::<i32>::zeroed(10)?.len(), 10);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Is the array empty?
    ///
    /// # Examples
    /// ```
    /// assert!(multiproc::RawArray::<i32>::zeroed(0)?.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pointer to the first element.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::<u64>::zeroed(2)?;
    /// assert_eq!(a.as_ptr() as usize % 8, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut T {
        self.seg.as_ptr().cast()
    }

    /// A copy of element `i`, `None` when out of range.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::from_slice(&[5i64])?;
    /// assert_eq!(a.get(0), Some(5));
    /// assert_eq!(a.get(1), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        // SAFETY: i < len and the segment holds len elements, aligned (checked at
        // construction and on receipt);
        // any bytes are a valid T (ShmSafe).
        Some(unsafe { self.as_ptr().add(i).read_volatile() })
    }

    /// Stores `value` at index `i`.
    ///
    /// # Panics
    /// If `i >= len()`, as slice indexing does.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::<i32>::zeroed(2)?;
    /// a.set(1, 9);
    /// assert_eq!(a.to_vec(), [0, 9]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set(&self, i: usize, value: T) {
        assert!(i < self.len, "index {i} out of range for a shared array of length {}", self.len);
        // SAFETY: in range (checked above), aligned; any T is a valid state of the memory.
        unsafe { self.as_ptr().add(i).write_volatile(value) }
    }

    /// Copies `items` into the array starting at index `start` (slice assignment).
    ///
    /// # Panics
    /// If `start + items.len() > len()`.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::<u16>::zeroed(4)?;
    /// a.write_slice(1, &[7, 8]);
    /// assert_eq!(a.to_vec(), [0, 7, 8, 0]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_slice(&self, start: usize, items: &[T]) {
        let end = start.checked_add(items.len()).expect("range overflows");
        assert!(end <= self.len, "range {start}..{end} out of range for a shared array of length {}", self.len);
        // SAFETY: the destination range is inside the array (checked); the source is a
        // distinct Rust allocation; any T is valid shared state.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), self.as_ptr().add(start), items.len()) }
    }

    /// Copies elements starting at `start` into `out`.
    ///
    /// # Panics
    /// If `start + out.len() > len()`.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::from_slice(&[1, 2, 3])?;
    /// let mut out = [0; 2];
    /// a.read_slice(1, &mut out);
    /// assert_eq!(out, [2, 3]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_slice(&self, start: usize, out: &mut [T]) {
        let end = start.checked_add(out.len()).expect("range overflows");
        assert!(end <= self.len, "range {start}..{end} out of range for a shared array of length {}", self.len);
        // SAFETY: the source range is inside the array (checked), the destination a distinct
        // allocation; a concurrent writer can only mix old and new elements, each valid.
        unsafe { std::ptr::copy_nonoverlapping(self.as_ptr().add(start), out.as_mut_ptr(), out.len()) }
    }

    /// A copy of the whole array (Python's `arr[:]`).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::from_slice(&[1.0f32, 2.0])?;
    /// assert_eq!(a.to_vec(), [1.0, 2.0]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len).map(|i| self.get(i).expect("in range")).collect()
    }

    /// The elements as a plain slice.
    ///
    /// # Safety
    /// No process may write the array while the slice is alive.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::from_slice(&[3u8, 4])?;
    /// // SAFETY: nobody else has `a`.
    /// assert_eq!(unsafe { a.as_slice() }, &[3, 4]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn as_slice(&self) -> &[T] {
        // SAFETY: len elements, aligned, valid while `self` lives; no writer (caller).
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len) }
    }

    /// The elements as a mutable slice.
    ///
    /// # Safety
    /// Nothing else (another process, thread or handle) may access the array while the slice
    /// is alive.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::<u32>::zeroed(3)?;
    /// // SAFETY: nobody else has `a`.
    /// unsafe { a.as_mut_slice() }.fill(7);
    /// assert_eq!(a.to_vec(), [7, 7, 7]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice(&self) -> &mut [T] {
        // SAFETY: len elements, aligned, valid while `self` lives; exclusive (caller).
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), self.len) }
    }

    /// A new, independent array with the same contents (Python's `sharedctypes.copy`).
    ///
    /// # Errors
    /// As [`zeroed`](Self::zeroed).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::RawArray::from_slice(&[1, 2])?;
    /// let b = a.copy()?;
    /// b.set(0, 9);
    /// assert_eq!((a.to_vec(), b.to_vec()), (vec![1, 2], vec![9, 2]));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn copy(&self) -> io::Result<RawArray<T>> {
        RawArray::from_slice(&self.to_vec())
    }
}

impl<T: ShmSafe + Copy> Clone for RawArray<T> {
    fn clone(&self) -> Self {
        RawArray { seg: self.seg.clone(), len: self.len, _t: PhantomData }
    }
}

impl<T: ShmSafe + Copy + fmt::Debug> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawArray<{}>({:?})", std::any::type_name::<T>(), self.to_vec())
    }
}

impl<T: ShmSafe + Copy> Serialize for RawArray<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.seg, self.len as u64).serialize(s)
    }
}

impl<'de, T: ShmSafe + Copy> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (seg, len) = <(Segment, u64)>::deserialize(d)?;
        RawArray::from_parts(seg, len as usize).map_err(serde::de::Error::custom)
    }
}

/// A fixed-length array of `T` in shared memory with a lock: Python's `Array` (a
/// "synchronized wrapper").
///
/// | Python | multiproc |
/// |---|---|
/// | `Array('i', 10)`, `Array('d', seq)` (a new `RLock`) | [`Array::zeroed`]`(10)`, [`Array::from_slice`]`(&seq)` |
/// | `lock=my_lock` | [`Array::zeroed_with_lock`], [`Array::from_slice_with_lock`] |
/// | `lock=False` | [`RawArray`] |
/// | `arr[i]`, `arr[i] = x`, `arr[:]` (each under the lock) | [`get`](Self::get), [`set`](Self::set), [`to_vec`](Self::to_vec) |
/// | `with arr.get_lock(): ...` on many elements | `let mut g = arr.acquire().unwrap();` then `g[i]`, `g.copy_from_slice(..)` |
/// | `arr.acquire()`, `arr.acquire(False)`, `arr.acquire(timeout=t)` | [`acquire`](Self::acquire), [`try_acquire`](Self::try_acquire), [`acquire_timeout`](Self::acquire_timeout) (a guard) |
///
/// [`acquire`](Self::acquire) returns a guard that derefs to `&mut [T]`: bulk work happens
/// in place, without copies.
///
/// # Examples
/// ```no_run
/// use multiproc::{Array, Process};
///
/// fn squares(a: Array<i32>) {
///     let mut g = a.acquire().unwrap();
///     for (i, x) in g.iter_mut().enumerate() {
///         *x = (i * i) as i32;
///     }
/// }
///
/// let a = Array::<i32>::zeroed(4)?;
/// let p = Process::new(squares, a.clone());
/// p.start()?;
/// p.join()?;
/// assert_eq!(a.to_vec(), [0, 1, 4, 9]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Array<T: ShmSafe + Copy> {
    raw: RawArray<T>,
    lock: ValueLock,
}

impl<T: ShmSafe + Copy> Array<T> {
    /// A zero-filled array of `len` elements with a new [`RLock`](crate::RLock).
    ///
    /// # Errors
    /// `InvalidInput` if the size overflows; OS errors creating the segments.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::Array::<f64>::zeroed(3)?;
    /// assert_eq!(a.to_vec(), [0.0; 3]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn zeroed(len: usize) -> io::Result<Array<T>> {
        Array::zeroed_with_lock(len, ValueLock::new_rlock()?)
    }

    /// A zero-filled array guarded by `lock`.
    ///
    /// # Errors
    /// As [`zeroed`](Self::zeroed).
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::Lock::new()?;
    /// let a = multiproc::Array::<u8>::zeroed_with_lock(2, lock)?;
    /// assert!(matches!(a.get_lock(), multiproc::ValueLock::Lock(_)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn zeroed_with_lock(len: usize, lock: impl Into<ValueLock>) -> io::Result<Array<T>> {
        check_layout::<T>();
        let bytes = bytes_for::<T>(len)?;
        let seg = Segment::new("multiproc-array", borrow_offset(bytes) + 8, std::mem::align_of::<T>().max(8))?;
        Ok(Array { raw: RawArray::from_parts(seg, len)?, lock: lock.into() })
    }

    /// An array holding a copy of `items`, with a new [`RLock`](crate::RLock).
    ///
    /// # Errors
    /// As [`zeroed`](Self::zeroed).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::Array::from_slice(&[1i64, 2])?;
    /// assert_eq!(a.len(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_slice(items: &[T]) -> io::Result<Array<T>> {
        Array::from_slice_with_lock(items, ValueLock::new_rlock()?)
    }

    /// An array holding a copy of `items`, guarded by `lock`.
    ///
    /// # Errors
    /// As [`zeroed`](Self::zeroed).
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::RLock::new()?;
    /// let a = multiproc::Array::from_slice_with_lock(&[1u8], lock)?;
    /// assert_eq!(a.get(0), Some(1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_slice_with_lock(items: &[T], lock: impl Into<ValueLock>) -> io::Result<Array<T>> {
        let a = Array::zeroed_with_lock(items.len(), lock)?;
        a.raw.write_slice(0, items);
        Ok(a)
    }

    fn borrow_word(&self) -> &AtomicU32 {
        let off = borrow_offset(std::mem::size_of::<T>() * self.raw.len());
        // SAFETY: the segment has `off + 8` bytes (checked at construction and on receipt),
        // `off` is 8-aligned from a base aligned to at least 8, and the word is only used
        // atomically.
        unsafe { &*self.raw.segment().as_ptr().add(off).cast::<AtomicU32>() }
    }

    fn guard<'a>(&'a self, held: Held<'a>) -> ArrayGuard<'a, T> {
        let ptr = std::ptr::slice_from_raw_parts_mut(self.raw.as_ptr(), self.raw.len());
        claim(ptr, self.borrow_word(), held)
    }

    /// Acquires the array's lock (Python's `arr.acquire()`, or `with arr.get_lock():`); the
    /// guard derefs to `&mut [T]` and releases the lock on drop.
    ///
    /// # Errors
    /// [`OwnerDied`] (holding the guard) when a process died holding the lock.
    ///
    /// # Panics
    /// If this thread already holds a guard of this array (through a re-entered `RLock`).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::Array::<u32>::zeroed(1000)?;
    /// a.acquire().unwrap().fill(7);
    /// assert_eq!(a.get(999), Some(7));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire(&self) -> Result<ArrayGuard<'_, T>, OwnerDied<ArrayGuard<'_, T>>> {
        blocking(self.lock.take(How::Block), |h| self.guard(h))
    }

    /// Acquires the array's lock if it is free now (Python's `arr.acquire(False)`).
    ///
    /// # Errors
    /// [`TryAcquireError::WouldBlock`] when held elsewhere; [`TryAcquireError::OwnerDied`] as
    /// for [`acquire`](Self::acquire).
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::Array::<u8>::zeroed(1)?;
    /// assert!(a.try_acquire().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<ArrayGuard<'_, T>, TryAcquireError<ArrayGuard<'_, T>>> {
        trying(self.lock.take(How::Try), |h| self.guard(h))
    }

    /// Acquires the array's lock, waiting at most `timeout` (Python's
    /// `arr.acquire(timeout=t)`). A zero timeout only checks; `Duration::MAX` waits forever.
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
    /// let a = multiproc::Array::<u8>::zeroed(1)?;
    /// assert!(a.acquire_timeout(Duration::from_millis(10)).is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ArrayGuard<'_, T>, AcquireTimeoutError<ArrayGuard<'_, T>>> {
        timed(self.lock.take(How::Timeout(timeout)), |h| self.guard(h))
    }

    fn locked_anyway(&self) -> ArrayGuard<'_, T> {
        self.acquire().unwrap_or_else(OwnerDied::into_guard)
    }

    /// Number of elements.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::Array::<u8>::zeroed(5)?.len(), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Is the array empty?
    ///
    /// # Examples
    /// ```
    /// assert!(multiproc::Array::<u8>::zeroed(0)?.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Element `i` read under the lock (`None` when out of range).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::Array::from_slice(&[4u8])?;
    /// assert_eq!((a.get(0), a.get(1)), (Some(4), None));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<T> {
        self.locked_anyway().get(i).copied()
    }

    /// Stores `value` at `i` under the lock.
    ///
    /// # Panics
    /// If `i >= len()`.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::Array::<i8>::zeroed(2)?;
    /// a.set(1, -1);
    /// assert_eq!(a.to_vec(), [0, -1]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set(&self, i: usize, value: T) {
        let len = self.len();
        let mut g = self.locked_anyway();
        let slot = g.get_mut(i);
        let Some(slot) = slot else {
            drop(g);
            panic!("index {i} out of range for a shared array of length {len}")
        };
        *slot = value;
    }

    /// A copy of the whole array, taken under the lock (Python's `arr[:]`).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::Array::from_slice(&[1, 2, 3])?;
    /// assert_eq!(a.to_vec(), [1, 2, 3]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        self.locked_anyway().to_vec()
    }

    /// The lock: exactly the one given, or the `RLock` made by the constructor.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::Array::<u8>::zeroed(1)?;
    /// assert!(!a.get_lock().is_locked());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_lock(&self) -> &ValueLock {
        &self.lock
    }

    /// The unsynchronised array underneath (Python's `get_obj()`).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::Array::from_slice(&[9u8])?;
    /// assert_eq!(a.get_obj().get(0), Some(9));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_obj(&self) -> &RawArray<T> {
        &self.raw
    }
}

impl<T: ShmSafe + Copy> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array { raw: self.raw.clone(), lock: self.lock.clone() }
    }
}

impl<T: ShmSafe + Copy + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Read without the lock: formatting must not block or deadlock.
        write!(f, "Synchronized(Array<{}>({:?}))", std::any::type_name::<T>(), self.raw.to_vec())
    }
}

impl<T: ShmSafe + Copy> Serialize for Array<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.raw, &self.lock).serialize(s)
    }
}

impl<'de, T: ShmSafe + Copy> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (raw, lock) = <(RawArray<T>, ValueLock)>::deserialize(d)?;
        let need = borrow_offset(std::mem::size_of::<T>() * raw.len()) + 8;
        if raw.segment().len() < need {
            return Err(serde::de::Error::custom("the shared segment is too small for this Array"));
        }
        Ok(Array { raw, lock })
    }
}
