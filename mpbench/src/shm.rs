//! Group `shm`: `Value` increments under its lock and bulk writes into an `Array` from a
//! child, against a plain memcpy of the same size in this binary (interleaved).
//!
//! Rows:
//! - `value_increment_locked`: `*v.acquire() += 1` on a `Value<i64>` with its default `RLock`, one
//!   process, uncontended (Python: `with v.get_lock(): v.value += 1`).
//! - `value_increment_locked_2proc`: the same loop in two child processes released together
//!   by a start flag (contended); the time runs from the flag to both joins;
//! - `raw_locked_increment`, `raw_locked_increment_2proc`: their bare limits, a CAS spin lock
//!   and a counter on a shared page (in this process, then in two forked children released by
//!   a flag), measured round by round with them.
//! - `array_bulk_write`: MB/s of `copy_from_slice` into a large `Array<f64>` through its guard,
//!   timed inside a spawned child (after one warm-up pass that faults the pages in).
//! - `raw_memcpy`: MB/s of a plain memcpy between two private buffers of the same size, in
//!   this process, measured interleaved with `array_bulk_write`;
//! - `ratio_array_bulk_write_vs_raw`: median over the rounds of the time per MiB of the
//!   first over the second (below 1: the shared array is written faster than the memcpy).

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use multiproc::{Array, Process, RawValue, Value};

use crate::bare::{SharedPage, fork_child, reap, spin_lock};
use crate::common::{Args, emit, interleaved, median, time_n};

fn increment((v, n): (Value<i64>, u64)) {
    for _ in 0..n {
        *v.acquire().expect("lock") += 1;
    }
}

/// Waits for the start flag, then increments (so that both children really overlap).
fn increment_after_go((v, n, go): (Value<i64>, u64, RawValue<u32>)) {
    while go.get() == 0 {
        std::thread::yield_now();
    }
    increment((v, n));
}

/// In the child: one warm-up pass, then `passes` timed passes; stores the best seconds/pass.
fn bulk_write((a, passes, secs): (Array<f64>, u32, RawValue<f64>)) {
    let src: Vec<f64> = (0..a.len()).map(|i| i as f64).collect();
    a.acquire().expect("lock").copy_from_slice(&src);
    let mut best = f64::INFINITY;
    for _ in 0..passes {
        let t = Instant::now();
        a.acquire().expect("lock").copy_from_slice(black_box(&src));
        best = best.min(t.elapsed().as_secs_f64());
    }
    secs.set(best);
}

/// Seconds for two spawned children, released together by a flag, to do `n` locked increments
/// each (from the flag to both joins).
fn locked_increments_2proc(n: u64) -> f64 {
    let v = Value::new(0i64).expect("value");
    let go = RawValue::new(0u32).expect("flag");
    let ps: Vec<Process> = (0..2).map(|_| Process::new(increment_after_go, (v.clone(), n, go.clone()))).collect();
    for p in &ps {
        p.start().expect("start");
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    let t = Instant::now();
    go.set(1);
    for p in &ps {
        assert_eq!(p.join().expect("join"), 0);
    }
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(v.get(), 2 * n as i64);
    dt
}

/// `n` bare locked increments in this process: CAS spin lock, counter += 1, store of 0, on a
/// shared page.
fn raw_locked_increments(page: &SharedPage, n: usize) -> Duration {
    let (lock, counter) = (black_box(page.u32_at(0)), black_box(page.u64_at(16)));
    time_n(n, || {
        spin_lock(lock);
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        lock.store(0, Ordering::Release);
    })
}

/// The same in two forked children released together by a flag: seconds from the flag to both
/// reaped.
fn raw_locked_increments_2proc(n: u64) -> f64 {
    let page = SharedPage::new();
    let (lock, counter, ready, go) = (page.u32_at(0), page.u64_at(16), page.u32_at(64), page.u32_at(96));
    let pids: Vec<i32> = (0..2)
        .map(|_| {
            fork_child(|| {
                ready.fetch_add(1, Ordering::AcqRel);
                while go.load(Ordering::Acquire) == 0 {
                    std::thread::yield_now();
                }
                for _ in 0..n {
                    spin_lock(lock);
                    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    lock.store(0, Ordering::Release);
                }
            })
        })
        .collect();
    while ready.load(Ordering::Acquire) < 2 {
        std::thread::yield_now();
    }
    let t = Instant::now();
    go.store(1, Ordering::Release);
    pids.into_iter().for_each(reap);
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(counter.load(Ordering::Relaxed), 2 * n);
    dt
}

fn raw_memcpy(dst: &mut [f64], src: &[f64], passes: u32) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..passes {
        let t = Instant::now();
        dst.copy_from_slice(black_box(src));
        black_box(&mut *dst);
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

pub(crate) fn run(args: &Args) {
    if !args.want("shm") {
        return;
    }
    // value_increment_locked: one process, interleaved with bare locked increments.
    let v = Value::new(0i64).expect("value");
    let page = SharedPage::new();
    let ours = |n: usize| {
        let t = Instant::now();
        increment((v.clone(), n as u64));
        t.elapsed()
    };
    ours(100_000); // warm up
    raw_locked_increments(&page, 100_000);
    let (rounds, batch) = if args.quick { (5, 40_000) } else { (11, 200_000) };
    let (o, r, ratio) = interleaved(rounds, batch, ours, |n| raw_locked_increments(&page, n));
    emit("value_increment_locked", 1.0 / o, "increments/s");
    emit("raw_locked_increment", 1.0 / r, "increments/s");
    emit("ratio_value_increment_locked_vs_raw", ratio, "x");

    // Two processes, contended, round by round with two forked children on a bare spin lock.
    let n2 = args.n(2_000_000, 200_000) as u64;
    let (mut ours, mut raw, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..(if args.quick { 3 } else { 5 }) {
        let o = locked_increments_2proc(n2);
        let r = raw_locked_increments_2proc(n2);
        ours.push(o);
        raw.push(r);
        ratio.push(o / r);
    }
    let per_s = |secs: f64| 2.0 * n2 as f64 / secs;
    emit("value_increment_locked_2proc", per_s(median(&mut ours)), "increments/s");
    emit("raw_locked_increment_2proc", per_s(median(&mut raw)), "increments/s");
    emit("ratio_value_increment_locked_2proc_vs_raw", median(&mut ratio), "x");

    // array_bulk_write vs raw_memcpy, interleaved.
    let mib = if args.quick { 16 } else { 64 };
    let len = mib * 1024 * 1024 / 8;
    let rounds = if args.quick { 3 } else { 7 };
    let passes = 3;
    let a = Array::<f64>::zeroed(len).expect("array");
    let src: Vec<f64> = (0..len).map(|i| i as f64).collect();
    let mut dst = vec![0.0f64; len];
    raw_memcpy(&mut dst, &src, 1); // fault the private pages in
    let bytes = (len * 8) as f64;
    let (mut ours, mut raw, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let secs = RawValue::new(0.0f64).expect("value");
        let p = Process::new(bulk_write, (a.clone(), passes, secs.clone()));
        p.start().expect("start");
        assert_eq!(p.join().expect("join"), 0);
        let o = bytes / secs.get() / 1e6;
        let r = bytes / raw_memcpy(&mut dst, &src, passes) / 1e6;
        ours.push(o);
        raw.push(r);
        ratio.push(r / o);
    }
    emit("array_bulk_write", median(&mut ours), "MB/s");
    emit("raw_memcpy", median(&mut raw), "MB/s");
    emit("ratio_array_bulk_write_vs_raw", median(&mut ratio), "x");
}
