//! [`Future`]: the result of one [`ProcessPoolExecutor::submit`](super::ProcessPoolExecutor::submit)
//! (Python's `concurrent.futures.Future`), and the functions that wait on several at once,
//! [`wait`] and [`as_completed`].
//!
//! A future's states, as CPython's:
//!
//! ```text
//!   submit ---> PENDING --(handed to the pool)--> RUNNING --(result, failure)--> FINISHED
//!                  |
//!                  +--(cancel)--> CANCELLED
//! ```
//!
//! The outcome is stored once, before the state says done, so that every reader (the owner,
//! a done callback, [`wait`], [`as_completed`]) borrows the same value. Waiting on several
//! futures registers one [`Waiter`] on each: a future that ends pushes its index into the
//! waiters it has and wakes them (no polling).

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::error::{PoolError, PoolErrorKind};
use super::job::{Job, in_collector};
use super::records::Form;
use super::result::decode_one;
use crate::util::lock;

type Callback<T> = Box<dyn FnOnce(&Future<T>) + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Running,
    Cancelled,
    Finished,
}

impl Status {
    fn is_done(self) -> bool {
        matches!(self, Status::Cancelled | Status::Finished)
    }
}

struct Inner<T> {
    status: Status,
    callbacks: Vec<Callback<T>>,
    /// `wait` and `as_completed` calls waiting on this future, with its index in each.
    waiters: Vec<(Arc<Waiter>, usize)>,
    /// Threads asleep on `cv` (no wake-up call without one).
    sleepers: usize,
}

/// Told when a work that was handed to the pool ends (frees a place in the executor's window).
pub(crate) trait Window: Send + Sync {
    fn finished(&self);
}

/// What the executor's queue needs of a pending work, whatever its result type.
pub(crate) trait Work: Send + Sync {
    /// Pending to running: `false` if it was cancelled (then it is not sent).
    fn set_running(&self) -> bool;
    /// Cancels it if it is still pending.
    fn cancel_work(&self) -> bool;
    /// Fails it (the pool refused it).
    fn fail_work(&self, err: PoolError);
}

/// The state a [`Future`] shares with the pool (as the job that receives the result) and with
/// the executor's queue.
pub(crate) struct Shared<T> {
    inner: Mutex<Inner<T>>,
    cv: Condvar,
    outcome: OnceLock<Result<T, PoolError>>,
    window: Option<Weak<dyn Window>>,
    me: Weak<Shared<T>>,
}

impl<T: Send + Sync + 'static> Shared<T> {
    pub(crate) fn new(window: Option<Weak<dyn Window>>) -> Arc<Shared<T>> {
        Arc::new_cyclic(|me| Shared {
            inner: Mutex::new(Inner {
                status: Status::Pending,
                callbacks: Vec::new(),
                waiters: Vec::new(),
                sleepers: 0,
            }),
            cv: Condvar::new(),
            outcome: OnceLock::new(),
            window,
            me: me.clone(),
        })
    }

    /// Stores the outcome and ends the future (the first outcome only): wakes its waiters,
    /// then runs its callbacks in this thread.
    pub(crate) fn finish(&self, outcome: Result<T, PoolError>) {
        self.end(Status::Finished, outcome, false);
    }

    /// Ends the future as `to` (only if it is pending, for `only_pending`); `false` if it had
    /// already ended (or was not pending).
    fn end(&self, to: Status, outcome: Result<T, PoolError>, only_pending: bool) -> bool {
        let mut g = lock(&self.inner);
        if g.status.is_done() || (only_pending && g.status != Status::Pending) {
            return false;
        }
        let was = g.status;
        let _ = self.outcome.set(outcome);
        g.status = to;
        let callbacks = std::mem::take(&mut g.callbacks);
        let waiters = std::mem::take(&mut g.waiters);
        let sleepers = g.sleepers;
        drop(g);
        if sleepers > 0 {
            self.cv.notify_all();
        }
        for (w, i) in waiters {
            w.push(i);
        }
        if let Some(me) = self.me.upgrade() {
            let f = Future { shared: me };
            for cb in callbacks {
                run_callback(cb, &f);
            }
        }
        if was == Status::Running
            && let Some(w) = self.window.as_ref().and_then(Weak::upgrade)
        {
            w.finished();
        }
        true
    }

    fn status(&self) -> Status {
        lock(&self.inner).status
    }

    /// Waits until the future is done; `false` if `deadline` came first.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let mut g = lock(&self.inner);
        loop {
            if g.status.is_done() {
                return true;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return false;
            }
            g.sleepers += 1;
            g = match left {
                None => self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(l) => self.cv.wait_timeout(g, l).unwrap_or_else(|e| e.into_inner()).0,
            };
            g.sleepers -= 1;
        }
    }

    /// The outcome, once the future is done.
    fn outcome(&self) -> &Result<T, PoolError> {
        self.outcome.get().expect("the outcome is stored before the future is done")
    }

    /// Adds `w` (index `i`) to the waiters; pushes `i` at once if the future is done.
    fn watch(&self, w: &Arc<Waiter>, i: usize) {
        let mut g = lock(&self.inner);
        if g.status.is_done() {
            drop(g);
            w.push(i);
        } else {
            g.waiters.push((w.clone(), i));
        }
    }

    fn unwatch(&self, w: &Arc<Waiter>) {
        lock(&self.inner).waiters.retain(|(x, _)| !Arc::ptr_eq(x, w));
    }
}

