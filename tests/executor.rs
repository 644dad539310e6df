//! `ProcessPoolExecutor` and its futures: CPython's `concurrent.futures` semantics and the
//! executor behaviours of its test suite (E1-E7) that apply, each test under every start
//! method with a watchdog. Timing: lower bounds, and generous upper bounds only.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::each_method;
use multiproc::Context;
use multiproc::pool::{
    ExecutorBuilder, Future, PoolErrorKind, ProcessPoolExecutor, ReturnWhen, TaskOptions, WorkerDeath, as_completed,
    as_completed_timeout, wait, wait_timeout,
};

fn builder(ctx: Context, n: usize) -> ExecutorBuilder {
    ctx.executor_builder().max_workers(n)
}

fn executor(ctx: Context, n: usize) -> ProcessPoolExecutor {
    builder(ctx, n).build().unwrap()
}

// ----- tasks -----

fn sqr(x: i64) -> i64 {
    x * x
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn panics_at_5(x: u32) -> u32 {
    match x {
        5 => panic!("item {x} is bad"),
        _ => x,
    }
}

fn nap_or_panic(ms: u64) -> u64 {
    if ms == 0 {
        panic!("no time to nap");
    }
    nap(ms)
}

fn my_pid() -> u32 {
    std::process::id()
}

fn my_pid_of(_: u32) -> u32 {
    std::process::id()
}

#[allow(unsafe_code)]
fn sigkill_self() -> u32 {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    unreachable!()
}

fn crashes(how: u8) -> u32 {
    match how {
        0 => multiproc::exit(3),
        1 => std::process::abort(),
        _ => {
            // SAFETY: none: a write through a null pointer, to crash the worker on purpose.
            #[allow(unsafe_code)]
            unsafe {
                std::ptr::null_mut::<u64>().write_volatile(1);
            }
            0
        }
    }
}

/// Kills its own worker at item 7; the others return themselves.
fn dies_at_7(x: u32) -> u32 {
    if x == 7 {
        sigkill_self();
    }
    x
}

/// A result whose `Serialize` fails in the worker.
#[derive(Debug)]
struct Unsendable;

impl serde::Serialize for Unsendable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("Unsendable stays in its worker"))
    }
}

impl<'de> serde::Deserialize<'de> for Unsendable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <()>::deserialize(d).map(|_| Unsendable)
    }
}

fn unsendable() -> Unsendable {
    Unsendable
}

/// A result the pool's process cannot decode when it is 7.
#[derive(Debug, serde::Serialize)]
struct Picky(u32);

impl<'de> serde::Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u32::deserialize(d)? {
            7 => Err(serde::de::Error::custom("7 does not decode")),
            x => Ok(Picky(x)),
        }
    }
}

fn picky(x: u32) -> Picky {
    Picky(x)
}

fn set_tag(tag: String) {
    // SAFETY: the worker is single-threaded while its initializer runs.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("EXECUTOR_TEST_TAG", tag);
    }
}

fn read_tag() -> String {
    std::env::var("EXECUTOR_TEST_TAG").unwrap_or_default()
}

/// Waits (bounded) until `f` is running.
fn until_running<T: Send + Sync + 'static>(f: &Future<T>) {
    common::wait_until("the future to run", || f.running() || f.done());
}

// ----- tests -----

#[test]
fn submit_gives_a_future_with_the_result() {
    each_method("submit", Duration::from_secs(60), |m| {
        let ex = executor(m, 2);
        let f = ex.submit(sqr, 12).unwrap();
        assert_eq!(*f.result().unwrap(), 144);
        assert_eq!(*f.result().unwrap(), 144, "the value is lent again");
        assert!(f.done() && !f.running() && !f.cancelled());
        assert!(f.error().unwrap().is_none());
        let g = ex.submit(|a: u32, b: String| format!("{b}{a}"), (7, "x".to_string())).unwrap();
        assert_eq!(g.result().unwrap(), "x7");
        let clone = g.clone();
        assert_eq!(clone.result().unwrap(), "x7");
        let many: Vec<_> = (0..50).map(|i| ex.submit(sqr, i).unwrap()).collect();
        assert_eq!(many.iter().map(|f| *f.result().unwrap()).sum::<i64>(), (0..50).map(sqr).sum());
    });
}

