//! Anonymous shared segments and typed boxes in them.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ShmSafe;
use crate::sys::mem::{self, Mapping};

/// An anonymous shared-memory segment: a memfd mapped read-write.
///
/// Cloning shares the mapping. Serializing passes the memfd (see [`crate::handle`]); the
/// receiver maps the same pages. Under `Fork` the mapping is simply inherited. The memory is
/// freed when the last process unmaps it and closes the descriptor, so no name can leak.
#[derive(Clone)]
pub(crate) struct Segment {
    inner: Arc<SegInner>,
}

struct SegInner {
    fd: OwnedFd,
    map: Mapping,
}

impl Segment {
    /// A zero-filled segment of at least `len` bytes.
    pub(crate) fn new(name: &str, len: usize) -> io::Result<Segment> {
        let len = len.max(1);
        let fd = mem::memfd(name, len)?;
        let map = Mapping::map(fd.as_fd(), len)?;
        Ok(Segment { inner: Arc::new(SegInner { fd, map }) })
    }

    fn from_fd(fd: OwnedFd) -> io::Result<Segment> {
        let len = mem::file_len(fd.as_fd())?;
        let map = Mapping::map(fd.as_fd(), len)?;
        Ok(Segment { inner: Arc::new(SegInner { fd, map }) })
    }

    /// Start of the mapping (page aligned).
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.inner.map.as_ptr()
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.inner.map.len()
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment").field("len", &self.len()).finish()
    }
}

impl Serialize for Segment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::handle::serialize_fd(self.inner.fd.as_fd(), s)
    }
}

impl<'de> Deserialize<'de> for Segment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fd = crate::handle::deserialize_fd(d)?;
        Segment::from_fd(fd).map_err(|e| serde::de::Error::custom(format!("cannot map the shared segment: {e}")))
    }
}

/// A `T` living at the start of its own shared segment.
///
/// Only shared references are handed out: mutation goes through `T`'s atomics or cells,
/// because other processes see the same memory.
pub(crate) struct ShmBox<T: ShmSafe> {
    seg: Segment,
    _t: PhantomData<T>,
}

impl<T: ShmSafe> ShmBox<T> {
    /// Places `value` in a new segment.
    pub(crate) fn new(name: &str, value: T) -> io::Result<ShmBox<T>> {
        const { assert!(std::mem::align_of::<T>() <= 4096) };
        let seg = Segment::new(name, std::mem::size_of::<T>())?;
        // SAFETY: the mapping is page aligned (enough for T, checked above), at least
        // size_of::<T>() bytes long, and nobody else can see it yet.
        unsafe { seg.as_ptr().cast::<T>().write(value) };
        Ok(ShmBox { seg, _t: PhantomData })
    }

    fn from_segment(seg: Segment) -> io::Result<ShmBox<T>> {
        if seg.len() < std::mem::size_of::<T>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("shared segment of {} bytes is too small for {}", seg.len(), std::any::type_name::<T>()),
            ));
        }
        Ok(ShmBox { seg, _t: PhantomData })
    }
}

impl<T: ShmSafe> Deref for ShmBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the segment holds an initialised T (written by `new` in the creating process,
        // or by that process before handing the segment over), is aligned, lives as long as
        // `self`, and T is ShmSafe: any state another process leaves is valid for it.
        unsafe { &*self.seg.as_ptr().cast::<T>() }
    }
}

impl<T: ShmSafe> Clone for ShmBox<T> {
    fn clone(&self) -> Self {
        ShmBox { seg: self.seg.clone(), _t: PhantomData }
    }
}

impl<T: ShmSafe> fmt::Debug for ShmBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmBox").field("type", &std::any::type_name::<T>()).finish()
    }
}

impl<T: ShmSafe> Serialize for ShmBox<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.seg.serialize(s)
    }
}

impl<'de, T: ShmSafe> Deserialize<'de> for ShmBox<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let seg = Segment::deserialize(d)?;
        ShmBox::from_segment(seg).map_err(serde::de::Error::custom)
    }
}
