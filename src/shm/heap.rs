//! Small shared objects packed into shared arenas: Python's `multiprocessing.heap`.
//!
//! A lock, an event or a `Value<i64>` needs a few bytes of shared memory, but a memfd of its
//! own costs a descriptor in every process that holds it (with the default limit of 1024
//! descriptors, about 500 locked `Value`s). Small regions (up to [`MAX_BLOCK`] bytes) are
//! instead carved out of arenas of [`ARENA_SIZE`] bytes, one memfd each:
//!
//! ```text
//! arena memfd: | header: magic, next (atomic bump offset) | block | block | ... | free |
//!                 0                                           64
//! ```
//!
//! - Blocks are handed out by bumping `next` in the arena's own shared header with a CAS, so
//!   a forked child that inherited the arena allocates from it without overlapping its parent.
//!   Each block starts on its own 64-byte cache line (no false sharing between two locks).
//! - Blocks are never reused: fresh memfd pages are zero, so every block starts zeroed, and
//!   no process can see another object appear where its own was. An arena's memory goes back
//!   to the kernel when the last handle on any of its blocks is gone in every process (each
//!   block holds the arena's mapping and descriptor). The cost is that one long-lived block
//!   keeps its whole arena (32 KiB of address space, the touched pages of memory) alive.
//! - A block travels as (arena descriptor, offset, length); the descriptor goes once per
//!   message however many blocks of the arena the message holds, and a process maps each
//!   arena once, found by the memfd's (device, inode).
//!
//! Anyone given one block of an arena can map the whole arena: the objects of one program and
//! its children share it, as in CPython. A region meant for another program goes in its own
//! segment (`SharedMemory`).

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::segment::{SegInner, Segment};
use crate::sys;
use crate::util::lock;

/// Bytes per arena.
pub(crate) const ARENA_SIZE: usize = 32 * 1024;
/// The largest region placed in an arena; larger ones get a memfd of their own.
pub(crate) const MAX_BLOCK: usize = 1024;
/// Every block starts on a cache line of its own.
const MIN_ALIGN: usize = 64;
/// Where the first block starts (after the header).
const FIRST_BLOCK: usize = 64;
const MAGIC: u64 = u64::from_le_bytes(*b"mpheap01");

/// The start of every arena.
#[repr(C)]
struct Header {
    magic: u64,
    /// Offset of the first byte not yet handed out.
    next: AtomicU32,
}

/// This process's arenas: the one it allocates from, and every arena it has mapped, by
/// identity.
#[derive(Debug)]
pub(crate) struct HeapState {
    current: Option<Arc<SegInner>>,
    mapped: BTreeMap<(u64, u64), Weak<SegInner>>,
}

static HEAP: Mutex<HeapState> = Mutex::new(HeapState { current: None, mapped: BTreeMap::new() });

/// Locks this process's arena list, for the `Fork` start method to hold across `fork()`
/// (with its own locks), so that a forked child never finds it held by a thread that does not
/// exist in the child. Both sides drop the guard after the fork.
pub(crate) fn hold_for_fork() -> MutexGuard<'static, HeapState> {
    lock(&HEAP)
}

impl HeapState {
    /// Remembers `arena` as mapped here, forgetting arenas that are gone.
    fn remember(&mut self, id: (u64, u64), arena: &Arc<SegInner>) {
        self.mapped.retain(|_, w| w.strong_count() > 0);
        self.mapped.insert(id, Arc::downgrade(arena));
    }
}

fn header(arena: &SegInner) -> &Header {
    // SAFETY: every arena mapping is at least ARENA_SIZE bytes (checked when mapped), page
    // aligned, and starts with a Header, whose fields are only used atomically or were
    // written before the arena was shared.
    unsafe { &*arena.map.as_ptr().cast::<Header>() }
}

/// Takes `len` bytes aligned to `align` from `arena`; `None` when it has no room left.
fn bump(arena: &SegInner, len: usize, align: usize) -> Option<usize> {
    let next = &header(arena).next;
    let mut cur = next.load(Ordering::Relaxed);
    loop {
        let start = (cur as usize).max(FIRST_BLOCK).checked_next_multiple_of(align)?;
        let end = start.checked_add(len)?;
        if end > arena.map.len() {
            return None;
        }
        match next.compare_exchange_weak(cur, end as u32, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some(start),
            Err(now) => cur = now,
        }
    }
}

fn new_arena() -> io::Result<((u64, u64), Arc<SegInner>)> {
    let fd = sys::mem::memfd("multiproc-heap", ARENA_SIZE)?;
    let (id, _) = sys::mem::file_identity(fd.as_fd())?;
    let arena = SegInner::map(fd, ARENA_SIZE)?;
    // SAFETY: the mapping is fresh, page aligned and ARENA_SIZE bytes; nobody else sees it yet.
    unsafe {
        arena.map.as_ptr().cast::<Header>().write(Header { magic: MAGIC, next: AtomicU32::new(FIRST_BLOCK as u32) })
    };
    Ok((id, Arc::new(arena)))
}

