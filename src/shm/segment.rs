//! Anonymous shared segments: a memfd and its mapping, or a block of a shared arena.
//!
//! How a segment is made (arena or memfd of its own) and how it travels to another process
//! are in `region.rs`, above this file and `heap.rs`.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use crate::sys::mem::{self, Mapping};

/// A region of anonymous shared memory: a memfd of its own, or (for small objects) a block
/// of a shared arena (`heap.rs`).
///
/// Cloning shares the mapping. Serializing passes the memfd (see `region.rs` and
/// [`crate::handle`]); the receiver maps the same pages. Under `Fork` the mapping is simply inherited. The memory is
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

    pub(super) fn from_fd(fd: OwnedFd) -> io::Result<Segment> {
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

    /// Takes the page faults of a segment of its own now (a block of an arena is left as
    /// it is): see [`Mapping::populate`](crate::sys::mem::Mapping::populate).
    pub(crate) fn populate(&self) {
        if !self.block {
            self.inner.map.populate();
        }
    }

    /// The descriptor behind the region: its own memfd, or its arena's.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }

    /// Where a block lies in its arena (offset, length); `None` for a memfd of its own.
    pub(super) fn block_span(&self) -> Option<(usize, usize)> {
        self.block.then_some((self.off, self.len))
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
