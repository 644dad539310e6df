//! The pool's features beyond CPython's (mpire's): per-worker state, worker-exit functions
//! whose results come back, worker insights, CPU pinning. Each runs over worker threads
//! where threads have it, and over worker processes under every start method, each body
//! under a watchdog. Timing: lower bounds, and generous upper bounds only.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Watchdog, each_method};
use multiproc::Context;
use multiproc::pool::{PoolBuilder, PoolErrorKind, StatefulPool, StatefulPoolBuilder, TaskOptions, ThreadPool};
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
        assert!(n > 101);
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
