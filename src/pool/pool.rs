//! [`Pool`]: the front type. Every call encodes its arguments in the caller's thread, hands
//! task records to the state machine (`core/`) and returns a result to wait on.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend::processes::ProcessIo;
use super::backend::threads::ThreadIo;
use super::builder::PoolBuilder;
use super::core::{Core, NewTask, Workers};
use super::error::{PoolError, PoolErrorKind};
use super::imap::{Feed, IMap};
use super::job::{Job, in_collector};
use super::options::TaskOptions;
use super::progress::Bar;
use super::result::{AsyncResult, MapJob, ResultCell};
use super::task::task_entry;
use crate::func::Target;

/// A `map` record is cut at about this many bytes of encoded arguments, so that it goes to a
/// worker in one piece, and so that several records keep every worker busy.
const MAX_RECORD: usize = 128 << 10;

/// A pool of worker processes (Python's `multiprocessing.Pool`), which never hangs: a task
/// that panics, a worker that dies (a signal, `exit`, an abort), a task past its hard
/// timeout, a result that cannot be sent, an initializer that fails, each end in an error for
/// the task concerned (or for the whole pool, when it cannot go on), never in a wait without
/// end.
///
/// Tasks are functions of the same kind as [`Process`](crate::Process) targets ([`Target`]):
/// `fn` items or closures that capture nothing, with arguments and results that serde can
/// carry. `apply(f, (a, b))` runs `f(a, b)`, `map(f, items)` runs `f(item)` for each item,
/// `starmap(f, tuples)` spreads each tuple into the arguments.
///
/// | Python | multiproc |
/// |---|---|
/// | `Pool(4)` | [`Pool::new`]`(4)`, [`Pool::builder`] |
/// | `apply(f, args)`, `apply_async(f, args, callback=, error_callback=)` | [`apply`](Pool::apply), [`apply_async`](Pool::apply_async) + [`AsyncResult::callback`], [`AsyncResult::error_callback`] |
/// | `map`, `map_async`, `starmap`, `starmap_async` (`chunksize=`) | [`map`](Pool::map), [`map_async`](Pool::map_async), [`starmap`](Pool::starmap), [`starmap_async`](Pool::starmap_async), and `_with` forms taking [`TaskOptions`] |
/// | `imap`, `imap_unordered` (`chunksize=`, 3.14's `buffersize=`) | [`imap`](Pool::imap), [`imap_unordered`](Pool::imap_unordered) |
/// | `close()`, `terminate()`, `join()` | [`close`](Pool::close), [`terminate`](Pool::terminate), [`join`](Pool::join), [`join_timeout`](Pool::join_timeout) |
/// | `with Pool() as p:` (terminates at the end) | dropping the `Pool` terminates it |
/// | `multiprocessing.pool.ThreadPool` | [`ThreadPool`](super::ThreadPool) |
///
/// # Dropping
/// Dropping a pool terminates it, as leaving Python's `with Pool() as p:` block does:
/// unfinished tasks fail with [`Terminated`](PoolErrorKind::Terminated), and the workers are
/// killed and reaped before `drop` returns. To let the tasks finish, call
/// [`close`](Pool::close) and [`join`](Pool::join) first.
///
/// # Examples
/// ```no_run
/// use multiproc::pool::Pool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = Pool::new(4)?;
/// assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// assert_eq!(pool.apply(square, 12)?, 144);
/// let r = pool.apply_async(square, 5)?;
/// assert_eq!(r.get()?, 25);
/// pool.close();
/// pool.join()?;
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub struct Pool {
    core: Arc<Core>,
    timeout: Option<Duration>,
    soft_timeout: Option<Duration>,
}

thread_local! {
    /// The argument types this thread has seen decode.
    static DECODES: RefCell<HashSet<TypeId>> = RefCell::new(HashSet::new());
}

