//! Per-call options ([`TaskOptions`]) and the worker-death policy ([`WorkerDeath`]).

use std::time::Duration;

/// What a worker's unexpected death does to the pool.
///
/// # Examples
/// ```no_run
/// use multiproc::pool::{Pool, WorkerDeath};
/// let pool = Pool::builder().processes(2).on_worker_death(WorkerDeath::BreakPool).build()?;
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WorkerDeath {
    /// Fail the one item the worker was running with
    /// [`WorkerLost`](super::PoolErrorKind::WorkerLost), start another worker, and go on: the
    /// tasks that had been sent to the dead worker but not started run elsewhere. The
    /// default: CPython's `Pool` hangs here instead.
    #[default]
    FailTask,
    /// Break the pool, as `concurrent.futures.ProcessPoolExecutor` does
    /// (`BrokenProcessPool`): every unfinished task fails with
    /// [`Broken`](super::PoolErrorKind::Broken), the workers are stopped, and new tasks are
    /// refused. A worker killed by the pool itself for a hard timeout does not break it.
    BreakPool,
}

/// Options of one call: timeouts, `chunksize` and the `imap` window. Unset fields take the
/// pool's defaults.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use multiproc::pool::{Pool, TaskOptions};
///
/// let pool = Pool::new(2)?;
/// let opts = TaskOptions::new().chunksize(20).timeout(Duration::from_secs(5));
/// let squares = pool.map_with(|x: u64| x * x, 0..100, &opts)?;
/// assert_eq!(squares[99], 9801);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) soft_timeout: Option<Duration>,
    pub(crate) chunksize: Option<usize>,
    pub(crate) buffersize: Option<usize>,
    pub(crate) progress: Option<bool>,
}

impl TaskOptions {
    /// No options: the pool's defaults.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::pool::TaskOptions::new(), Default::default());
    /// ```
    pub fn new() -> TaskOptions {
        TaskOptions::default()
    }

    /// The hard timeout of each item: an item still running after `d` has its worker killed
    /// and replaced, and fails with [`TimedOut`](super::PoolErrorKind::TimedOut). (A thread
    /// cannot be killed: in a [`ThreadPool`](super::ThreadPool) the item fails and the thread
    /// is abandoned to finish it unseen.)
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let opts = multiproc::pool::TaskOptions::new().timeout(Duration::from_secs(30));
    /// ```
    pub fn timeout(mut self, d: Duration) -> TaskOptions {
        self.timeout = Some(d);
        self
    }

    /// The soft timeout of each item: after `d`, [`soft_timeout_passed`](super::soft_timeout_passed)
    /// says so to the task, which may wrap up; nothing is stopped.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let opts = multiproc::pool::TaskOptions::new().soft_timeout(Duration::from_secs(10));
    /// ```
    pub fn soft_timeout(mut self, d: Duration) -> TaskOptions {
        self.soft_timeout = Some(d);
        self
    }

    /// Items per task record of `map`, `starmap`, `imap` and their variants (Python's
    /// `chunksize`). Must be at least 1. Unset: `ceil(len / (4 * processes))` for `map` and
    /// `starmap`, as CPython, and 1 for `imap`. A `map` record is also cut at about
    /// 128 KiB of encoded arguments, so that a record always fits a worker's ring.
    ///
    /// # Examples
    /// ```
    /// let opts = multiproc::pool::TaskOptions::new().chunksize(100);
    /// ```
    pub fn chunksize(mut self, n: usize) -> TaskOptions {
        self.chunksize = Some(n);
        self
    }

    /// How many chunks `imap` and `imap_unordered` keep in flight (Python 3.14's
    /// `buffersize`): the input is read only as results are taken, so an endless iterator
    /// works in bounded memory. Must be at least 1; unset: four per worker.
    ///
    /// # Examples
    /// ```
    /// let opts = multiproc::pool::TaskOptions::new().buffersize(8);
    /// ```
    pub fn buffersize(mut self, n: usize) -> TaskOptions {
        self.buffersize = Some(n);
        self
    }

    /// Shows a progress bar (items done, rate, time left) on standard error for this `map`,
    /// `starmap` or `imap`, or none, whatever the pool's
    /// [`progress_bar`](super::PoolBuilder::progress_bar) says. Hidden when standard error is
    /// not a terminal. Needs the `progress` feature.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{Pool, TaskOptions};
    /// let pool = Pool::new(2)?;
    /// let v = pool.map_with(|x: u64| x * x, 0..10_000_000, &TaskOptions::new().progress_bar(true))?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    #[cfg(feature = "progress")]
    pub fn progress_bar(mut self, on: bool) -> TaskOptions {
        self.progress = Some(on);
        self
    }
}