/// A zero-filled block of `len` bytes aligned to `align`, or `None` when the region is too
/// large (or too strictly aligned) for an arena.
pub(crate) fn alloc(len: usize, align: usize) -> io::Result<Option<Segment>> {
    if len > MAX_BLOCK || align > MAX_BLOCK {
        return Ok(None);
    }
    let align = align.max(MIN_ALIGN);
    let mut heap = lock(&HEAP);
    if let Some(arena) = &heap.current
        && let Some(off) = bump(arena, len, align)
    {
        return Ok(Some(Segment::block(arena.clone(), off, len)));
    }
    let (id, arena) = new_arena()?;
    let off = bump(&arena, len, align).expect("a fresh arena has room for a block");
    heap.remember(id, &arena);
    heap.current = Some(arena.clone());
    Ok(Some(Segment::block(arena, off, len)))
}

/// The block `off..off + len` of the arena behind `fd` (received from another process),
/// mapping the arena unless this process already has.
///
/// # Errors
/// `InvalidData` when `fd` is not an arena or the block lies outside it.
pub(crate) fn attach(fd: BorrowedFd<'_>, off: usize, len: usize) -> io::Result<Segment> {
    let (id, size) = sys::mem::file_identity(fd)?;
    if size < ARENA_SIZE || off < FIRST_BLOCK || !off.is_multiple_of(MIN_ALIGN) || len > MAX_BLOCK || off + len > size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("block {off}+{len} does not fit a shared arena of {size} bytes"),
        ));
    }
    let mut heap = lock(&HEAP);
    if let Some(arena) = heap.mapped.get(&id).and_then(Weak::upgrade) {
        return Ok(Segment::block(arena, off, len));
    }
    let arena = Arc::new(SegInner::map(sys::fd::dup_cloexec(fd)?, size)?);
    if header(&arena).magic != MAGIC {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the descriptor is not a multiproc shared arena"));
    }
    heap.remember(id, &arena);
    Ok(Segment::block(arena, off, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_regions_share_arenas_and_never_overlap() {
        use std::os::fd::AsRawFd;
        let segs: Vec<Segment> = (0..400).map(|i| Segment::new("t", 8 + i % 100, 8).unwrap()).collect();
        // 400 blocks of up to 128 bytes (with alignment): a few arenas, not 400 memfds.
        let mut fds: Vec<i32> = segs.iter().map(|s| s.fd().as_raw_fd()).collect();
        fds.sort();
        fds.dedup();
        assert!(fds.len() <= 4, "{} descriptors for 400 blocks", fds.len());
        let mut spans: Vec<(usize, usize)> = segs.iter().map(|s| (s.as_ptr() as usize, s.len())).collect();
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "blocks overlap: {w:?}");
        }
        for s in &segs {
            assert_eq!(s.as_ptr() as usize % MIN_ALIGN, 0);
            // SAFETY: the block is `len` bytes of this test's own shared memory.
            let bytes = unsafe { std::slice::from_raw_parts(s.as_ptr(), s.len()) };
            assert!(bytes.iter().all(|&b| b == 0), "a fresh block is zeroed");
        }
    }

    #[test]
    fn large_or_strictly_aligned_regions_get_their_own_segment() {
        assert!(alloc(MAX_BLOCK + 1, 8).unwrap().is_none());
        assert!(alloc(8, 4096).unwrap().is_none());
        let big = Segment::new("t", 64 * 1024, 8).unwrap();
        assert_eq!(big.as_ptr() as usize % 4096, 0);
        assert_eq!(big.len(), 64 * 1024);
    }

    #[test]
    fn blocks_travel_with_one_descriptor_per_arena() {
        let segs: Vec<Segment> = (0..50).map(|_| Segment::new("t", 16, 8).unwrap()).collect();
        for (i, s) in segs.iter().enumerate() {
            // SAFETY: each block is 16 bytes of this test's shared memory.
            unsafe { s.as_ptr().write(i as u8) };
        }
        let (bytes, fds) = crate::handle::to_bytes_with_fds(&segs).unwrap();
        assert!(fds.len() <= 2, "{} descriptors for 50 blocks", fds.len());
        let back: Vec<Segment> = crate::handle::from_bytes_with_fds(&bytes, fds).unwrap();
        for (i, (a, b)) in segs.iter().zip(&back).enumerate() {
            // Received in the same process: the arena is already mapped, the same memory.
            assert_eq!(a.as_ptr(), b.as_ptr());
            // SAFETY: as above.
            assert_eq!(unsafe { b.as_ptr().read() }, i as u8);
        }
    }

    #[test]
    fn a_bad_block_is_refused() {
        let seg = Segment::new("t", 16, 8).unwrap();
        let fd = seg.fd();
        assert!(attach(fd, 0, 16).is_err(), "the header is not a block");
        assert!(attach(fd, 64, ARENA_SIZE).is_err(), "past the end");
        assert!(attach(fd, 100, 8).is_err(), "misaligned");
        let other = Segment::dedicated("t", ARENA_SIZE).unwrap();
        assert!(attach(other.fd(), 64, 8).is_err(), "not an arena");
    }
}
