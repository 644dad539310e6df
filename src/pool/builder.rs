//! [`PoolBuilder`]: every setting of a pool, checked as CPython checks them. The final
//! [`build`](PoolBuilder::build) is in `pool.rs`, beside the type it makes.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend::Backend;
use super::backend::processes::{Processes, ProcessesCfg};
use super::backend::threads::Threads;
use super::core::{Core, CoreCfg, Workers};
use super::error::{PoolError, PoolErrorKind};
use super::options::WorkerDeath;
use super::task::{ExitType, init_entry};
use super::worker::{InitSpec, WorkerCfg};
use crate::func::Target;
use crate::process::StartMethod;
use crate::sys;
use std::sync::Arc;

/// Bytes of each worker's task ring: records up to a quarter of it go in one piece.
const TASK_RING: usize = 1 << 20;
/// Bytes of the ring all workers send their results through.
const EVENT_RING: usize = 4 << 20;

/// Configures a [`Pool`](super::Pool): made by [`Pool::builder`](super::Pool::builder),
/// finished by [`build`](PoolBuilder::build).
///
/// | Python | multiproc |
/// |---|---|
/// | `Pool(processes)` | [`processes`](PoolBuilder::processes) |
/// | `Pool(initializer=f, initargs=a)` | [`initializer`](PoolBuilder::initializer)`(f, a)` |
/// | `Pool(maxtasksperchild=n)` | [`maxtasksperchild`](PoolBuilder::maxtasksperchild) |
/// | `Pool(context=ctx)` | [`start_method`](PoolBuilder::start_method), or [`Context::pool_builder`](crate::Context::pool_builder) |
/// | billiard's `max_memory_per_child`, `timeout`, `soft_timeout` | [`max_memory_per_child`](PoolBuilder::max_memory_per_child), [`timeout`](PoolBuilder::timeout), [`soft_timeout`](PoolBuilder::soft_timeout) |
/// | `ProcessPoolExecutor`'s breaking on a worker's death | [`on_worker_death`](PoolBuilder::on_worker_death)`(`[`WorkerDeath::BreakPool`]`)` |
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use multiproc::StartMethod;
/// use multiproc::pool::Pool;
///
/// let pool = Pool::builder()
///     .processes(4)
///     .start_method(StartMethod::ForkServer)
///     .maxtasksperchild(100)
///     .timeout(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(pool.processes(), 4);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PoolBuilder {
    processes: Option<usize>,
    method: Option<StartMethod>,
    init: Option<Result<InitSpec, PoolError>>,
    /// The worker-state function (set through `worker_state`, in `stateful.rs`).
    pub(super) state: Option<Result<InitSpec, PoolError>>,
    /// The worker-exit function and the type it returns (set in `worker_exit.rs`).
    pub(super) exit: Option<Result<InitSpec, PoolError>>,
    pub(super) exit_type: Option<ExitType>,
    pinning: Vec<Vec<usize>>,
    progress: bool,
    maxtasks: Option<usize>,
    max_memory: Option<u64>,
    timeout: Option<Duration>,
    soft_timeout: Option<Duration>,
    on_death: WorkerDeath,
}

/// A validated configuration, before its backend is chosen.
pub(crate) struct Plan {
    pub(crate) processes: usize,
    pub(crate) worker: WorkerCfg,
    pub(crate) method: Option<StartMethod>,
    pub(crate) on_death: WorkerDeath,
    pub(crate) timeout: Option<Duration>,
    pub(crate) soft_timeout: Option<Duration>,
    pub(crate) exit_type: Option<ExitType>,
    pub(crate) progress: bool,
}