fn run_callback<T>(cb: Callback<T>, f: &Future<T>) {
    // A panicking callback is reported by the panic hook and does not stop the others.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(f)));
}

fn cancelled_error() -> PoolError {
    PoolError::new(PoolErrorKind::Cancelled, "the future was cancelled before a worker took it")
}

impl<T: Send + Sync + 'static> Work for Shared<T> {
    fn set_running(&self) -> bool {
        let mut g = lock(&self.inner);
        match g.status {
            Status::Pending => {
                g.status = Status::Running;
                true
            }
            _ => false,
        }
    }

    fn cancel_work(&self) -> bool {
        self.end(Status::Cancelled, Err(cancelled_error()), true) || self.status() == Status::Cancelled
    }

    fn fail_work(&self, err: PoolError) {
        self.finish(Err(err));
    }
}

/// A `submit`: one item.
impl<R: DeserializeOwned + Send + Sync + 'static> Job for Shared<R> {
    fn deliver(&self, _index: usize, form: Form, items: &[u8]) {
        self.finish(decode_one(form, items));
    }

    fn fail(&self, _range: Range<usize>, err: &PoolError) {
        self.finish(Err(err.clone()));
    }
}

/// The result of a task given to a [`ProcessPoolExecutor`](super::ProcessPoolExecutor)
/// (Python's `concurrent.futures.Future`).
///
/// | Python | multiproc |
/// |---|---|
/// | `f.result()`, `f.result(timeout)` | [`result`](Future::result), [`result_timeout`](Future::result_timeout), [`try_result`](Future::try_result) |
/// | `f.exception()`, `f.exception(timeout)` | [`error`](Future::error), [`error_timeout`](Future::error_timeout) |
/// | `f.done()`, `f.running()`, `f.cancelled()`, `f.cancel()` | the same names |
/// | `f.add_done_callback(fn)` | [`add_done_callback`](Future::add_done_callback) |
///
/// The value is stored once and lent to every reader: `result()` returns `&T`, as often as it
/// is called, from the owner, a clone of the future, or a done callback. Clones of a `Future`
/// are the same future. Dropping one does not cancel the task.
///
/// # Examples
/// ```no_run
/// use multiproc::pool::ProcessPoolExecutor;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let ex = ProcessPoolExecutor::new(2)?;
/// let f = ex.submit(square, 7)?;
/// assert_eq!(*f.result()?, 49);
/// assert!(f.done() && !f.cancelled());
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub struct Future<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future { shared: self.shared.clone() }
    }
}

