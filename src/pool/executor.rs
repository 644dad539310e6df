//! [`ProcessPoolExecutor`] (Python's `concurrent.futures.ProcessPoolExecutor`) on top of a
//! [`Pool`]: futures, `map` over chunks, `shutdown`.
//!
//! The executor keeps its own queue of pending work, as CPython's does, and hands the pool at
//! most `max_workers` tasks at a time, so one per worker: a task never waits behind another
//! on a busy worker while a worker is idle (the pool sends each record to one worker's ring;
//! CPython's workers share one call queue instead, with one task more in it). A task still in
//! the queue is *pending* and can be cancelled; one handed to the pool is *running*. Each task
//! that ends frees a place, and the thread that ends it (the pool's result thread) hands the
//! next pending task to the pool: no thread of its own, no polling.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::builder::PoolBuilder;
use super::core::{Core, NewTask};
use super::error::{PoolError, PoolErrorKind};
use super::executor_map::{ExecutorMap, Fed, new_chunk};
use super::future::{Future, Shared, Window, Work};
use super::job::in_collector;
use super::options::{TaskOptions, WorkerDeath};
use super::pool::{Pool, check_decodes};
use super::stateful::TaskData;
use crate::func::Target;
use crate::process::StartMethod;
use crate::util::lock;

/// A task waiting in the executor's queue.
struct Queued {
    work: Arc<dyn Work>,
    task: NewTask,
}

struct Queue {
    pending: VecDeque<Queued>,
    /// Tasks handed to the pool and not ended.
    inflight: usize,
    /// A thread is handing tasks to the pool (the others leave it to that one).
    pumping: bool,
    /// `shutdown` was called: no new tasks.
    shutdown: bool,
    /// Everything was handed to the pool, and the pool was closed.
    closed: bool,
}

/// The executor's queue and the pool it feeds.
struct Dispatch {
    core: Arc<Core>,
    window: usize,
    q: Mutex<Queue>,
    drained: Condvar,
}

fn after_shutdown() -> PoolError {
    PoolError::new(PoolErrorKind::NotRunning, "cannot schedule new futures after shutdown")
}

impl Dispatch {
    fn push(&self, work: Arc<dyn Work>, task: NewTask) -> Result<(), PoolError> {
        let mut q = lock(&self.q);
        if q.shutdown {
            return Err(after_shutdown());
        }
        q.pending.push_back(Queued { work, task });
        drop(q);
        self.pump();
        Ok(())
    }

    /// Hands pending tasks to the pool while the window has room; closes the pool once
    /// everything is handed over after `shutdown`.
    fn pump(&self) {
        let mut q = lock(&self.q);
        if q.pumping {
            return; // that thread looks at the queue again before it stops
        }
        q.pumping = true;
        loop {
            if q.inflight >= self.window {
                break;
            }
            let Some(item) = q.pending.pop_front() else {
                if q.shutdown && !q.closed {
                    q.closed = true;
                    self.core.close();
                    self.drained.notify_all();
                }
                break;
            };
            if !item.work.set_running() {
                continue; // cancelled
            }
            q.inflight += 1;
            drop(q);
            if let Err(e) = self.core.submit(item.task) {
                item.work.fail_work(e);
            }
            q = lock(&self.q);
        }
        q.pumping = false;
    }

    fn shutdown(&self, cancel_futures: bool) {
        let cancelled = {
            let mut q = lock(&self.q);
            q.shutdown = true;
            if cancel_futures { std::mem::take(&mut q.pending) } else { VecDeque::new() }
        };
        for item in cancelled {
            item.work.cancel_work();
        }
        self.pump();
    }

