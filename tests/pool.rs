//! The pool's conformance suite: CPython's `_TestPool`, `_TestPoolWorkerErrors`,
//! `_TestPoolWorkerLifetime` and the executor behaviours E1-E7 (see
//! `shared/reference/python_multiprocessing.md` §2), run against every backend: worker threads
//! (`ThreadPool`) and worker processes under each start method. Then the fault tests, which
//! only processes can have: a worker killed, crashed or exiting in the middle of the work.
//!
//! Each body runs under a watchdog. Timing: lower bounds, and generous upper bounds only.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicIsize, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Watchdog, helper_output, in_helper};
use multiproc::StartMethod;
use multiproc::pool::{
    Pool, PoolBuilder, PoolError, PoolErrorKind, TaskOptions, ThreadPool, ThreadPoolBuilder, WorkerDeath,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// ----- the backends -----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Threads,
    Procs(StartMethod),
}

const KINDS: [Kind; 4] = [
    Kind::Threads,
    Kind::Procs(StartMethod::Spawn),
    Kind::Procs(StartMethod::ForkServer),
    Kind::Procs(StartMethod::Fork),
];

/// One builder over both backends, for the settings both have.
enum Builder {
    T(ThreadPoolBuilder),
    P(PoolBuilder),
}

impl Builder {
    fn new(kind: Kind, n: usize) -> Builder {
        match kind {
            Kind::Threads => Builder::T(ThreadPool::builder().processes(n)),
            Kind::Procs(m) => Builder::P(Pool::builder().processes(n).start_method(m)),
        }
    }

    fn initializer<F, A, M>(self, f: F, a: A) -> Builder
    where
        F: multiproc::Target<A, M>,
        A: Serialize + serde::de::DeserializeOwned + Send + 'static,
        M: 'static,
    {
        match self {
            Builder::T(b) => Builder::T(b.initializer(f, a)),
            Builder::P(b) => Builder::P(b.initializer(f, a)),
        }
    }

    fn maxtasksperchild(self, n: usize) -> Builder {
        match self {
            Builder::T(b) => Builder::T(b.maxtasksperchild(n)),
            Builder::P(b) => Builder::P(b.maxtasksperchild(n)),
        }
    }

    fn timeout(self, d: Duration) -> Builder {
        match self {
            Builder::T(b) => Builder::T(b.timeout(d)),
            Builder::P(b) => Builder::P(b.timeout(d)),
        }
    }

    fn build(self) -> Result<Pool, PoolError> {
        match self {
            Builder::T(b) => b.build().map(ThreadPool::into_pool),
            Builder::P(b) => b.build(),
        }
    }
}

fn pool(kind: Kind, n: usize) -> Pool {
    Builder::new(kind, n).build().unwrap()
}

/// Runs `body` for every backend, each under its own watchdog.
fn each_backend(what: &str, limit: Duration, mut body: impl FnMut(Kind)) {
    for kind in KINDS {
        let _w = Watchdog::new(&format!("{what} [{kind:?}]"), limit);
        body(kind);
    }
}

/// Runs `body` for worker processes under every start method.
fn each_method(what: &str, limit: Duration, mut body: impl FnMut(Kind)) {
    for kind in &KINDS[1..] {
        let _w = Watchdog::new(&format!("{what} [{kind:?}]"), limit);
        body(*kind);
    }
}

// ----- tasks -----

fn sqr(x: i64) -> i64 {
    x * x
}

fn sqr_wait(x: i64, ms: u64) -> i64 {
    std::thread::sleep(Duration::from_millis(ms));
    x * x
}

fn mul(a: i64, b: i64) -> i64 {
    a * b
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn panics_at_5(x: u32) -> u32 {
    if x == 5 {
        panic!("item {x} is bad");
    }
    x
}

fn my_pid(_: u32) -> u32 {
    std::process::id()
}

/// A name for the worker running the task: its pid and thread.
fn worker_name(_: u32) -> String {
    format!("{}/{:?}", std::process::id(), std::thread::current().id())
}

/// A value whose `Serialize` always fails.
#[derive(Debug)]
struct NoEncode;

impl Serialize for NoEncode {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("NoEncode refuses to be encoded"))
    }
}

impl<'de> Deserialize<'de> for NoEncode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <()>::deserialize(d).map(|_| NoEncode)
    }
}

fn make_no_encode(_: u32) -> NoEncode {
    NoEncode
}

// ----- _TestPool -----

#[test]
fn apply_runs_in_a_worker_and_returns() {
    // 92: apply(sqr, (5,)) and apply with two arguments.
    each_backend("apply", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        assert_eq!(p.apply(sqr, 5).unwrap(), 25);
        assert_eq!(p.apply(mul, (6, 7)).unwrap(), 42);
        assert_eq!(p.apply(|| "none".to_string(), ()).unwrap(), "none");
        assert_eq!(p.apply(|v: Vec<u8>| v.len(), vec![1, 2, 3]).unwrap(), 3);
        if let Kind::Procs(_) = kind {
            assert_ne!(p.apply(my_pid, 0).unwrap(), std::process::id(), "ran in a worker process");
        }
    });
}

#[test]
fn map_matches_the_builtin_map() {
    // 93 and E2: default chunksize, chunksize 20, 6, 50, 40; chunksize 0 is refused.
    each_backend("map", Duration::from_secs(60), |kind| {
        let p = pool(kind, 4);
        let want: Vec<i64> = (0..1000).map(sqr).collect();
        assert_eq!(p.map(sqr, 0..10).unwrap(), want[..10]);
        assert_eq!(p.map(sqr, 0..1000).unwrap(), want);
        for c in [1, 6, 20, 40, 50, 999, 5000] {
            let got = p.map_with(sqr, 0..1000, &TaskOptions::new().chunksize(c)).unwrap();
            assert_eq!(got, want, "chunksize {c}");
        }
        let e = p.map_with(sqr, 0..10, &TaskOptions::new().chunksize(0)).unwrap_err();
        assert_eq!(e.kind(), PoolErrorKind::InvalidArgument);
    });
}