impl<T: Send + Sync + 'static> Future<T> {
    pub(crate) fn from_shared(shared: Arc<Shared<T>>) -> Future<T> {
        Future { shared }
    }

    fn wait_deadline(&self, deadline: Option<Instant>, timeout: Option<Duration>) -> Result<(), PoolError> {
        if !self.done() && in_collector() {
            return Err(PoolError::in_callback());
        }
        if self.shared.wait_until(deadline) {
            return Ok(());
        }
        Err(match timeout {
            Some(t) => PoolError::new(PoolErrorKind::Timeout, format!("the future is not done after {t:?}")),
            None => PoolError::new(PoolErrorKind::WouldBlock, "the future is not done yet"),
        })
    }

    pub(crate) fn result_deadline(
        &self,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> Result<&T, PoolError> {
        self.wait_deadline(deadline, timeout)?;
        self.shared.outcome().as_ref().map_err(PoolError::clone)
    }

    /// Waits for the task and lends its result (Python's `result()`).
    ///
    /// # Errors
    /// The task's failure ([`Panic`](PoolErrorKind::Panic),
    /// [`WorkerLost`](PoolErrorKind::WorkerLost), [`Broken`](PoolErrorKind::Broken), ...),
    /// [`Cancelled`](PoolErrorKind::Cancelled) if the future was cancelled, and
    /// [`InCallback`](PoolErrorKind::InCallback) when called from a callback of the pool
    /// before the future is done.
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|a: u32, b: u32| a + b, (2, 3))?;
    /// assert_eq!(*f.result()?, 5);
    /// assert_eq!(*f.result()?, 5); // the same value again
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn result(&self) -> Result<&T, PoolError> {
        self.result_deadline(None, None)
    }

    /// [`result`](Future::result), waiting at most `timeout` (Python's `result(timeout)`). A
    /// zero timeout only looks; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`Timeout`](PoolErrorKind::Timeout) if the future is not done in time (the task goes
    /// on); otherwise as [`result`](Future::result).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(std::thread::sleep, Duration::from_millis(300))?;
    /// assert!(f.result_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// f.result_timeout(Duration::MAX)?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn result_timeout(&self, timeout: Duration) -> Result<&T, PoolError> {
        self.result_deadline(crate::deadline::after(timeout), Some(timeout))
    }

    /// The result if the future is done now.
    ///
    /// # Errors
    /// [`WouldBlock`](PoolErrorKind::WouldBlock) if it is not; otherwise as
    /// [`result`](Future::result).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(std::thread::sleep, Duration::from_millis(300))?;
    /// assert!(f.try_result().unwrap_err().is_would_block());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn try_result(&self) -> Result<&T, PoolError> {
        self.result_deadline(Some(Instant::now()), None)
    }

    fn error_deadline(
        &self,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> Result<Option<PoolError>, PoolError> {
        self.wait_deadline(deadline, timeout)?;
        match self.shared.outcome() {
            Ok(_) => Ok(None),
            Err(e) if e.is_cancelled() => Err(e.clone()),
            Err(e) => Ok(Some(e.clone())),
        }
    }

    /// Waits for the task and returns its failure, `None` if it succeeded (Python's
    /// `exception()`).
    ///
    /// # Errors
    /// [`Cancelled`](PoolErrorKind::Cancelled) if the future was cancelled;
    /// [`InCallback`](PoolErrorKind::InCallback) as [`result`](Future::result).
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|| -> u8 { panic!("no") }, ())?;
    /// assert!(f.error()?.unwrap().is_panic());
    /// assert!(ex.submit(|| 1, ())?.error()?.is_none());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn error(&self) -> Result<Option<PoolError>, PoolError> {
        self.error_deadline(None, None)
    }

    /// [`error`](Future::error), waiting at most `timeout` (Python's `exception(timeout)`).
    ///
    /// # Errors
    /// [`Timeout`](PoolErrorKind::Timeout) if the future is not done in time; otherwise as
    /// [`error`](Future::error).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(std::thread::sleep, Duration::from_millis(300))?;
    /// assert!(f.error_timeout(Duration::ZERO).unwrap_err().is_timeout());
    /// assert!(f.error_timeout(Duration::from_secs(60))?.is_none());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn error_timeout(&self, timeout: Duration) -> Result<Option<PoolError>, PoolError> {
        self.error_deadline(crate::deadline::after(timeout), Some(timeout))
    }

    /// Is the future done: finished (with a value or a failure) or cancelled (Python's
    /// `done()`)?
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(|| 1, ())?;
    /// f.result()?;
    /// assert!(f.done());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn done(&self) -> bool {
        self.shared.status().is_done()
    }

    /// Has the executor handed the task to a worker, and it has not ended yet (Python's
    /// `running()`)? As in CPython, a task counts as running from when it leaves the
    /// executor's queue for the pool (at most `max_workers` at a time, one per worker), a
    /// moment before the worker starts it.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let f = ex.submit(std::thread::sleep, Duration::from_millis(300))?;
    /// assert!(f.running());
    /// f.result()?;
    /// assert!(!f.running());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn running(&self) -> bool {
        self.shared.status() == Status::Running
    }

    /// Was the future cancelled (Python's `cancelled()`)?
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let fs: Vec<_> = (0..4).map(|_| ex.submit(std::thread::sleep, Duration::from_millis(100)).unwrap()).collect();
    /// fs[3].cancel();
    /// assert!(fs[3].cancelled() && !fs[0].cancelled());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn cancelled(&self) -> bool {
        self.shared.status() == Status::Cancelled
    }

    /// Cancels the task if it is still pending: not yet handed to the workers (Python's
    /// `cancel()`). Returns whether the future is cancelled: `false` for a task running or
    /// done. A cancelled future is done; its waiters wake and its callbacks run;
    /// [`result`](Future::result) fails with [`Cancelled`](PoolErrorKind::Cancelled).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(1)?;
    /// let first = ex.submit(std::thread::sleep, Duration::from_millis(300))?;
    /// let queued: Vec<_> = (0..5).map(|_| ex.submit(|| 1, ()).unwrap()).collect();
    /// assert!(!first.cancel()); // already with a worker
    /// let last = queued.last().unwrap();
    /// assert!(last.cancel() && last.cancelled() && last.done());
    /// assert!(last.result().unwrap_err().is_cancelled());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn cancel(&self) -> bool {
        self.shared.cancel_work()
    }

    /// Calls `f` with the future once it is done (Python's `add_done_callback`): at once, in
    /// this thread, if it is done already; otherwise in the thread that ends it (the pool's
    /// result thread, or the thread that cancels it). Callbacks run in the order they were
    /// added; one that panics does not stop the others. Like the pool's callbacks, they must
    /// be quick and must not wait for another unfinished future.
    ///
    /// # Examples
    /// ```no_run
    /// use std::sync::mpsc;
    /// let ex = multiproc::pool::ProcessPoolExecutor::new(2)?;
    /// let (tx, rx) = mpsc::channel();
    /// let f = ex.submit(|x: u64| x * 10, 4)?;
    /// f.add_done_callback(move |f| tx.send(*f.result().unwrap()).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 40);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(&Future<T>) + Send + 'static) {
        let mut g = lock(&self.shared.inner);
        if g.status.is_done() {
            drop(g);
            run_callback(Box::new(f), self);
        } else {
            g.callbacks.push(Box::new(f));
        }
    }

    /// Has it failed with an error other than cancellation (for [`ReturnWhen::FirstException`])?
    fn failed(&self) -> bool {
        self.done() && self.shared.outcome().as_ref().is_err_and(|e| !e.is_cancelled())
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Future").field("state", &lock(&self.shared.inner).status).finish()
    }
}

