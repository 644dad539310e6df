//! The queue's raw core: a byte ring in a shared segment, many producers and many consumers
//! in any processes, crash-safe. The protocol is written down in `README.md` beside this file.
//!
//! This is the only file of `queue/` that touches raw memory (copies into and out of the
//! mapped data area); it carries its own `SAFETY` comments.
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::Instant;

use super::ring_lock::RingLock;
use crate::shm::Segment;
use crate::sync::{RawGuard, RawLock};
use crate::sys::futex;
use crate::sys::liveness::my_tid;
use crate::wait::{self, Look, Next, Policy, Waiter};

const MAGIC: u64 = 0x6d70_7175_6575_6534; // "mpqueue4": the shutdown word
/// The header occupies the first page; the data area follows.
const DATA_OFFSET: usize = 4096;
/// Record header: `len: u32`, `kind: u32`, `id: u32`, `tid: u32`.
const REC_HDR: usize = 16;

/// Record kinds (the low byte of the `kind` field of a record header).
const WHOLE: u32 = 1;
const FIRST: u32 = 2;
const MIDDLE: u32 = 3;
const LAST: u32 = 4;
const KIND_MASK: u32 = 0xff;
/// A flag of a message's first record (WHOLE or FIRST): the message carries file descriptors,
/// sent beside the ring (see `queue.rs`, "Handles in items"). The record's `id` names them.
pub(crate) const HAS_FDS: u32 = 1 << 8;

/// Smallest and largest data areas.
pub(crate) const MIN_CAPACITY: usize = 4096;
pub(crate) const MAX_CAPACITY: usize = 1 << 30;

#[repr(C, align(128))]
struct Line<T>(T);

#[repr(C)]
struct Meta {
    magic: AtomicU64,
    capacity: AtomicU32,
    maxsize: AtomicU32,
    /// [`RUNNING`], [`SHUT_DOWN`] or [`SHUT_DOWN_NOW`]; it only grows.
    shutdown: AtomicU32,
}

/// The queue works.
const RUNNING: u32 = 0;
/// `shutdown(false)`: puts fail, gets take what is left, then fail.
const SHUT_DOWN: u32 = 1;
/// `shutdown(true)`: puts and gets fail; what was left has been dropped.
const SHUT_DOWN_NOW: u32 = 2;

/// Written by the producer holding the lock. The commit word (`tail`) has a line of its own:
/// consumers read it all the time, and sharing a line with the lock word would make every
/// lock acquisition fetch the line back from the consumer's cache.
#[repr(C)]
struct Prod {
    /// The producer lock.
    lock: RingLock,
    /// A hint: a head the producer saw (never ahead of the real head).
    cached_head: AtomicU64,
    next_id: AtomicU32,
    /// Id of the message being streamed in fragments, 0 when none.
    stream_id: AtomicU32,
}

/// Written by the consumer holding the lock; its commit word (`head`) has a line of its own.
#[repr(C)]
struct Cons {
    /// The consumer lock.
    lock: RingLock,
    /// A hint: a tail a consumer saw (never ahead of the real tail, never behind the head).
    cached_tail: AtomicU64,
}

#[repr(C)]
struct Wake {
    /// Bumped by a producer that publishes while consumers sleep.
    data_seq: AtomicU32,
    /// Set by a consumer about to sleep on `data_seq`; cleared by the producer that wakes it.
    data_sleepers: AtomicU32,
    /// Bumped by a consumer that frees space while producers sleep.
    space_seq: AtomicU32,
    /// Set by a producer about to sleep on `space_seq`; cleared by the consumer that wakes it.
    space_sleepers: AtomicU32,
}

#[repr(C)]
struct Tasks {
    /// `task_done` calls so far (wrapping); unfinished = messages put - done.
    done: AtomicU32,
    join_waiters: AtomicU32,
}

#[repr(C)]
struct Header {
    meta: Line<Meta>,
    prod: Line<Prod>,
    cons: Line<Cons>,
    /// The producers' commit word: `(messages put) << 32 | (byte position)`, both wrapping
    /// `u32`s.
    tail: Line<AtomicU64>,
    /// The consumers' commit word: `(messages taken) << 32 | (byte position)`.
    head: Line<AtomicU64>,
    wake: Line<Wake>,
    tasks: Line<Tasks>,
}

