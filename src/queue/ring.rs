//! The queue's raw core: a byte ring in a shared segment, many producers and many consumers
//! in any processes, crash-safe. The protocol is written down in `README.md` beside this file.
//!
//! This is the only file of `queue/` that touches raw memory (copies into and out of the
//! mapped data area); it carries its own `SAFETY` comments.
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use crate::shm::Segment;
use crate::sys::futex;
use crate::sys::liveness::{my_tid, task_alive};

const MAGIC: u64 = 0x6d70_7175_6575_6532; // "mpqueue2"
/// The header occupies the first page; the data area follows.
const DATA_OFFSET: usize = 4096;
/// Record header: `len: u32`, `kind: u32`, `id: u32`, `tid: u32`.
const REC_HDR: usize = 16;

/// Record kinds (the `kind` field of a record header).
const WHOLE: u32 = 1;
const FIRST: u32 = 2;
const MIDDLE: u32 = 3;
const LAST: u32 = 4;

/// Smallest and largest data areas.
pub(crate) const MIN_CAPACITY: usize = 4096;
pub(crate) const MAX_CAPACITY: usize = 1 << 30;

/// Spin iterations before sleeping (each a `spin_loop` hint, ~10-40 ns): a few microseconds.
const SPIN: u32 = 200;
/// Most `spin_loop` hints between two looks at the peer's commit word while spinning.
const SPIN_GAP_MAX: u32 = 16;
/// Longer spin while a streamed message is arriving: the next fragment is on its way.
const STREAM_SPIN: u32 = 4000;
/// After spinning, how long to keep yielding the CPU before sleeping on a futex.
const YIELD_BUDGET: Duration = Duration::from_micros(50);
/// Longest single futex sleep of a lock waiter or of a consumer in the middle of a streamed
/// item: after it, the owner or the streaming producer is checked for liveness.
const SLICE: Duration = Duration::from_millis(10);
/// Longest single futex sleep waiting for data or room: only a wake-up lost to a process
/// killed between its commit and its wake depends on it.
const IDLE_SLICE: Duration = Duration::from_millis(100);

#[repr(C, align(128))]
struct Line<T>(T);

#[repr(C)]
struct Meta {
    magic: AtomicU64,
    capacity: AtomicU32,
    maxsize: AtomicU32,
}

/// Written by the producer holding the lock. The commit word (`tail`) has a line of its own:
/// consumers read it all the time, and sharing a line with the lock word would make every
/// lock acquisition fetch the line back from the consumer's cache.
#[repr(C)]
struct Prod {
    /// Owner tid of the producer lock, 0 when free.
    owner: AtomicU32,
    /// Threads sleeping on `owner`.
    waiters: AtomicU32,
    /// A hint: a head the producer saw (never ahead of the real head).
    cached_head: AtomicU64,
    next_id: AtomicU32,
    /// Id of the message being streamed in fragments, 0 when none.
    stream_id: AtomicU32,
}

/// Written by the consumer holding the lock.
/// Written by the consumer holding the lock; its commit word (`head`) has a line of its own.
#[repr(C)]
struct Cons {
    owner: AtomicU32,
    waiters: AtomicU32,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushFail {
    /// The queue holds `maxsize` messages (or the ring has no room) and the deadline passed
    /// (immediately for a non-blocking push).
    Full,
}

/// Why a pop did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PopFail {
    /// Nothing arrived before the deadline.
    Empty,
}

/// Receives a message's bytes, fragment by fragment, while the consumer lock is held.
pub(crate) trait Sink {
    /// A new message of `total` bytes begins (drop anything received so far).
    fn begin(&mut self, total: usize);
    /// The next bytes of the message.
    fn chunk(&mut self, bytes: &[u8]);
}

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
    ring: &'a Ring,
    owner: &'a AtomicU32,
    waiters: &'a AtomicU32,
    /// The producer's `stream_id`, cleared before the producer lock is released.
    stream_id: Option<&'a AtomicU32>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.stream_id {
            s.store(0, Ordering::Release);
        }
        self.ring.unlock(self.owner, self.waiters);
    }
}

/// The deadline of a wait: `None` waits forever; a deadline in the past does not wait.
type Deadline = Option<Instant>;

fn slice_end(deadline: Deadline) -> Instant {
    slice_end_after(deadline, SLICE)
}

fn slice_end_after(deadline: Deadline, slice: Duration) -> Instant {
    let s = Instant::now() + slice;
    match deadline {
        Some(d) if d < s => d,
        _ => s,
    }
}