#[test]
fn starmap_spreads_tuples() {
    // 94: starmap and starmap_async equal itertools.starmap, with and without chunksize.
    each_backend("starmap", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        let pairs: Vec<(i64, i64)> = (0..10).map(|i| (i, i + 1)).collect();
        let want: Vec<i64> = pairs.iter().map(|&(a, b)| a * b).collect();
        assert_eq!(p.starmap(mul, pairs.clone()).unwrap(), want);
        assert_eq!(p.starmap_with(mul, pairs.clone(), &TaskOptions::new().chunksize(3)).unwrap(), want);
        assert_eq!(p.starmap_async(mul, pairs.clone()).unwrap().get().unwrap(), want);
        let three = p.starmap(|a: u8, b: u8, c: u8| a + b + c, [(1, 2, 3), (4, 5, 6)]).unwrap();
        assert_eq!(three, [6, 15]);
    });
}

#[test]
fn map_async_gives_the_list_and_calls_one_callback() {
    // 95, 96: map_async().get(); on success `callback` gets the whole list, on failure
    // `error_callback` gets the error; exactly one of them runs.
    each_backend("map_async", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        assert_eq!(p.map_async(sqr, 0..10).unwrap().get().unwrap(), (0..10).map(sqr).collect::<Vec<_>>());

        let calls = Arc::new(Mutex::new(Vec::new()));
        let (c1, c2) = (calls.clone(), calls.clone());
        let r = p
            .map_async(sqr, [1])
            .unwrap()
            .callback(move |v| c1.lock().unwrap().push(format!("ok {v:?}")))
            .error_callback(move |e| c2.lock().unwrap().push(format!("err {e}")));
        assert_eq!(r.get().unwrap(), [1]);
        assert_eq!(*calls.lock().unwrap(), ["ok [1]"]);

        calls.lock().unwrap().clear();
        let (c1, c2) = (calls.clone(), calls.clone());
        let r = p
            .map_async(panics_at_5, 0..10)
            .unwrap()
            .callback(move |_| c1.lock().unwrap().push("ok".to_string()))
            .error_callback(move |e| c2.lock().unwrap().push(format!("{:?}", e.kind())));
        assert!(r.get().unwrap_err().is_panic());
        assert_eq!(*calls.lock().unwrap(), ["Panic"]);
    });
}

#[test]
fn unencodable_arguments_fail_at_the_call() {
    // 97 (bpo-19425): mapping over arguments that cannot be encoded fails at once, no hang.
    each_backend("unencodable arguments", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        let e = p.map(|_: NoEncode| 1, [NoEncode, NoEncode]).unwrap_err();
        assert_eq!(e.kind(), PoolErrorKind::Encode);
        assert!(e.to_string().contains("NoEncode refuses to be encoded"), "{e}");
        assert_eq!(p.apply(|_: NoEncode| 1, NoEncode).unwrap_err().kind(), PoolErrorKind::Encode);
        assert_eq!(p.apply(sqr, 3).unwrap(), 9, "the pool goes on");
    });
}

/// Yields `0..yields` while claiming, exactly, to hold `claims` items.
struct Liar {
    next: i64,
    yields: i64,
    claims: usize,
}

impl Iterator for Liar {
    type Item = i64;
    fn next(&mut self) -> Option<i64> {
        (self.next < self.yields).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claims, Some(self.claims))
    }
}

#[test]
fn map_takes_what_the_iterator_yields_whatever_its_length_hint() {
    // A map reads a sized iterator as it sends (no copy of every argument first): an
    // iterator that yields more or fewer items than it claims still gets one result per
    // item it yielded, in order, and one that does not know its length is read whole first.
    each_backend("map length hints", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        for (yields, claims) in [(0, 5), (5, 0), (1000, 10), (10, 1000), (1000, 1000), (3, 1)] {
            let want: Vec<i64> = (0..yields).map(sqr).collect();
            let got = p.map(sqr, Liar { next: 0, yields, claims }).unwrap();
            assert_eq!(got, want, "yields {yields}, claims {claims}");
            let got = p.map_with(sqr, Liar { next: 0, yields, claims }, &TaskOptions::new().chunksize(7)).unwrap();
            assert_eq!(got, want, "yields {yields}, claims {claims}, chunksize 7");
        }
        let evens = (0..2000).filter(|x| x % 2 == 0);
        assert_eq!(evens.size_hint(), (0, Some(2000)));
        let want: Vec<i64> = (0..2000).filter(|x| x % 2 == 0).map(sqr).collect();
        assert_eq!(p.map(sqr, evens).unwrap(), want);
        let pairs = (0..300).map(|i| (i, 2));
        assert_eq!(p.starmap(mul, pairs).unwrap(), (0..300).map(|i| i * 2).collect::<Vec<i64>>());
    });
}

#[test]
fn empty_inputs_give_empty_results() {
    // 98, 107: map, map_async, imap, imap_unordered and starmap of nothing.
    each_backend("empty inputs", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        assert!(p.map(sqr, Vec::new()).unwrap().is_empty());
        assert!(p.map_async(sqr, Vec::new()).unwrap().get_timeout(Duration::from_secs(10)).unwrap().is_empty());
        assert!(p.map_with(sqr, Vec::new(), &TaskOptions::new().chunksize(1)).unwrap().is_empty());
        assert_eq!(p.imap(sqr, Vec::new()).unwrap().count(), 0);
        assert_eq!(p.imap_unordered(sqr, Vec::new()).unwrap().count(), 0);
        assert!(p.starmap(mul, Vec::<(i64, i64)>::new()).unwrap().is_empty());
    });
}

