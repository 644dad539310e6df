//! Groups `lock` and `event`: the Lock's uncontended and 2-process contended cost, and the
//! Event ping-pong against two processes ping-ponging a bare shared futex word. Each row is
//! measured interleaved with its bare limit: a compare-and-swap + store pair on a word in shared
//! memory (`raw_cas_store`), a yielding CAS spin lock shared by two forked children
//! (`raw_spinlock_2proc`), bare futex words (`raw_futex_pingpong`).
#![allow(unsafe_code)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use multiproc::sync::{Event, Lock};
use multiproc::{RawValue, StartMethod, get_context};

use crate::bare::{SharedPage, fork_child, reap, spin_lock};
use crate::common::{Args, emit, interleaved, median, time_n};

/// The child of `lock_contended_2proc`: `n` times lock; counter += 1; unlock, with the
/// counter a `RawValue` (Python's `Value("q", 0, lock=False)`).
fn incr((lock, v, n): (Lock, RawValue<u64>, u64)) {
    for _ in 0..n {
        let _g = lock.acquire().unwrap();
        v.set(v.get() + 1);
    }
}

/// Seconds for two children to do `n` locked increments each, from before their start to
/// both joins.
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
    dt.as_secs_f64()
}

/// `n` bare acquire + release pairs: a compare-and-swap 0 -> 1 (Acquire), a store of 0
/// (Release), on a word in shared memory: what any lock costs at least.
fn raw_cas_store(w: &AtomicU32, n: usize) -> Duration {
    let w = black_box(w);
    let t = Instant::now();
    for _ in 0..n {
        while w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
        w.store(0, Ordering::Release);
    }
    t.elapsed()
}

/// The workload of `lock_contended` with a bare spin lock and a counter in one shared page,
/// children made by `fork`: seconds from before the forks to both reaped.
fn raw_spinlock_2proc(n: u64) -> f64 {
    let page = SharedPage::new();
    // The lock and the counter on separate cache lines, as a Lock and a RawValue are.
    let (lock, counter) = (page.u32_at(0), page.u64_at(16));
    let t = Instant::now();
    let pids: Vec<i32> = (0..2)
        .map(|_| {
            fork_child(|| {
                for _ in 0..n {
                    spin_lock(lock);
                    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    lock.store(0, Ordering::Release);
                }
            })
        })
        .collect();
    pids.into_iter().for_each(reap);
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(counter.load(Ordering::Relaxed), 2 * n);
    dt
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
        // Uncontended, interleaved with the bare CAS + store on a word of a shared page.
        let lock = Lock::new().unwrap();
        let page = SharedPage::new();
        let word = page.u32_at(0);
        let acquire_release = |n: usize| {
            time_n(n, || {
                drop(lock.acquire().unwrap());
            })
        };
        acquire_release(10_000);
        raw_cas_store(word, 10_000);
        let (rounds, batch) = if args.quick { (7, 20_000) } else { (15, 100_000) };
        let (ours, raw, ratio) = interleaved(rounds, batch, acquire_release, |n| raw_cas_store(word, n));
        emit("lock_uncontended", ours * 1e9, "ns/acquire+release");
        emit("raw_cas_store", raw * 1e9, "ns/acquire+release");
        emit("ratio_lock_uncontended_vs_raw", ratio, "x");

        // Two processes contending, interleaved with two forked children on a bare spin lock.
        let n = args.n(100_000, 10_000) as u64;
        lock_contended(n / 10);
        raw_spinlock_2proc(n / 10);
        let (mut ours, mut raw, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..(if args.quick { 3 } else { 7 }) {
            let o = lock_contended(n);
            let r = raw_spinlock_2proc(n);
            ours.push(o);
            raw.push(r);
            ratio.push(o / r);
        }
        let per_s = |secs: f64| 2.0 * n as f64 / secs;
        emit("lock_contended_2proc", per_s(median(&mut ours)), "increments/s");
        emit("raw_spinlock_2proc", per_s(median(&mut raw)), "increments/s");
        emit("ratio_lock_contended_2proc_vs_raw", median(&mut ratio), "x");
    }
    if args.want("event") {
        let rounds = if args.quick { 7 } else { 15 };
        let batch = if args.quick { 1000 } else { 2000 };
        event_pingpong(100);
        raw_futex_pingpong(100);
        let (ours, raw, ratio) = interleaved(rounds, batch, event_pingpong, raw_futex_pingpong);
        emit("event_pingpong", ours * 1e6, "us/roundtrip");
        emit("raw_futex_pingpong", raw * 1e6, "us/roundtrip");
        emit("ratio_event_pingpong_vs_raw", ratio, "x");
    }
}