#[test]
fn a_panic_fails_its_future_with_the_message() {
    // E3: the remote failure keeps its message and where it happened.
    each_method("panic", Duration::from_secs(60), |m| {
        let ex = executor(m, 2);
        let bad = ex.submit(panics_at_5, 5).unwrap();
        let good = ex.submit(panics_at_5, 4).unwrap();
        let e = bad.result().unwrap_err();
        assert!(e.is_panic(), "{e:?}");
        assert_eq!(e.panic_message(), Some("item 5 is bad"));
        assert!(e.location().unwrap().contains("executor.rs"));
        assert!(bad.error().unwrap().unwrap().is_panic());
        assert!(bad.done() && !bad.cancelled());
        assert_eq!(*good.result().unwrap(), 4);
        assert_eq!(*ex.submit(sqr, 3).unwrap().result().unwrap(), 9, "the executor goes on");
    });
}

#[test]
fn map_keeps_the_input_order_for_each_chunksize() {
    // E2: map with chunksize 1, 6, 50, 40 is the builtin map; chunksize 0 is refused.
    each_method("map", Duration::from_secs(60), |m| {
        let ex = executor(m, 2);
        let want: Vec<i64> = (0..100).map(sqr).collect();
        for chunksize in [1, 6, 50, 40, 1000] {
            let got: Vec<i64> = ex.map(sqr, 0..100, chunksize).unwrap().collect::<Result<_, _>>().unwrap();
            assert_eq!(got, want, "chunksize {chunksize}");
        }
        let e = ex.map(sqr, 0..10, 0).unwrap_err();
        assert_eq!(e.kind(), PoolErrorKind::InvalidArgument);
        assert_eq!(ex.map(sqr, Vec::<i64>::new(), 3).unwrap().count(), 0);
        // Each item is its own result: one panic costs one item.
        let got: Vec<_> = ex.map(panics_at_5, 0..10, 4).unwrap().collect();
        assert_eq!(got.len(), 10);
        for (i, r) in got.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v as usize, i),
                Err(e) => assert!(i == 5 && e.is_panic() && e.to_string().contains("item 5"), "{i}: {e}"),
            }
        }
        assert!(got[5].is_err());
    });
}

#[test]
fn map_reads_its_results_lazily_and_a_dropped_map_cancels_the_rest() {
    each_method("lazy map", Duration::from_secs(60), |m| {
        // Each item naps long enough that a busy machine does not blur "before the first
        // result" with "after it".
        const NAP: u64 = 1000;
        let ex = executor(m, 1);
        let start = Instant::now();
        let mut it = ex.map(nap, vec![NAP; 6], 1).unwrap();
        assert!(start.elapsed() < Duration::from_millis(NAP), "map returns before the results");
        assert_eq!(it.next().unwrap().unwrap(), NAP);
        assert!(start.elapsed() >= Duration::from_millis(NAP - 10));
        drop(it); // the chunks not handed over are cancelled
        let t = Instant::now();
        assert_eq!(*ex.submit(sqr, 2).unwrap().result().unwrap(), 4);
        assert!(t.elapsed() < Duration::from_millis(NAP * 5), "the cancelled chunks did not run");
    });
}

#[test]
fn map_with_a_buffersize_reads_its_input_as_results_are_taken() {
    // Python 3.14's buffersize: an endless input in bounded memory.
    each_method("buffered map", Duration::from_secs(60), |ctx| {
        let ex = executor(ctx, 2);
        let read = Arc::new(AtomicUsize::new(0));
        let r = read.clone();
        let input = (0i64..).inspect(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        });
        let opts = TaskOptions::new().chunksize(5).buffersize(2);
        let mut it = ex.map_with(sqr, input, &opts).unwrap();
        assert!(read.load(Ordering::SeqCst) <= 2 * 5 + 1, "read {} at the call", read.load(Ordering::SeqCst));
        let first: Vec<i64> = it.by_ref().take(30).map(Result::unwrap).collect();
        assert_eq!(first, (0..30).map(sqr).collect::<Vec<_>>());
        let n = read.load(Ordering::SeqCst);
        assert!((30..=30 + 3 * 5).contains(&n), "read {n} for 30 results");
        drop(it);
        assert!(ex.map_with(sqr, 0..3, &TaskOptions::new().buffersize(0)).is_err());
        // The per-item hard timeout of the pool.
        let opts = TaskOptions::new().chunksize(3).timeout(Duration::from_millis(200));
        let got: Vec<_> = ex.map_with(nap, [0, 30_000, 0], &opts).unwrap().collect();
        assert!(got[0].is_ok() && got[1].as_ref().unwrap_err().is_timed_out() && got[2].is_ok(), "{got:?}");
    });
}