    fn wait_drained(&self) {
        let mut q = lock(&self.q);
        while !q.closed {
            q = self.drained.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Dispatch {
    /// A task still queued when the last handle goes (the executor dropped where it could not
    /// wait) is cancelled, never left without an end.
    fn drop(&mut self) {
        let q = self.q.get_mut().unwrap_or_else(|e| e.into_inner());
        for item in std::mem::take(&mut q.pending) {
            item.work.cancel_work();
        }
    }
}

impl Window for Dispatch {
    fn finished(&self) {
        lock(&self.q).inflight -= 1;
        self.pump();
    }
}

/// A pool of worker processes that runs tasks and returns [`Future`]s (Python's
/// `concurrent.futures.ProcessPoolExecutor`), built on a [`Pool`] and, like it, never
/// hanging: a task that panics fails its future with the panic; a worker that dies fails
/// only the future it ran with [`WorkerLost`](PoolErrorKind::WorkerLost), or breaks the whole
/// executor as CPython does with [`WorkerDeath::BreakPool`]
/// ([`Broken`](PoolErrorKind::Broken), Python's `BrokenProcessPool`).
///
/// | Python | multiproc |
/// |---|---|
/// | `ProcessPoolExecutor(max_workers, mp_context, initializer, initargs, max_tasks_per_child)` | [`new`](ProcessPoolExecutor::new), [`builder`](ProcessPoolExecutor::builder) |
/// | `submit(fn, *args)` | [`submit`](ProcessPoolExecutor::submit)`(f, args)` → [`Future`] |
/// | `map(fn, iterable, timeout=, chunksize=)` | [`map`](ProcessPoolExecutor::map), [`map_timeout`](ProcessPoolExecutor::map_timeout) |
/// | `shutdown(wait, cancel_futures=)` | [`shutdown`](ProcessPoolExecutor::shutdown) |
/// | `terminate_workers()`, `kill_workers()` (3.14) | [`terminate_workers`](ProcessPoolExecutor::terminate_workers) |
/// | `with ProcessPoolExecutor() as ex:` | dropping the executor: `shutdown(wait=True)` |
/// | `wait(fs, timeout, return_when)`, `as_completed(fs, timeout)` | [`wait`](super::wait), [`wait_timeout`](super::wait_timeout), [`as_completed`](super::as_completed), [`as_completed_timeout`](super::as_completed_timeout) |
///
/// # Dropping
/// Dropping the executor is `shutdown(wait = true, cancel_futures = false)`, as leaving
/// Python's `with` block: every task submitted runs, and `drop` returns once the workers
/// are gone. (A [`Pool`] is terminated when dropped instead, as CPython's is.) The one
/// exception: dropped from a done callback, where waiting would wait forever, it is
/// terminated as [`terminate_workers`](ProcessPoolExecutor::terminate_workers) does.
///
/// # Examples
/// ```no_run
/// use multiproc::pool::{ProcessPoolExecutor, as_completed};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let ex = ProcessPoolExecutor::new(2)?;
/// let fs: Vec<_> = (0..10).map(|i| ex.submit(square, i)).collect::<Result<_, _>>()?;
/// let total: u64 = as_completed(&fs).map(|f| *f.unwrap().result().unwrap()).sum();
/// assert_eq!(total, 285);
/// let squares: Vec<u64> = ex.map(square, 0..5, 2)?.collect::<Result<_, _>>()?;
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub struct ProcessPoolExecutor {
    pool: Pool,
    dispatch: Arc<Dispatch>,
}

/// Configures a [`ProcessPoolExecutor`]: made by
/// [`ProcessPoolExecutor::builder`], finished by [`build`](ExecutorBuilder::build).
///
/// # Examples
/// ```no_run
/// use multiproc::StartMethod;
/// use multiproc::pool::ProcessPoolExecutor;
///
/// let ex = ProcessPoolExecutor::builder().max_workers(2).start_method(StartMethod::ForkServer).max_tasks_per_child(10).build()?;
/// assert_eq!(ex.max_workers(), 2);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ExecutorBuilder {
    pool: PoolBuilder,
}

impl ExecutorBuilder {
    /// The defaults: [`process_cpu_count`](crate::process_cpu_count) workers, the global start
    /// method, no initializer, no task limit, [`WorkerDeath::FailTask`].
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::pool::ExecutorBuilder::new();
    /// ```
    pub fn new() -> ExecutorBuilder {
        ExecutorBuilder::default()
    }

    fn with(self, set: impl FnOnce(PoolBuilder) -> PoolBuilder) -> ExecutorBuilder {
        ExecutorBuilder { pool: set(self.pool) }
    }

    /// The number of worker processes (Python's `max_workers`; default
    /// [`process_cpu_count`](crate::process_cpu_count)). Must be at least 1.
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::builder().max_workers(3).build()?;
    /// assert_eq!(ex.max_workers(), 3);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn max_workers(self, n: usize) -> ExecutorBuilder {
        self.with(|b| b.processes(n))
    }

    /// How the workers start (Python's `mp_context`); default: the global start method.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::StartMethod;
    /// let ex = multiproc::pool::ProcessPoolExecutor::builder().start_method(StartMethod::Spawn).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn start_method(self, method: StartMethod) -> ExecutorBuilder {
        self.with(|b| b.start_method(method))
    }