#[test]
fn a_panicking_input_propagates_and_the_pool_goes_on() {
    // 99: an error raised by the input (here a panic of the iterator, in the caller's thread)
    // comes out of map as itself, again on a repeated call, and the pool is unharmed.
    each_backend("panicking input", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        for fail_at in [0, 3, 3] {
            let input = (0..10).map(move |i| if i == fail_at { panic!("input broke at {i}") } else { i });
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.map(sqr, input)));
            let msg = caught.unwrap_err().downcast::<String>().unwrap();
            assert_eq!(*msg, format!("input broke at {fail_at}"));
        }
        assert_eq!(p.map(sqr, 0..3).unwrap(), [0, 1, 4]);
    });
}

#[test]
fn apply_async_waits_and_get_timeout_gives_up() {
    // 100: apply_async(sqr, (7, t)).get() is 49 after about t. 101: get(timeout) fails with
    // TimeoutError after about the timeout while the task runs, and the task goes on.
    each_backend("apply_async timing", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        let t = Instant::now();
        assert_eq!(p.apply_async(sqr_wait, (7, 200)).unwrap().get().unwrap(), 49);
        assert!(t.elapsed() >= Duration::from_millis(200));

        let r = p.apply_async(sqr_wait, (6, 1000)).unwrap();
        let t = Instant::now();
        let e = r.get_timeout(Duration::from_millis(200)).unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(20), "{waited:?}");
        assert!(!r.ready());
        assert!(r.try_get().unwrap_err().is_would_block());
        assert_eq!(r.successful().unwrap_err().kind(), PoolErrorKind::NotReady);
        assert!(r.wait_timeout(Duration::from_millis(10)).is_err());
        assert_eq!(r.get().unwrap(), 36);
        assert!(r.ready() && r.successful().unwrap());
        assert_eq!(r.get().unwrap_err().kind(), PoolErrorKind::Taken, "a value is handed out once");
    });
}

#[test]
fn imap_keeps_input_order() {
    // 102: imap preserves order, next() works then the iteration ends; also with
    // chunksize=100 over 1000 items.
    each_backend("imap order", Duration::from_secs(60), |kind| {
        let p = pool(kind, 3);
        let mut it = p.imap(sqr, 0..10).unwrap();
        for i in 0..10 {
            assert_eq!(it.next().unwrap().unwrap(), i * i);
        }
        assert!(it.next().is_none());
        let v: Vec<i64> =
            p.imap_with(sqr, 0..1000, &TaskOptions::new().chunksize(100)).unwrap().map(Result::unwrap).collect();
        assert_eq!(v, (0..1000).map(sqr).collect::<Vec<_>>());
        // Items of different lengths still come out in order.
        let v: Vec<u64> = p.imap(sleep_ms, [60, 0, 30, 0, 10]).unwrap().map(Result::unwrap).collect();
        assert_eq!(v, [60, 0, 30, 0, 10]);
    });
}

static READ: AtomicUsize = AtomicUsize::new(0);

#[test]
fn imap_reads_its_input_lazily_in_a_bounded_window() {
    // 103: with a failing input, the results before the failure come out, then the failure
    // (here a panic of the input in the caller's thread): 6 results with chunksize 2 and a
    // failure at element 7, 4 with chunksize 4 (one chunk in flight). And an endless input
    // works: only the window is ever read ahead (pain point 9, Python 3.14's buffersize).
    each_backend("lazy imap", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        for (chunk, expect) in [(2, 6), (4, 4)] {
            let opts = TaskOptions::new().chunksize(chunk).buffersize(1);
            let input = (0..10).map(|i| if i == 7 { panic!("element 7") } else { i });
            let mut it = p.imap_with(sqr, input, &opts).unwrap();
            let mut got = 0;
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for r in it.by_ref() {
                    r.unwrap();
                    got += 1;
                }
            }));
            assert!(caught.is_err(), "the input's panic comes out");
            assert_eq!(got, expect, "chunksize {chunk}");
        }

        READ.store(0, Ordering::SeqCst);
        let endless = (0i64..).inspect(|_| {
            READ.fetch_add(1, Ordering::SeqCst);
        });
        let opts = TaskOptions::new().chunksize(5).buffersize(3);
        let mut it = p.imap_with(sqr, endless, &opts).unwrap();
        for i in 0..100 {
            assert_eq!(it.next().unwrap().unwrap(), i * i);
        }
        let read = READ.load(Ordering::SeqCst);
        assert!((100..=100 + 15).contains(&read), "read {read} items to give 100 (window 3 x 5)");
        drop(it);

        let mut it = p.imap_unordered_with(sqr, 0i64.., &opts).unwrap();
        let mut seen = HashSet::new();
        for _ in 0..50 {
            seen.insert(it.next().unwrap().unwrap());
        }
        assert_eq!(seen.len(), 50);
    });
}

#[test]
fn imap_unordered_gives_the_same_multiset() {
    // 104: imap_unordered returns the same multiset, also with chunksize; a failing item is
    // one error among the results, not the end.
    each_backend("imap_unordered", Duration::from_secs(60), |kind| {
        let p = pool(kind, 3);
        for c in [1, 7, 100] {
            let mut v: Vec<i64> = p
                .imap_unordered_with(sqr, 0..300, &TaskOptions::new().chunksize(c))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            v.sort();
            assert_eq!(v, (0..300).map(sqr).collect::<Vec<_>>(), "chunksize {c}");
        }
        let results: Vec<_> = p.imap_unordered(panics_at_5, 0..10).unwrap().collect();
        assert_eq!(results.len(), 10);
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        let e = results.into_iter().find_map(Result::err).unwrap();
        assert!(e.is_panic() && e.to_string().contains("item 5"), "{e}");
    });
}