#[test]
fn cancel_succeeds_only_while_pending() {
    each_method("cancel", Duration::from_secs(60), |m| {
        let ex = executor(m, 1);
        let first = ex.submit(nap, 400).unwrap();
        let queued: Vec<_> = (0..6).map(|i| ex.submit(sqr, i).unwrap()).collect();
        until_running(&first);
        assert!(!first.cancel(), "a running future cannot be cancelled");
        assert!(!first.cancelled());
        // One task per worker is handed over: the queued ones are pending.
        let last = &queued[5];
        assert!(!last.running());
        assert!(last.cancel());
        assert!(last.cancel(), "cancelling again still says cancelled");
        assert!(last.cancelled() && last.done() && !last.running());
        let e = last.result().unwrap_err();
        assert!(e.is_cancelled() && e.kind() == PoolErrorKind::Cancelled, "{e:?}");
        assert!(last.error().unwrap_err().is_cancelled());
        assert!(queued[4].cancel());
        assert_eq!(*first.result().unwrap(), 400);
        for (i, f) in queued[..4].iter().enumerate() {
            assert_eq!(*f.result().unwrap(), sqr(i as i64));
            assert!(!f.cancel(), "a finished future cannot be cancelled");
        }
    });
}

#[test]
fn a_task_never_waits_behind_a_long_one_while_a_worker_is_idle() {
    each_method("no head-of-line blocking", Duration::from_secs(60), |ctx| {
        let ex = executor(ctx, 2);
        let long = ex.submit(nap, 10_000).unwrap();
        until_running(&long);
        let start = Instant::now();
        let short: Vec<_> = (0..4).map(|_| ex.submit(nap, 100).unwrap()).collect();
        for f in &short {
            assert_eq!(*f.result().unwrap(), 100);
        }
        assert!(start.elapsed() >= Duration::from_millis(390), "one after another on the idle worker");
        assert!(start.elapsed() < Duration::from_secs(8), "none waited for the long task");
        assert!(!long.done());
        ex.terminate_workers();
    });
}

#[test]
fn running_and_done_follow_the_task() {
    each_method("states", Duration::from_secs(60), |m| {
        let ex = executor(m, 1);
        let f = ex.submit(nap, 300).unwrap();
        until_running(&f);
        assert!(f.running() && !f.done() && !f.cancelled());
        assert!(f.try_result().unwrap_err().is_would_block());
        f.result().unwrap();
        assert!(!f.running() && f.done());
        assert_eq!(*f.try_result().unwrap(), 300);
    });
}