    /// A function each worker runs with `args` before its first task (Python's `initializer`
    /// and `initargs`); see [`PoolBuilder::initializer`]. If it keeps failing, the executor
    /// breaks: every future fails with [`InitializerFailed`](PoolErrorKind::InitializerFailed).
    ///
    /// # Examples
    /// ```no_run
    /// fn hello(name: String) {
    ///     eprintln!("{name}: worker {} up", std::process::id());
    /// }
    /// let ex = multiproc::pool::ProcessPoolExecutor::builder().initializer(hello, "job".to_string()).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn initializer<F, A, M>(self, f: F, args: A) -> ExecutorBuilder
    where
        F: Target<A, M>,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        self.with(|b| b.initializer(f, args))
    }

    /// Each worker leaves after this many tasks and a new one takes its place (Python's
    /// `max_tasks_per_child`; a chunk of a `map` is one task). Must be at least 1. Unlike
    /// CPython, it works with every start method, `Fork` included.
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::builder().max_tasks_per_child(3).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn max_tasks_per_child(self, n: usize) -> ExecutorBuilder {
        self.with(|b| b.maxtasksperchild(n))
    }

    /// What a worker's death does: [`WorkerDeath::FailTask`] (the default) fails the one
    /// future it ran; [`WorkerDeath::BreakPool`] breaks the executor as CPython does
    /// (`BrokenProcessPool`): every future not done fails with
    /// [`Broken`](PoolErrorKind::Broken), and `submit` is refused from then on.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{ProcessPoolExecutor, WorkerDeath};
    /// let ex = ProcessPoolExecutor::builder().on_worker_death(WorkerDeath::BreakPool).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn on_worker_death(self, policy: WorkerDeath) -> ExecutorBuilder {
        self.with(|b| b.on_worker_death(policy))
    }

    /// A hard time limit on every task (beyond CPython, as [`PoolBuilder::timeout`]): a task
    /// still running after `d` has its worker killed and replaced, and its future fails with
    /// [`TimedOut`](PoolErrorKind::TimedOut). Must be more than zero.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let ex = multiproc::pool::ProcessPoolExecutor::builder().timeout(Duration::from_millis(100)).build()?;
    /// let f = ex.submit(std::thread::sleep, Duration::from_secs(60))?;
    /// assert!(f.result().unwrap_err().is_timed_out());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn timeout(self, d: Duration) -> ExecutorBuilder {
        self.with(|b| b.timeout(d))
    }

    /// Starts the executor: its worker processes are started before this returns.
    ///
    /// # Errors
    /// As [`PoolBuilder::build`]: [`InvalidArgument`](PoolErrorKind::InvalidArgument) for 0
    /// workers or a `max_tasks_per_child` of 0 (Python's `ValueError`s),
    /// [`Encode`](PoolErrorKind::Encode), [`Os`](PoolErrorKind::Os).
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::builder().max_workers(2).build()?;
    /// assert!(multiproc::pool::ProcessPoolExecutor::builder().max_workers(0).build().is_err());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn build(self) -> Result<ProcessPoolExecutor, PoolError> {
        let pool = self.pool.build()?;
        let dispatch = Arc::new(Dispatch {
            core: pool.core().clone(),
            window: pool.processes(),
            q: Mutex::new(Queue {
                pending: VecDeque::new(),
                inflight: 0,
                pumping: false,
                shutdown: false,
                closed: false,
            }),
            drained: Condvar::new(),
        });
        Ok(ProcessPoolExecutor { pool, dispatch })
    }
}