#[test]
fn settings_are_checked_as_cpython_checks_them() {
    // 105: Pool(0) fails, Pool(3) has 3 workers. 119: maxtasksperchild 0 fails.
    let bad = [
        Pool::new(0).unwrap_err(),
        Pool::builder().maxtasksperchild(0).build().unwrap_err(),
        Pool::builder().max_memory_per_child(0).build().unwrap_err(),
        Pool::builder().timeout(Duration::ZERO).build().unwrap_err(),
        ThreadPool::new(0).unwrap_err(),
        ThreadPool::builder().maxtasksperchild(0).build().unwrap_err(),
    ];
    for e in bad {
        assert_eq!(e.kind(), PoolErrorKind::InvalidArgument, "{e}");
    }
    assert!(Pool::new(0).unwrap_err().to_string().contains("at least 1"));
    each_backend("three workers", Duration::from_secs(60), |kind| {
        let p = pool(kind, 3);
        assert_eq!(p.processes(), 3);
        if let Kind::Procs(_) = kind {
            assert_eq!(p.pids().len(), 3);
            let pids: HashSet<u32> = p.pids().into_iter().collect();
            assert_eq!(pids.len(), 3);
        }
    });
}

#[test]
fn terminate_with_many_tasks_in_flight_returns_promptly() {
    // 106: with 10,000 long tasks submitted, terminate() then join() return promptly, and
    // every task ends (Terminated) instead of hanging.
    each_backend("terminate", Duration::from_secs(120), |kind| {
        let p = pool(kind, 2);
        let results: Vec<_> = (0..10_000).map(|_| p.apply_async(sleep_ms, 2000).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        p.terminate();
        p.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
        for r in &results {
            assert!(r.get().unwrap_err().is_terminated());
        }
    });
}

#[test]
fn a_stopped_pool_refuses_work_and_dropping_terminates() {
    // 108, 113: after terminate (the end of Python's `with` block) or close, submitting fails
    // with "Pool not running"; join before either fails with "Pool is still running".
    each_backend("stopped pool", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        assert_eq!(p.join().unwrap_err().kind(), PoolErrorKind::StillRunning);
        p.close();
        assert_eq!(p.map_async(sqr, 0..3).unwrap_err().kind(), PoolErrorKind::NotRunning);
        assert_eq!(p.apply(sqr, 1).unwrap_err().kind(), PoolErrorKind::NotRunning);
        assert_eq!(p.imap(sqr, 0..3).unwrap_err().kind(), PoolErrorKind::NotRunning);
        p.join().unwrap();
        p.join().unwrap();

        let p = pool(kind, 2);
        p.terminate();
        assert_eq!(p.apply_async(sqr, 1).unwrap_err().kind(), PoolErrorKind::NotRunning);
        p.terminate();

        // Dropping a pool terminates it: a result still out fails instead of hanging.
        let p = pool(kind, 1);
        let r = p.apply_async(sleep_ms, 3000).unwrap();
        let pids = p.pids();
        drop(p);
        assert!(r.get().unwrap_err().is_terminated());
        for pid in pids {
            assert!(common::pid_gone(pid), "worker {pid} outlived the pool");
        }
    });
}

#[test]
fn a_panic_comes_back_with_message_and_location() {
    // 109, E3, 115: a task's failure keeps what it was (here: the panic message and its
    // source location), get() returns it and error_callback receives it.
    each_backend("remote panic", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        let e = p.apply(panics_at_5, 5).unwrap_err();
        assert!(e.is_panic(), "{e:?}");
        assert_eq!(e.panic_message(), Some("item 5 is bad"));
        assert!(e.location().unwrap().contains("tests/pool.rs:"), "{:?}", e.location());
        assert!(e.to_string().contains("item 5 is bad") && e.to_string().contains("pool.rs"), "{e}");

        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        let r = p.apply_async(panics_at_5, 5).unwrap().error_callback(move |e| {
            *s.lock().unwrap() = Some(e.kind());
        });
        assert!(r.get().unwrap_err().is_panic());
        assert_eq!(*seen.lock().unwrap(), Some(PoolErrorKind::Panic));
        // The failing map names the item.
        let e = p.map(panics_at_5, 0..10).unwrap_err();
        assert!(e.to_string().starts_with("item 5 panicked"), "{e}");
        assert_eq!(p.apply(sqr, 4).unwrap(), 16, "the worker went on");
    });
}

fn slow_then_panic_big(x: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(100));
    if x == 0 {
        panic!("{}", "x".repeat(1 << 20));
    }
    x
}

#[test]
fn close_and_join_wait_for_every_task_after_a_failure() {
    // 111: no fail-fast deadlock: a map fails early on a task that panics with a 1 MB
    // message, and close() + join() still return after every task ran.
    each_backend("fail fast", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        let t = Instant::now();
        let r = p.map_async_with(slow_then_panic_big, 0..10, &TaskOptions::new().chunksize(1)).unwrap();
        let e = r.get().unwrap_err();
        assert!(e.is_panic());
        assert!(e.panic_message().unwrap().len() < 100_000, "the message is bounded");
        p.close();
        p.join().unwrap();
        assert!(t.elapsed() >= Duration::from_millis(450), "{:?}: join returned before the tasks ran", t.elapsed());
    });
}

#[test]
fn an_unencodable_result_fails_its_task_and_the_worker_goes_on() {
    // 116 (MaybeEncodingError), 20 times with no worker lost.
    each_backend("unencodable result", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        let pids = p.pids();
        for _ in 0..20 {
            let e = p.apply(make_no_encode, 1).unwrap_err();
            assert_eq!(e.kind(), PoolErrorKind::ResultEncode, "{e}");
            assert!(e.to_string().contains("NoEncode refuses to be encoded"), "{e}");
        }
        let seen = Arc::new(AtomicU32::new(0));
        let s = seen.clone();
        let r = p.apply_async(make_no_encode, 1).unwrap().error_callback(move |e| {
            assert_eq!(e.kind(), PoolErrorKind::ResultEncode);
            s.fetch_add(1, Ordering::SeqCst);
        });
        r.wait();
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        assert_eq!(p.pids(), pids, "no worker was replaced");
    });
}

