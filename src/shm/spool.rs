//! A spool: a byte log in shared memory with one writer, which appends records and publishes
//! how far it got with a single store, and readers that copy what was published.
//!
//! The pool gives one to each worker process: the worker appends the encoded result of every
//! item of a chunk as soon as the item is done, and sends the whole spool when the chunk ends.
//! If the worker dies in the middle of the chunk, the parent copies out the results the
//! worker had finished, so no finished work is lost and none is run twice.
//!
//! ```text
//! header (64 bytes)                               data (capacity bytes)
//! seq | tag | base | published = count<<32 | len  [rec 0][rec 1]...[rec count-1] ...free...
//! ```
//!
//! Protocol:
//! - the writer writes only past the published length, then publishes the new `(count, len)`
//!   with a Release store, so a reader never sees a half-written record;
//! - [`Spool::reset`] starts a new log (a new `tag` and `base`, which the writer chooses:
//!   the pool uses the task id and the first item's index). It makes `seq` odd, changes the
//!   header, and makes `seq` even again; the writer then writes from offset 0 again;
//! - [`Spool::snapshot`] reads `seq`, the header and the published bytes, then `seq` again,
//!   and only keeps the copy when `seq` did not move (a seqlock). The pool takes snapshots
//!   only after the writer's process has ended; the check guards a snapshot taken too early.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::segment::Segment;

/// Bytes before the data area.
const HEADER: usize = 64;

#[repr(C)]
struct Header {
    /// Even when the header is stable; odd while [`Spool::reset`] changes it.
    seq: AtomicU64,
    /// The writer's label for the current log.
    tag: AtomicU64,
    /// The writer's second label (the pool: index of the item of the first record).
    base: AtomicU64,
    /// `(records << 32) | bytes` published so far.
    published: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<Header>() <= HEADER);

/// What a reader copied out of a spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpoolSnapshot {
    pub(crate) tag: u64,
    pub(crate) base: u64,
    /// Records published.
    pub(crate) count: u32,
    /// Their bytes, concatenated.
    pub(crate) bytes: Vec<u8>,
}

/// A handle on a spool. Several handles may read; exactly one may write (the pool hands the
/// writing handle to one worker and writes nothing itself).
pub(crate) struct Spool {
    seg: Segment,
    cap: usize,
    /// The writer's own copy of the published length and count.
    len: usize,
    count: u32,
}

impl Spool {
    /// A new, empty spool with room for `capacity` bytes of records.
    pub(crate) fn new(capacity: usize) -> io::Result<Spool> {
        let cap = capacity.max(64);
        let seg = Segment::dedicated("multiproc-spool", HEADER + cap)?;
        Ok(Spool { seg, cap, len: 0, count: 0 })
    }

    fn attach(seg: Segment) -> io::Result<Spool> {
        seg.check_fits::<Header>(HEADER + 64)?;
        let cap = seg.len() - HEADER;
        let mut s = Spool { seg, cap, len: 0, count: 0 };
        let w = s.hdr().published.load(Ordering::Acquire);
        s.count = (w >> 32) as u32;
        s.len = ((w & 0xffff_ffff) as usize).min(cap);
        Ok(s)
    }

    #[inline]
    fn hdr(&self) -> &Header {
        // SAFETY: the segment starts with a zero-initialised (or writer-initialised) Header:
        // it is page aligned (a dedicated memfd) and at least HEADER bytes long (checked when
        // made or attached). Every field is an atomic, valid whatever another process wrote.
        unsafe { &*self.seg.as_ptr().cast::<Header>() }
    }

    #[inline]
    fn data(&self) -> *mut u8 {
        // SAFETY: the data area starts HEADER bytes into a segment of HEADER + cap bytes.
        unsafe { self.seg.as_ptr().add(HEADER) }
    }

    /// Takes its page faults now (see [`Segment::populate`]).
    pub(crate) fn populate(&self) {
        self.seg.populate();
    }