fn expired(deadline: Deadline) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
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

    // ----- owner locks -----

    /// Takes the lock whose owner word is `owner`. Returns `Ok(true)` when the lock was taken
    /// over from a dead owner.
    #[inline]
    fn lock(&self, owner: &AtomicU32, waiters: &AtomicU32, deadline: Deadline) -> Result<bool, ()> {
        let me = my_tid();
        if owner.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return Ok(false);
        }
        self.lock_slow(owner, waiters, me, deadline)
    }

    #[cold]
    fn lock_slow(&self, owner: &AtomicU32, waiters: &AtomicU32, me: u32, deadline: Deadline) -> Result<bool, ()> {
        for _ in 0..SPIN {
            std::hint::spin_loop();
            if owner.load(Ordering::Relaxed) == 0
                && owner.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return Ok(false);
            }
        }
        loop {
            let o = owner.load(Ordering::SeqCst);
            if o == 0 {
                if owner.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    return Ok(false);
                }
                continue;
            }
            if o == me {
                // Only reachable if this thread died holding it in a previous life (tid reuse).
                return Ok(true);
            }
            if expired(deadline) {
                return Err(());
            }
            waiters.fetch_add(1, Ordering::SeqCst);
            let woken = futex::wait(owner, o, Some(slice_end(deadline))).unwrap_or(false);
            waiters.fetch_sub(1, Ordering::SeqCst);
            if !woken
                && owner.load(Ordering::SeqCst) == o
                && !task_alive(o)
                && owner.compare_exchange(o, me, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return Ok(true);
            }
        }
    }

    #[inline]
    fn unlock(&self, owner: &AtomicU32, waiters: &AtomicU32) {
        owner.store(0, Ordering::Release);
        // Pairs with the sleeper's increment of `waiters` followed by FUTEX_WAIT's own check of
        // `owner`; it also orders every commit made under the lock before the sleeper-flag
        // checks that follow an unlock (`wake_check`).
        fence(Ordering::SeqCst);
        if waiters.load(Ordering::Relaxed) > 0 {
            futex::wake(owner, 1);
        }
    }

    // ----- sleeping on a condition -----

    /// Waits until `ready()` holds: spins `spin` times, yields the CPU for up to
    /// [`YIELD_BUDGET`], then sleeps on `seq` in slices, calling `on_slice` after each slice that
    /// ended without a wake-up (returns `true` to give up).
    ///
    /// `sleepers` is a flag, not a count: a waiter sets it before its last check and sleep; a
    /// waker that finds it set clears it and wakes every sleeper, so a burst of commits costs
    /// one wake-up syscall, not one per commit. Woken waiters that must sleep again set it again.
    fn wait_until(
        seq: &AtomicU32,
        sleepers: &AtomicU32,
        deadline: Deadline,
        spin: u32,
        slice: Duration,
        mut ready: impl FnMut() -> bool,
        mut on_slice: impl FnMut() -> bool,
    ) -> bool {
        if ready() {
            return true;
        }
        if !expired(deadline) {
            // Look less and less often: every look pulls the peer's line into this cache, and
            // the peer's next commit must take it back. A producer left alone for a while
            // commits several messages per transfer of its line.
            let mut gap = 1u32;
            let mut spent = 0u32;
            while spent < spin {
                for _ in 0..gap {
                    std::hint::spin_loop();
                }
                spent += gap;
                gap = (gap * 2).min(SPIN_GAP_MAX);
                if ready() {
                    return true;
                }
            }
            // The peer may be runnable on this very CPU (2 vCPUs shared by many processes):
            // give it the CPU for a while before paying for a sleep and a wake-up.
            let start = Instant::now();
            while start.elapsed() < YIELD_BUDGET && !expired(deadline) {
                std::thread::yield_now();
                if ready() {
                    return true;
                }
            }
        }
        loop {
            if expired(deadline) {
                return ready();
            }
            let s = seq.load(Ordering::SeqCst);
            sleepers.store(1, Ordering::SeqCst);
            fence(Ordering::SeqCst); // pairs with the fence between a commit and the flag check
            if ready() {
                return true;
            }
            let woken = futex::wait(seq, s, Some(slice_end_after(deadline, slice))).unwrap_or(false);
            if ready() {
                return true;
            }
            if !woken && on_slice() {
                return false;
            }
        }
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
        let h = self.hdr();
        let p = &h.prod.0;
        match self.lock(&p.owner, &p.waiters, deadline) {
            Err(()) => return Err(PushFail::Full),
            Ok(true) => p.stream_id.store(0, Ordering::Release), // a dead producer's stream ends
            Ok(false) => {}
        }
        // Released on every exit, unwinding included; a stream in progress ends with it.
        let held = Held { ring: self, owner: &p.owner, waiters: &p.waiters, stream_id: Some(&p.stream_id) };
        let r = self.push_locked(parts, deadline);
        drop(held);
        // A whole record is published without a wake-up of its own: the unlock's fence serves.
        let w = &self.hdr().wake.0;
        Self::wake_check(&w.data_seq, &w.data_sleepers);
        r
    }

    fn push_locked(&self, parts: &[&[u8]], deadline: Deadline) -> Result<(), PushFail> {
        let h = self.hdr();
        let p = &h.prod.0;
        let total: usize = parts.iter().map(|s| s.len()).sum();
        let maxsize = self.maxsize();
        if maxsize > 0 && !self.wait_space(0, Some(maxsize), deadline) {
            return Err(PushFail::Full);
        }
        let max_payload = self.max_record_payload();
        if total <= max_payload {
            if !self.wait_space(stride(total), None, deadline) {
                return Err(PushFail::Full);
            }
            self.write_record(WHOLE, 0, parts, 0, total, true);
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
            if !self.wait_space(stride(len), None, deadline) {
                p.stream_id.store(0, Ordering::Release);
                return Err(PushFail::Full);
            }
            let kind = if first {
                FIRST
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
    /// until fewer than `maxsize` messages are queued.
    fn wait_space(&self, need: usize, maxsize: Option<u32>, deadline: Deadline) -> bool {
        let h = self.hdr();
        let p = &h.prod.0;
        let cap = self.cap;
        let tail = self.hdr().tail.0.load(Ordering::Relaxed);
        let fits = |head: u64| match maxsize {
            Some(m) => count(tail).wrapping_sub(count(head)) < m,
            None => cap - pos(tail).wrapping_sub(pos(head)) >= need as u32,
        };
        if fits(p.cached_head.load(Ordering::Relaxed)) {
            return true;
        }
        let ready = || {
            let head = h.head.0.load(Ordering::Acquire);
            p.cached_head.store(head, Ordering::Relaxed);
            fits(head)
        };
        let w = &h.wake.0;
        Self::wait_until(&w.space_seq, &w.space_sleepers, deadline, SPIN, IDLE_SLICE, ready, || false)
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
        if kind != WHOLE {
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
            if !Self::wait_until(
                &w.data_seq,
                &w.data_sleepers,
                deadline,
                SPIN,
                IDLE_SLICE,
                || self.data_ready(),
                || false,
            ) {
                return Err(PopFail::Empty);
            }
            if self.lock(&c.owner, &c.waiters, deadline).is_err() {
                return Err(PopFail::Empty);
            }
            let held = Held { ring: self, owner: &c.owner, waiters: &c.waiters, stream_id: None };
            let got = self.pop_locked(sink);
            drop(held);
            // The last commit was made without a wake-up of its own: the unlock's fence serves.
            Self::wake_check(&w.space_seq, &w.space_sleepers);
            if got {
                return Ok(());
            }
            if expired(deadline) && !self.data_ready() {
                return Err(PopFail::Empty);
            }
        }
    }

    /// With the consumer lock: reads records until one whole message went to `sink` (true),
    /// or the ring holds nothing complete (false).
    fn pop_locked(&self, sink: &mut dyn Sink) -> bool {
        let h = self.hdr();
        let c = &h.cons.0;
        let w = &h.wake.0;
        // Stream being assembled: (id, producer tid, bytes left).
        let mut stream: Option<(u32, u32, usize)> = None;
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
                let Some((id, tid, _)) = stream else { return false };
                // Mid-stream: wait for the next fragment, unless the producer is gone or gave up.
                // Checked after `ready()` failed: re-check the data after seeing the producer
                // done, since it publishes its last fragment before clearing `stream_id`.
                let gone = || {
                    let sid = h.prod.0.stream_id.load(Ordering::Acquire);
                    (sid != id || !task_alive(tid)) && !self.data_ready()
                };
                let ready = || self.data_ready();
                if !Self::wait_until(&w.data_seq, &w.data_sleepers, None, STREAM_SPIN, SLICE, ready, gone) {
                    return false; // the partial message is abandoned
                }
                continue;
            }
            let [len, kind, id, tid] = self.read_u32s::<4>(pos(head));
            let len = len as usize;
            let body = pos(head).wrapping_add(REC_HDR as u32);
            let completes = matches!(kind, WHOLE | LAST);
            let mut finished = false;
            match (kind, stream) {
                (WHOLE, _) => {
                    sink.begin(len);
                    self.read_at(body, len, |s| sink.chunk(s));
                    finished = true;
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
                    sink.begin(total);
                    self.read_at(body.wrapping_add(8), n, |s| sink.chunk(s));
                    stream = Some((id, tid, total - n));
                }
                (MIDDLE | LAST, Some((sid, stid, left))) if sid == id && stid == tid && len <= left => {
                    self.read_at(body, len, |s| sink.chunk(s));
                    stream = Some((sid, stid, left - len));
                    finished = kind == LAST;
                }
                _ => {} // a fragment of an abandoned message: skip it
            }
            let new_count = count(head).wrapping_add(completes as u32);
            h.head.0.store(word(new_count, pos(head).wrapping_add(stride(len) as u32)), Ordering::Release);
            if finished {
                return true;
            }
            // More records follow under this lock (a stream, skipped fragments): a producer
            // waiting for room must not wait for the unlock.
            self.wake_producers();
        }
    }

    // ----- task accounting (JoinableQueue) -----

    /// Marks one task done; `false` if every message put is already done.
    pub(crate) fn task_done(&self) -> bool {
        let h = self.hdr();
        let t = &h.tasks.0;
        let mut d = t.done.load(Ordering::Acquire);
        loop {
            let inn = count(h.tail.0.load(Ordering::Acquire));
            let unfinished = inn.wrapping_sub(d);
            if unfinished == 0 || unfinished > u32::MAX / 2 {
                return false;
            }
            match t.done.compare_exchange(d, d.wrapping_add(1), Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => d = now,
            }
        }
        fence(Ordering::SeqCst);
        if t.join_waiters.load(Ordering::SeqCst) > 0 {
            futex::wake(&t.done, u32::MAX);
        }
        true
    }

    /// Messages put and not yet marked done.
    pub(crate) fn unfinished(&self) -> u32 {
        let h = self.hdr();
        let inn = count(h.tail.0.load(Ordering::Acquire));
        inn.wrapping_sub(h.tasks.0.done.load(Ordering::Acquire))
    }

    /// Waits until every message put has been marked done; `false` on timeout.
    pub(crate) fn join(&self, deadline: Deadline) -> bool {
        let t = &self.hdr().tasks.0;
        loop {
            if self.unfinished() == 0 {
                return true;
            }
            if expired(deadline) {
                return false;
            }
            t.join_waiters.fetch_add(1, Ordering::SeqCst);
            let d = t.done.load(Ordering::SeqCst);
            if self.unfinished() == 0 {
                t.join_waiters.fetch_sub(1, Ordering::SeqCst);
                return true;
            }
            let _ = futex::wait(&t.done, d, Some(slice_end_after(deadline, IDLE_SLICE)));
            t.join_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pop_vec(r: &Ring, d: Deadline) -> Result<Vec<u8>, PopFail> {
        let mut v = Vec::new();
        r.pop(&mut v, d).map(|()| v)
    }

    #[test]
    fn whole_records_wrap_around() {
        let r = Ring::new(4096, 0).unwrap();
        for i in 0..10_000u32 {
            let msg = vec![(i % 251) as u8; (i % 300) as usize];
            r.push(&[&msg], None).unwrap();
            assert_eq!(r.len(), 1);
            assert_eq!(pop_vec(&r, None).unwrap(), msg);
            assert_eq!(r.len(), 0);
        }
        assert_eq!(pop_vec(&r, Some(Instant::now())), Err(PopFail::Empty));
    }

    #[test]
    fn streamed_message_through_small_ring() {
        let r = Ring::new(4096, 0).unwrap();
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let r2 = r.clone();
        let t = std::thread::spawn(move || pop_vec(&r2, None).unwrap());
        r.push(&[&big[..10], &big[10..]], None).unwrap();
        assert_eq!(t.join().unwrap(), big);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn full_with_maxsize_and_without_room() {
        let r = Ring::new(4096, 2).unwrap();
        r.push(&[b"a"], None).unwrap();
        r.push(&[b"b"], None).unwrap();
        assert_eq!(r.push(&[b"c"], Some(Instant::now())), Err(PushFail::Full));
        assert_eq!(pop_vec(&r, None).unwrap(), b"a");
        r.push(&[b"c"], Some(Instant::now())).unwrap();
        let r = Ring::new(4096, 0).unwrap();
        let mut n = 0;
        while r.push(&[&[0u8; 900]], Some(Instant::now())).is_ok() {
            n += 1;
        }
        assert_eq!(n, 4); // 4 x 920-byte records in 4096
    }

    #[test]
    fn task_accounting() {
        let r = Ring::new(4096, 0).unwrap();
        assert!(!r.task_done());
        r.push(&[b"x"], None).unwrap();
        assert_eq!(r.unfinished(), 1);
        assert!(!r.join(Some(Instant::now() + Duration::from_millis(20))));
        assert!(r.task_done());
        assert!(!r.task_done());
        assert!(r.join(None));
    }
}