#[test]
fn done_callbacks_run_once_done_or_at_once() {
    each_method("callbacks", Duration::from_secs(60), |m| {
        let ex = executor(m, 2);
        let (tx, rx) = mpsc::channel();
        let f = ex.submit(nap, 200).unwrap();
        for k in 0..3 {
            let tx = tx.clone();
            f.add_done_callback(move |f| tx.send((k, *f.result().unwrap())).unwrap());
        }
        assert!(rx.try_recv().is_err());
        let got: Vec<_> = rx.iter().take(3).collect();
        assert_eq!(got, [(0, 200), (1, 200), (2, 200)], "in the order added, with the value");
        // Already done: runs now, in this thread.
        let me = std::thread::current().id();
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        f.add_done_callback(move |_| *s.lock().unwrap() = Some(std::thread::current().id()));
        assert_eq!(*seen.lock().unwrap(), Some(me));
        // A panicking callback does not stop the next one.
        let g = ex.submit(nap, 100).unwrap();
        g.add_done_callback(|_| panic!("callback panics on purpose"));
        let tx2 = tx.clone();
        g.add_done_callback(move |g| tx2.send((9, *g.result().unwrap())).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), (9, 100));
        // A cancelled future calls its callbacks too.
        let ex1 = executor(m, 1);
        let _busy: Vec<_> = (0..3).map(|_| ex1.submit(nap, 200).unwrap()).collect();
        let c = ex1.submit(sqr, 1).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let k = calls.clone();
        c.add_done_callback(move |c| {
            assert!(c.cancelled());
            k.fetch_add(1, Ordering::SeqCst);
        });
        assert!(c.cancel());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn wait_returns_as_each_return_when_says() {
    each_method("wait", Duration::from_secs(60), |m| {
        let ex = executor(m, 3);
        let fs = vec![ex.submit(nap, 10).unwrap(), ex.submit(nap, 1500).unwrap()];
        let (done, not_done) = wait(&fs, ReturnWhen::FirstCompleted);
        assert_eq!((done.len(), not_done.len()), (1, 1));
        assert_eq!(*done[0].result().unwrap(), 10);
        let (done, not_done) = wait(&fs, ReturnWhen::AllCompleted);
        assert_eq!((done.len(), not_done.len()), (2, 0));

        // Naps long enough that "returned at the failure" stays apart from "returned when
        // the naps ended" on a busy machine.
        const LONG: u64 = 3000;
        let gs =
            vec![ex.submit(nap, LONG).unwrap(), ex.submit(nap_or_panic, 0).unwrap(), ex.submit(nap, LONG).unwrap()];
        let start = Instant::now();
        let (done, not_done) = wait(&gs, ReturnWhen::FirstException);
        assert!(start.elapsed() < Duration::from_millis(LONG - 1000), "returned at the failure");
        assert_eq!((done.len(), not_done.len()), (1, 2));
        assert!(done[0].error().unwrap().unwrap().is_panic());
        // FirstException without a failure waits for all.
        let hs = vec![ex.submit(nap, 50).unwrap(), ex.submit(nap, 100).unwrap()];
        let (done, _) = wait(&hs, ReturnWhen::FirstException);
        assert_eq!(done.len(), 2);

        // A timeout: lower bound on the wait, and what is not done.
        let ks = [ex.submit(nap, 2000).unwrap()];
        let start = Instant::now();
        let (done, not_done) = wait_timeout(&ks, Duration::from_millis(150), ReturnWhen::AllCompleted);
        assert!(start.elapsed() >= Duration::from_millis(140));
        assert_eq!((done.len(), not_done.len()), (0, 1));
        let (done, _) = wait_timeout(&ks, Duration::ZERO, ReturnWhen::FirstCompleted);
        assert!(done.is_empty());
        let (done, _) = wait_timeout(&ks, Duration::MAX, ReturnWhen::AllCompleted);
        assert_eq!(done.len(), 1);
        let empty: Vec<Future<u64>> = Vec::new();
        assert_eq!(wait(&empty, ReturnWhen::FirstCompleted).0.len(), 0);
    });
}

#[test]
fn as_completed_yields_in_finishing_order_and_times_out() {
    each_method("as_completed", Duration::from_secs(60), |m| {
        let ex = executor(m, 3);
        let fs: Vec<_> = [700, 10, 350].into_iter().map(|ms| ex.submit(nap, ms).unwrap()).collect();
        let order: Vec<u64> = as_completed(&fs).map(|f| *f.unwrap().result().unwrap()).collect();
        assert_eq!(order, [10, 350, 700]);
        // Futures already done come first.
        let late = ex.submit(nap, 300).unwrap();
        let early = ex.submit(nap, 0).unwrap();
        early.result().unwrap();
        let both = [late.clone(), early.clone()];
        let first = as_completed(&both).next().unwrap().unwrap();
        assert_eq!(*first.result().unwrap(), 0);
        // A timeout ends the iterator with one Timeout error.
        let gs = [ex.submit(nap, 0).unwrap(), ex.submit(nap, 3000).unwrap()];
        let start = Instant::now();
        let mut it = as_completed_timeout(&gs, Duration::from_millis(300));
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        assert!(start.elapsed() >= Duration::from_millis(290));
        assert!(it.next().is_none());
        let all: Vec<_> = as_completed_timeout(&gs, Duration::MAX).collect::<Result<_, _>>().unwrap();
        assert_eq!(all.len(), 2);
        let now: Vec<_> = as_completed_timeout(&gs, Duration::ZERO).collect::<Result<_, _>>().unwrap();
        assert_eq!(now.len(), 2, "done futures need no time");
    });
}

#[test]
fn shutdown_without_wait_cancels_pending_and_refuses_new_work() {
    each_method("shutdown", Duration::from_secs(60), |m| {
        // Long enough that "returns at once" means before the running task ends, also on a
        // busy machine.
        const NAP: u64 = 1500;
        let ex = executor(m, 1);
        let fs: Vec<_> = (0..6).map(|_| ex.submit(nap, NAP).unwrap()).collect();
        until_running(&fs[0]);
        let start = Instant::now();
        ex.shutdown(false, true);
        assert!(start.elapsed() < Duration::from_millis(NAP), "shutdown(wait=false) returns at once");
        let e = ex.submit(sqr, 1).unwrap_err();
        assert_eq!(e.kind(), PoolErrorKind::NotRunning);
        assert!(e.to_string().contains("after shutdown"), "{e}");
        assert!(ex.map(sqr, 0..3, 1).is_err());
        assert_eq!(*fs[0].result().unwrap(), NAP, "the running task finishes");
        assert!(fs[5].cancelled() && fs[5].result().unwrap_err().is_cancelled());
        let ran = fs.iter().filter(|f| f.result().is_ok()).count();
        assert!((1..=2).contains(&ran), "{ran} ran");
        ex.shutdown(true, false); // idempotent; waits for the workers
        assert!(ex.pids().is_empty());
    });
}

#[test]
fn shutdown_with_wait_finishes_every_queued_task() {
    // E6: an early shutdown still completes every queued task; so does dropping.
    each_method("shutdown wait", Duration::from_secs(60), |m| {
        let ex = executor(m, 2);
        let fs: Vec<_> = (0..10).map(|i| ex.submit(sqr, i).unwrap()).collect();
        ex.shutdown(true, false);
        assert!(fs.iter().all(|f| f.done() && f.result().is_ok()));
        let counted = Arc::new(AtomicUsize::new(0));
        {
            let ex = executor(m, 2);
            for _ in 0..8 {
                let c = counted.clone();
                ex.submit(nap, 20).unwrap().add_done_callback(move |f| {
                    if f.result().is_ok() {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        } // drop = shutdown(wait=true)
        assert_eq!(counted.load(Ordering::SeqCst), 8);
    });
}

#[test]
fn terminate_workers_stops_everything_at_once() {
    each_method("terminate_workers", Duration::from_secs(60), |ctx| {
        let ex = executor(ctx, 2);
        let fs: Vec<_> = (0..6).map(|_| ex.submit(nap, 30_000).unwrap()).collect();
        until_running(&fs[0]);
        let pids = ex.pids();
        let start = Instant::now();
        ex.terminate_workers();
        assert!(start.elapsed() < Duration::from_secs(20));
        assert!(fs[0].result().unwrap_err().is_terminated(), "{:?}", fs[0].result());
        assert!(fs[5].cancelled());
        assert!(fs.iter().all(Future::done));
        assert!(pids.iter().all(|&p| common::wait_pid_gone(p, Duration::from_secs(10))));
        assert!(ex.submit(sqr, 1).is_err());
    });
}

#[test]
fn a_task_past_the_hard_timeout_fails_with_timed_out() {
    each_method("hard timeout", Duration::from_secs(60), |ctx| {
        let ex = builder(ctx, 1).timeout(Duration::from_millis(200)).build().unwrap();
        let start = Instant::now();
        let slow = ex.submit(nap, 30_000).unwrap();
        let quick = ex.submit(sqr, 6).unwrap();
        let e = slow.result().unwrap_err();
        assert!(e.is_timed_out(), "{e:?}");
        assert!(start.elapsed() >= Duration::from_millis(190));
        assert_eq!(*quick.result().unwrap(), 36, "a new worker took over");
        let got: Vec<_> = ex.map(nap, [0, 30_000, 0], 3).unwrap().collect();
        assert!(got[0].is_ok() && got[1].as_ref().unwrap_err().is_timed_out() && got[2].is_ok(), "{got:?}");
        assert!(builder(ctx, 1).timeout(Duration::ZERO).build().is_err());
    });
}

#[test]
fn max_tasks_per_child_gives_the_fourth_task_a_new_worker() {
    // E6: with max_tasks_per_child=3 the 4th task runs on a new pid (fork included here).
    each_method("max_tasks_per_child", Duration::from_secs(60), |m| {
        let ex = builder(m, 1).max_tasks_per_child(3).build().unwrap();
        let pids: Vec<u32> = (0..4).map(|_| *ex.submit(my_pid, ()).unwrap().result().unwrap()).collect();
        assert_eq!(pids[0], pids[1]);
        assert_eq!(pids[1], pids[2]);
        assert_ne!(pids[2], pids[3]);
        let e = builder(m, 1).max_tasks_per_child(0).build().unwrap_err();
        assert_eq!(e.kind(), PoolErrorKind::InvalidArgument);
        assert_eq!(ProcessPoolExecutor::new(0).unwrap_err().kind(), PoolErrorKind::InvalidArgument);
    });
}

#[test]
fn work_spreads_over_at_most_max_workers() {
    // E5: saturation: no more than max_workers processes run the tasks.
    each_method("saturation", Duration::from_secs(60), |m| {
        let ex = executor(m, 2);
        let workers: HashSet<u32> = ex.pids().into_iter().collect();
        assert_eq!(workers.len(), 2);
        let seen: HashSet<u32> = ex.map(my_pid_of, 0..200, 1).unwrap().map(Result::unwrap).collect();
        assert!(!seen.is_empty() && seen.is_subset(&workers), "{seen:?} not in {workers:?}");
    });
}

#[test]
fn a_killed_worker_fails_only_its_future() {
    each_method("killed worker", Duration::from_secs(60), |m| {
        let ex = executor(m, 2);
        let others: Vec<_> = (0..20).map(|i| ex.submit(sqr, i).unwrap()).collect();
        let killed = ex.submit(sigkill_self, ()).unwrap();
        let more: Vec<_> = (20..40).map(|i| ex.submit(sqr, i).unwrap()).collect();
        let e = killed.result().unwrap_err();
        assert!(e.is_worker_lost(), "{e:?}");
        assert_eq!(e.exitcode(), Some(-9));
        for (i, f) in others.iter().chain(&more).enumerate() {
            assert_eq!(*f.result().unwrap(), sqr(i as i64));
        }
        assert_eq!(*ex.submit(sqr, 5).unwrap().result().unwrap(), 25);
    });
}

#[test]
fn break_pool_policy_fails_every_future_like_broken_process_pool() {
    // E1: after a worker dies, every pending future fails and submit is refused.
    each_method("BreakPool", Duration::from_secs(60), |m| {
        let ex = builder(m, 1).on_worker_death(WorkerDeath::BreakPool).build().unwrap();
        let killed = ex.submit(sigkill_self, ()).unwrap();
        let pending: Vec<_> = (0..5).map(|_| ex.submit(nap, 10).unwrap()).collect();
        assert!(killed.result().unwrap_err().is_worker_lost() || killed.result().unwrap_err().is_broken());
        for f in &pending {
            let e = f.result().unwrap_err();
            assert!(e.is_broken(), "{e:?}");
        }
        common::wait_until("the executor to refuse work", || ex.submit(sqr, 1).is_err());
        assert!(ex.is_broken());
        assert!(ex.submit(sqr, 1).unwrap_err().is_broken());
    });
}

#[test]
fn zero_and_max_timeouts_never_panic() {
    each_method("timeouts", Duration::from_secs(60), |m| {
        let ex = executor(m, 1);
        let slow = ex.submit(nap, 400).unwrap();
        let start = Instant::now();
        assert!(slow.result_timeout(Duration::ZERO).unwrap_err().is_timeout());
        assert!(slow.error_timeout(Duration::ZERO).unwrap_err().is_timeout());
        let e = slow.result_timeout(Duration::from_millis(100)).unwrap_err();
        assert!(e.is_timeout() && start.elapsed() >= Duration::from_millis(95), "{e:?}");
        assert_eq!(*slow.result_timeout(Duration::MAX).unwrap(), 400);
        assert_eq!(*slow.result_timeout(Duration::ZERO).unwrap(), 400, "a done future needs no time");
        assert!(slow.error_timeout(Duration::MAX).unwrap().is_none());
        // map's timeout counts from the call.
        let mut it = ex.map_timeout(nap, [300, 300, 300], 1, Duration::ZERO).unwrap();
        assert!(it.next().unwrap().unwrap_err().is_timeout());
        assert!(it.next().is_none());
        drop(it);
        ex.submit(sqr, 0).unwrap().result().unwrap(); // after the chunks a worker already had
        let start = Instant::now();
        let got: Vec<_> = ex.map_timeout(nap, [0, 2000], 1, Duration::from_millis(200)).unwrap().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(*got[0].as_ref().unwrap(), 0);
        assert!(got[1].as_ref().unwrap_err().is_timeout());
        assert!(start.elapsed() >= Duration::from_millis(190));
        let all: Vec<u64> = ex.map_timeout(nap, [1, 2], 2, Duration::MAX).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(all, [1, 2]);
    });
}

#[test]
fn exit_abort_and_segfault_fail_only_their_future() {
    each_method("crashes", Duration::from_secs(60), |ctx| {
        let ex = executor(ctx, 2);
        let fs: Vec<_> = (0..3).map(|how| ex.submit(crashes, how).unwrap()).collect();
        let codes: Vec<Option<i32>> = fs.iter().map(|f| f.result().unwrap_err().exitcode()).collect();
        assert!(fs.iter().all(|f| f.error().unwrap().unwrap().is_worker_lost()));
        assert_eq!(codes[0], Some(3));
        assert_eq!(codes[1], Some(-6));
        assert!(matches!(codes[2], Some(-11) | Some(-7)), "{codes:?}");
        assert_eq!(ex.map(sqr, 0..50, 7).unwrap().count(), 50, "the executor goes on");
    });
}

#[test]
fn a_worker_killed_in_a_map_chunk_costs_its_item() {
    each_method("killed in map", Duration::from_secs(60), |ctx| {
        let ex = executor(ctx, 2);
        let got: Vec<_> = ex.map(dies_at_7, 0..40, 5).unwrap().collect();
        assert_eq!(got.len(), 40);
        for (i, r) in got.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v as usize, i),
                Err(e) => assert!(i == 7 && e.is_worker_lost() && e.exitcode() == Some(-9), "{i}: {e:?}"),
            }
        }
        assert!(got[7].is_err());
    });
}

#[test]
fn a_result_that_does_not_decode_fails_its_chunk_only() {
    each_method("undecodable result", Duration::from_secs(60), |ctx| {
        let ex = executor(ctx, 2);
        let got: Vec<_> = ex.map(picky, 0..20, 5).unwrap().collect();
        assert_eq!(got.len(), 20);
        for (i, r) in got.iter().enumerate() {
            match r {
                Ok(p) => assert!(p.0 as usize == i && !(5..10).contains(&i)),
                Err(e) => assert!((5..10).contains(&i) && e.kind() == PoolErrorKind::Decode, "{i}: {e:?}"),
            }
        }
        assert_eq!(ex.submit(picky, 7).unwrap().result().unwrap_err().kind(), PoolErrorKind::Decode);
    });
}

#[test]
fn the_initializer_runs_in_every_worker_with_its_arguments() {
    each_method("initializer", Duration::from_secs(60), |ctx| {
        let ex = builder(ctx, 2).initializer(set_tag, "ready".to_string()).build().unwrap();
        let tags: Vec<String> = ex.map(|_: u32| read_tag(), 0..20, 1).unwrap().map(Result::unwrap).collect();
        assert!(tags.iter().all(|t| t == "ready"), "{tags:?}");
        let broken = builder(ctx, 1).initializer(|| panic!("no config"), ()).build().unwrap();
        let e = broken.submit(sqr, 1).and_then(|f| f.result().cloned()).unwrap_err();
        assert!(e.is_broken() && e.to_string().contains("no config"), "{e:?}");
    });
}

#[test]
fn an_unencodable_result_fails_its_future_and_the_worker_goes_on() {
    // E7: a result that cannot be sent back ends in an error, never a hang.
    each_method("unencodable result", Duration::from_secs(60), |ctx| {
        let ex = executor(ctx, 1);
        let f = ex.submit(unsendable, ()).unwrap();
        let e = f.result().unwrap_err();
        assert_eq!(e.kind(), PoolErrorKind::ResultEncode, "{e:?}");
        assert_eq!(*ex.submit(sqr, 4).unwrap().result().unwrap(), 16);
    });
}

#[test]
fn a_done_callback_may_submit_more_work() {
    each_method("submit from a callback", Duration::from_secs(60), |ctx| {
        let ex = Arc::new(executor(ctx, 2));
        let (tx, rx) = mpsc::channel();
        let f = ex.submit(sqr, 3).unwrap();
        let ex2 = ex.clone();
        f.add_done_callback(move |f| {
            let next = ex2.submit(sqr, *f.result().unwrap()).unwrap();
            next.add_done_callback(move |n| tx.send(*n.result().unwrap()).unwrap());
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), 81);
    });
}

#[test]
fn threads_share_one_executor_and_its_futures() {
    each_method("threads", Duration::from_secs(60), |ctx| {
        let ex = executor(ctx, 2);
        let shared = ex.submit(nap, 200).unwrap();
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..4i64)
                .map(|t| {
                    let (ex, shared) = (&ex, shared.clone());
                    s.spawn(move || {
                        let fs: Vec<_> = (0..50).map(|i| ex.submit(sqr, t * 100 + i).unwrap()).collect();
                        let mine: i64 = fs.iter().map(|f| *f.result().unwrap()).sum();
                        assert_eq!(mine, (0..50).map(|i| sqr(t * 100 + i)).sum::<i64>());
                        assert_eq!(*shared.result().unwrap(), 200);
                        let (done, _) = wait(&fs, ReturnWhen::AllCompleted);
                        done.len()
                    })
                })
                .collect();
            assert!(hs.into_iter().all(|h| h.join().unwrap() == 50));
        });
    });
}