impl PoolBuilder {
    /// The defaults: [`process_cpu_count`](crate::process_cpu_count) workers, the global start
    /// method, no initializer, no limits, no timeouts, [`WorkerDeath::FailTask`].
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::pool::PoolBuilder::new();
    /// ```
    pub fn new() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// The number of workers (Python's `processes`; default:
    /// [`process_cpu_count`](crate::process_cpu_count)). Must be at least 1.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::builder().processes(3).build()?;
    /// assert_eq!(pool.processes(), 3);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn processes(mut self, n: usize) -> PoolBuilder {
        self.processes = Some(n);
        self
    }

    /// How the workers start (Python's `context`); default: the global start method.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::StartMethod;
    /// let pool = multiproc::pool::Pool::builder().start_method(StartMethod::Fork).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> PoolBuilder {
        self.method = Some(method);
        self
    }

    /// A function every worker runs with `args` before its first task (Python's
    /// `initializer` and `initargs`), of the same shape as a task ([`Target`]). Its return
    /// value is dropped.
    ///
    /// If it panics, the worker reports the panic and exits; after
    /// three start-up failures in a row the pool breaks: every task fails with
    /// [`InitializerFailed`](PoolErrorKind::InitializerFailed) carrying the panic message,
    /// instead of starting workers forever (CPython's pool loops).
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::Pool;
    ///
    /// fn greet(name: String) {
    ///     eprintln!("worker {} ready for {name}", std::process::id());
    /// }
    /// let pool = Pool::builder().processes(2).initializer(greet, "the job".to_string()).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn initializer<F, A, M>(mut self, f: F, args: A) -> PoolBuilder
    where
        F: Target<A, M>,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        let _ = f; // zero-sized: rebuilt in each worker from its type
        self.init = Some(spec(init_entry::<F, A, M>(), &args, "the initializer"));
        self
    }

    /// Each worker leaves after this many tasks and another takes its place (Python's
    /// `maxtasksperchild`; a chunk of a `map` is one task). Must be at least 1.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::builder().maxtasksperchild(10).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn maxtasksperchild(mut self, n: usize) -> PoolBuilder {
        self.maxtasks = Some(n);
        self
    }

    /// A worker whose resident memory is above `bytes` after a task leaves cleanly and is
    /// replaced (billiard's `max_memory_per_child`): a task that leaks cannot grow a worker
    /// without bound. Must be more than 0. Processes only (threads share one memory).
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::builder().max_memory_per_child(512 << 20).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn max_memory_per_child(mut self, bytes: u64) -> PoolBuilder {
        self.max_memory = Some(bytes);
        self
    }

    /// Pins each worker to a set of CPUs (mpire's `cpu_ids`): worker `w` of the pool may run
    /// only on the CPUs of `sets[w % sets.len()]`, so one set for all, or one per worker
    /// (`[[0], [1], [2], [3]]` gives each of four workers a CPU of its own). A replacement
    /// worker takes the set of the slot it fills. Each set must name at least one CPU this
    /// process may run on. For a [`ThreadPool`](super::ThreadPool), the threads are pinned.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::builder().processes(2).cpu_pinning([[0], [1]]).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn cpu_pinning<I, C>(mut self, sets: I) -> PoolBuilder
    where
        I: IntoIterator<Item = C>,
        C: IntoIterator<Item = usize>,
    {
        self.pinning = sets.into_iter().map(|c| c.into_iter().collect()).collect();
        if self.pinning.is_empty() {
            self.pinning.push(Vec::new()); // refused by `plan`
        }
        self
    }

    /// Shows a progress bar (items done, rate, time left) on standard error for each `map`,
    /// `starmap` and `imap` of the pool, unless the call's
    /// [`TaskOptions::progress_bar`](super::TaskOptions::progress_bar) says otherwise (mpire's
    /// `progress_bar`). Hidden when standard error is not a terminal. Needs the `progress`
    /// feature.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::builder().progress_bar(true).build()?;
    /// pool.map(|x: u64| x + 1, 0..10_000_000)?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    #[cfg(feature = "progress")]
    pub fn progress_bar(mut self, on: bool) -> PoolBuilder {
        self.progress = on;
        self
    }

    /// The default hard timeout of each item (see [`TaskOptions::timeout`](super::TaskOptions::timeout)).
    /// Must be more than zero.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::builder().timeout(Duration::from_secs(30)).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn timeout(mut self, d: Duration) -> PoolBuilder {
        self.timeout = Some(d);
        self
    }

    /// The default soft timeout of each item (see [`soft_timeout_passed`](super::soft_timeout_passed)).
    /// Must be more than zero.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::builder().soft_timeout(Duration::from_secs(10)).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn soft_timeout(mut self, d: Duration) -> PoolBuilder {
        self.soft_timeout = Some(d);
        self
    }

    /// What a worker's unexpected death does (default: [`WorkerDeath::FailTask`]).
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{Pool, WorkerDeath};
    /// let pool = Pool::builder().on_worker_death(WorkerDeath::BreakPool).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn on_worker_death(mut self, policy: WorkerDeath) -> PoolBuilder {
        self.on_death = policy;
        self
    }

    /// Checks every setting (CPython's `ValueError`s) and makes the plan.
    pub(crate) fn plan(self) -> Result<Plan, PoolError> {
        let invalid = |m: &str| Err(PoolError::new(PoolErrorKind::InvalidArgument, m));
        let processes = self.processes.unwrap_or_else(crate::process_cpu_count);
        if processes < 1 {
            return invalid("the number of processes must be at least 1");
        }
        if self.maxtasks == Some(0) {
            return invalid("maxtasksperchild must be at least 1 (or left unset for no limit)");
        }
        if self.max_memory == Some(0) {
            return invalid("max_memory_per_child must be more than 0 bytes (or left unset for no limit)");
        }
        if self.timeout.is_some_and(|d| d.is_zero()) || self.soft_timeout.is_some_and(|d| d.is_zero()) {
            return invalid("a timeout must be more than zero (or left unset for none)");
        }
        check_pinning(&self.pinning)?;
        let init = self.init.transpose()?;
        let state = self.state.transpose()?;
        let exit = self.exit.transpose()?;
        Ok(Plan {
            processes,
            worker: WorkerCfg {
                worker: 0,
                generation: 0,
                init,
                state,
                exit,
                pinning: self.pinning,
                maxtasks: self.maxtasks.map(|n| n as u64),
                max_memory: self.max_memory,
            },
            method: self.method,
            on_death: self.on_death,
            timeout: self.timeout,
            soft_timeout: self.soft_timeout,
            exit_type: self.exit_type,
            progress: self.progress,
        })
    }
}