impl ProcessPoolExecutor {
    /// An executor of `max_workers` worker processes, started with the global start method
    /// (Python's `ProcessPoolExecutor(max_workers)`).
    ///
    /// # Errors
    /// As [`ExecutorBuilder::build`].
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(2)?;
    /// assert_eq!(*ex.submit(|x: u8| x + 1, 1)?.result()?, 2);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn new(max_workers: usize) -> Result<ProcessPoolExecutor, PoolError> {
        ExecutorBuilder::new().max_workers(max_workers).build()
    }

    /// A builder for every setting (see [`ExecutorBuilder`]).
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::builder().max_workers(2).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::new()
    }

    /// The number of worker processes.
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::pool::ProcessPoolExecutor::new(3)?.max_workers(), 3);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn max_workers(&self) -> usize {
        self.pool.processes()
    }

    /// The pids of the worker processes alive now (a replaced worker has a new pid).
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(2)?;
    /// assert_eq!(ex.pids().len(), 2);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn pids(&self) -> Vec<u32> {
        self.pool.pids()
    }

    /// Is the executor broken (Python's `BrokenProcessPool`)? Then every future not done has
    /// failed and [`submit`](ProcessPoolExecutor::submit) is refused with the error that broke
    /// it: after a worker's death under [`WorkerDeath::BreakPool`], or an initializer that
    /// keeps failing.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{ProcessPoolExecutor, WorkerDeath};
    /// let ex = ProcessPoolExecutor::builder().max_workers(1).on_worker_death(WorkerDeath::BreakPool).build()?;
    /// assert!(!ex.is_broken());
    /// let _ = ex.submit(|| -> u8 { std::process::abort() }, ())?.error();
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn is_broken(&self) -> bool {
        self.pool.is_broken()
    }

    fn window(&self) -> Weak<dyn Window> {
        let w: Weak<Dispatch> = Arc::downgrade(&self.dispatch);
        w
    }

    /// Refuses new work after `shutdown` or once the pool broke.
    fn check_open(&self) -> Result<(), PoolError> {
        if lock(&self.dispatch.q).shutdown {
            return Err(after_shutdown());
        }
        self.dispatch.core.refusal().map_or(Ok(()), Err)
    }

    /// Schedules `f(args)` on a worker and returns its [`Future`] at once (Python's
    /// `submit(fn, *args)`). `args` is one value or a tuple, as for
    /// [`Pool::apply`](super::Pool::apply).
    ///
    /// # Errors
    /// [`NotRunning`](PoolErrorKind::NotRunning) after [`shutdown`](ProcessPoolExecutor::shutdown)
    /// (Python's `RuntimeError('cannot schedule new futures after shutdown')`); the error that
    /// broke the executor ([`Broken`](PoolErrorKind::Broken), Python's `BrokenProcessPool`);
    /// [`Encode`](PoolErrorKind::Encode) when `args` cannot be encoded. The task's own
    /// failure comes from its future.
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(2)?;
    /// let f = ex.submit(|a: u64, b: u64| a.pow(b as u32), (2, 10))?;
    /// assert_eq!(*f.result()?, 1024);
    /// ex.shutdown(true, false);
    /// assert!(ex.submit(|| 1, ()).is_err());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn submit<F, A, M>(&self, f: F, args: A) -> Result<Future<F::Output>, PoolError>
    where
        F: Target<A, M>,
        F::Output: Serialize + DeserializeOwned + Send + Sync + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        let _ = f; // zero-sized: the worker makes its own from the type
        self.check_open()?;
        let entry = self.pool.entry::<F, A, M>();
        let payload = crate::codec::encode(std::slice::from_ref(&args)).map_err(PoolError::encode)?;
        check_decodes::<Vec<A>>(&payload)?;
        drop(args);
        let shared = Shared::<F::Output>::new(Some(self.window()));
        let timeouts = self.pool.timeouts(&TaskOptions::new());
        let task = NewTask { job: shared.clone(), base: 0, count: 1, entry, payload, timeouts, single: true };
        self.dispatch.push(shared.clone(), task)?;
        Ok(Future::from_shared(shared))
    }

    /// `f(item)` for each item, on the workers, `chunksize` items per task; the results come
    /// back lazily, in input order (Python's `map(fn, iterable, chunksize=)`). As in CPython,
    /// the input is read and every chunk submitted at the call (see
    /// [`map_with`](ProcessPoolExecutor::map_with) for a bounded window); each item's result
    /// is its own `Ok` or `Err` (CPython stops at the first exception). Dropping the iterator
    /// cancels the chunks no worker has taken yet.
    ///
    /// # Errors
    /// [`InvalidArgument`](PoolErrorKind::InvalidArgument) for a `chunksize` of 0 (Python's
    /// `ValueError`); otherwise as [`submit`](ProcessPoolExecutor::submit).
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(2)?;
    /// let v: Vec<u64> = ex.map(|x: u64| x * x, 0..1000, 100)?.collect::<Result<_, _>>()?;
    /// assert_eq!(v[999], 998001);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map<'a, F, A: TaskData, R: TaskData, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<ExecutorMap<'a, R>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        self.map_with(f, items, &TaskOptions::new().chunksize(chunksize))
    }

    /// [`map`](ProcessPoolExecutor::map) with a time limit counted from this call (Python's
    /// `map(..., timeout=)`): an item whose result is not there by then yields one
    /// [`Timeout`](PoolErrorKind::Timeout) error, the remaining chunks are cancelled and the
    /// iterator ends. `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// As [`map`](ProcessPoolExecutor::map).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let mut it = ex.map_timeout(std::thread::sleep, [Duration::ZERO, Duration::from_secs(5)], 1, Duration::from_millis(500))?;
    /// assert!(it.next().unwrap().is_ok());
    /// assert!(it.next().unwrap().unwrap_err().is_timeout());
    /// assert!(it.next().is_none());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map_timeout<'a, F, A: TaskData, R: TaskData, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
        timeout: Duration,
    ) -> Result<ExecutorMap<'a, R>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        let deadline = crate::deadline::after(timeout);
        let m = self.map_with(f, items, &TaskOptions::new().chunksize(chunksize))?;
        Ok(m.with_deadline(deadline, timeout))
    }

    /// [`map`](ProcessPoolExecutor::map) with options: `chunksize` (default 1, as CPython's),
    /// `buffersize` (Python 3.14's: at most that many chunks submitted and not yet read, the
    /// input read as results are taken, so an endless iterator works in bounded memory;
    /// default: the whole input at the call), and the pool's per-item hard and soft timeouts
    /// ([`TaskOptions::timeout`]: an item past it fails with
    /// [`TimedOut`](PoolErrorKind::TimedOut)).
    ///
    /// # Errors
    /// [`InvalidArgument`](PoolErrorKind::InvalidArgument) for a `chunksize` or `buffersize`
    /// of 0 or a zero timeout; otherwise as [`map`](ProcessPoolExecutor::map). A chunk that
    /// cannot be handed over later (its arguments cannot be encoded) fails its items.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{ProcessPoolExecutor, TaskOptions};
    /// let ex = ProcessPoolExecutor::new(2)?;
    /// let opts = TaskOptions::new().chunksize(100).buffersize(4);
    /// let first: Vec<u64> = ex.map_with(|x: u64| x * 2, 0.., &opts)?.take(1000).collect::<Result<_, _>>()?;
    /// assert_eq!(first[999], 1998); // an endless input, read 4 chunks ahead
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map_with<'a, F, A: TaskData, R: TaskData, I>(
        &self,
        f: F,
        items: I,
        opts: &TaskOptions,
    ) -> Result<ExecutorMap<'a, R>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        let _ = f;
        Pool::check_options(opts)?;
        self.check_open()?;
        let chunksize = opts.chunksize.unwrap_or(1).min(u32::MAX as usize);
        let entry = self.pool.entry::<F, A, fn(A) -> R>();
        let timeouts = self.pool.timeouts(opts);
        let (dispatch, window) = (self.dispatch.clone(), self.window());
        let mut input = items.into_iter();
        let (mut base, mut checked) = (0, false);
        let feed = move || {
            let chunk: Vec<A> = input.by_ref().take(chunksize).collect();
            if chunk.is_empty() {
                return None;
            }
            let (at, n) = (base, chunk.len());
            base += n;
            let mut hand_over = || {
                let payload = crate::codec::encode(&chunk).map_err(PoolError::encode)?;
                if !checked {
                    check_decodes::<Vec<A>>(&payload)?;
                    checked = true;
                }
                let (c, job) = new_chunk::<R>(at, n, window.clone());
                let task = NewTask { job, base: at, count: n as u32, entry, payload, timeouts, single: false };
                dispatch.push(c.work.clone(), task)?;
                Ok(c)
            };
            Some(hand_over().map_or_else(|e| Fed::Failed(e, n), Fed::Chunk))
        };
        ExecutorMap::start(Box::new(feed), opts.buffersize)
    }

    /// Stops taking tasks (Python's `shutdown(wait, cancel_futures=)`). With
    /// `cancel_futures`, the tasks still pending (not handed to the workers) are cancelled;
    /// the others run. With `wait`, returns once every task handed over is done and the
    /// workers are gone; without, returns at once, and the workers leave when their work is
    /// done. Idempotent; [`submit`](ProcessPoolExecutor::submit) fails afterwards.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let fs: Vec<_> = (0..5).map(|_| ex.submit(std::thread::sleep, Duration::from_millis(100)).unwrap()).collect();
    /// ex.shutdown(true, true);
    /// assert!(fs[0].result().is_ok()); // it was running
    /// assert!(fs[4].cancelled()); // it was pending
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.dispatch.shutdown(cancel_futures);
        if wait && !in_collector() {
            self.dispatch.wait_drained();
            let _ = self.pool.join();
        }
    }
}

