//! The pool's features beyond CPython's (mpire's): per-worker state, worker-exit functions
//! whose results come back, worker insights, CPU pinning. Each runs over worker threads
//! where threads have it, and over worker processes under every start method, each body
//! under a watchdog. Timing: lower bounds, and generous upper bounds only.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Watchdog, each_method};
use multiproc::Context;
use multiproc::pool::{
    Pool, PoolBuilder, PoolErrorKind, StatefulPool, StatefulPoolBuilder, TaskOptions, ThreadPool, ThreadPoolBuilder,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

const LIMIT: Duration = Duration::from_secs(120);

/// Runs `body` over worker threads (`None`), then over worker processes under every start
/// method (their context), each under its own watchdog.
fn each_backend(what: &str, mut body: impl FnMut(Option<&Context>)) {
    {
        let _w = Watchdog::new(&format!("{what} [threads]"), LIMIT);
        body(None);
    }
    each_method(what, LIMIT, |ctx| body(Some(&ctx)));
}

/// A stateful pool of `n` workers (threads without a context), the state built by
/// `init(args)`; `more` sets the other settings first.
fn stateful<S, F, A, M>(
    ctx: Option<&Context>,
    n: usize,
    more: impl FnOnce(PoolBuilder) -> PoolBuilder,
    init: F,
    args: A,
) -> StatefulPoolBuilder<S>
where
    F: multiproc::Target<A, M, Output = S>,
    S: 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
    M: 'static,
{
    match ctx {
        None => ThreadPool::builder().processes(n).worker_state(init, args),
        Some(ctx) => more(ctx.pool_builder().processes(n)).worker_state(init, args),
    }
}

// ----- per-worker state -----

/// Who a worker is: its process and thread.
fn me() -> String {
    format!("{}-{:?}", std::process::id(), std::thread::current().id())
}

struct Counter {
    who: String,
    calls: u32,
}

fn new_counter(start: u32) -> Counter {
    Counter { who: me(), calls: start }
}

fn count(c: &mut Counter, _x: u32) -> (String, u32) {
    c.calls += 1;
    (c.who.clone(), c.calls)
}

#[test]
fn worker_state_is_built_once_per_worker_and_lent_to_every_task() {
    each_backend("worker state", |ctx| {
        let pool: StatefulPool<Counter> = stateful(ctx, 2, |b| b, new_counter, 100).build().unwrap();
        let out = pool.map_with(count, 0..200, &TaskOptions::new().chunksize(10)).unwrap();
        let mut per: HashMap<String, Vec<u32>> = HashMap::new();
        for (who, n) in out {
            per.entry(who).or_default().push(n);
        }
        assert!(!per.is_empty() && per.len() <= 2, "{} states for 2 workers", per.len());
        let mut total = 0;
        for (who, mut seen) in per {
            seen.sort();
            let want: Vec<u32> = (101..101 + seen.len() as u32).collect();
            assert_eq!(seen, want, "worker {who}: each task saw the calls before it");
            total += seen.len();
        }
        assert_eq!(total, 200);
        // apply and imap go to the same states; stateless tasks through the pool underneath.
        let (_, n) = pool.apply(count, 0).unwrap();
        assert!(n >= 101, "{n}");
        let firsts: Vec<(String, u32)> = pool.imap(count, 0..5).unwrap().map(Result::unwrap).collect();
        assert_eq!(firsts.len(), 5);
        assert_eq!(pool.pool().apply(|x: u32| x + 1, 1).unwrap(), 2);
        pool.close();
        pool.join().unwrap();
    });
}

#[test]
fn a_replaced_worker_builds_its_own_state() {
    each_backend("worker state after maxtasksperchild", |ctx| {
        let pool = match ctx {
            None => ThreadPool::builder().processes(2).maxtasksperchild(1).worker_state(new_counter, 0),
            Some(_) => stateful(ctx, 2, |b| b.maxtasksperchild(1), new_counter, 0),
        }
        .build()
        .unwrap();
        let out = pool.map_with(count, 0..6, &TaskOptions::new().chunksize(1)).unwrap();
        assert!(out.iter().all(|(_, n)| *n == 1), "each worker ran one task on a fresh state: {out:?}");
    });
}

/// A state that could neither cross to another thread nor be encoded.
fn local_state() -> std::rc::Rc<std::cell::Cell<u32>> {
    std::rc::Rc::new(std::cell::Cell::new(0))
}

fn bump(s: &mut std::rc::Rc<std::cell::Cell<u32>>, by: u32) -> u32 {
    s.set(s.get() + by);
    s.get()
}

#[test]
fn a_state_needs_neither_send_nor_serialize() {
    each_backend("a local state", |ctx| {
        let pool = stateful(ctx, 1, |b| b, local_state, ()).build().unwrap();
        assert_eq!(pool.map(bump, [1, 2, 3]).unwrap(), [1, 3, 6]);
    });
}

fn broken_state(_: ()) -> u32 {
    panic!("no model here")
}

#[test]
fn a_panicking_state_function_breaks_the_pool_with_its_message() {
    each_backend("panicking worker state", |ctx| {
        let pool = stateful(ctx, 1, |b| b, broken_state, ()).build().unwrap();
        let err = pool.apply(|s: &mut u32, x: u32| *s + x, 1).unwrap_err();
        assert_eq!(err.kind(), PoolErrorKind::InitializerFailed, "{err}");
        assert!(err.to_string().contains("no model here"), "{err}");
    });
}

// ----- worker-exit functions -----

/// A plain pool of `n` workers: threads (set by `t`) without a context, processes (set by
/// `p`) with one.
fn plain(
    ctx: Option<&Context>,
    n: usize,
    p: impl FnOnce(PoolBuilder) -> PoolBuilder,
    t: impl FnOnce(ThreadPoolBuilder) -> ThreadPoolBuilder,
) -> Pool {
    match ctx {
        None => t(ThreadPool::builder().processes(n)).build().unwrap().into_pool(),
        Some(ctx) => p(ctx.pool_builder().processes(n)).build().unwrap(),
    }
}

fn goodbye(tag: String) -> (String, String) {
    (tag, me())
}

#[test]
fn worker_exit_results_come_back_after_join() {
    each_backend("worker exit", |ctx| {
        let pool =
            plain(ctx, 2, |b| b.worker_exit(goodbye, "bye".to_string()), |b| b.worker_exit(goodbye, "bye".to_string()));
        assert_eq!(pool.map(|x: u32| x * 2, 0..100).unwrap().len(), 100);
        pool.close();
        pool.join().unwrap();
        let byes: Vec<(String, String)> = pool.exit_results().unwrap();
        assert_eq!(byes.len(), 2, "{byes:?}");
        assert!(byes.iter().all(|(tag, _)| tag == "bye"));
        assert_ne!(byes[0].1, byes[1].1, "two workers, two exits");
        let wrong = pool.exit_results::<u32>().unwrap_err();
        assert_eq!(wrong.kind(), PoolErrorKind::InvalidArgument, "{wrong}");
    });
}

fn add_to(total: &mut u64, x: u64) -> u64 {
    *total += x;
    x
}

#[test]
fn a_stateful_exit_sees_every_task_of_its_worker_even_across_retirements() {
    each_backend("stateful worker exit with maxtasksperchild", |ctx| {
        let b = match ctx {
            None => ThreadPool::builder().processes(2).maxtasksperchild(3).worker_state(|| 0u64, ()),
            Some(_) => stateful(ctx, 2, |b| b.maxtasksperchild(3), || 0u64, ()),
        };
        let pool = b.worker_exit(|total: &mut u64| *total).build().unwrap();
        let out = pool.map_with(add_to, 1..=20u64, &TaskOptions::new().chunksize(1)).unwrap();
        assert_eq!(out.len(), 20);
        pool.close();
        pool.join().unwrap();
        let totals: Vec<u64> = pool.exit_results().unwrap();
        assert_eq!(totals.iter().sum::<u64>(), 210, "every task's item counted once: {totals:?}");
        assert!(totals.len() >= 7, "20 tasks, 3 per worker: at least 7 workers left ({totals:?})");
    });
}

fn exit_panics() -> u8 {
    panic!("cannot say goodbye")
}

#[test]
fn a_panicking_exit_function_is_an_error_and_a_killed_worker_runs_none() {
    each_backend("worker exit failures", |ctx| {
        let pool = plain(ctx, 1, |b| b.worker_exit(exit_panics, ()), |b| b.worker_exit(exit_panics, ()));
        pool.apply(|x: u8| x, 1).unwrap();
        pool.close();
        pool.join().unwrap();
        let err = pool.exit_results::<u8>().unwrap_err();
        assert_eq!(err.kind(), PoolErrorKind::Panic, "{err}");
        assert!(err.to_string().contains("cannot say goodbye"), "{err}");

        let pool = plain(ctx, 1, |b| b.worker_exit(|| 1u8, ()), |b| b.worker_exit(|| 1u8, ()));
        let r = pool.apply_async(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 300).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        pool.terminate();
        pool.join().unwrap();
        assert!(r.get().unwrap_err().is_terminated());
        assert_eq!(pool.exit_results::<u8>().unwrap(), Vec::<u8>::new(), "terminate runs no exit function");
    });
}

// ----- insights -----

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn slow_start(ms: u64) {
    nap(ms);
}

#[test]
fn insights_count_tasks_and_where_the_time_went() {
    each_backend("insights", |ctx| {
        let pool = plain(
            ctx,
            2,
            |b| b.initializer(slow_start, 50).worker_exit(nap, 30),
            |b| b.initializer(slow_start, 50).worker_exit(nap, 30),
        );
        // Idle long enough for a slow start-up (the workers may start after build returns).
        std::thread::sleep(Duration::from_millis(400));
        let out = pool.map_with(nap, [20u64; 10], &TaskOptions::new().chunksize(1)).unwrap();
        assert_eq!(out.len(), 10);
        let live = pool.insights();
        assert_eq!(live.tasks(), 10, "{live}");
        assert!(live.working() >= Duration::from_millis(200), "{live}");
        pool.close();
        pool.join().unwrap();
        let ins = pool.insights();
        assert_eq!(ins.workers.len(), 2);
        assert_eq!(ins.tasks(), 10, "{ins}");
        assert_eq!(ins.restarts(), 0, "{ins}");
        for w in &ins.workers {
            assert!(w.init >= Duration::from_millis(50), "{ins}");
            assert!(w.exit >= Duration::from_millis(30), "{ins}");
            assert!(w.waiting >= Duration::from_millis(100), "it idled before the map: {ins}");
            assert!(w.working + w.waiting + w.init + w.exit < Duration::from_secs(60), "{ins}");
        }
        let text = ins.to_string();
        assert!(text.contains("worker") && text.contains("total") && text.contains("restarts"), "{text}");
    });
}

#[test]
fn insights_add_up_the_workers_of_a_slot() {
    each_backend("insights with maxtasksperchild", |ctx| {
        let pool = plain(ctx, 2, |b| b.maxtasksperchild(2), |b| b.maxtasksperchild(2));
        let out = pool.map_with(|x: u32| x, 0..10, &TaskOptions::new().chunksize(1)).unwrap();
        assert_eq!(out.len(), 10);
        pool.close();
        pool.join().unwrap();
        let ins = pool.insights();
        assert_eq!(ins.tasks(), 10, "the workers that left count too: {ins}");
        assert_eq!(ins.workers.iter().map(|w| w.chunks).sum::<u64>(), 10, "{ins}");
        assert!(ins.restarts() >= 3, "10 tasks, 2 per worker, 2 slots: {ins}");
    });
}

fn abort_on_3(x: u32) -> u32 {
    if x == 3 {
        std::process::abort();
    }
    x
}

#[test]
fn insights_count_a_restart_after_a_crash() {
    each_method("insights after a crash", LIMIT, |ctx| {
        let pool = ctx.pool(2).unwrap();
        let out: Vec<_> = pool.imap(abort_on_3, 0..10u32).unwrap().collect();
        assert_eq!(out.iter().filter(|r| r.is_err()).count(), 1);
        pool.close();
        pool.join().unwrap();
        let ins = pool.insights();
        assert_eq!(ins.tasks(), 9, "{ins}");
        assert!(ins.restarts() >= 1, "{ins}");
    });
}

// ----- CPU pinning -----

/// The CPUs the calling thread may run on, as the kernel lists them (`0-1`, `3`, ...).
fn my_cpus(_: u32) -> (String, String) {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Cpus_allowed_list:")).unwrap();
    (me(), line.split(':').nth(1).unwrap().trim().to_string())
}

/// The CPUs this process may run on.
fn allowed() -> Vec<usize> {
    let (_, list) = my_cpus(0);
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        cpus.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap());
    }
    cpus
}