/// Decodes a first payload of type `T` in the pool's process, once per type and thread, so
/// that a type the codec encodes but cannot decode is refused at the call with the reason
/// (as `Process::start` does), not in every worker.
pub(crate) fn check_decodes<T: DeserializeOwned + 'static>(payload: &[u8]) -> Result<(), PoolError> {
    let id = TypeId::of::<T>();
    if DECODES.with(|d| d.borrow().contains(&id)) {
        return Ok(());
    }
    crate::codec::decode::<T>(payload).map_err(|e| {
        PoolError::new(
            PoolErrorKind::Encode,
            format!("the task's arguments can be encoded but not decoded, so no worker could read them: {e}"),
        )
        .with_source(e)
    })?;
    DECODES.with(|d| d.borrow_mut().insert(id));
    Ok(())
}

/// CPython's default `chunksize` for `map`: `ceil(len / (4 * processes))`.
fn default_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(4 * processes).max(1)
}

impl PoolBuilder {
    /// Starts the pool: every worker process is started before this returns.
    ///
    /// # Errors
    /// [`InvalidArgument`](PoolErrorKind::InvalidArgument) for 0 processes, a
    /// `maxtasksperchild` of 0, a zero timeout (Python's `ValueError`s);
    /// [`Encode`](PoolErrorKind::Encode) when the initializer's arguments cannot be encoded;
    /// [`Os`](PoolErrorKind::Os) when a worker cannot be started.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::builder().processes(2).build()?;
    /// assert_eq!(pool.processes(), 2);
    /// assert!(multiproc::pool::Pool::builder().processes(0).build().is_err());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn build(self) -> Result<Pool, PoolError> {
        let plan = self.plan()?;
        let core = plan.start_processes()?;
        Ok(Pool { core, timeout: plan.timeout, soft_timeout: plan.soft_timeout })
    }

    /// Starts the pool over threads (for [`ThreadPool`](super::ThreadPool)).
    pub(crate) fn build_threads(self) -> Result<Pool, PoolError> {
        let plan = self.plan()?;
        let core = plan.start_threads()?;
        Ok(Pool { core, timeout: plan.timeout, soft_timeout: plan.soft_timeout })
    }
}