#[test]
fn the_initializer_runs_in_every_worker_first() {
    // The initializer and its arguments (CPython's `initializer`, `initargs`).
    fn set_marker(v: u32) {
        MARK.store(v, Ordering::SeqCst);
    }
    fn read_marker(_: u32) -> u32 {
        MARK.load(Ordering::SeqCst)
    }
    static MARK: AtomicU32 = AtomicU32::new(0);
    each_backend("initializer", Duration::from_secs(60), |kind| {
        let p = Builder::new(kind, 2).initializer(set_marker, 77u32).build().unwrap();
        assert!(p.map_with(read_marker, 0..20, &TaskOptions::new().chunksize(1)).unwrap().iter().all(|&m| m == 77));
    });
}

#[test]
fn a_panicking_initializer_breaks_the_pool_with_its_message() {
    // Not a respawn loop (CPython starts workers forever): a clear error, in bounded time.
    fn bad_init(what: String) {
        panic!("cannot load {what}");
    }
    each_backend("panicking initializer", Duration::from_secs(60), |kind| {
        let p = Builder::new(kind, 2).initializer(bad_init, "the model".to_string()).build().unwrap();
        let t = Instant::now();
        let e = p.apply(sqr, 2).unwrap_err();
        assert_eq!(e.kind(), PoolErrorKind::InitializerFailed, "{e}");
        assert!(e.is_broken());
        assert!(e.to_string().contains("cannot load the model"), "{e}");
        assert_eq!(e.panic_message(), Some("cannot load the model"));
        assert!(t.elapsed() < Duration::from_secs(30));
        assert!(p.is_broken());
        assert_eq!(p.apply(sqr, 2).unwrap_err().kind(), PoolErrorKind::InitializerFailed, "it stays broken");
        p.close();
        p.join().unwrap();
    });
}

#[test]
fn a_hard_timeout_fails_the_item_and_the_others_go_on() {
    // Pain point 8: a per-task hard timeout. The item past it fails with TimedOut; in a map
    // chunk, the items before and after it still come back.
    each_backend("hard timeout", Duration::from_secs(60), |kind| {
        let p = pool(kind, 1);
        let long = if kind == Kind::Threads { 2000 } else { 60_000 };
        let opts = TaskOptions::new().timeout(Duration::from_millis(300));
        let t = Instant::now();
        let e = p.apply_with(sleep_ms, long, &opts).unwrap_err();
        assert!(e.is_timed_out(), "{e:?}");
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(20), "{took:?}");
        assert_eq!(p.apply(sqr, 3).unwrap(), 9, "a new worker took over");

        let opts = TaskOptions::new().timeout(Duration::from_millis(300)).chunksize(5);
        let got: Vec<_> = p.imap_with(sleep_ms, [0, 10, long, 20, 0], &opts).unwrap().collect();
        assert_eq!(got[0].as_ref().unwrap(), &0);
        assert_eq!(got[1].as_ref().unwrap(), &10);
        assert!(got[2].as_ref().unwrap_err().is_timed_out(), "{:?}", got[2]);
        assert_eq!(got[3].as_ref().unwrap(), &20);
        assert_eq!(got[4].as_ref().unwrap(), &0);

        // A pool-wide default applies to every call.
        let p = Builder::new(kind, 1).timeout(Duration::from_millis(200)).build().unwrap();
        assert!(p.apply(sleep_ms, long).unwrap_err().is_timed_out());
        assert_eq!(p.apply(sleep_ms, 1).unwrap(), 1);
    });
}

fn until_soft_timeout(_: ()) -> (bool, u64) {
    let t = Instant::now();
    let had_deadline = multiproc::pool::soft_deadline().is_some();
    while !multiproc::pool::soft_timeout_passed() {
        std::thread::sleep(Duration::from_millis(1));
        if t.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    (had_deadline, t.elapsed().as_millis() as u64)
}

#[test]
fn a_soft_timeout_is_seen_by_the_task() {
    each_backend("soft timeout", Duration::from_secs(60), |kind| {
        let p = pool(kind, 1);
        let opts = TaskOptions::new().soft_timeout(Duration::from_millis(150));
        let (had, ms) = p.apply_with(until_soft_timeout, (), &opts).unwrap();
        assert!(had);
        assert!((140..20_000).contains(&ms), "{ms} ms");
        assert!(!multiproc::pool::soft_timeout_passed(), "not in a task here");
        assert!(p.apply(|| multiproc::pool::soft_deadline().is_none(), ()).unwrap());
    });
}

#[test]
fn blocking_calls_from_a_callback_fail_instead_of_hanging() {
    // CPython: "callbacks should return immediately, otherwise the thread which handles the
    // results will get blocked". Here a callback that waits for the pool gets InCallback.
    each_backend("blocking callback", Duration::from_secs(60), |kind| {
        let p = Arc::new(pool(kind, 2));
        let (tx, rx) = std::sync::mpsc::channel();
        let (p2, tx2) = (p.clone(), tx.clone());
        p.apply_async(sqr, 2).unwrap().callback(move |_| {
            let kinds = [
                p2.apply(sqr, 3).unwrap_err().kind(),
                p2.map(sqr, 0..3).unwrap_err().kind(),
                p2.apply_async(sqr_wait, (1, 100)).unwrap().get().unwrap_err().kind(),
            ];
            tx2.send(kinds).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), [PoolErrorKind::InCallback; 3]);
        // A callback that only submits is fine: the result arrives later.
        let p3 = p.clone();
        p.apply_async(sqr, 2).unwrap().callback(move |_| {
            let r = p3.apply_async(sqr, 9).unwrap();
            std::thread::spawn(move || tx.send([r.get().map_or(PoolErrorKind::Os, |_| PoolErrorKind::Taken); 3]));
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), [PoolErrorKind::Taken; 3]);
        assert_eq!(p.apply(sqr, 4).unwrap(), 16);
    });
}

#[test]
fn threads_share_one_pool() {
    // A pool is Sync: several threads submit at once and each gets its own results.
    each_backend("shared pool", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        std::thread::scope(|s| {
            for t in 0..4i64 {
                let p = &p;
                s.spawn(move || {
                    for round in 0..5 {
                        let base = t * 1000 + round * 100;
                        let got = p.map(sqr, base..base + 100).unwrap();
                        assert_eq!(got, (base..base + 100).map(sqr).collect::<Vec<_>>());
                        assert_eq!(p.apply(mul, (t, round)).unwrap(), t * round);
                    }
                });
            }
        });
    });
}