/// One [`wait`] or [`as_completed`]: the indices of the futures that ended, in the order they
/// ended.
pub(crate) struct Waiter {
    done: Mutex<Vec<usize>>,
    cv: Condvar,
}

impl Waiter {
    fn new() -> Arc<Waiter> {
        Arc::new(Waiter { done: Mutex::new(Vec::new()), cv: Condvar::new() })
    }

    fn push(&self, i: usize) {
        lock(&self.done).push(i);
        self.cv.notify_all();
    }

    /// Waits until `ok` holds for the list of ended futures, or `deadline`; returns the guard.
    fn wait_for(
        &self,
        deadline: Option<Instant>,
        mut ok: impl FnMut(&[usize]) -> bool,
    ) -> (MutexGuard<'_, Vec<usize>>, bool) {
        let mut g = lock(&self.done);
        loop {
            if ok(&g) {
                return (g, true);
            }
            if in_collector() {
                return (g, false);
            }
            g = match deadline {
                None => self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return (g, false);
                    }
                    self.cv.wait_timeout(g, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }
}

/// When [`wait`] returns (Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
///
/// # Examples
/// ```
/// use multiproc::pool::ReturnWhen;
/// assert_eq!(ReturnWhen::default(), ReturnWhen::AllCompleted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ReturnWhen {
    /// When any future is done (finished or cancelled).
    FirstCompleted,
    /// When any future fails (cancellation is not a failure), or all are done.
    FirstException,
    /// When all futures are done.
    #[default]
    AllCompleted,
}

/// The futures that were done, and those that were not, when [`wait`] returned, each in the
/// order given.
///
/// # Examples
/// ```no_run
/// use multiproc::pool::{ProcessPoolExecutor, ReturnWhen, Waited, wait};
/// let ex = ProcessPoolExecutor::new(2)?;
/// let fs = [ex.submit(|| 1u8, ())?, ex.submit(|| 2u8, ())?];
/// let (done, not_done): Waited<'_, u8> = wait(&fs, ReturnWhen::AllCompleted);
/// assert_eq!((done.len(), not_done.len()), (2, 0));
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub type Waited<'a, T> = (Vec<&'a Future<T>>, Vec<&'a Future<T>>);

fn wait_deadline<'a, T: Send + Sync + 'static>(
    fs: impl IntoIterator<Item = &'a Future<T>>,
    deadline: Option<Instant>,
    when: ReturnWhen,
) -> Waited<'a, T> {
    let fs: Vec<&Future<T>> = fs.into_iter().collect();
    let w = Waiter::new();
    for (i, f) in fs.iter().enumerate() {
        f.shared.watch(&w, i);
    }
    let n = fs.len();
    let (g, _) = w.wait_for(deadline, |done| match when {
        ReturnWhen::AllCompleted => done.len() >= n,
        ReturnWhen::FirstCompleted => n == 0 || !done.is_empty(),
        ReturnWhen::FirstException => done.len() >= n || done.iter().any(|&i| fs[i].failed()),
    });
    drop(g);
    for f in &fs {
        f.shared.unwatch(&w);
    }
    fs.into_iter().partition(|f| f.done())
}