#[test]
fn cpu_pinning_gives_each_worker_its_set() {
    let cpus = allowed();
    let (a, b) = (cpus[0], *cpus.last().unwrap());
    each_backend("cpu pinning", |ctx| {
        let sets = [vec![a], vec![b]];
        let pool = plain(ctx, 2, |p| p.cpu_pinning(sets.clone()), |t| t.cpu_pinning(sets.clone()));
        let out = pool.map_with(my_cpus, 0..40, &TaskOptions::new().chunksize(1)).unwrap();
        let mut per: HashMap<String, String> = HashMap::new();
        for (who, list) in out {
            assert!(list == a.to_string() || list == b.to_string(), "{who} runs on {list}, not on {a} or {b}");
            let first = per.entry(who.clone()).or_insert_with(|| list.clone());
            assert_eq!(*first, list, "{who} moved");
        }
        // The pool's own thread is not pinned.
        assert_eq!(allowed(), cpus);
    });
}

#[test]
fn cpu_sets_outside_the_process_are_refused() {
    let _w = Watchdog::new("cpu pinning checks", LIMIT);
    for b in [PoolBuilder::new().cpu_pinning([[100_000]]), PoolBuilder::new().cpu_pinning(Vec::<Vec<usize>>::new())] {
        let err = b.processes(1).build().unwrap_err();
        assert_eq!(err.kind(), PoolErrorKind::InvalidArgument, "{err}");
    }
    let err = ThreadPool::builder().cpu_pinning([Vec::<usize>::new()]).build().unwrap_err();
    assert_eq!(err.kind(), PoolErrorKind::InvalidArgument, "{err}");
}