// ----- _TestPoolWorkerLifetime -----

#[test]
fn maxtasksperchild_replaces_the_workers() {
    // 117: with maxtasksperchild=10 and 100 tasks, the set of workers changed. E6: with
    // max_tasks_per_child=3 the 4th task runs in a new worker.
    each_backend("maxtasksperchild", Duration::from_secs(120), |kind| {
        let p = Builder::new(kind, 2).maxtasksperchild(10).build().unwrap();
        let before: HashSet<String> = (0..2).map(|_| p.apply(worker_name, 0).unwrap()).collect();
        let names: Vec<String> =
            (0..100).map(|i| p.apply_async(worker_name, i).unwrap()).map(|r| r.get().unwrap()).collect();
        let all: HashSet<&String> = names.iter().collect();
        assert!(all.len() >= 10, "{} workers ran 100 tasks", all.len());
        let after: HashSet<String> = (0..2).map(|_| p.apply(worker_name, 0).unwrap()).collect();
        assert!(before.is_disjoint(&after));

        let p = Builder::new(kind, 1).maxtasksperchild(3).build().unwrap();
        let names: Vec<String> = (0..4).map(|i| p.apply(worker_name, i).unwrap()).collect();
        assert_eq!(names[0], names[2]);
        assert_ne!(names[2], names[3], "the 4th task ran in a new worker");
    });
}

#[test]
fn close_before_the_tasks_finish_with_one_task_per_worker() {
    // 118 (bpo-10332): maxtasksperchild=1 and close() before the tasks end: join() returns
    // and every result is right. E6: an early close still completes every queued task.
    each_backend("maxtasksperchild=1 and close", Duration::from_secs(120), |kind| {
        let p = Builder::new(kind, 2).maxtasksperchild(1).build().unwrap();
        let r = p.map_async_with(sqr_wait_pair, (0..10).map(|i| (i, 20)), &TaskOptions::new().chunksize(1)).unwrap();
        p.close();
        p.join().unwrap();
        assert_eq!(r.get().unwrap(), (0..10).map(sqr).collect::<Vec<_>>());
    });
}

fn sqr_wait_pair((x, ms): (i64, u64)) -> i64 {
    sqr_wait(x, ms)
}

#[test]
fn many_workers_sum_a_map() {
    // 220 (gh-89240): a big pool computing sum(map(f, range(1000))).
    each_backend("many workers", Duration::from_secs(120), |kind| {
        let n = if kind == Kind::Threads { 64 } else { 12 };
        let p = pool(kind, n);
        assert_eq!(p.map(sqr, 0..1000).unwrap().iter().sum::<i64>(), 332_833_500);
        p.close();
        p.join().unwrap();
    });
}

#[test]
fn work_spreads_over_at_most_n_workers() {
    // E5: at most `processes` workers exist; every one of them takes work.
    each_method("saturation", Duration::from_secs(60), |kind| {
        let p = pool(kind, 3);
        let pids: HashSet<u32> =
            p.map_with(pid_after_sleep, 0..60, &TaskOptions::new().chunksize(1)).unwrap().into_iter().collect();
        assert!(pids.len() <= 3 && pids.len() >= 2, "{pids:?}");
        assert!(pids.iter().all(|pid| p.pids().contains(pid)));
    });
}

fn pid_after_sleep(_: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(5));
    std::process::id()
}

// ----- E4, 112: nothing is kept -----

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Counts its live instances, wherever they are made (encoded, decoded).
#[derive(Debug)]
struct Counted(u32);