/// Refuses CPU sets that no worker could be pinned to.
fn check_pinning(sets: &[Vec<usize>]) -> Result<(), PoolError> {
    if sets.is_empty() {
        return Ok(());
    }
    let allowed = sys::proc::allowed_cpus().map_err(|e| PoolError::os("cannot read this process's CPUs", e))?;
    for set in sets {
        if !set.iter().any(|c| allowed.contains(c)) {
            return Err(PoolError::new(
                PoolErrorKind::InvalidArgument,
                format!("the CPU set {set:?} has none of the CPUs this process may run on ({allowed:?})"),
            ));
        }
    }
    Ok(())
}

/// A function for the workers to run, with its encoded arguments; `what` names it in the
/// error when the arguments cannot be encoded.
pub(super) fn spec<A: Serialize>(entry: i64, args: &A, what: &str) -> Result<InitSpec, PoolError> {
    crate::codec::encode(args).map(|args| InitSpec { entry, args }).map_err(|e| {
        PoolError::new(PoolErrorKind::Encode, format!("cannot encode the arguments of {what}: {e}")).with_source(e)
    })
}

impl Plan {
    /// Starts the pool's core over worker processes.
    pub(crate) fn start_processes(&self) -> Result<Arc<Core>, PoolError> {
        let cfg = ProcessesCfg {
            method: self.method,
            worker: self.worker.clone(),
            task_ring: TASK_RING,
            event_ring: EVENT_RING,
        };
        let backend = Processes::new(self.processes, cfg)?;
        self.start(Box::new(backend), Workers::Processes, "worker process")
    }

    /// Starts the pool's core over worker threads.
    pub(crate) fn start_threads(&self) -> Result<Arc<Core>, PoolError> {
        let mut worker = self.worker.clone();
        worker.max_memory = None;
        self.start(Box::new(Threads::new(self.processes, worker)), Workers::Threads, "worker thread")
    }

    fn start(&self, backend: Box<dyn Backend>, workers: Workers, noun: &'static str) -> Result<Arc<Core>, PoolError> {
        let cfg = CoreCfg {
            workers,
            processes: self.processes,
            maxtasks: self.worker.maxtasks,
            on_death: self.on_death,
            noun,
            exit_type: self.exit_type,
            progress: self.progress,
        };
        Core::start(backend, cfg)
    }
}