const _: () = assert!(std::mem::size_of::<Header>() <= DATA_OFFSET);

#[inline]
fn pos(word: u64) -> u32 {
    word as u32
}
#[inline]
fn count(word: u64) -> u32 {
    (word >> 32) as u32
}
#[inline]
fn word(count: u32, pos: u32) -> u64 {
    ((count as u64) << 32) | pos as u64
}
#[inline]
fn stride(len: usize) -> usize {
    (REC_HDR + len + 7) & !7
}

/// Why a push did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushFail {
    /// The queue holds `maxsize` messages (or the ring has no room) and the deadline passed
    /// (immediately for a non-blocking push).
    Full,
    /// The queue was shut down (before, or while the push waited for room).
    ShutDown,
    /// The descriptors of a message that carries them could not be sent beside the ring.
    Handles(io::ErrorKind, String),
}

/// Why a pop did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PopFail {
    /// Nothing arrived before the deadline.
    Empty,
    /// The queue was shut down and holds nothing (more) to take.
    ShutDown,
    /// The ring's bytes are not records this crate wrote (another process scribbled on the
    /// shared memory): what was published is dropped, and the queue goes on.
    Corrupt(&'static str),
}

/// Receives a message's bytes, fragment by fragment, while the consumer lock is held.
pub(crate) trait Sink {
    /// A new message of `total` bytes begins (drop anything received so far).
    fn begin(&mut self, total: usize);
    /// The next bytes of the message.
    fn chunk(&mut self, bytes: &[u8]);
    /// The message is whole: it was the `index`-th message of the ring (wrapping), its first
    /// record had `id` and `flags` ([`HAS_FDS`]). Still under the consumer lock.
    fn done(&mut self, _index: u32, _id: u32, _flags: u32) {}
}

/// What a producer does, under the producer lock, just before the first record of a message
/// that carries file descriptors is written: given the message's index and id, sends them
/// beside the ring.
pub(crate) type BeforeCommit<'a> = &'a mut dyn FnMut(u32, u32) -> io::Result<()>;

impl Sink for Vec<u8> {
    fn begin(&mut self, total: usize) {
        self.clear();
        self.reserve(total);
    }
    fn chunk(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A handle on a ring in a shared segment.
#[derive(Clone, Debug)]
pub(crate) struct Ring {
    seg: Segment,
    cap: u32,
}

/// A held producer or consumer lock, released on drop (also when unwinding).
struct Held<'a> {
    /// The producer's `stream_id`, cleared before the producer lock is released.
    stream_id: Option<&'a AtomicU32>,
    /// Released after `drop` below has run (fields drop after it).
    _guard: RawGuard<'a, RingLock>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.stream_id {
            s.store(0, Ordering::Release);
        }
    }
}

/// The deadline of a wait: `None` waits forever; a deadline in the past does not wait.
type Deadline = Option<Instant>;

/// A wait of the ring for `ready()` (data, room, the next fragment) on a wake word: see
/// [`Ring::wait_until`].
struct Ready<'a, R, G> {
    seq: &'a AtomicU32,
    sleepers: &'a AtomicU32,
    ready: R,
    /// After a slice without the data: give up?
    gone: G,
}

impl<R: FnMut() -> bool, G: FnMut() -> bool> Waiter for Ready<'_, R, G> {
    type Output = bool;

    #[inline]
    fn look(&mut self) -> Look<bool> {
        if (self.ready)() { Look::Done(true) } else { Look::NotYet }
    }

    fn prepare(&mut self) -> Next<'_, bool> {
        if (self.ready)() {
            return Next::Done(true);
        }
        let s = self.seq.load(Ordering::SeqCst);
        self.sleepers.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst); // pairs with the fence between a commit and the flag check
        if (self.ready)() {
            return Next::Done(true);
        }
        Next::Futex(self.seq, s)
    }

    fn slice_ended(&mut self) -> Option<bool> {
        if (self.ready)() {
            Some(true)
        } else if (self.gone)() {
            Some(false)
        } else {
            None
        }
    }

    fn deadline_passed(&mut self) -> bool {
        (self.ready)()
    }
}

