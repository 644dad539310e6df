//! # multiproc
//!
//! Python's `multiprocessing` for Rust: processes as the unit of parallelism and isolation,
//! with start methods, handles that cross into children, and exit codes as Python reports them.
//!
//! | Python | multiproc |
//! |---|---|
//! | `Process(target=f, args=(a, b))` | [`Process::new`]`(f, (a, b))` |
//! | subclass overriding `run()` | `impl` [`Run`] + [`Process::from_run`] |
//! | `get_context("fork")` | [`get_context`]`(Some(`[`StartMethod::Fork`]`))` |
//! | `current_process()`, `parent_process()`, `active_children()` | [`current_process`], [`parent_process`], [`active_children`] |
//! | `sys.exit(n)` in a child | [`exit`](fn@exit)`(n)` |
//! | `Lock()`, `RLock()`, `Semaphore(n)`, `Event()`, `Condition()`, `Barrier(n)` | [`Lock::new`], [`RLock::new`], [`Semaphore::new`], [`Event::new`], [`Condition::new`], [`Barrier::new`] (module [`sync`]) |
//! | `Value('i', 0)`, `Array('d', 10)`, `RawValue`, `RawArray` | [`Value`], [`Array`], [`RawValue`], [`RawArray`] |
//! | `shared_memory.SharedMemory`, `ShareableList` | [`SharedMemory`], [`ShareableList`] |
//! | `Queue()`, `JoinableQueue()`, `SimpleQueue()` | [`Queue`], [`JoinableQueue`], [`SimpleQueue`] |
//! | `Manager()`, `m.dict()`, `m.list()`, `m.Namespace()`, `m.Lock()`, `BaseManager.register` | [`Manager::start`](manager::Manager::start), [`dict`](manager::Manager::dict), [`list`](manager::Manager::list), [`namespace`](manager::Manager::namespace), [`lock`](manager::Manager::lock), [`Managed`](manager::Managed) (module [`manager`]) |
//! | `Pool(4)`, `pool.map(f, xs)`, `apply_async`, `imap`, `multiprocessing.pool.ThreadPool` | [`Pool::new`], [`Pool::map`], [`Pool::apply_async`], [`Pool::imap`], [`ThreadPool`] (module [`pool`]) |
//! | `concurrent.futures.ProcessPoolExecutor`, `Future`, `wait`, `as_completed` | [`pool::ProcessPoolExecutor`], [`pool::Future`], [`pool::wait`], [`pool::as_completed`] |
//!
//! ## A first process
//!
//! No `if __name__ == "__main__"` guard is needed: a child is diverted to its target before
//! `main` runs (a constructor, see [`init`] for platforms without them).
//!
//! ```no_run
//! use multiproc::Process;
//!
//! fn square(x: u64) {
//!     println!("{x} squared is {}", x * x);
//! }
//!
//! let procs: Vec<Process> = (1..=4).map(|x| Process::new(square, x)).collect();
//! for p in &procs {
//!     p.start()?;
//! }
//! for p in &procs {
//!     assert_eq!(p.join()?, 0);
//! }
//! # Ok::<(), multiproc::ProcessError>(())
//! ```
//!
//! ## Shared memory
//!
//! ```no_run
//! use multiproc::{Array, Process, Value};
//!
//! fn square_list((xs, out, sum): (Vec<i32>, Array<i32>, Value<i32>)) {
//!     let mut g = out.acquire().unwrap(); // &mut [i32] in shared memory, under the lock
//!     for (o, x) in g.iter_mut().zip(&xs) {
//!         *o = x * x;
//!     }
//!     sum.set(g.iter().sum());
//! }
//!
//! let out = Array::<i32>::zeroed(4)?;
//! let sum = Value::new(0)?;
//! let p = Process::new(square_list, (vec![1, 2, 3, 4], out.clone(), sum.clone()));
//! p.start()?;
//! p.join()?;
//! assert_eq!((out.to_vec(), sum.get()), (vec![1, 4, 9, 16], 30));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Exit codes
//!
//! ```no_run
//! use std::time::Duration;
//! use multiproc::Process;
//!
//! let sleeper = Process::new(|(): ()| std::thread::sleep(Duration::from_secs(60)), ());
//! sleeper.start()?;
//! sleeper.terminate()?;
//! assert_eq!(sleeper.join()?, -15); // killed by SIGTERM
//!
//! let panicker = Process::new(|(): ()| panic!("bad input"), ());
//! panicker.start()?;
//! assert_eq!(panicker.join()?, 1);
//! assert_eq!(panicker.failure().unwrap().message, "bad input");
//! # Ok::<(), multiproc::ProcessError>(())
//! ```
//!
//! ## Pipes and connections
//!
//! [`pipe`] is Python's `Pipe()`; [`connection`] has `Listener`, `Client` and `wait`, wire
//! compatible with CPython's `multiprocessing.connection` (framing and authkey handshake).
//!
//! ```no_run
//! use multiproc::{pipe, Connection, Process};
//!
//! fn child(conn: Connection) {
//!     let n: u64 = conn.recv().unwrap();
//!     conn.send(&(n * n)).unwrap();
//! }
//!
//! let (here, there) = pipe(true)?;
//! let p = Process::new(child, there);
//! p.start()?;
//! here.send(&12u64)?;
//! assert_eq!(here.recv::<u64>()?, 144);
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Queues
//!
//! A [`Queue`] is a handle on a ring in shared memory; `put` returns once the item is there,
//! so it arrives even if the producer exits at once (CPython's feeder thread would lose it).
//!
//! ```no_run
//! use multiproc::{Process, Queue};
//!
//! fn producer(q: Queue<String>) {
//!     q.put("made in a child".to_string()).unwrap();
//!     std::process::exit(0);
//! }
//!
//! let q = Queue::new()?;
//! let p = Process::new(producer, q.clone());
//! p.start()?;
//! p.join()?; // joining first is fine: nothing waits in the child
//! assert_eq!(q.get()?, "made in a child");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Managers
//!
//! A [`Manager`](manager::Manager) runs a server process holding shared objects; proxies
//! (serde values, `Send + Sync`) reach them from any process, and can be stored inside each
//! other. Batches do many operations per round trip.
//!
//! ```no_run
//! use multiproc::Process;
//! use multiproc::manager::{ListProxy, Manager};
//!
//! fn record(l: ListProxy<String>) {
//!     l.append(format!("hello from {}", std::process::id())).unwrap();
//! }
//!
//! let m = Manager::start()?;
//! let l = m.list::<String>()?;
//! let p = Process::new(record, l.clone());
//! p.start()?;
//! p.join()?;
//! assert_eq!(l.len()?, 1);
//! let d = m.dict::<u32, u32>()?;
//! d.update((0..1000).map(|i| (i, i * i)))?; // one round trip
//! assert!(d.get(&5000).unwrap_err().is_key_error());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Conventions
//!
//! Every type follows the same shapes, so that code written against one reads the same
//! against another (and the `Pool`, managers and futures follow them too):
//!
//! - **Blocking, `try_`, `_timeout`.** `x()` waits as long as it takes; `try_x()` never waits
//!   and fails with a typed "would block" error (`WouldBlock` for locks, semaphores,
//!   connections and processes, `Empty` for a get, `Full` for a put); `x_timeout(d)` waits
//!   at most `d` and fails with a typed `Timeout`. A zero timeout only checks; a timeout too
//!   large to represent (`Duration::MAX`) waits forever and never panics.
//! - **One lock vocabulary.** Everything that locks ([`Lock`], [`RLock`], [`Semaphore`],
//!   [`BoundedSemaphore`], [`Condition`], [`Value`], [`Array`]) has `acquire()`,
//!   `try_acquire()` and `acquire_timeout(d)` returning an RAII guard (the guard of a `Value`
//!   or `Array` dereferences to the data), and `release()` where Python has one. A lock whose
//!   holder died is reported as `OwnerDied`, with the guard inside.
//! - **Errors say what happened and hand values back.** An operation that was given a value
//!   returns it inside its error (`PutError::Full(v)`). Errors of whole subsystems
//!   ([`ProcessError`]) are opaque structs with `kind()`, `is_*()` helpers and `source()`.
//!   Public error enums and records that will grow are `#[non_exhaustive]`.
//! - **Predicates are `is_*`**: `is_alive`, `is_set`, `is_empty`, `is_full`, `is_closed`,
//!   `is_broken`, `is_daemon`.
//! - **Builders** are `X::builder()`, setters that consume and return the builder, and a
//!   consuming final call (`build()`, `start()`, `bind()`, `target()`).
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod codec;
pub mod connection;
mod context;
mod deadline;
mod error;
mod func;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod handle;
pub mod logging;
pub mod manager;
pub mod pool;
mod process;
pub mod queue;
mod service;
mod shared;
mod shm;
pub mod sync;
mod sys;
pub mod util;
mod wait;

pub use crate::connection::{Connection, pipe};
pub use crate::context::{Context, get_context};
pub use crate::error::{CodecError, ProcessError, ProcessErrorKind};
pub use crate::func::Target;
pub use crate::pool::{AsyncResult, Pool, PoolError, PoolErrorKind, ThreadPool};
pub use crate::process::start::spawn::{get_executable, set_executable};
pub use crate::process::{
    ChildFailure, ContextError, CurrentProcess, FailureKind, ParentProcess, Process, ProcessBuilder, Run, StartMethod,
    TargetResult, active_children, cpu_count, current_process, exit, get_all_start_methods, get_start_method,
    get_start_method_opt, init, parent_process, process_cpu_count, set_forkserver_preload, set_start_method,
};
pub use crate::queue::{GetError, JoinableQueue, PutError, Queue, QueueBuilder, SimpleQueue, TaskDoneError};
pub use crate::shared::{
    Array, ArrayGuard, Item, ListIndex, RawArray, RawValue, ShareableList, ShareableListError, SharedGuard, Value,
    ValueGuard, ValueLock,
};
pub use crate::shm::{SharedMemory, ShmSafe};
pub use crate::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};