impl Counted {
    fn new(v: u32) -> Counted {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Counted(v)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Serialize for Counted {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u32::deserialize(d).map(Counted::new)
    }
}

#[test]
fn arguments_and_results_are_released_after_the_tasks() {
    // E4, 112: task arguments and returned values do not outlive the map (threads share
    // this process, so their copies are counted too).
    let _w = Watchdog::new("released", Duration::from_secs(60));
    let p = ThreadPool::new(2).unwrap();
    let items: Vec<Counted> = (0..100).map(Counted::new).collect();
    let out = p.map(|c: Counted| Counted::new(c.0 + 1), items).unwrap();
    assert_eq!(out.len(), 100);
    assert_eq!(LIVE.load(Ordering::SeqCst), 100, "only the results are alive");
    drop(out);
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}

// ----- fault tests: worker processes only -----

/// Kills its own worker with SIGKILL at item `at`.
fn sigkill_self_at((i, at): (u32, u32)) -> u32 {
    if i == at {
        // SAFETY: kill(2) on this very process, which the test means to end.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_secs(10));
    }
    std::thread::sleep(Duration::from_micros(200));
    i
}

#[test]
fn a_sigkilled_worker_costs_one_item_of_a_map() {
    // Pain point 1 (bpo-22393): SIGKILL in the middle of a map over 1000 items: 999 results
    // and one WorkerLost, in bounded time. The chunk the worker held, and the chunks queued
    // to it, are finished by the others.
    each_method("SIGKILL mid-map", Duration::from_secs(120), |kind| {
        let p = pool(kind, 2);
        let t = Instant::now();
        let items: Vec<(u32, u32)> = (0..1000).map(|i| (i, 500)).collect();
        let opts = TaskOptions::new().chunksize(125); // map's default for 1000 items and 2 workers
        let got: Vec<Result<u32, PoolError>> = p.imap_with(sigkill_self_at, items.clone(), &opts).unwrap().collect();
        assert_eq!(got.len(), 1000);
        let lost: Vec<usize> = (0..1000).filter(|&i| got[i].is_err()).collect();
        assert_eq!(lost, [500]);
        let e = got[500].as_ref().unwrap_err();
        assert!(e.is_worker_lost(), "{e:?}");
        assert_eq!(e.exitcode(), Some(-9));
        assert!(e.to_string().contains("signal 9") && e.to_string().contains("item 500"), "{e}");
        for (i, r) in got.iter().enumerate() {
            if i != 500 {
                assert_eq!(*r.as_ref().unwrap(), i as u32);
            }
        }
        // map itself fails with that error.
        let e = p.map(sigkill_self_at, items).unwrap_err();
        assert!(e.is_worker_lost(), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(60));
        common::wait_until("the dead workers to be replaced", || p.pids().len() == 2);
        assert_eq!(p.apply(sqr, 5).unwrap(), 25);
    });
}

#[test]
fn exit_in_a_task_fails_that_task_only() {
    // Pain point 1: `sys.exit(3)` in a task hangs CPython's pool.
    each_method("exit(3)", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        let slow = p.apply_async(sqr_wait, (4, 300)).unwrap();
        let e = p.apply(|| -> u8 { multiproc::exit(3) }, ()).unwrap_err();
        assert!(e.is_worker_lost(), "{e:?}");
        assert_eq!(e.exitcode(), Some(3));
        assert!(e.to_string().contains("exit code 3"), "{e}");
        let e = p.apply(|| -> u8 { std::process::exit(4) }, ()).unwrap_err();
        assert_eq!(e.exitcode(), Some(4));
        // exit(0) in the middle of a task is a death too: the task did not return.
        let e = p.apply(|| -> u8 { std::process::exit(0) }, ()).unwrap_err();
        assert!(e.is_worker_lost() && e.exitcode() == Some(0), "{e:?}");
        assert_eq!(slow.get().unwrap(), 16, "the other task was not affected");
    });
}

fn segfaults(_: u32) -> u32 {
    // SAFETY: none: this writes through a null pointer on purpose, to crash the worker as a
    // faulty C library would.
    #[allow(unsafe_code)]
    unsafe {
        std::ptr::null_mut::<u64>().write_volatile(1);
    }
    0
}

#[test]
fn a_crashing_task_fails_that_task_only() {
    // A segfault and an abort in a task: WorkerLost with the signal; the pool goes on.
    each_method("segfault and abort", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        let e = p.apply(segfaults, 0).unwrap_err();
        assert!(e.is_worker_lost(), "{e:?}");
        assert!(matches!(e.exitcode(), Some(-11) | Some(-7)), "{e:?}");
        let e = p.apply(|| -> u32 { std::process::abort() }, ()).unwrap_err();
        assert_eq!(e.exitcode(), Some(-6), "{e:?}");
        assert_eq!(p.map(sqr, 0..100).unwrap().len(), 100);
    });
}

#[test]
fn a_worker_killed_from_outside_costs_at_most_its_item() {
    // A SIGKILL from outside (the OOM killer, an operator) while a map runs: every item is
    // accounted for, at most one fails, and the rest complete.
    each_method("external SIGKILL", Duration::from_secs(120), |kind| {
        let p = pool(kind, 2);
        let mut it = p.imap_with(sleep_ms, vec![2u64; 600], &TaskOptions::new().chunksize(50)).unwrap();
        let mut got = Vec::new();
        for _ in 0..100 {
            got.push(it.next().unwrap());
        }
        let victim = p.pids()[0];
        // SAFETY: kill(2) of a worker process of this test's own pool.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(victim as i32, libc::SIGKILL);
        }
        got.extend(it);
        assert_eq!(got.len(), 600);
        let lost = got.iter().filter(|r| r.is_err()).count();
        assert!(lost <= 1, "{lost} items lost");
        for r in got.iter().filter_map(|r| r.as_ref().err()) {
            assert!(r.is_worker_lost() && r.exitcode() == Some(-9), "{r:?}");
        }
        common::wait_until("the victim to be replaced", || !p.pids().contains(&victim) && p.pids().len() == 2);
    });
}

#[test]
fn break_pool_policy_fails_everything_like_broken_process_pool() {
    // E1: after a worker dies, every pending task fails with BrokenProcessPool and later
    // submissions fail the same way.
    each_method("BreakPool", Duration::from_secs(60), |kind| {
        let Kind::Procs(m) = kind else { unreachable!() };
        let p = Pool::builder().processes(2).start_method(m).on_worker_death(WorkerDeath::BreakPool).build().unwrap();
        let pending: Vec<_> = (0..20).map(|_| p.apply_async(sleep_ms, 200).unwrap()).collect();
        let e = p.apply(|| -> u32 { std::process::abort() }, ()).unwrap_err();
        assert!(matches!(e.kind(), PoolErrorKind::WorkerLost | PoolErrorKind::Broken), "{e:?}");
        for r in &pending {
            match r.get() {
                Ok(_) => {} // finished before the death
                Err(e) => assert_eq!(e.kind(), PoolErrorKind::Broken, "{e}"),
            }
        }
        assert!(pending.iter().any(|r| r.get().is_err()), "the pending tasks fail");
        let e = p.apply(sqr, 1).unwrap_err();
        assert_eq!(e.kind(), PoolErrorKind::Broken);
        assert!(e.is_broken() && e.to_string().contains("BreakPool"), "{e}");
        p.close();
        p.join().unwrap();
    });
}