impl ProcessPoolExecutor {
    /// Stops everything now (Python 3.14's `terminate_workers()` and `kill_workers()`): shuts
    /// down cancelling the pending tasks, kills the workers (SIGKILL), and fails the running
    /// futures with [`Terminated`](PoolErrorKind::Terminated). Returns once the workers are
    /// gone.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let fs: Vec<_> = (0..3).map(|_| ex.submit(std::thread::sleep, Duration::from_secs(60)).unwrap()).collect();
    /// ex.terminate_workers();
    /// assert!(fs[0].result().unwrap_err().is_terminated());
    /// assert!(fs[2].cancelled());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn terminate_workers(&self) {
        self.dispatch.shutdown(true);
        self.pool.terminate();
        if !in_collector() {
            let _ = self.pool.join();
        }
    }
}

impl Drop for ProcessPoolExecutor {
    /// `shutdown(wait = true, cancel_futures = false)` (see [`ProcessPoolExecutor`], "Dropping").
    fn drop(&mut self) {
        // From a callback nothing can wait: what is queued is cancelled, the pool terminated.
        self.shutdown(true, in_collector());
    }
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = lock(&self.dispatch.q);
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.max_workers())
            .field("pending", &q.pending.len())
            .field("running", &q.inflight)
            .field("shutdown", &q.shutdown)
            .finish()
    }
}
