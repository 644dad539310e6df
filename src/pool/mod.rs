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
mod future;
mod imap;
mod insights;
mod io;
mod job;
mod options;
#[allow(clippy::module_inception)]
mod pool;
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
pub use self::executor::{ExecutorBuilder, ExecutorMap, ProcessPoolExecutor};
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