impl Ring {
    /// A new ring with a data area of `capacity` bytes (rounded up to a power of two).
    pub(crate) fn new(capacity: usize, maxsize: u32) -> io::Result<Ring> {
        let cap = capacity.clamp(MIN_CAPACITY, MAX_CAPACITY).next_power_of_two();
        let seg = Segment::dedicated("multiproc-queue", DATA_OFFSET + cap)?;
        let ring = Ring { seg, cap: cap as u32 };
        let h = ring.hdr();
        h.meta.0.capacity.store(cap as u32, Ordering::Relaxed);
        h.meta.0.maxsize.store(maxsize, Ordering::Relaxed);
        h.prod.0.next_id.store(1, Ordering::Relaxed);
        h.meta.0.magic.store(MAGIC, Ordering::Release);
        Ok(ring)
    }

    /// Adopts a segment received from another process, checking that it holds a ring.
    pub(crate) fn from_segment(seg: Segment) -> io::Result<Ring> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("not a multiproc queue: {what}"));
        if seg.len() < DATA_OFFSET + MIN_CAPACITY {
            return Err(bad("segment too small"));
        }
        // SAFETY: the segment is at least two pages long, so it is a dedicated, page-aligned
        // segment (blocks of the shared arenas are at most 1 KiB) and the header fits; the
        // header consists of atomics only, valid for any bit pattern.
        let h = unsafe { &*seg.as_ptr().cast::<Header>() };
        if h.meta.0.magic.load(Ordering::Acquire) != MAGIC {
            return Err(bad("wrong magic number"));
        }
        let cap = h.meta.0.capacity.load(Ordering::Relaxed) as usize;
        if !cap.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&cap) || seg.len() < DATA_OFFSET + cap {
            return Err(bad("corrupt capacity"));
        }
        Ok(Ring { seg, cap: cap as u32 })
    }

    /// The segment, for serialization.
    pub(crate) fn segment(&self) -> &Segment {
        &self.seg
    }

    #[inline]
    fn hdr(&self) -> &Header {
        // SAFETY: the segment starts with a Header (written by `new` before the ring was
        // shared, checked by `from_segment`); it is page aligned and outlives `self`; every
        // field is an atomic, valid whatever another process wrote.
        unsafe { &*self.seg.as_ptr().cast::<Header>() }
    }

    /// Bytes in the data area.
    pub(crate) fn capacity(&self) -> usize {
        self.cap as usize
    }

    /// Largest payload of a single (unfragmented) record.
    fn max_record_payload(&self) -> usize {
        (self.cap as usize / 4) - REC_HDR
    }

    pub(crate) fn maxsize(&self) -> u32 {
        self.hdr().meta.0.maxsize.load(Ordering::Relaxed)
    }

    /// Messages put and not yet taken (approximate while others work).
    pub(crate) fn len(&self) -> u32 {
        let h = self.hdr();
        let out = count(h.head.0.load(Ordering::Acquire));
        let inn = count(h.tail.0.load(Ordering::Acquire));
        let n = inn.wrapping_sub(out);
        if n > u32::MAX / 2 { 0 } else { n }
    }

    // ----- raw memory -----

    /// Copies `src` into the data area at ring position `at` (wrapping at the end).
    ///
    /// Callers hold the producer lock and write only between the tail and the head, where no
    /// consumer reads.
    fn write_at(&self, at: u32, src: &[u8]) {
        let cap = self.cap as usize;
        let off = (at as usize) & (cap - 1);
        let first = src.len().min(cap - off);
        // SAFETY: `off + first <= cap` and `src.len() - first <= cap` (records never exceed
        // the capacity), both inside the data area of the mapping, which `self` keeps alive.
        // `src` is private memory of this process, so the ranges cannot overlap. Nobody reads
        // these bytes concurrently: they lie past the published tail.
        unsafe {
            let base = self.seg.as_ptr().add(DATA_OFFSET);
            std::ptr::copy_nonoverlapping(src.as_ptr(), base.add(off), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), base, src.len() - first);
        }
    }

    /// Hands the `len` bytes at ring position `at` to `f` (one or two slices, wrapping).
    ///
    /// Callers hold the consumer lock and read only between the head and the published tail,
    /// where no producer writes until the head moves past them.
    fn read_at(&self, at: u32, len: usize, mut f: impl FnMut(&[u8])) {
        let cap = self.cap as usize;
        let off = (at as usize) & (cap - 1);
        let first = len.min(cap - off);
        // SAFETY: both ranges lie inside the data area (len <= cap); the bytes were published
        // by a producer (Release store of the tail, Acquire load by the caller) and stay
        // unchanged until this consumer commits the head, after the slices are dropped.
        unsafe {
            let base = self.seg.as_ptr().add(DATA_OFFSET);
            f(std::slice::from_raw_parts(base.add(off), first));
            if len > first {
                f(std::slice::from_raw_parts(base, len - first));
            }
        }
    }

    fn read_u32s<const N: usize>(&self, at: u32) -> [u32; N] {
        let mut buf = [0u8; 16];
        let mut n = 0;
        self.read_at(at, N * 4, |s| {
            buf[n..n + s.len()].copy_from_slice(s);
            n += s.len();
        });
        let mut out = [0u32; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u32::from_le_bytes(buf[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
        }
        out
    }

    // ----- sleeping on a condition -----

    /// Waits until `ready()` holds, the way `policy` says (spin, yield, then sleep on `seq` in
    /// slices, calling `gone` after each slice without the data: `true` gives up).
    ///
    /// `sleepers` is a flag, not a count: a waiter sets it before its last check and sleep; a
    /// waker that finds it set clears it and wakes every sleeper, so a burst of commits costs
    /// one wake-up syscall, not one per commit. Woken waiters that must sleep again set it again.
    fn wait_until(
        policy: &Policy,
        seq: &AtomicU32,
        sleepers: &AtomicU32,
        deadline: Deadline,
        ready: impl FnMut() -> bool,
        gone: impl FnMut() -> bool,
    ) -> bool {
        wait::run(policy, None, deadline, Ready { seq, sleepers, ready, gone })
    }

    /// Wakes every thread sleeping in `wait_until` on `seq`, if the flag
    /// says one may sleep. Called after a SeqCst commit.
    #[inline]
    fn wake_all(seq: &AtomicU32, sleepers: &AtomicU32) {
        fence(Ordering::SeqCst);
        Self::wake_check(seq, sleepers);
    }

    /// [`wake_all`](Self::wake_all) for a caller that already issued a SeqCst fence after its
    /// commit (an unlock does).
    #[inline]
    fn wake_check(seq: &AtomicU32, sleepers: &AtomicU32) {
        if sleepers.load(Ordering::Relaxed) != 0 && sleepers.swap(0, Ordering::SeqCst) != 0 {
            seq.fetch_add(1, Ordering::SeqCst);
            futex::wake(seq, u32::MAX);
        }
    }

    /// After a publish: wake the sleeping consumers, if any sleeps.
    #[inline]
    fn wake_consumers(&self) {
        let w = &self.hdr().wake.0;
        Self::wake_all(&w.data_seq, &w.data_sleepers);
    }

    /// After a commit: wake the sleeping producers, if any sleeps.
    #[inline]
    fn wake_producers(&self) {
        let w = &self.hdr().wake.0;
        Self::wake_all(&w.space_seq, &w.space_sleepers);
    }

    // ----- producer -----

    /// Appends one message made of `parts` (concatenated). Fails with `Full` if the deadline
    /// passes first (a `Some(past)` deadline makes it non-blocking).
    pub(crate) fn push(&self, parts: &[&[u8]], deadline: Deadline) -> Result<(), PushFail> {
        self.push_ex(parts, deadline, None)
    }

    /// [`push`](Self::push) of a message that carries file descriptors: `before` sends them
    /// (under the producer lock, once there is room, before the first record is written).
    pub(crate) fn push_ex(
        &self,
        parts: &[&[u8]],
        deadline: Deadline,
        before: Option<BeforeCommit<'_>>,
    ) -> Result<(), PushFail> {
        let h = self.hdr();
        let p = &h.prod.0;
        if self.shutdown_state() != RUNNING {
            return Err(PushFail::ShutDown);
        }
        let Some((guard, died)) = RawGuard::acquire(&p.lock, deadline) else {
            return Err(if self.shutdown_state() != RUNNING { PushFail::ShutDown } else { PushFail::Full });
        };
        if died {
            p.stream_id.store(0, Ordering::Release); // a dead producer's stream ends
        }
        // Released on every exit, unwinding included; a stream in progress ends with it.
        let held = Held { stream_id: Some(&p.stream_id), _guard: guard };
        let r = self.push_locked(parts, deadline, before);
        drop(held);
        // A whole record is published without a wake-up of its own: the unlock's fence serves.
        let w = &self.hdr().wake.0;
        Self::wake_check(&w.data_seq, &w.data_sleepers);
        r
    }

    fn push_locked(
        &self,
        parts: &[&[u8]],
        deadline: Deadline,
        mut before: Option<BeforeCommit<'_>>,
    ) -> Result<(), PushFail> {
        let h = self.hdr();
        let p = &h.prod.0;
        let total: usize = parts.iter().map(|s| s.len()).sum();
        let maxsize = self.maxsize();
        if self.shutdown_state() != RUNNING {
            return Err(PushFail::ShutDown);
        }
        if maxsize > 0 {
            self.wait_space(0, Some(maxsize), deadline)?;
        }
        let max_payload = self.max_record_payload();
        let flags = if before.is_some() { HAS_FDS } else { 0 };
        // The message's index (its count once committed) and, for one with descriptors or in
        // fragments, an id of its own.
        let index = count(h.tail.0.load(Ordering::Relaxed));
        let send_fds = |before: &mut Option<BeforeCommit<'_>>, id: u32| -> Result<(), PushFail> {
            match before {
                Some(f) => f(index, id).map_err(|e| PushFail::Handles(e.kind(), e.to_string())),
                None => Ok(()),
            }
        };
        if total <= max_payload {
            self.wait_space(stride(total), None, deadline)?;
            let id = if flags != 0 { p.next_id.fetch_add(1, Ordering::Relaxed).max(1) } else { 0 };
            send_fds(&mut before, id)?;
            self.write_record(WHOLE | flags, id, parts, 0, total, true);
            return Ok(());
        }
        // Streamed: FIRST (8-byte total length, then bytes), MIDDLE..., LAST.
        let id = p.next_id.fetch_add(1, Ordering::Relaxed).max(1);
        p.stream_id.store(id, Ordering::Release);
        let mut done = 0usize;
        let mut first = true;
        while done < total || first {
            let room_for = if first { max_payload - 8 } else { max_payload };
            let n = (total - done).min(room_for);
            let len = n + if first { 8 } else { 0 };
            let last = done + n == total;
            if let Err(e) = self.wait_space(stride(len), None, deadline) {
                // The stream ends unfinished: consumers drop what they have of it.
                p.stream_id.store(0, Ordering::Release);
                return Err(e);
            }
            if first && let Err(e) = send_fds(&mut before, id) {
                p.stream_id.store(0, Ordering::Release);
                return Err(e);
            }
            let kind = if first {
                FIRST | flags
            } else if last {
                LAST
            } else {
                MIDDLE
            };
            if first {
                let tl = (total as u64).to_le_bytes();
                self.write_record_with_prefix(kind, id, &tl, parts, done, n, last);
            } else {
                self.write_record(kind, id, parts, done, n, last);
            }
            done += n;
            first = false;
            if last {
                break;
            }
        }
        // A FIRST that was also the end cannot happen (the message exceeds one record).
        p.stream_id.store(0, Ordering::Release);
        Ok(())
    }

    /// Waits (holding the producer lock) until `need` bytes are free and, with `maxsize`,
    /// until fewer than `maxsize` messages are queued; fails `Full` at the deadline and
    /// `ShutDown` once the queue is shut down.
    fn wait_space(&self, need: usize, maxsize: Option<u32>, deadline: Deadline) -> Result<(), PushFail> {
        let h = self.hdr();
        let p = &h.prod.0;
        let cap = self.cap;
        let tail = self.hdr().tail.0.load(Ordering::Relaxed);
        let fits = |head: u64| match maxsize {
            Some(m) => count(tail).wrapping_sub(count(head)) < m,
            // Saturating: positions another process scribbled on can claim more than the ring
            // holds; the producer then waits, and the next consumer finds the damage and drops it.
            None => cap.saturating_sub(pos(tail).wrapping_sub(pos(head))) >= need as u32,
        };
        if fits(p.cached_head.load(Ordering::Relaxed)) {
            return Ok(());
        }
        let ready = || {
            let head = h.head.0.load(Ordering::Acquire);
            p.cached_head.store(head, Ordering::Relaxed);
            fits(head) || self.shutdown_state() != RUNNING
        };
        let w = &h.wake.0;
        let room = Self::wait_until(&wait::RING, &w.space_seq, &w.space_sleepers, deadline, ready, || false);
        if self.shutdown_state() != RUNNING {
            Err(PushFail::ShutDown)
        } else if room {
            Ok(())
        } else {
            Err(PushFail::Full)
        }
    }

    fn write_record(&self, kind: u32, id: u32, parts: &[&[u8]], from: usize, n: usize, completes: bool) {
        self.write_record_with_prefix(kind, id, &[], parts, from, n, completes)
    }

    /// Writes one record (header, `prefix`, then bytes `from..from+n` of the concatenated
    /// `parts`) at the tail and publishes it. `completes` counts a message in.
    #[allow(clippy::too_many_arguments)]
    fn write_record_with_prefix(
        &self,
        kind: u32,
        id: u32,
        prefix: &[u8],
        parts: &[&[u8]],
        from: usize,
        n: usize,
        completes: bool,
    ) {
        let tail = self.hdr().tail.0.load(Ordering::Relaxed);
        let at = pos(tail);
        let len = prefix.len() + n;
        let mut hdr = [0u8; REC_HDR];
        hdr[0..4].copy_from_slice(&(len as u32).to_le_bytes());
        hdr[4..8].copy_from_slice(&kind.to_le_bytes());
        hdr[8..12].copy_from_slice(&id.to_le_bytes());
        hdr[12..16].copy_from_slice(&my_tid().to_le_bytes());
        self.write_at(at, &hdr);
        let mut w = at.wrapping_add(REC_HDR as u32);
        if !prefix.is_empty() {
            self.write_at(w, prefix);
            w = w.wrapping_add(prefix.len() as u32);
        }
        // Copy bytes from..from+n of the concatenation of parts.
        let mut skip = from;
        let mut left = n;
        for part in parts {
            if left == 0 {
                break;
            }
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            let take = (part.len() - skip).min(left);
            self.write_at(w, &part[skip..skip + take]);
            w = w.wrapping_add(take as u32);
            left -= take;
            skip = 0;
        }
        let new_count = count(tail).wrapping_add(completes as u32);
        self.hdr().tail.0.store(word(new_count, at.wrapping_add(stride(len) as u32)), Ordering::Release);
        if kind & KIND_MASK != WHOLE {
            // The producer keeps the lock for the next fragment: wake a consumer now.
            self.wake_consumers();
        }
    }

    // ----- consumer -----

    fn data_ready(&self) -> bool {
        let h = self.hdr();
        pos(h.tail.0.load(Ordering::Acquire)) != pos(h.head.0.load(Ordering::Acquire))
    }

    /// Takes one whole message and hands its bytes to `sink`. Fails with `Empty` if the
    /// deadline passes before a message starts arriving.
    pub(crate) fn pop(&self, sink: &mut dyn Sink, deadline: Deadline) -> Result<(), PopFail> {
        let h = self.hdr();
        let c = &h.cons.0;
        let w = &h.wake.0;
        loop {
            let ready = || self.data_ready() || self.shutdown_state() != RUNNING;
            if !Self::wait_until(&wait::RING, &w.data_seq, &w.data_sleepers, deadline, ready, || false) {
                return Err(PopFail::Empty);
            }
            match self.shutdown_state() {
                SHUT_DOWN_NOW => return Err(PopFail::ShutDown),
                SHUT_DOWN if !self.data_ready() => return Err(PopFail::ShutDown),
                _ => {}
            }
            // A consumer that died holding the lock left nothing to repair: its uncommitted
            // record is read again.
            let Some((guard, _died)) = RawGuard::acquire(&c.lock, deadline) else { return Err(PopFail::Empty) };
            let held = Held { stream_id: None, _guard: guard };
            // An immediate shutdown that got the lock first dropped what was left.
            if self.shutdown_state() == SHUT_DOWN_NOW {
                return Err(PopFail::ShutDown);
            }
            let got = self.pop_locked(sink);
            drop(held);
            let got = got.map_err(PopFail::Corrupt)?;
            // The last commit was made without a wake-up of its own: the unlock's fence serves.
            Self::wake_check(&w.space_seq, &w.space_sleepers);
            if got {
                return Ok(());
            }
            if wait::expired(deadline) && !self.data_ready() {
                return Err(PopFail::Empty);
            }
        }
    }

    /// With the consumer lock: reads records until one whole message went to `sink` (true),
    /// or the ring holds nothing complete (false). Bytes that are not records (another process
    /// scribbled on the ring) are an error: everything published is dropped, and the ring goes
    /// on from the producers' tail.
    fn pop_locked(&self, sink: &mut dyn Sink) -> Result<bool, &'static str> {
        let h = self.hdr();
        let c = &h.cons.0;
        let w = &h.wake.0;
        // Stream being assembled: (id, producer tid, bytes left).
        let mut stream: Option<(u32, u32, usize)> = None;
        // The message's index, id and flags, from its first record.
        let mut first = (0u32, 0u32, 0u32);
        loop {
            let head = h.head.0.load(Ordering::Relaxed);
            // Records up to a tail seen earlier (by this or a previous lock holder, whose unlock
            // this lock's acquisition synchronizes with) are published: read the producer's
            // line only when they are used up.
            let mut tail = c.cached_tail.load(Ordering::Relaxed);
            if pos(head) == pos(tail) {
                tail = h.tail.0.load(Ordering::Acquire);
                c.cached_tail.store(tail, Ordering::Relaxed);
            }
            if pos(head) == pos(tail) {
                let Some((id, _, _)) = stream else { return Ok(false) };
                // Mid-stream: wait for the next fragment, unless the producer is gone or gave up.
                // While `stream_id` names the item, its producer holds the producer lock (a
                // producer taking the lock over from a dead one clears `stream_id`), so the
                // lock's owner record says whether it died. Checked after `ready()` failed:
                // re-check the data after seeing the producer done, since it publishes its last
                // fragment before clearing `stream_id`.
                // A free producer lock with `stream_id` still set means nobody streams (a
                // producer clears it before it unlocks): bytes another process wrote.
                let gone = || {
                    let sid = h.prod.0.stream_id.load(Ordering::Acquire);
                    let nobody = !h.prod.0.lock.is_locked() || h.prod.0.lock.owner_is_dead();
                    (sid != id || nobody) && !self.data_ready() || self.shutdown_state() == SHUT_DOWN_NOW
                };
                let ready = || self.data_ready();
                if !Self::wait_until(&wait::RING_STREAM, &w.data_seq, &w.data_sleepers, None, ready, gone) {
                    return Ok(false); // the partial message is abandoned
                }
                continue;
            }
            let published = pos(tail).wrapping_sub(pos(head)) as usize;
            if published > self.cap as usize || published < REC_HDR {
                return Err(self.drop_published(tail, "the queue's positions are inconsistent"));
            }
            let [len, kind_word, id, tid] = self.read_u32s::<4>(pos(head));
            let (kind, flags) = (kind_word & KIND_MASK, kind_word & !KIND_MASK);
            if flags & !HAS_FDS != 0 || (flags != 0 && !matches!(kind, WHOLE | FIRST)) {
                return Err(self.drop_published(tail, "a record with flags this crate never writes"));
            }
            let len = len as usize;
            if len > self.max_record_payload() || stride(len) > published {
                return Err(self.drop_published(tail, "a record's length runs past what was published"));
            }
            let body = pos(head).wrapping_add(REC_HDR as u32);
            let completes = matches!(kind, WHOLE | LAST);
            let mut finished = false;
            match (kind, stream) {
                (WHOLE, _) => {
                    first = (count(head), id, flags);
                    sink.begin(len);
                    self.read_at(body, len, |s| sink.chunk(s));
                    finished = true;
                }
                (FIRST, _) if len < 8 => {
                    return Err(self.drop_published(tail, "a first fragment too short for its length"));
                }
                (FIRST, _) => {
                    let mut tl = [0u8; 8];
                    let mut k = 0;
                    self.read_at(body, 8, |s| {
                        tl[k..k + s.len()].copy_from_slice(s);
                        k += s.len();
                    });
                    let total = u64::from_le_bytes(tl) as usize;
                    let n = len - 8;
                    if total < n {
                        return Err(self.drop_published(tail, "a first fragment longer than its message"));
                    }
                    // What the sink reserves is bounded by what a message that streams can
                    // have in the ring at once, not by the length a record claims.
                    first = (count(head), id, flags);
                    sink.begin(total.min(64 << 20));
                    self.read_at(body.wrapping_add(8), n, |s| sink.chunk(s));
                    stream = Some((id, tid, total - n));
                }
                (MIDDLE | LAST, Some((sid, stid, left))) if sid == id && stid == tid && len <= left => {
                    self.read_at(body, len, |s| sink.chunk(s));
                    stream = Some((sid, stid, left - len));
                    finished = kind == LAST;
                }
                (MIDDLE | LAST, _) => {} // a fragment of an abandoned message: skip it
                _ => return Err(self.drop_published(tail, "a record of an unknown kind")),
            }
            let new_count = count(head).wrapping_add(completes as u32);
            h.head.0.store(word(new_count, pos(head).wrapping_add(stride(len) as u32)), Ordering::Release);
            if finished {
                sink.done(first.0, first.1, first.2);
                return Ok(true);
            }
            // More records follow under this lock (a stream, skipped fragments): a producer
            // waiting for room must not wait for the unlock.
            self.wake_producers();
        }
    }

    /// Drops everything published up to `tail` (the consumer lock is held): the ring holds
    /// bytes that are not records. Returns `why`, for the error.
    #[cold]
    fn drop_published(&self, tail: u64, why: &'static str) -> &'static str {
        let h = self.hdr();
        // The producers' latest tail (they may have published more since `tail` was read).
        let _ = tail;
        let tail = h.tail.0.load(Ordering::Acquire);
        h.head.0.store(tail, Ordering::Release);
        h.cons.0.cached_tail.store(tail, Ordering::Relaxed);
        self.wake_producers();
        why
    }

    /// A ring whose data area, positions and stream word another process scribbled with
    /// `data`, then drained (fuzzing): every pop must return (an item, nothing, or a
    /// corruption error), never read outside the ring, allocate without bound or hang.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn fuzz(data: &[u8]) {
        let Ok(r) = Ring::new(MIN_CAPACITY, 0) else { return };
        let h = r.hdr();
        let word_at = |i: usize| data.get(i..i + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        if let (Some(t), Some(hd)) = (word_at(0), word_at(8)) {
            h.tail.0.store(t, Ordering::Relaxed);
            h.head.0.store(hd, Ordering::Relaxed);
        }
        if let Some(sid) = data.get(16..20) {
            h.prod.0.stream_id.store(u32::from_le_bytes(sid.try_into().expect("4 bytes")), Ordering::Relaxed);
        }
        let body = data.get(20..).unwrap_or(&[]);
        r.write_at(0, &body[..body.len().min(r.cap as usize)]);
        for _ in 0..64 {
            let mut v = Vec::new();
            match r.pop(&mut v, Some(Instant::now())) {
                Ok(()) | Err(PopFail::Corrupt(_)) => {}
                Err(_) => break,
            }
        }
        // And the ring still works afterwards.
        let _ = r.push(&[b"after"], Some(Instant::now()));
    }
}

#[path = "ring_tasks.rs"]
mod tasks;

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