/// Waits until the futures `fs` are done as `when` says (Python's
/// `concurrent.futures.wait(fs, return_when=...)`), and returns `(done, not_done)`.
///
/// The wait sleeps until a future ends (each future wakes the waits on it); it does not
/// poll. From a callback of the pool it does not wait (that would wait forever) and returns
/// what is done at once.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use multiproc::pool::{ProcessPoolExecutor, ReturnWhen, wait};
///
/// let ex = ProcessPoolExecutor::new(2)?;
/// let fs = vec![
///     ex.submit(std::thread::sleep, Duration::from_millis(10))?,
///     ex.submit(std::thread::sleep, Duration::from_secs(2))?,
/// ];
/// let (done, not_done) = wait(&fs, ReturnWhen::FirstCompleted);
/// assert_eq!((done.len(), not_done.len()), (1, 1));
/// let (done, _) = wait(&fs, ReturnWhen::AllCompleted);
/// assert_eq!(done.len(), 2);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub fn wait<'a, T: Send + Sync + 'static>(
    fs: impl IntoIterator<Item = &'a Future<T>>,
    when: ReturnWhen,
) -> Waited<'a, T> {
    wait_deadline(fs, None, when)
}

/// [`wait`], returning after `timeout` at the latest (Python's `wait(fs, timeout,
/// return_when)`): then `not_done` holds what is not done. A zero timeout only looks;
/// `Duration::MAX` waits forever.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use multiproc::pool::{ProcessPoolExecutor, ReturnWhen, wait_timeout};
///
/// let ex = ProcessPoolExecutor::new(1)?;
/// let fs = [ex.submit(std::thread::sleep, Duration::from_secs(1))?];
/// let (done, not_done) = wait_timeout(&fs, Duration::from_millis(10), ReturnWhen::AllCompleted);
/// assert_eq!((done.len(), not_done.len()), (0, 1));
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub fn wait_timeout<'a, T: Send + Sync + 'static>(
    fs: impl IntoIterator<Item = &'a Future<T>>,
    timeout: Duration,
    when: ReturnWhen,
) -> Waited<'a, T> {
    wait_deadline(fs, crate::deadline::after(timeout), when)
}