#[test]
fn an_executor_leaves_nothing_behind() {
    // No descriptor, child, zombie or segment outlives a dropped executor, after a run with
    // a cancelled future, a killed worker and a map (in a fresh process, where nothing else
    // opens descriptors meanwhile).
    let _w = common::Watchdog::new("leaks", Duration::from_secs(120));
    let (out, _) = common::helper_output("helper_executor_leaks", &[]);
    assert!(out.contains("no leaks"), "{out}");
}

#[test]
#[ignore = "helper: run by an_executor_leaves_nothing_behind"]
fn helper_executor_leaks() {
    if !common::in_helper() {
        return;
    }
    common::warm_up();
    let before = common::Leaks::snapshot();
    for m in common::METHODS {
        let ex = executor(multiproc::get_context(Some(m)), 2);
        let busy: Vec<_> = (0..4).map(|_| ex.submit(nap, 50).unwrap()).collect();
        let late = ex.submit(sqr, 1).unwrap();
        late.cancel();
        assert!(ex.submit(sigkill_self, ()).unwrap().result().unwrap_err().is_worker_lost());
        assert_eq!(ex.map(sqr, 0..100, 10).unwrap().count(), 100);
        let _ = as_completed(&busy).count();
        drop(ex);
    }
    before.assert_same("executors", 0, Duration::from_secs(10));
    println!("no leaks");
}