// ----- the progress bar (feature `progress`) -----

#[cfg(feature = "progress")]
#[test]
fn a_progress_bar_changes_no_result() {
    each_backend("progress bar", |ctx| {
        let pool = plain(ctx, 2, |p| p.progress_bar(true), |t| t.progress_bar(true));
        let v = pool.map(|x: u64| x * x, 0..10_000u64).unwrap();
        assert_eq!(v[9_999], 9_999 * 9_999);
        let on = TaskOptions::new().progress_bar(true);
        let n = pool.imap_with(|x: u64| x, (0..1000u64).filter(|x| x % 2 == 0), &on).unwrap().count();
        assert_eq!(n, 500);
        let off = TaskOptions::new().progress_bar(false);
        assert_eq!(pool.map_with(|x: u8| x, 0..10, &off).unwrap().len(), 10);
        let err = pool.map_with(|x: u8| if x == 5 { panic!("five") } else { x }, 0..10, &on).unwrap_err();
        assert!(err.is_panic(), "{err}");
    });
}

#[test]
fn insights_count_a_restart_after_a_hard_timeout() {
    each_backend("insights after a hard timeout", |ctx| {
        let pool = plain(ctx, 1, |p| p, |t| t);
        let opts = TaskOptions::new().timeout(Duration::from_millis(100));
        let err = pool.apply_with(nap, 5_000, &opts).unwrap_err();
        assert!(err.is_timed_out(), "{err}");
        assert_eq!(pool.apply(|x: u8| x, 1).unwrap(), 1);
        let ins = pool.insights();
        assert_eq!(ins.restarts(), 1, "{ins}");
        assert_eq!(ins.tasks(), 1, "the timed-out task is not done: {ins}");
        assert!(ins.working() >= Duration::from_millis(100), "it ran until it was given up on: {ins}");
    });
}