impl Pool {
    /// A pool of `processes` worker processes, started with the global start method (Python's
    /// `Pool(processes)`).
    ///
    /// # Errors
    /// As [`PoolBuilder::build`]: 0 processes is
    /// [`InvalidArgument`](PoolErrorKind::InvalidArgument).
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// assert_eq!(pool.processes(), 2);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        PoolBuilder::new().processes(processes).build()
    }

    /// A builder for every setting (see [`PoolBuilder`]).
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::builder().processes(2).maxtasksperchild(5).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    /// The number of workers.
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::pool::Pool::new(3)?.processes(), 3);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn processes(&self) -> usize {
        self.core.cfg.processes
    }

    /// The pids of the worker processes alive now (replaced workers have new pids; a
    /// [`ThreadPool`](super::ThreadPool) has none).
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// assert_eq!(pool.pids().len(), 2);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn pids(&self) -> Vec<u32> {
        self.core.pids()
    }

    /// Does the pool take new tasks (neither closed, terminated nor broken)?
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// assert!(pool.is_running());
    /// pool.close();
    /// assert!(!pool.is_running());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.core.is_running()
    }

    /// Is the pool broken (see [`PoolError::is_broken`])? Then every call fails with the error
    /// that broke it.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// assert!(!pool.is_broken());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn is_broken(&self) -> bool {
        self.core.broken().is_some()
    }

    pub(super) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The trampoline of `F` for this pool's workers.
    pub(crate) fn entry<F, A, M>(&self) -> i64
    where
        F: Target<A, M>,
        F::Output: Serialize,
        A: DeserializeOwned,
    {
        match self.core.cfg.workers {
            Workers::Processes => task_entry::<F, A, M, ProcessIo>(),
            Workers::Threads => task_entry::<F, A, M, ThreadIo>(),
        }
    }

    pub(super) fn timeouts(&self, opts: &TaskOptions) -> (Option<Duration>, Option<Duration>) {
        (opts.soft_timeout.or(self.soft_timeout), opts.timeout.or(self.timeout))
    }

    pub(super) fn check_options(opts: &TaskOptions) -> Result<(), PoolError> {
        let bad = |m: &str| Err(PoolError::new(PoolErrorKind::InvalidArgument, m));
        if opts.chunksize == Some(0) {
            return bad("chunksize must be at least 1");
        }
        if opts.buffersize == Some(0) {
            return bad("buffersize must be at least 1");
        }
        if opts.timeout.is_some_and(|d| d.is_zero()) || opts.soft_timeout.is_some_and(|d| d.is_zero()) {
            return bad("a timeout must be more than zero");
        }
        Ok(())
    }

    fn not_in_callback() -> Result<(), PoolError> {
        if in_collector() { Err(PoolError::in_callback()) } else { Ok(()) }
    }

    /// Runs `f(args)` in a worker and waits for its result (Python's `apply`).
    ///
    /// # Errors
    /// The task's failure (see [`AsyncResult::get`]); [`NotRunning`](PoolErrorKind::NotRunning)
    /// after `close` or `terminate`; [`Encode`](PoolErrorKind::Encode) when the arguments
    /// cannot be encoded; the error that broke the pool.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// assert_eq!(pool.apply(|a: u32, b: u32| a * b, (6, 7))?, 42);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn apply<F, A, M>(&self, f: F, args: A) -> Result<F::Output, PoolError>
    where
        F: Target<A, M>,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        self.apply_with(f, args, &TaskOptions::new())
    }

    /// [`apply`](Pool::apply) with options (timeouts).
    ///
    /// # Errors
    /// As [`apply`](Pool::apply); [`TimedOut`](PoolErrorKind::TimedOut) past the hard timeout.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// use multiproc::pool::{Pool, TaskOptions};
    /// let pool = Pool::new(1)?;
    /// let opts = TaskOptions::new().timeout(Duration::from_millis(200));
    /// let err = pool.apply_with(|| -> u8 { loop { std::hint::spin_loop() } }, (), &opts).unwrap_err();
    /// assert!(err.is_timed_out());
    /// assert_eq!(pool.apply(|| 5, ())?, 5); // another worker took over
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn apply_with<F, A, M>(&self, f: F, args: A, opts: &TaskOptions) -> Result<F::Output, PoolError>
    where
        F: Target<A, M>,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        Self::not_in_callback()?;
        self.apply_async_with(f, args, opts)?.get()
    }

    /// Starts `f(args)` in a worker and returns at once (Python's `apply_async`); set
    /// callbacks on the result with [`AsyncResult::callback`] and
    /// [`AsyncResult::error_callback`].
    ///
    /// # Errors
    /// [`NotRunning`](PoolErrorKind::NotRunning), [`Encode`](PoolErrorKind::Encode), or the
    /// error that broke the pool; the task's own failure comes from the result.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// let results: Vec<_> = (0..10u64).map(|i| pool.apply_async(|x: u64| x + 1, i)).collect::<Result<_, _>>()?;
    /// let total: u64 = results.iter().map(|r| r.get().unwrap()).sum();
    /// assert_eq!(total, 55);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn apply_async<F, A, M>(&self, f: F, args: A) -> Result<AsyncResult<F::Output>, PoolError>
    where
        F: Target<A, M>,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        self.apply_async_with(f, args, &TaskOptions::new())
    }

    /// [`apply_async`](Pool::apply_async) with options (timeouts).
    ///
    /// # Errors
    /// As [`apply_async`](Pool::apply_async), and
    /// [`InvalidArgument`](PoolErrorKind::InvalidArgument) for a zero timeout.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// use multiproc::pool::{Pool, TaskOptions};
    /// let pool = Pool::new(1)?;
    /// let opts = TaskOptions::new().timeout(Duration::from_secs(5));
    /// let r = pool.apply_async_with(|x: u8| x, 1, &opts)?;
    /// assert_eq!(r.get()?, 1);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn apply_async_with<F, A, M>(
        &self,
        f: F,
        args: A,
        opts: &TaskOptions,
    ) -> Result<AsyncResult<F::Output>, PoolError>
    where
        F: Target<A, M>,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        let _ = f; // zero-sized: the worker makes its own from the type
        Self::check_options(opts)?;
        let entry = self.entry::<F, A, M>();
        let payload = crate::codec::encode(std::slice::from_ref(&args)).map_err(PoolError::encode)?;
        check_decodes::<Vec<A>>(&payload)?;
        drop(args);
        let cell = Arc::new(ResultCell::<F::Output>::new());
        let timeouts = self.timeouts(opts);
        self.core.submit(NewTask { job: cell.clone(), base: 0, count: 1, entry, payload, timeouts, single: true })?;
        Ok(AsyncResult::from_cell(cell))
    }

    /// `items` as a map job: straight from the iterator when it knows its length (a range, a
    /// `Vec`), so that the first records go out at once and no copy of every argument is made
    /// first; otherwise collected first, as CPython makes a list, since the default chunksize
    /// depends on the length.
    fn map_items<F, T, M, I>(&self, items: I, opts: &TaskOptions) -> Result<AsyncResult<Vec<F::Output>>, PoolError>
    where
        F: Target<T, M>,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
        I: IntoIterator<Item = T>,
    {
        let items = items.into_iter();
        match items.size_hint() {
            (n, Some(m)) if n == m => self.submit_map::<F, T, M>(items, n, opts),
            _ => {
                let items: Vec<T> = items.collect();
                let n = items.len();
                self.submit_map::<F, T, M>(items.into_iter(), n, opts)
            }
        }
    }

    /// Sends `items` (`n` of them, as far as the iterator said) as task records of one map
    /// job. An iterator that yields another number than it said gets the results of what it
    /// yielded (only the default chunksize is off).
    fn submit_map<F, T, M>(
        &self,
        mut items: impl Iterator<Item = T>,
        n: usize,
        opts: &TaskOptions,
    ) -> Result<AsyncResult<Vec<F::Output>>, PoolError>
    where
        F: Target<T, M>,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        Self::check_options(opts)?;
        if let Some(e) = self.core.refusal() {
            return Err(e);
        }
        let cell = Arc::new(ResultCell::<Vec<F::Output>>::new());
        let chunksize = opts.chunksize.unwrap_or_else(|| default_chunksize(n, self.processes())).max(1);
        let job = Arc::new(MapJob::new(cell.clone()));
        let counted = Bar::new(opts.progress.unwrap_or(self.core.cfg.progress), Some(n as u64)).wrap(job.clone());
        let entry = self.entry::<F, T, M>();
        let timeouts = self.timeouts(opts);
        let (mut at, mut per, mut checked) = (0, chunksize, false);
        // Bytes per item of the records so far: later records are encoded in place.
        let mut per_item: Option<f64> = None;
        let mut chunk: Vec<T> = Vec::new();
        loop {
            chunk.clear();
            chunk.extend(items.by_ref().take(chunksize));
            if chunk.is_empty() {
                break;
            }
            // The chunk as records of `per` items at most (fewer after one was too long).
            let mut from = 0;
            while from < chunk.len() {
                let end = from.saturating_add(per).min(chunk.len());
                let part = &chunk[from..end];
                let encoded = match per_item {
                    None => crate::codec::encode(part),
                    Some(b) => crate::codec::encode_sized(part, (b * part.len() as f64 * 1.1) as usize + 64),
                };
                if let Ok(p) = &encoded {
                    per_item = Some(p.len() as f64 / part.len() as f64);
                }
                let sent = encoded.map_err(PoolError::encode).and_then(|payload| {
                    if payload.len() > MAX_RECORD && part.len() > 1 {
                        return Ok(Err(payload.len()));
                    }
                    if !checked {
                        check_decodes::<Vec<T>>(&payload)?;
                        checked = true;
                    }
                    let job = counted.clone();
                    let count = part.len() as u32;
                    self.core.submit(NewTask { job, base: at, count, entry, payload, timeouts, single: false }).map(Ok)
                });
                match sent {
                    Ok(Ok(())) => {
                        at += end - from;
                        from = end;
                    }
                    // Too long for one record: fewer items per record from here on.
                    Ok(Err(len)) => per = ((end - from) * MAX_RECORD / len.max(1)).max(1),
                    Err(e) => {
                        job.fail(at..n.max(at + 1), &e);
                        return Err(e);
                    }
                }
            }
        }
        job.submitted(at);
        Ok(AsyncResult::from_cell(cell))
    }

    /// `f(item)` for each item, in workers, in chunks; the results in input order (Python's
    /// `map`). The first failure fails the whole call (the other items still run); to get
    /// every item's own outcome, collect [`imap`](Pool::imap) instead:
    /// `pool.imap(f, items)?.collect::<Vec<Result<R, PoolError>>>()`.
    ///
    /// # Errors
    /// The first item's failure to arrive (a panic, a lost worker, ...), or as
    /// [`apply`](Pool::apply).
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// assert_eq!(pool.map(|s: String| s.len(), ["a", "bb", "ccc"].map(String::from))?, [1, 2, 3]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        R: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_with(f, items, &TaskOptions::new())
    }

    /// [`map`](Pool::map) with options (`chunksize`, timeouts).
    ///
    /// # Errors
    /// As [`map`](Pool::map); [`InvalidArgument`](PoolErrorKind::InvalidArgument) for a
    /// `chunksize` of 0.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{Pool, TaskOptions};
    /// let pool = Pool::new(2)?;
    /// let v = pool.map_with(|x: u32| x + 1, 0..100, &TaskOptions::new().chunksize(20))?;
    /// assert_eq!(v.len(), 100);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map_with<F, A, R, I>(&self, f: F, items: I, opts: &TaskOptions) -> Result<Vec<R>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        R: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        Self::not_in_callback()?;
        self.map_async_with(f, items, opts)?.get()
    }

    /// [`map`](Pool::map) returning at once (Python's `map_async`); a callback on the result
    /// receives the whole list.
    ///
    /// # Errors
    /// [`NotRunning`](PoolErrorKind::NotRunning), [`Encode`](PoolErrorKind::Encode), or the
    /// error that broke the pool; the items' failures come from the result.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// let r = pool.map_async(|x: u64| x * 2, vec![1, 2, 3])?;
    /// assert_eq!(r.get()?, [2, 4, 6]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map_async<F, A, R, I>(&self, f: F, items: I) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        R: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, &TaskOptions::new())
    }

    /// [`map_async`](Pool::map_async) with options.
    ///
    /// # Errors
    /// As [`map_async`](Pool::map_async) and [`map_with`](Pool::map_with).
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{Pool, TaskOptions};
    /// let pool = Pool::new(2)?;
    /// let r = pool.map_async_with(|x: u64| x, 0..10, &TaskOptions::new().chunksize(3))?;
    /// assert_eq!(r.get()?.len(), 10);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map_async_with<F, A, R, I>(
        &self,
        f: F,
        items: I,
        opts: &TaskOptions,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        R: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        self.map_items::<F, A, fn(A) -> R, I>(items, opts)
    }

    /// `f(a, b, ..)` for each tuple `(a, b, ..)` of `items` (Python's `starmap`).
    ///
    /// # Errors
    /// As [`map`](Pool::map).
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// assert_eq!(pool.starmap(|a: u32, b: u32| a.pow(b), [(2, 3), (3, 2)])?, [8, 9]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn starmap<F, T, M, I>(&self, f: F, items: I) -> Result<Vec<F::Output>, PoolError>
    where
        F: Target<T, M>,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
        I: IntoIterator<Item = T>,
    {
        self.starmap_with(f, items, &TaskOptions::new())
    }

    /// [`starmap`](Pool::starmap) with options.
    ///
    /// # Errors
    /// As [`map_with`](Pool::map_with).
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{Pool, TaskOptions};
    /// let pool = Pool::new(2)?;
    /// let v = pool.starmap_with(|a: u8, b: u8| a + b, [(1, 2), (3, 4)], &TaskOptions::new().chunksize(1))?;
    /// assert_eq!(v, [3, 7]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn starmap_with<F, T, M, I>(&self, f: F, items: I, opts: &TaskOptions) -> Result<Vec<F::Output>, PoolError>
    where
        F: Target<T, M>,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
        I: IntoIterator<Item = T>,
    {
        Self::not_in_callback()?;
        self.starmap_async_with(f, items, opts)?.get()
    }

    /// [`starmap`](Pool::starmap) returning at once (Python's `starmap_async`).
    ///
    /// # Errors
    /// As [`map_async`](Pool::map_async).
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// let r = pool.starmap_async(|a: i32, b: i32| a - b, vec![(5, 3), (1, 1)])?;
    /// assert_eq!(r.get()?, [2, 0]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn starmap_async<F, T, M, I>(&self, f: F, items: I) -> Result<AsyncResult<Vec<F::Output>>, PoolError>
    where
        F: Target<T, M>,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
        I: IntoIterator<Item = T>,
    {
        self.starmap_async_with(f, items, &TaskOptions::new())
    }

    /// [`starmap_async`](Pool::starmap_async) with options.
    ///
    /// # Errors
    /// As [`map_async_with`](Pool::map_async_with).
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{Pool, TaskOptions};
    /// let pool = Pool::new(2)?;
    /// let r = pool.starmap_async_with(|a: u8, b: u8| a * b, [(2, 2)], &TaskOptions::new().chunksize(5))?;
    /// assert_eq!(r.get()?, [4]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn starmap_async_with<F, T, M, I>(
        &self,
        f: F,
        items: I,
        opts: &TaskOptions,
    ) -> Result<AsyncResult<Vec<F::Output>>, PoolError>
    where
        F: Target<T, M>,
        F::Output: Serialize + DeserializeOwned + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
        I: IntoIterator<Item = T>,
    {
        let _ = f;
        self.map_items::<F, T, M, I>(items, opts)
    }

    fn imap_inner<'a, F, A, R, I>(&self, ordered: bool, items: I, opts: &TaskOptions) -> Result<IMap<'a, R>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        R: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        Self::check_options(opts)?;
        if let Some(e) = self.core.refusal() {
            return Err(e);
        }
        let chunksize = opts.chunksize.unwrap_or(1);
        let buffersize = opts.buffersize.unwrap_or_else(|| (4 * self.processes()).max(8));
        let mut input = items.into_iter();
        let len = match input.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo as u64),
            _ => None,
        };
        let bar = Bar::new(opts.progress.unwrap_or(self.core.cfg.progress), len);
        let mut checked = false;
        let feed: Feed<'a> = Box::new(move |max| {
            let chunk: Vec<A> = input.by_ref().take(max).collect();
            if chunk.is_empty() {
                return None;
            }
            let n = chunk.len();
            let encoded = crate::codec::encode(&chunk);
            if !checked && let Ok(p) = &encoded {
                if let Err(e) = crate::codec::decode::<Vec<A>>(p) {
                    return Some((Err(e), n));
                }
                checked = true;
            }
            Some((encoded, n))
        });
        let entry = self.entry::<F, A, fn(A) -> R>();
        Ok(IMap::new(self.core.clone(), ordered, feed, entry, self.timeouts(opts), (chunksize, buffersize), bar))
    }

    /// `f(item)` for each item, lazily: an iterator of the results in input order (Python's
    /// `imap`). The input is read as results are taken, a window of chunks ahead (see
    /// [`IMap`]); each item's result is its own `Ok` or `Err`.
    ///
    /// # Errors
    /// [`NotRunning`](PoolErrorKind::NotRunning) or the error that broke the pool, at the call;
    /// each item's failure from the iterator.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// let v: Vec<u64> = pool.imap(|x: u64| x * x, 0..5)?.collect::<Result<_, _>>()?;
    /// assert_eq!(v, [0, 1, 4, 9, 16]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn imap<'a, F, A, R, I>(&self, f: F, items: I) -> Result<IMap<'a, R>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        R: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        self.imap_with(f, items, &TaskOptions::new())
    }

    /// [`imap`](Pool::imap) with options (`chunksize`, default 1; `buffersize`; timeouts).
    ///
    /// # Errors
    /// As [`imap`](Pool::imap), and [`InvalidArgument`](PoolErrorKind::InvalidArgument) for a
    /// `chunksize` or `buffersize` of 0.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{Pool, TaskOptions};
    /// let pool = Pool::new(2)?;
    /// let opts = TaskOptions::new().chunksize(100).buffersize(4);
    /// let n = pool.imap_with(|x: u64| x, 0..1000, &opts)?.count();
    /// assert_eq!(n, 1000);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn imap_with<'a, F, A, R, I>(&self, f: F, items: I, opts: &TaskOptions) -> Result<IMap<'a, R>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        R: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        let _ = f;
        self.imap_inner::<F, A, R, I>(true, items, opts)
    }

    /// As [`imap`](Pool::imap), with the results in the order they finish (Python's
    /// `imap_unordered`).
    ///
    /// # Errors
    /// As [`imap`](Pool::imap).
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// let mut v: Vec<u64> = pool.imap_unordered(|x: u64| x + 1, 0..5)?.collect::<Result<_, _>>()?;
    /// v.sort();
    /// assert_eq!(v, [1, 2, 3, 4, 5]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn imap_unordered<'a, F, A, R, I>(&self, f: F, items: I) -> Result<IMap<'a, R>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        R: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        self.imap_unordered_with(f, items, &TaskOptions::new())
    }

    /// [`imap_unordered`](Pool::imap_unordered) with options.
    ///
    /// # Errors
    /// As [`imap_with`](Pool::imap_with).
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::{Pool, TaskOptions};
    /// let pool = Pool::new(2)?;
    /// let n = pool.imap_unordered_with(|x: u8| x, 0..50, &TaskOptions::new().chunksize(5))?.count();
    /// assert_eq!(n, 50);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn imap_unordered_with<'a, F, A, R, I>(
        &self,
        f: F,
        items: I,
        opts: &TaskOptions,
    ) -> Result<IMap<'a, R>, PoolError>
    where
        F: Target<A, fn(A) -> R, Output = R>,
        R: Serialize + DeserializeOwned + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        let _ = f;
        self.imap_inner::<F, A, R, I>(false, items, opts)
    }

    /// Takes no more tasks; the workers leave once the tasks already given are done (Python's
    /// `close()`). Idempotent.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// let r = pool.apply_async(|| 1, ())?;
    /// pool.close();
    /// assert!(pool.apply_async(|| 2, ()).unwrap_err().kind() == multiproc::pool::PoolErrorKind::NotRunning);
    /// pool.join()?;
    /// assert_eq!(r.get()?, 1); // it finished
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// Stops at once (Python's `terminate()`): every unfinished task fails with
    /// [`Terminated`](PoolErrorKind::Terminated), and the workers are killed (SIGKILL; a
    /// worker thread is abandoned to finish its item unseen). Idempotent.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// let r = pool.apply_async(|| std::thread::sleep(Duration::from_secs(60)), ())?;
    /// pool.terminate();
    /// pool.join()?;
    /// assert!(r.get().unwrap_err().is_terminated());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn terminate(&self) {
        self.core.terminate();
    }

    /// Waits until every task is done and every worker has left (Python's `join()`), after
    /// [`close`](Pool::close) or [`terminate`](Pool::terminate).
    ///
    /// # Errors
    /// [`StillRunning`](PoolErrorKind::StillRunning) before `close` or `terminate` (Python's
    /// `ValueError`); [`InCallback`](PoolErrorKind::InCallback) from a callback.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// assert!(pool.join().is_err()); // still running
    /// pool.close();
    /// pool.join()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn join(&self) -> Result<(), PoolError> {
        self.core.join(None, None)
    }

    /// [`join`](Pool::join), waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Timeout`](PoolErrorKind::Timeout) if tasks still run then; otherwise as
    /// [`join`](Pool::join).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// pool.apply_async(|| std::thread::sleep(Duration::from_millis(500)), ())?;
    /// pool.close();
    /// assert!(pool.join_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// pool.join_timeout(Duration::from_secs(10))?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), PoolError> {
        self.core.join(crate::deadline::after(timeout), Some(timeout))
    }
}

impl Drop for Pool {
    /// Terminates the pool and waits for its workers to be gone (see [`Pool`], "Dropping").
    fn drop(&mut self) {
        self.core.terminate();
        if !in_collector() {
            let _ = self.core.join(None, None);
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes())
            .field("running", &self.is_running())
            .field("broken", &self.is_broken())
            .finish()
    }
}