fn grow(mb: usize) -> u32 {
    // Leaks `mb` MiB, touched, as a leaky library would.
    let v = vec![1u8; mb << 20];
    std::mem::forget(v);
    std::process::id()
}

#[test]
fn max_memory_per_child_replaces_a_grown_worker() {
    each_method("max_memory_per_child", Duration::from_secs(60), |kind| {
        let Kind::Procs(m) = kind else { unreachable!() };
        let p = Pool::builder().processes(1).start_method(m).max_memory_per_child(200 << 20).build().unwrap();
        let a = p.apply(grow, 1).unwrap();
        let b = p.apply(grow, 1).unwrap();
        assert_eq!(a, b, "small growth: the same worker");
        let c = p.apply(grow, 300).unwrap();
        assert_eq!(c, b, "the task that grew it completes");
        let d = p.apply(grow, 1).unwrap();
        assert_ne!(d, c, "the grown worker left after its task and was replaced");
    });
}

/// Decodes fine in the test's own process and panics (or aborts) in a worker.
#[derive(Debug)]
struct TrapsInWorker(u8);

static TEST_PID: AtomicU32 = AtomicU32::new(0);

impl Serialize for TrapsInWorker {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for TrapsInWorker {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u8::deserialize(d)?;
        if std::process::id() != TEST_PID.load(Ordering::SeqCst) {
            if v == 1 {
                panic!("cannot decode in a worker");
            }
            if v == 2 {
                std::process::abort();
            }
        }
        Ok(TrapsInWorker(v))
    }
}

#[test]
fn arguments_that_break_the_worker_do_not_loop() {
    // E7: errors or crashes while the worker decodes a task's arguments end in an error,
    // never in a hang or in workers killed one after the other for ever.
    TEST_PID.store(std::process::id(), Ordering::SeqCst);
    each_method("poisonous arguments", Duration::from_secs(60), |kind| {
        let p = pool(kind, 2);
        let e = p.apply(|t: TrapsInWorker| t.0, TrapsInWorker(1)).unwrap_err();
        assert_eq!(e.kind(), PoolErrorKind::Decode, "{e}");
        assert!(e.to_string().contains("cannot decode in a worker"), "{e}");
        let e = p.apply(|t: TrapsInWorker| t.0, TrapsInWorker(2)).unwrap_err();
        assert!(e.is_worker_lost(), "{e}");
        assert!(e.to_string().contains("before any of its items ran"), "{e}");
        assert_eq!(p.apply(|t: TrapsInWorker| t.0, TrapsInWorker(0)).unwrap(), 0);
    });
}

#[test]
fn big_arguments_and_results_pass() {
    // E7's large data: records longer than a worker's ring stream through it.
    each_backend("big records", Duration::from_secs(120), |kind| {
        let p = pool(kind, 2);
        let big = vec![7u8; 4 << 20];
        let n = p.apply(|v: Vec<u8>| v.iter().map(|&b| b as u64).sum::<u64>(), big).unwrap();
        assert_eq!(n, 7 * (4 << 20));
        let v = p.apply(|n: usize| vec![3u8; n], 6 << 20).unwrap();
        assert_eq!(v.len(), 6 << 20);
        let chunks: Vec<Vec<u8>> = (0..6).map(|i| vec![i as u8; 1 << 20]).collect();
        let lens = p.map(|v: Vec<u8>| v.len(), chunks).unwrap();
        assert_eq!(lens, [1 << 20; 6]);
    });
}

fn slow_start(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn a_worker_that_dies_while_a_long_record_streams_to_it() {
    // A record longer than the worker's ring is pushed while the worker reads it; the worker
    // is killed before it reads (it is still in its initializer): the push ends, and the
    // record runs in the replacement.
    each_method("death during a long send", Duration::from_secs(120), |kind| {
        let Kind::Procs(m) = kind else { unreachable!() };
        let p = Pool::builder().processes(1).start_method(m).initializer(slow_start, 1500).build().unwrap();
        let victim = p.pids()[0];
        let r = p.apply_async(|v: Vec<u8>| v.len(), vec![1u8; 8 << 20]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill(2) of a worker process of this test's own pool.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(victim as i32, libc::SIGKILL);
        }
        assert_eq!(r.get().unwrap(), 8 << 20, "the record ran in the next worker");
        assert!(!p.pids().contains(&victim));
    });
}

// ----- bpo-38744: a pool in a global -----

static GLOBAL: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();

#[test]
#[ignore = "helper: run by a_pool_in_a_global_does_not_hang_the_exit"]
fn helper_global_pool() {
    if !in_helper() {
        return;
    }
    let p = GLOBAL.get_or_init(|| Pool::new(2).unwrap());
    assert_eq!(p.apply(sqr, 3).unwrap(), 9);
    println!("pids {:?}", p.pids());
    let _keep = p.apply_async(sleep_ms, 60_000).unwrap();
}

#[test]
fn a_pool_in_a_global_does_not_hang_the_exit() {
    // 120 (bpo-38744, bpo-39360): the program ends with a pool still running; its workers
    // go with it.
    let _w = Watchdog::new("global pool", Duration::from_secs(60));
    let (out, _) = helper_output("helper_global_pool", &[]);
    let line = out.lines().find_map(|l| l.split_once("pids [")).expect("the helper printed its pids").1;
    let pids: Vec<u32> = line.split(']').next().unwrap().split(", ").map(|s| s.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(common::wait_pid_gone(pid, Duration::from_secs(20)), "worker {pid} outlived the program");
    }
}
