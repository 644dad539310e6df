//! `RawValue<T>` (and, with a lock, `Value<T>`): one plain-data value in shared memory.
//! Python's `multiprocessing.sharedctypes.RawValue` / `Value`.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Segment, ShmSafe};

/// One `T` in shared memory without a lock: Python's `RawValue`.
///
/// Reads and writes are whole-value copies ([`get`](Self::get), [`set`](Self::set)) done
/// with volatile accesses: they never tear a value of up to 8 aligned bytes on x86-64 and
/// aarch64, but a read-modify-write such as `v.set(v.get() + 1)` is not atomic across
/// processes. Use [`Value`](crate::Value) (with its lock) or a `T` of atomics for that.
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
        let seg = Segment::new("multiproc-value", std::mem::size_of::<T>())?;
        let v = RawValue { seg, _t: PhantomData };
        v.set(value);
        Ok(v)
    }

    pub(crate) fn from_segment(seg: Segment) -> io::Result<RawValue<T>> {
        if seg.len() < std::mem::size_of::<T>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("shared segment of {} bytes is too small for {}", seg.len(), std::any::type_name::<T>()),
            ));
        }
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
        // SAFETY: the segment is page aligned and at least size_of::<T>() bytes (checked at
        // construction); T is ShmSafe, so whatever bytes another process left are a valid T.
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
