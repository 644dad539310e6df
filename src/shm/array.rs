//! `RawArray<T>` (and, with a lock, `Array<T>`): a fixed-length array of plain data in shared
//! memory. Python's `multiprocessing.sharedctypes.RawArray` / `Array`.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::value::check_layout;
use super::{Segment, ShmSafe};

/// A fixed-length array of `T` in shared memory without a lock: Python's `RawArray`.
///
/// Element access copies ([`get`](Self::get), [`set`](Self::set), [`to_vec`](Self::to_vec),
/// [`write_slice`](Self::write_slice)); plain slices need `unsafe` (another process may write
/// at any moment) or an [`Array`](crate::Array) and its lock.
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
        let seg = Segment::new("multiproc-array", bytes_for::<T>(len)?)?;
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
        if bytes_for::<T>(len)? > seg.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("shared segment of {} bytes is too small for {len} x {}", seg.len(), std::any::type_name::<T>()),
            ));
        }
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
        // SAFETY: i < len and the segment holds len elements, aligned (page-aligned start);
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