/// The futures of [`as_completed`] as they end: an iterator of `Ok(&future)`, then, if
/// its timeout passes first, one `Err` of kind [`Timeout`](PoolErrorKind::Timeout) and the end.
///
/// # Examples
/// ```no_run
/// use multiproc::pool::{AsCompleted, ProcessPoolExecutor, as_completed};
/// let ex = ProcessPoolExecutor::new(2)?;
/// let fs = [ex.submit(|| 1u32, ())?, ex.submit(|| 2u32, ())?];
/// let it: AsCompleted<'_, u32> = as_completed(&fs);
/// let sum: u32 = it.map(|f| *f.unwrap().result().unwrap()).sum();
/// assert_eq!(sum, 3);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub struct AsCompleted<'a, T> {
    fs: Vec<&'a Future<T>>,
    waiter: Arc<Waiter>,
    yielded: usize,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    over: bool,
}

fn as_completed_deadline<'a, T: Send + Sync + 'static>(
    fs: impl IntoIterator<Item = &'a Future<T>>,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
) -> AsCompleted<'a, T> {
    let fs: Vec<&Future<T>> = fs.into_iter().collect();
    let waiter = Waiter::new();
    for (i, f) in fs.iter().enumerate() {
        f.shared.watch(&waiter, i);
    }
    AsCompleted { fs, waiter, yielded: 0, deadline, timeout, over: false }
}

/// Yields the futures `fs` as they end, the ones already done first (Python's
/// `concurrent.futures.as_completed(fs)`). Each future comes once; the iterator sleeps between
/// them (no polling).
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use multiproc::pool::{ProcessPoolExecutor, as_completed};
///
/// fn nap(ms: u64) -> u64 {
///     std::thread::sleep(Duration::from_millis(ms));
///     ms
/// }
///
/// let ex = ProcessPoolExecutor::new(3)?;
/// let fs: Vec<_> = [300, 10, 150].into_iter().map(|ms| ex.submit(nap, ms)).collect::<Result<_, _>>()?;
/// let order: Vec<u64> = as_completed(&fs).map(|f| *f.unwrap().result().unwrap()).collect();
/// assert_eq!(order, [10, 150, 300]);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub fn as_completed<'a, T: Send + Sync + 'static>(fs: impl IntoIterator<Item = &'a Future<T>>) -> AsCompleted<'a, T> {
    as_completed_deadline(fs, None, None)
}

/// [`as_completed`], giving up `timeout` after this call (Python's `as_completed(fs,
/// timeout)`): then the iterator yields one [`Timeout`](PoolErrorKind::Timeout) error and
/// ends. `Duration::MAX` waits forever.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use multiproc::pool::{ProcessPoolExecutor, as_completed_timeout};
///
/// let ex = ProcessPoolExecutor::new(2)?;
/// let fs = [ex.submit(std::thread::sleep, Duration::ZERO)?, ex.submit(std::thread::sleep, Duration::from_secs(5))?];
/// let mut it = as_completed_timeout(&fs, Duration::from_millis(500));
/// assert!(it.next().unwrap().is_ok());
/// assert!(it.next().unwrap().unwrap_err().is_timeout());
/// assert!(it.next().is_none());
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub fn as_completed_timeout<'a, T: Send + Sync + 'static>(
    fs: impl IntoIterator<Item = &'a Future<T>>,
    timeout: Duration,
) -> AsCompleted<'a, T> {
    as_completed_deadline(fs, crate::deadline::after(timeout), Some(timeout))
}

impl<'a, T> Iterator for AsCompleted<'a, T> {
    type Item = Result<&'a Future<T>, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.over || self.yielded >= self.fs.len() {
            return None;
        }
        let k = self.yielded;
        let (g, ok) = self.waiter.wait_for(self.deadline, |done| done.len() > k);
        if !ok {
            drop(g);
            self.over = true;
            if in_collector() {
                return Some(Err(PoolError::in_callback()));
            }
            let (left, n, t) = (self.fs.len() - k, self.fs.len(), self.timeout.unwrap_or_default());
            let what = format!("{left} of {n} futures are not done after {t:?}");
            return Some(Err(PoolError::new(PoolErrorKind::Timeout, what)));
        }
        let i = g[k];
        drop(g);
        self.yielded += 1;
        Some(Ok(self.fs[i]))
    }
}

impl<T> Drop for AsCompleted<'_, T> {
    fn drop(&mut self) {
        for f in &self.fs {
            lock(&f.shared.inner).waiters.retain(|(x, _)| !Arc::ptr_eq(x, &self.waiter));
        }
    }
}

impl<T> fmt::Debug for AsCompleted<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted").field("futures", &self.fs.len()).field("yielded", &self.yielded).finish()
    }
}