#[test]
fn an_executor_dropped_in_its_own_callback_does_not_hang() {
    each_method("drop in a callback", Duration::from_secs(60), |ctx| {
        let ex = Arc::new(executor(ctx, 1));
        let (tx, rx) = mpsc::channel();
        let f = ex.submit(nap, 100).unwrap();
        let g = ex.submit(nap, 30_000).unwrap();
        let last = ex.clone();
        f.add_done_callback(move |_| {
            drop(last); // the last handle: the executor ends here, without waiting
            tx.send(()).unwrap();
        });
        drop(ex);
        rx.recv_timeout(Duration::from_secs(30)).unwrap();
        let e = g.result().unwrap_err();
        assert!(e.is_cancelled() || e.is_terminated(), "{e:?}");
    });
}

#[test]
fn cancels_racing_the_hand_over_leave_every_future_done() {
    // Cancels from several threads while the pool's result thread hands tasks over: each
    // future ends exactly once, cancelled or with its value, and nothing is left running.
    each_method("cancel races", Duration::from_secs(60), |ctx| {
        let ex = executor(ctx, 2);
        let fs: Vec<_> = (0..1500).map(|i| ex.submit(sqr, i).unwrap()).collect();
        let ends = Arc::new(AtomicUsize::new(0));
        for f in &fs {
            let e = ends.clone();
            f.add_done_callback(move |_| {
                e.fetch_add(1, Ordering::SeqCst);
            });
        }
        std::thread::scope(|s| {
            for t in 0..3 {
                let fs = &fs;
                s.spawn(move || fs.iter().skip(t).step_by(3).rev().filter(|f| f.cancel()).count());
            }
        });
        let (done, not_done) = wait(&fs, ReturnWhen::AllCompleted);
        assert_eq!((done.len(), not_done.len()), (1500, 0));
        for (i, f) in fs.iter().enumerate() {
            assert!(!f.running());
            match f.result() {
                Ok(v) => assert!(!f.cancelled() && *v == sqr(i as i64)),
                Err(e) => assert!(f.cancelled() && e.is_cancelled(), "{e:?}"),
            }
        }
        ex.shutdown(true, false);
        assert_eq!(ends.load(Ordering::SeqCst), 1500, "each callback ran once");
    });
}