    /// Bytes of records the spool holds at most.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Writer: empties the log and labels the next one `(tag, base)`.
    pub(crate) fn reset(&mut self, tag: u64, base: u64) {
        let h = self.hdr();
        let s = h.seq.load(Ordering::Relaxed);
        h.seq.store(s.wrapping_add(1) | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        h.tag.store(tag, Ordering::Relaxed);
        h.base.store(base, Ordering::Relaxed);
        h.published.store(0, Ordering::Relaxed);
        h.seq.store((s.wrapping_add(1) | 1).wrapping_add(1), Ordering::Release);
        self.len = 0;
        self.count = 0;
    }

    /// Writer: appends one record and publishes it. `false` (and nothing written) when it does
    /// not fit in what is left.
    #[cfg(test)]
    pub(crate) fn append(&mut self, record: &[u8]) -> bool {
        let Some(dst) = self.free_mut().get_mut(..record.len()) else { return false };
        dst.copy_from_slice(record);
        self.commit(record.len());
        true
    }

    /// Writer: the free room after the published records, to encode the next record into in
    /// place; [`commit`](Spool::commit) publishes it.
    #[inline]
    pub(crate) fn free_mut(&mut self) -> &mut [u8] {
        // SAFETY: `len <= cap`: the range lies inside the data area; no reader copies past the
        // published length, this handle is the only writer, and `&mut self` keeps this the
        // only slice into the range while it lives.
        unsafe { std::slice::from_raw_parts_mut(self.data().add(self.len), self.cap - self.len) }
    }

    /// Writer: publishes the `n` bytes written at the start of [`free_mut`](Spool::free_mut)
    /// as one record.
    #[inline]
    pub(crate) fn commit(&mut self, n: usize) {
        assert!(n <= self.cap - self.len, "commit past the spool's end");
        self.len += n;
        self.count += 1;
        self.hdr().published.store((u64::from(self.count) << 32) | self.len as u64, Ordering::Release);
    }

    /// Writer: the records published since the last reset, and their bytes.
    pub(crate) fn written(&self) -> (u32, &[u8]) {
        // SAFETY: `len <= cap` bytes from the data start were written by this writer, and only
        // this writer changes them (after a `reset`, which needs `&mut self`).
        (self.count, unsafe { std::slice::from_raw_parts(self.data(), self.len) })
    }

    /// Reader: a copy of what is published, or `None` if the writer reset the spool during the
    /// copy three times in a row.
    pub(crate) fn snapshot(&self) -> Option<SpoolSnapshot> {
        let h = self.hdr();
        for _ in 0..3 {
            let s1 = h.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let tag = h.tag.load(Ordering::Acquire);
            let base = h.base.load(Ordering::Acquire);
            let w = h.published.load(Ordering::Acquire);
            let len = ((w & 0xffff_ffff) as usize).min(self.cap);
            let mut bytes = vec![0u8; len];
            // SAFETY: `len <= cap`: the source lies inside the data area, and the writer
            // published these bytes before `published` (Release, read with Acquire above).
            // A reset during the copy is detected by `seq` below and the copy is dropped.
            unsafe { std::ptr::copy_nonoverlapping(self.data(), bytes.as_mut_ptr(), len) };
            fence(Ordering::Acquire);
            if h.seq.load(Ordering::Relaxed) == s1 {
                return Some(SpoolSnapshot { tag, base, count: (w >> 32) as u32, bytes });
            }
        }
        None
    }
}

impl Clone for Spool {
    /// Another handle on the same spool (for reading: one handle writes).
    fn clone(&self) -> Spool {
        Spool { seg: self.seg.clone(), cap: self.cap, len: self.len, count: self.count }
    }
}

impl fmt::Debug for Spool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spool").field("capacity", &self.cap).field("len", &self.len).finish()
    }
}

impl Serialize for Spool {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.seg.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Spool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Spool::attach(Segment::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_publish_and_a_reader_copies_them() {
        let mut w = Spool::new(100).unwrap();
        let r = Spool::attach(w.seg.clone()).unwrap();
        w.reset(7, 3);
        assert!(w.append(b"abc"));
        assert!(w.append(b"de"));
        assert_eq!(w.written(), (2, &b"abcde"[..]));
        let s = r.snapshot().unwrap();
        assert_eq!((s.tag, s.base, s.count, s.bytes.as_slice()), (7, 3, 2, &b"abcde"[..]));
        w.reset(8, 5);
        let s = r.snapshot().unwrap();
        assert_eq!((s.tag, s.base, s.count, s.bytes.len()), (8, 5, 0, 0));
    }

    #[test]
    fn records_encoded_in_place_are_published_by_commit() {
        let mut w = Spool::new(64).unwrap();
        let r = w.clone();
        w.reset(3, 0);
        w.free_mut()[..2].copy_from_slice(b"hi");
        assert_eq!(r.snapshot().unwrap().count, 0, "nothing is seen before the commit");
        w.commit(2);
        let s = r.snapshot().unwrap();
        assert_eq!((s.count, s.bytes.as_slice()), (1, &b"hi"[..]));
        assert_eq!(w.free_mut().len(), 62);
    }

    #[test]
    fn a_record_that_does_not_fit_is_refused_whole() {
        let mut w = Spool::new(64).unwrap();
        w.reset(1, 0);
        assert!(w.append(&[1; 60]));
        assert!(!w.append(&[2; 5]));
        assert!(w.append(&[3; 4]));
        assert_eq!(w.written().0, 2);
        assert!(!w.append(&[4]));
    }

    #[test]
    fn travels_as_a_handle_and_keeps_its_contents() {
        let mut w = Spool::new(128).unwrap();
        w.reset(9, 0);
        w.append(b"xyz");
        let (bytes, fds) = crate::handle::to_bytes_with_fds(&w).unwrap();
        let r: Spool = crate::handle::from_bytes_with_fds(&bytes, fds).unwrap();
        assert_eq!(r.capacity(), w.capacity());
        assert_eq!(r.snapshot().unwrap().bytes, b"xyz");
        assert_eq!(r.written(), (1, &b"xyz"[..]));
    }
}
