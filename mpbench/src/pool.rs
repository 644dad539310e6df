//! Pool throughput, the workloads of `python_baseline.py` `bench_pool_map` and
//! `bench_pool_apply_async`: a pool of 2 workers, warmed with a map of 100 items, then
//!
//! - `pool_map_square_first` (tasks/s): the first `map(square, 0..1_000_000)` of this process
//!   (default chunksize), as Python's script times it: it pays this process's one-time costs
//!   (the allocator growing its arenas for the first large vectors, their first page faults),
//!   about half of the time here;
//! - `pool_map_square` (tasks/s): the same map once the process has run one (the throughput
//!   of a pool in use);
//! - `pool_apply_async` (tasks/s): 20,000 separate `apply_async(square, i)`, then every
//!   result gathered with `get`;
//! - `peer_procspawn_pool` (tasks/s): procspawn 1.0.2's `Pool` of 2 on the apply workload
//!   (20,000 `spawn`s and `join`s, in waves of 1,000: procspawn holds descriptors per task
//!   until it is joined);
//! - `pool_map_square_threads`, `pool_apply_async_threads`: the same on a `ThreadPool`;
//! - `executor_map` (tasks/s): `ProcessPoolExecutor(2).map(square, 0..n, chunksize=1000)`, every
//!   result read; `executor_submit` (tasks/s): the apply workload through `submit` and
//!   `result` (CPython's executor measured here for scale: 1.7 M/s and 6.2 k/s).
//!
//! The clock runs from the first submission to the last result, pool start excluded, as in
//! Python. Each row but the first is the median of 5 rounds (1 with `--quick`).

use std::time::Instant;

use multiproc::pool::{Pool, ProcessPoolExecutor, ThreadPool};

use crate::common::{Args, emit, median};

fn square(x: u64) -> u64 {
    x * x
}

fn map_rate(pool: &Pool, n: u64) -> f64 {
    pool.map(square, 0..100).expect("warm-up map");
    let t = Instant::now();
    let r = pool.map(square, 0..n).expect("map");
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(r[(n - 1) as usize], (n - 1) * (n - 1));
    n as f64 / dt
}

fn apply_rate(pool: &Pool, n: u64) -> f64 {
    pool.map(square, 0..100).expect("warm-up map");
    let t = Instant::now();
    let rs: Vec<_> = (0..n).map(|i| pool.apply_async(square, i).expect("apply_async")).collect();
    let total: u64 = rs.iter().map(|r| r.get().expect("get")).sum();
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(total, (0..n).map(square).sum::<u64>());
    n as f64 / dt
}

fn executor_map_rate(ex: &ProcessPoolExecutor, n: u64) -> f64 {
    let t = Instant::now();
    let total: u64 = ex.map(square, 0..n, 1000).expect("map").map(|r| r.expect("item")).sum();
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(total, (0..n).map(square).sum::<u64>());
    n as f64 / dt
}

fn executor_submit_rate(ex: &ProcessPoolExecutor, n: u64) -> f64 {
    let t = Instant::now();
    let fs: Vec<_> = (0..n).map(|i| ex.submit(square, i).expect("submit")).collect();
    let total: u64 = fs.iter().map(|f| *f.result().expect("result")).sum();
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(total, (0..n).map(square).sum::<u64>());
    n as f64 / dt
}

/// procspawn opens channels (descriptors) per task until it is joined, so the tasks go in
/// waves of this many (20,000 at once exceed the descriptor limit here).
const PROCSPAWN_WAVE: u64 = 1000;

fn procspawn_rate(n: u64) -> f64 {
    let pool = procspawn::Pool::new(2).expect("procspawn pool");
    let warm: Vec<_> = (0..100u64).map(|i| pool.spawn(i, square)).collect();
    for h in warm {
        h.join().expect("procspawn warm-up");
    }
    let t = Instant::now();
    let mut total = 0u64;
    let mut next = 0;
    while next < n {
        let end = (next + PROCSPAWN_WAVE).min(n);
        let hs: Vec<_> = (next..end).map(|i| pool.spawn(i, square)).collect();
        total += hs.into_iter().map(|h| h.join().expect("procspawn join")).sum::<u64>();
        next = end;
    }
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(total, (0..n).map(square).sum::<u64>());
    pool.shutdown();
    n as f64 / dt
}

fn rounds(args: &Args, mut f: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..if args.quick { 1 } else { 5 }).map(|_| f()).collect();
    median(&mut v)
}

/// The `pool` group.
pub(crate) fn run(args: &Args) {
    if !args.want("pool") {
        return;
    }
    let map_n = args.n(1_000_000, 100_000) as u64;
    let apply_n = args.n(20_000, 2_000) as u64;
    let pool = Pool::new(2).expect("pool");
    emit("pool_map_square_first", map_rate(&pool, map_n), "tasks/s");
    emit("pool_map_square", rounds(args, || map_rate(&pool, map_n)), "tasks/s");
    emit("pool_apply_async", rounds(args, || apply_rate(&pool, apply_n)), "tasks/s");
    drop(pool);
    emit("peer_procspawn_pool", rounds(args, || procspawn_rate(apply_n)), "tasks/s");
    let threads = ThreadPool::new(2).expect("thread pool");
    emit("pool_map_square_threads", rounds(args, || map_rate(&threads, map_n)), "tasks/s");
    emit("pool_apply_async_threads", rounds(args, || apply_rate(&threads, apply_n)), "tasks/s");
    drop(threads);
    let ex = ProcessPoolExecutor::new(2).expect("executor");
    executor_map_rate(&ex, 100);
    emit("executor_map", rounds(args, || executor_map_rate(&ex, map_n)), "tasks/s");
    emit("executor_submit", rounds(args, || executor_submit_rate(&ex, apply_n)), "tasks/s");
}
