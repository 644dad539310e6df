//! The bare limit of the queue rows: a single-producer single-consumer byte ring in a shared
//! anonymous mapping, with no lock, no codec, no waiter count and no sleeping (a waiting side
//! spins, then yields the CPU). A record is a 4-byte length and the payload, streamed through
//! the ring in as many pieces as the free space allows.
//!
//! ```text
//! page 0:  head (consumer position, bytes)  | pad | tail (producer position, bytes)
//! page 1+: data, `capacity` bytes (a power of two), position p at p % capacity
//! ```
//!
//! The producer copies into the ring, then publishes `tail` (Release); the consumer reads
//! `tail` (Acquire), copies out, then publishes `head` (Release). Each side publishes once per
//! record, and after every `CHUNK` of a longer one, so that a large item streams with both
//! sides copying at once.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const PAGE: usize = 4096;

/// The most either side copies before it publishes its position.
const CHUNK: usize = 64 << 10;

/// The mapping: a header page and the data area.
pub(crate) struct Ring {
    base: *mut u8,
    capacity: usize,
}

impl Ring {
    /// A ring of `capacity` bytes (a power of two), made before `fork` so that both sides map it.
    pub(crate) fn new(capacity: usize) -> Ring {
        assert!(capacity.is_power_of_two());
        // SAFETY: an anonymous shared mapping with no address hint; checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE + capacity,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap");
        Ring { base: base.cast(), capacity }
    }

    fn head(&self) -> &AtomicU64 {
        // SAFETY: offset 0 of the header page: aligned, zero-initialised, lives with self.
        unsafe { &*self.base.cast::<AtomicU64>() }
    }

    fn tail(&self) -> &AtomicU64 {
        // SAFETY: offset 128 of the header page (its own pair of cache lines): as above.
        unsafe { &*self.base.add(128).cast::<AtomicU64>() }
    }

    /// Copies `src` into the ring at position `pos` (wrapping).
    fn copy_in(&self, pos: u64, src: &[u8]) {
        let off = (pos as usize) & (self.capacity - 1);
        let first = src.len().min(self.capacity - off);
        // SAFETY: both pieces lie inside the data area; the producer owns [tail, head + capacity).
        unsafe {
            let data = self.base.add(PAGE);
            std::ptr::copy_nonoverlapping(src.as_ptr(), data.add(off), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), data, src.len() - first);
        }
    }

    /// Copies from the ring at position `pos` (wrapping) into `dst`.
    fn copy_out(&self, pos: u64, dst: &mut [u8]) {
        let off = (pos as usize) & (self.capacity - 1);
        let first = dst.len().min(self.capacity - off);
        // SAFETY: both pieces lie inside the data area; the consumer owns [head, tail).
        unsafe {
            let data = self.base.add(PAGE);
            std::ptr::copy_nonoverlapping(data.add(off), dst.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(data, dst.as_mut_ptr().add(first), dst.len() - first);
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe {
            libc::munmap(self.base.cast(), PAGE + self.capacity);
        }
    }
}

/// Spins, then yields: the waiting side of both ends.
fn pause(spins: &mut u32) {
    *spins += 1;
    if *spins < 128 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// The producing end (one process).
struct Producer<'a> {
    ring: &'a Ring,
    tail: u64,
    head: u64,
}

impl Producer<'_> {
    fn write(&mut self, mut bytes: &[u8]) {
        let cap = self.ring.capacity as u64;
        let mut spins = 0;
        while !bytes.is_empty() {
            let mut free = cap - (self.tail - self.head);
            if free == 0 {
                self.ring.tail().store(self.tail, Ordering::Release);
                self.head = self.ring.head().load(Ordering::Acquire);
                free = cap - (self.tail - self.head);
                if free == 0 {
                    pause(&mut spins);
                    continue;
                }
            }
            let n = bytes.len().min(free as usize).min(CHUNK);
            self.ring.copy_in(self.tail, &bytes[..n]);
            self.tail += n as u64;
            bytes = &bytes[n..];
            if !bytes.is_empty() {
                self.ring.tail().store(self.tail, Ordering::Release);
            }
        }
    }

    fn put(&mut self, payload: &[u8]) {
        self.write(&(payload.len() as u32).to_le_bytes());
        self.write(payload);
        self.ring.tail().store(self.tail, Ordering::Release);
    }
}

/// The consuming end (one process).
struct Consumer<'a> {
    ring: &'a Ring,
    head: u64,
    tail: u64,
}

impl Consumer<'_> {
    fn read(&mut self, mut dst: &mut [u8]) {
        let mut spins = 0;
        while !dst.is_empty() {
            let mut avail = self.tail - self.head;
            if avail == 0 {
                self.ring.head().store(self.head, Ordering::Release);
                self.tail = self.ring.tail().load(Ordering::Acquire);
                avail = self.tail - self.head;
                if avail == 0 {
                    pause(&mut spins);
                    continue;
                }
            }
            let n = dst.len().min(avail as usize).min(CHUNK);
            self.ring.copy_out(self.head, &mut dst[..n]);
            self.head += n as u64;
            dst = &mut dst[n..];
            if !dst.is_empty() {
                self.ring.head().store(self.head, Ordering::Release);
            }
        }
    }

    /// Reads one record into `buf` (grown as needed); returns its length.
    fn get(&mut self, buf: &mut Vec<u8>) -> usize {
        let mut len = [0u8; 4];
        self.read(&mut len);
        let len = u32::from_le_bytes(len) as usize;
        if buf.len() < len {
            buf.resize(len, 0);
        }
        self.read(&mut buf[..len]);
        self.ring.head().store(self.head, Ordering::Release);
        len
    }
}

/// The workload of the queue rows on the bare ring: a child made by `fork` puts `n` payloads
/// of `size` bytes then an empty sentinel; this process gets until the sentinel. Returns the
/// seconds from before the fork to the sentinel (as the queue rows count them).
pub(crate) fn raw_spsc(n: usize, size: usize, capacity: usize) -> f64 {
    let ring = Ring::new(capacity);
    let payload = vec![b'x'; size];
    let mut buf = vec![0u8; size];
    let t = Instant::now();
    // SAFETY: the child only copies into the shared ring, yields and `_exit`s: no allocation.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let mut p = Producer { ring: &ring, tail: 0, head: 0 };
        for _ in 0..n {
            p.put(&payload);
        }
        p.put(&[]);
        // SAFETY: ends the child without running the parent's at-exit handlers.
        unsafe { libc::_exit(0) };
    }
    let mut c = Consumer { ring: &ring, head: 0, tail: 0 };
    let mut got = 0;
    loop {
        let len = c.get(&mut buf);
        if len == 0 {
            break;
        }
        assert_eq!(len, size);
        got += 1;
    }
    let dt = t.elapsed().as_secs_f64();
    let mut st = 0;
    // SAFETY: reaps the child forked above.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    assert_eq!(got, n);
    dt
}
