//! Anonymous shared segments and typed boxes in them.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ShmSafe;
use crate::sys::mem::{self, Mapping};

/// A region of anonymous shared memory: a memfd of its own, or (for small objects) a block
/// of a shared arena (see [`super::heap`]).
///
/// Cloning shares the mapping. Serializing passes the memfd (see [`crate::handle`]); the
/// receiver maps the same pages. Under `Fork` the mapping is simply inherited. The memory is
/// freed when the last process unmaps it and closes the descriptor, so no name can leak.
#[derive(Clone)]
pub(crate) struct Segment {
    inner: Arc<SegInner>,
    /// Where the region starts in the mapping, and its length.
    off: usize,
    len: usize,
    /// A block of a shared arena (many regions on one descriptor), not a memfd of its own.
    block: bool,
}

/// A memfd and its mapping.
pub(super) struct SegInner {
    pub(super) fd: OwnedFd,
    pub(super) map: Mapping,
}

impl fmt::Debug for SegInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegInner").field("len", &self.map.len()).finish()
    }
}

impl SegInner {
    /// Maps the first `len` bytes of the memfd `fd`.
    pub(super) fn map(fd: OwnedFd, len: usize) -> io::Result<SegInner> {
        let map = Mapping::map(fd.as_fd(), len)?;
        Ok(SegInner { fd, map })
    }
}

impl Segment {
    /// A zero-filled region of at least `len` bytes whose start is aligned to `align` (a
    /// power of two, at most a page). Small regions are blocks of a shared arena: thousands
    /// of `Value`s and locks then cost a handful of descriptors, not one each.
    pub(crate) fn new(name: &str, len: usize, align: usize) -> io::Result<Segment> {
        match super::heap::alloc(len.max(1), align)? {
            Some(seg) => Ok(seg),
            None => Segment::dedicated(name, len),
        }
    }

    /// A zero-filled segment of at least `len` bytes on a memfd of its own (page aligned).
    pub(crate) fn dedicated(name: &str, len: usize) -> io::Result<Segment> {
        let len = len.max(1);
        let fd = mem::memfd(name, len)?;
        Ok(Segment { inner: Arc::new(SegInner::map(fd, len)?), off: 0, len, block: false })
    }

    /// The block `off..off + len` of an arena.
    pub(super) fn block(arena: Arc<SegInner>, off: usize, len: usize) -> Segment {
        debug_assert!(off + len <= arena.map.len());
        Segment { inner: arena, off, len, block: true }
    }

    fn from_fd(fd: OwnedFd) -> io::Result<Segment> {
        let len = mem::file_len(fd.as_fd())?;
        Ok(Segment { inner: Arc::new(SegInner::map(fd, len)?), off: 0, len, block: false })
    }

    /// Start of the region (page aligned for a dedicated segment, aligned as asked for a
    /// block).
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        // SAFETY: `off + len` lies within the mapping (checked when the block was made or
        // received), so the result points into it.
        unsafe { self.inner.map.as_ptr().add(self.off) }
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The descriptor behind the region (for tests).
    #[cfg(test)]
    pub(crate) fn inner_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }

    /// Checks that the region can hold a `T`-aligned object of `min_len` bytes (for regions
    /// received from another process).
    pub(crate) fn check_fits<T>(&self, min_len: usize) -> io::Result<()> {
        if self.len < min_len || !(self.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "shared region of {} bytes at offset {} cannot hold {min_len} bytes of {}",
                    self.len,
                    self.off,
                    std::any::type_name::<T>()
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment").field("len", &self.len).field("block", &self.block).finish()
    }
}

/// A descriptor written with [`crate::handle::serialize_fd`].
struct FdOut<'a>(BorrowedFd<'a>);

impl Serialize for FdOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::handle::serialize_fd(self.0, s)
    }
}

/// A descriptor written with [`crate::handle::serialize_shared_fd`] (once per message).
struct SharedFdOut<'a>(BorrowedFd<'a>);

impl Serialize for SharedFdOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::handle::serialize_shared_fd(self.0, s)
    }
}

/// A descriptor read with [`crate::handle::deserialize_fd`].
struct FdIn(OwnedFd);

impl<'de> Deserialize<'de> for FdIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::handle::deserialize_fd(d).map(FdIn)
    }
}

/// How a segment travels. The two enums encode alike (same variants, same field types).
#[derive(Serialize)]
enum WireOut<'a> {
    Own(FdOut<'a>),
    /// The arena's descriptor, the block's offset and length.
    Block(SharedFdOut<'a>, u32, u32),
}

#[derive(Deserialize)]
enum WireIn {
    Own(FdIn),
    /// The index of the arena's shared descriptor, the block's offset and length.
    Block(u32, u32, u32),
}

impl Serialize for Segment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.block {
            // Blocks are at most a page into arenas of at most a few pages: both fit u32.
            WireOut::Block(SharedFdOut(self.inner.fd.as_fd()), self.off as u32, self.len as u32).serialize(s)
        } else {
            WireOut::Own(FdOut(self.inner.fd.as_fd())).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Segment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match WireIn::deserialize(d)? {
            WireIn::Own(FdIn(fd)) => {
                Segment::from_fd(fd).map_err(|e| D::Error::custom(format!("cannot map the shared segment: {e}")))
            }
            WireIn::Block(index, off, len) => {
                crate::handle::with_shared_fd(index, |fd| super::heap::attach(fd, off as usize, len as usize))
                    .map_err(D::Error::custom)?
                    .map_err(|e| D::Error::custom(format!("cannot map the shared block: {e}")))
            }
        }
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
        let seg = Segment::new(name, std::mem::size_of::<T>(), std::mem::align_of::<T>())?;
        // SAFETY: the region is aligned for T (asked above), at least size_of::<T>() bytes
        // long, and nobody else can see it yet.
        unsafe { seg.as_ptr().cast::<T>().write(value) };
        Ok(ShmBox { seg, _t: PhantomData })
    }

    fn from_segment(seg: Segment) -> io::Result<ShmBox<T>> {
        seg.check_fits::<T>(std::mem::size_of::<T>())?;
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
