//! A shared region, however it is stored (a block of an arena, or a memfd of its own), how it
//! travels to another process, and typed boxes in regions.
//!
//! This file sits above `segment.rs` (the mapping) and `heap.rs` (the arenas): it is the one
//! place that chooses between them.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{BorrowedFd, OwnedFd};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ShmSafe;
use super::heap;
use super::segment::Segment;

impl Segment {
    /// A zero-filled region of at least `len` bytes whose start is aligned to `align` (a
    /// power of two, at most a page). Small regions are blocks of a shared arena: thousands
    /// of `Value`s and locks then cost a handful of descriptors, not one each.
    pub(crate) fn new(name: &str, len: usize, align: usize) -> io::Result<Segment> {
        match heap::alloc(len.max(1), align)? {
            Some(seg) => Ok(seg),
            None => Segment::dedicated(name, len),
        }
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
        match self.block_span() {
            // Blocks are at most a page into arenas of at most a few pages: both fit u32.
            Some((off, len)) => WireOut::Block(SharedFdOut(self.fd()), off as u32, len as u32).serialize(s),
            None => WireOut::Own(FdOut(self.fd())).serialize(s),
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
                crate::handle::with_shared_fd(index, |fd| heap::attach(fd, off as usize, len as usize))
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
