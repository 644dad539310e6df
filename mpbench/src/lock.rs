//! Groups `lock` and `event`: the Lock's uncontended and 2-process contended cost, and the
//! Event ping-pong against two processes ping-ponging a bare shared futex word.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use multiproc::sync::{Event, Lock};
use multiproc::{RawValue, StartMethod, get_context};

use crate::common::{Args, emit, interleaved};

/// A `MAP_SHARED` anonymous mapping made before `fork`: the children see the same pages.
struct SharedPage {
    ptr: *mut u8,
}

impl SharedPage {
    fn new() -> SharedPage {
        // SAFETY: an anonymous shared mapping with no address hint; checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap");
        SharedPage { ptr: ptr.cast() }
    }

    fn u32_at(&self, i: usize) -> &AtomicU32 {
        // SAFETY: within the page, 4-aligned, zero-initialised, lives as long as self.
        unsafe { &*self.ptr.add(i * 4).cast::<AtomicU32>() }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe {
            libc::munmap(self.ptr.cast(), 4096);
        }
    }
}

/// The child of `lock_contended_2proc`: `n` times lock; counter += 1; unlock, with the
/// counter a `RawValue` (Python's `Value("q", 0, lock=False)`).
fn incr((lock, v, n): (Lock, RawValue<u64>, u64)) {
    for _ in 0..n {
        let _g = lock.acquire().unwrap();
        v.set(v.get() + 1);
    }
}

fn lock_contended(n: u64) -> f64 {
    let v = RawValue::new(0u64).unwrap();
    let lock = Lock::new().unwrap();
    // Python 3.11's default start method on Linux, which the baseline uses.
    let ctx = get_context(Some(StartMethod::Fork));
    let ps: Vec<_> = (0..2).map(|_| ctx.process(incr, (lock.clone(), v.clone(), n))).collect();
    let t = Instant::now();
    for p in &ps {
        p.start().unwrap();
    }
    for p in &ps {
        assert_eq!(p.join().unwrap(), 0);
    }
    let dt = t.elapsed();
    assert_eq!(v.get(), 2 * n);
    2.0 * n as f64 / dt.as_secs_f64()
}

fn ponger((e1, e2, n): (Event, Event, usize)) {
    for _ in 0..n {
        e1.wait();
        e1.clear();
        e2.set();
    }
}

/// `n` round trips of two Events with a child (Python's `bench_event_pingpong` loop).
fn event_pingpong(n: usize) -> Duration {
    let (e1, e2) = (Event::new().unwrap(), Event::new().unwrap());
    let p = get_context(Some(StartMethod::Fork)).process(ponger, (e1.clone(), e2.clone(), n));
    p.start().unwrap();
    let t = Instant::now();
    for _ in 0..n {
        e1.set();
        e2.wait();
        e2.clear();
    }
    let dt = t.elapsed();
    assert_eq!(p.join().unwrap(), 0);
    dt
}

fn futex_wait(w: &AtomicU32, expected: u32) {
    // SAFETY: a shared (non-private) FUTEX_WAIT on a valid, aligned u32 without timeout.
    unsafe {
        libc::syscall(libc::SYS_futex, w.as_ptr(), libc::FUTEX_WAIT, expected, std::ptr::null::<libc::timespec>());
    }
}

fn futex_wake(w: &AtomicU32) {
    // SAFETY: a shared FUTEX_WAKE of one waiter on a valid, aligned u32.
    unsafe {
        libc::syscall(libc::SYS_futex, w.as_ptr(), libc::FUTEX_WAKE, 1);
    }
}

/// Sets `w` and wakes its waiter, as a bare event would.
fn raw_set(w: &AtomicU32) {
    w.store(1, Ordering::Release);
    futex_wake(w);
}

/// Waits for `w` to be set, then clears it.
fn raw_wait_clear(w: &AtomicU32) {
    while w.load(Ordering::Acquire) == 0 {
        futex_wait(w, 0);
    }
    w.store(0, Ordering::Relaxed);
}

/// `n` round trips of the same protocol on bare futex words, with a child made by `fork`:
/// set + FUTEX_WAKE, FUTEX_WAIT until set, clear. No spinning, no waiter count.
fn raw_futex_pingpong(n: usize) -> Duration {
    let page = SharedPage::new();
    let (ping, pong) = (page.u32_at(0), page.u32_at(1));
    // SAFETY: the child only touches the shared page and makes raw syscalls, then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        for _ in 0..n {
            raw_wait_clear(ping);
            raw_set(pong);
        }
        // SAFETY: ends the child without running the parent's at-exit handlers.
        unsafe { libc::_exit(0) };
    }
    let t = Instant::now();
    for _ in 0..n {
        raw_set(ping);
        raw_wait_clear(pong);
    }
    let dt = t.elapsed();
    let mut st = 0;
    // SAFETY: reaps the child forked above.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    dt
}

pub(crate) fn run(args: &Args) {
    if args.want("lock") {
        let n = args.n(1_000_000, 100_000);
        let lock = Lock::new().unwrap();
        for _ in 0..1000 {
            drop(lock.acquire().unwrap());
        }
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            for _ in 0..n {
                drop(lock.acquire().unwrap());
            }
            best = best.min(t.elapsed().as_secs_f64() * 1e9 / n as f64);
        }
        emit("lock_uncontended", best, "ns/acquire+release");
        let n = args.n(100_000, 10_000) as u64;
        lock_contended(n / 10);
        emit("lock_contended_2proc", lock_contended(n), "increments/s");
    }
    if args.want("event") {
        let rounds = if args.quick { 7 } else { 15 };
        let batch = if args.quick { 1000 } else { 2000 };
        event_pingpong(100);
        raw_futex_pingpong(100);
        let (ours, raw, ratio) = interleaved(rounds, batch, event_pingpong, raw_futex_pingpong);
        emit("event_pingpong", ours.as_secs_f64() * 1e6, "us/roundtrip");
        emit("raw_futex_pingpong", raw.as_secs_f64() * 1e6, "us/roundtrip");
        emit("ratio_event_pingpong_vs_raw", ratio, "x");
    }
}
