//! Pools of workers: [`Pool`] (processes) and [`ThreadPool`] (threads), Python's
//! `multiprocessing.Pool` and `multiprocessing.pool.ThreadPool`, with the failures CPython's
//! pool hangs on turned into errors.
//!
//! | what happens | CPython's `Pool` | here |
//! |---|---|---|
//! | a task panics / raises | the exception comes back | [`PoolErrorKind::Panic`] with the message and `file:line:column` |
//! | a worker is killed, segfaults, aborts, calls `exit(n)` | the task's result never comes: `get()` hangs | that one item fails with [`PoolErrorKind::WorkerLost`] (exit code or signal), the worker is replaced, every other task completes, including those queued to the dead worker |
//! | a task runs too long | no per-task timeout | a hard timeout kills and replaces the worker ([`PoolErrorKind::TimedOut`]); a soft one is a flag the task reads ([`soft_timeout_passed`]) |
//! | the initializer raises | workers are restarted forever | after a few failures in a row the pool breaks with the initializer's panic ([`PoolErrorKind::InitializerFailed`]) |
//! | a result cannot be pickled | `MaybeEncodingError` | [`PoolErrorKind::ResultEncode`]; the worker goes on |
//! | `imap` over a huge or endless input | reads it all first (before 3.14) | reads a bounded window ahead ([`TaskOptions::buffersize`]) |
//! | a worker's memory grows | no limit | [`PoolBuilder::max_memory_per_child`] |
//!
//! What mpire adds, which Python users pick when `Pool` is not enough:
//!
//! | mpire | here |
//! |---|---|
//! | `worker_state`, `use_worker_state` | [`PoolBuilder::worker_state`] builds a state once per worker; a [`StatefulPool<S>`] runs tasks `f(&mut S, a)` |
//! | `worker_exit`, `get_exit_results` | [`PoolBuilder::worker_exit`], [`StatefulPoolBuilder::worker_exit`], [`Pool::exit_results`] |
//! | `enable_insights`, `print_insights`, `get_insights` | [`Pool::insights`]: a [`PoolInsights`] to read or print, always counted |
//! | `cpu_ids` | [`PoolBuilder::cpu_pinning`] |
//! | `progress_bar` | `PoolBuilder::progress_bar`, `TaskOptions::progress_bar` (feature `progress`) |
//!
//! Tasks are [`Target`](crate::Target)s (as [`Process`](crate::Process) targets): `fn` items
//! and closures that capture nothing, with serde arguments and results. `map` sends chunks of
//! items as one record and gets one record back; `apply_async` goes through shared-memory
//! rings with no system call while both sides are awake.
//!
//! # Examples
//! ```no_run
//! use std::time::Duration;
//! use multiproc::pool::{Pool, TaskOptions};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let pool = Pool::new(4)?;
//! assert_eq!(pool.map(square, 0..100)?.iter().sum::<u64>(), 328350);
//!
//! // A worker that dies costs its own task, nothing else.
//! let lost = pool.apply(|| -> u64 { std::process::abort() }, ()).unwrap_err();
//! assert!(lost.is_worker_lost());
//! assert_eq!(pool.apply(square, 3)?, 9);
//!
//! // A hard timeout.
//! let opts = TaskOptions::new().timeout(Duration::from_millis(100));
//! let slow = pool.apply_with(|| std::thread::sleep(Duration::from_secs(60)), (), &opts).unwrap_err();
//! assert!(slow.is_timed_out());
//! # Ok::<(), multiproc::pool::PoolError>(())
//! ```
//!
//! Load something once per worker, count with it, and collect what each worker counted:
//! ```no_run
//! use std::collections::HashMap;
//! use multiproc::pool::Pool;
//!
//! struct Counter {
//!     words: HashMap<String, u64>,
//! }
//! fn new_counter() -> Counter {
//!     Counter { words: HashMap::new() }
//! }
//! fn count(c: &mut Counter, line: String) -> usize {
//!     let words: Vec<&str> = line.split_whitespace().collect();
//!     for w in &words {
//!         *c.words.entry(w.to_string()).or_default() += 1;
//!     }
//!     words.len()
//! }
//!
//! let pool = Pool::builder()
//!     .processes(2)
//!     .worker_state(new_counter, ())
//!     .worker_exit(|c: &mut Counter| c.words.clone())
//!     .build()?;
//! let lines = ["a b a", "b c", "a"].map(String::from);
//! assert_eq!(pool.map(count, lines)?, [3, 2, 1]);
//! pool.close();
//! pool.join()?;
//! let per_worker: Vec<HashMap<String, u64>> = pool.exit_results()?;
//! let a: u64 = per_worker.iter().filter_map(|m| m.get("a")).sum();
//! assert_eq!(a, 3);
//! println!("{}", pool.insights()); // tasks, time working and waiting, per worker
//! # Ok::<(), multiproc::pool::PoolError>(())
//! ```
//!
//! [`ProcessPoolExecutor`] is Python's `concurrent.futures.ProcessPoolExecutor` on top of a
//! [`Pool`]: [`submit`](ProcessPoolExecutor::submit) returns a [`Future`], and [`wait`] and
//! [`as_completed`] wait on several.
//!
//! The design (threads, records, the worker's slot, what each kind of death does, a task's
//! states) is in `src/pool/README.md`.

mod backend;
mod builder;
mod core;
mod error;
mod executor;
mod executor_map;
mod future;
mod imap;
mod insights;
mod io;
mod job;
mod options;
#[allow(clippy::module_inception)]
mod pool;
mod progress;
pub(crate) mod records;
mod result;
mod state;
mod stateful;
mod task;
mod thread_pool;
mod worker;
mod worker_exit;

pub use self::builder::PoolBuilder;
pub use self::error::{PoolError, PoolErrorKind};
pub use self::executor::{ExecutorBuilder, ProcessPoolExecutor};
pub use self::executor_map::ExecutorMap;
pub use self::future::{
    AsCompleted, Future, ReturnWhen, Waited, as_completed, as_completed_timeout, wait, wait_timeout,
};
pub use self::imap::IMap;
pub use self::insights::{PoolInsights, WorkerInsights};
pub use self::options::{TaskOptions, WorkerDeath};
pub use self::pool::Pool;
pub use self::result::AsyncResult;
pub use self::stateful::{StateTask, StatefulPool, StatefulPoolBuilder, TaskData};
pub use self::task::{soft_deadline, soft_timeout_passed};
pub use self::thread_pool::{ThreadPool, ThreadPoolBuilder};
