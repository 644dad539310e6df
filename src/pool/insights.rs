//! Worker insights (mpire's `enable_insights`): per worker, what it did and where its time
//! went; [`Pool::insights`] makes the summary.
//!
//! Nothing extra is counted for them: each worker keeps its counters in its slot (records
//! and items done and time running them, per record, with no system call), plus four clock
//! reads in its life (start, after start-up, around the exit function). A worker's `EXITED`
//! carries its final counts; the pool adds up the workers of each slot.

use std::fmt;
use std::time::Duration;

use super::pool::Pool;
use super::records::ExitStats;

/// What the workers of one slot did: the worker there now and those it replaced.
///
/// `working + waiting + init + exit` is the time the slot's workers were alive (from the
/// start of their worker loop), so `waiting` is the time they waited for tasks.
///
/// # Examples
/// ```
/// let pool = multiproc::pool::ThreadPool::new(1)?;
/// pool.map(|x: u64| x + 1, 0..100)?;
/// let w = &pool.insights().workers[0];
/// assert_eq!((w.worker, w.tasks, w.restarts), (0, 100, 0));
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerInsights {
    /// The slot (`0..processes`).
    pub worker: usize,
    /// Tasks done: each `apply` and each item of a `map` is one.
    pub tasks: u64,
    /// Task records done: an `apply` is one, a chunk of a `map` one.
    pub chunks: u64,
    /// Time running tasks.
    pub working: Duration,
    /// Time alive and waiting for tasks.
    pub waiting: Duration,
    /// Time in the initializer and the worker-state function.
    pub init: Duration,
    /// Time in the worker-exit function.
    pub exit: Duration,
    /// Workers started in this slot after the first (after a death, a hard timeout,
    /// `maxtasksperchild`, `max_memory_per_child`).
    pub restarts: u32,
}

impl WorkerInsights {
    fn from_stats(worker: usize, s: ExitStats, starts: u32) -> WorkerInsights {
        let waiting = s.alive_ns.saturating_sub(s.busy_ns + s.init_ns + s.exit_ns);
        WorkerInsights {
            worker,
            tasks: s.items,
            chunks: s.records,
            working: Duration::from_nanos(s.busy_ns),
            waiting: Duration::from_nanos(waiting),
            init: Duration::from_nanos(s.init_ns),
            exit: Duration::from_nanos(s.exit_ns),
            restarts: starts.saturating_sub(1),
        }
    }
}

/// Where a pool's work went, per worker slot (mpire's insights); see [`Pool::insights`].
/// `Display` prints it as a table.
///
/// # Examples
/// ```
/// let pool = multiproc::pool::ThreadPool::new(2)?;
/// pool.map(|x: u64| x * x, 0..1000)?;
/// let ins = pool.insights();
/// assert_eq!(ins.tasks(), 1000);
/// assert_eq!(ins.workers.len(), 2);
/// println!("{ins}");
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolInsights {
    /// One entry per worker slot, in slot order.
    pub workers: Vec<WorkerInsights>,
}

impl PoolInsights {
    /// Tasks done by every worker.
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::new(2)?;
    /// pool.apply(|| (), ())?;
    /// assert_eq!(pool.insights().tasks(), 1);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn tasks(&self) -> u64 {
        self.workers.iter().map(|w| w.tasks).sum()
    }

    /// Time every worker spent running tasks.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let pool = multiproc::pool::ThreadPool::new(1)?;
    /// pool.apply(|| std::thread::sleep(Duration::from_millis(20)), ())?;
    /// assert!(pool.insights().working() >= Duration::from_millis(20));
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn working(&self) -> Duration {
        self.workers.iter().map(|w| w.working).sum()
    }

    /// Time every worker spent waiting for tasks.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let pool = multiproc::pool::ThreadPool::new(2)?;
    /// std::thread::sleep(Duration::from_millis(20));
    /// assert!(pool.insights().waiting() >= Duration::from_millis(20));
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn waiting(&self) -> Duration {
        self.workers.iter().map(|w| w.waiting).sum()
    }

    /// Workers started to replace others, in every slot.
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().processes(1).maxtasksperchild(1).build()?;
    /// pool.apply(|| (), ())?;
    /// pool.apply(|| (), ())?;
    /// assert!(pool.insights().restarts() >= 1);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn restarts(&self) -> u32 {
        self.workers.iter().map(|w| w.restarts).sum()
    }
}

impl fmt::Display for PoolInsights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |d: Duration| format!("{d:.1?}");
        writeln!(
            f,
            "{:>6} {:>10} {:>8} {:>10} {:>10} {:>10} {:>10} {:>8}",
            "worker", "tasks", "chunks", "working", "waiting", "init", "exit", "restarts"
        )?;
        let mut row = |name: String, w: &WorkerInsights| {
            writeln!(
                f,
                "{:>6} {:>10} {:>8} {:>10} {:>10} {:>10} {:>10} {:>8}",
                name,
                w.tasks,
                w.chunks,
                d(w.working),
                d(w.waiting),
                d(w.init),
                d(w.exit),
                w.restarts
            )
        };
        for w in &self.workers {
            row(w.worker.to_string(), w)?;
        }
        let total = WorkerInsights {
            worker: 0,
            tasks: self.tasks(),
            chunks: self.workers.iter().map(|w| w.chunks).sum(),
            working: self.working(),
            waiting: self.waiting(),
            init: self.workers.iter().map(|w| w.init).sum(),
            exit: self.workers.iter().map(|w| w.exit).sum(),
            restarts: self.restarts(),
        };
        row("total".to_string(), &total)?;
        let alive = total.working + total.waiting + total.init + total.exit;
        if !alive.is_zero() {
            let busy = 100.0 * total.working.as_secs_f64() / alive.as_secs_f64();
            write!(f, "the workers spent {busy:.0}% of their time on tasks")?;
        }
        Ok(())
    }
}

impl Pool {
    /// What each worker slot has done so far (mpire's insights): tasks, time working,
    /// waiting, in start-up and exit, restarts. Always counted, at no cost to the tasks;
    /// after [`join`](Pool::join) the numbers are final.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// pool.map(|x: u64| x * x, 0..100_000)?;
    /// pool.close();
    /// pool.join()?;
    /// let ins = pool.insights();
    /// assert_eq!(ins.tasks(), 100_000);
    /// println!("{ins}");
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn insights(&self) -> PoolInsights {
        let workers = self
            .core()
            .stats()
            .into_iter()
            .enumerate()
            .map(|(w, (stats, starts))| WorkerInsights::from_stats(w, stats, starts))
            .collect();
        PoolInsights { workers }
    }
}
