//! [`AsyncResult`]: a result that arrives later (Python's `AsyncResult`, `ApplyResult` and
//! `MapResult`), and the jobs that fill one: a single `apply`, and a `map` whose chunks come
//! back in any order.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::error::{PoolError, PoolErrorKind, TaskFailure, item_name};
use super::job::{Job, in_collector};
use super::records::Form;
use crate::sync::Timeout;
use crate::util::lock;

type OnOk<T> = Box<dyn FnOnce(&T) + Send>;
type OnErr = Box<dyn FnOnce(&PoolError) + Send>;

enum Slot<T> {
    Pending {
        on_ok: Option<OnOk<T>>,
        on_err: Option<OnErr>,
    },
    /// A callback runs with the value taken out; waiters wait.
    Busy,
    Ready(Result<T, PoolError>),
    /// `get` took the value.
    Taken,
}

/// The cell an [`AsyncResult`] reads and a job fills, once.
pub(crate) struct ResultCell<T> {
    slot: Mutex<Slot<T>>,
    cv: Condvar,
    /// Set once the value is stored (for waits that spin before they sleep).
    done: AtomicBool,
    waiters: AtomicUsize,
}

/// How many times a wait looks at the cell before it sleeps (a few microseconds): a result
/// that is microseconds away costs no sleep and no wake-up (see DESIGN.md, "Wake-up cost"),
/// and the clock is not read while looking, so the spin costs the other threads little.
const SPIN: u32 = 300;
/// Then how many times it gives its CPU away before it sleeps (the result's producers may be
/// waiting for this very CPU).
const YIELDS: u32 = 3;

impl<T> ResultCell<T> {
    pub(crate) fn new() -> ResultCell<T> {
        ResultCell {
            slot: Mutex::new(Slot::Pending { on_ok: None, on_err: None }),
            cv: Condvar::new(),
            done: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Stores the outcome (the first one only), after running the matching callback, as
    /// Python does: a waiter sees the value once the callback has returned.
    pub(crate) fn complete(&self, outcome: Result<T, PoolError>) {
        let (on_ok, on_err) = {
            let mut s = lock(&self.slot);
            match std::mem::replace(&mut *s, Slot::Busy) {
                Slot::Pending { on_ok, on_err } => (on_ok, on_err),
                other => {
                    *s = other;
                    return;
                }
            }
        };
        run_callbacks(&outcome, on_ok, on_err);
        self.store(outcome);
    }

    fn store(&self, outcome: Result<T, PoolError>) {
        *lock(&self.slot) = Slot::Ready(outcome);
        self.done.store(true, Ordering::Release);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders this notify after a waiter's check.
            drop(lock(&self.slot));
            self.cv.notify_all();
        }
    }

    fn is_ready(&self) -> bool {
        self.done.load(Ordering::Acquire) && !matches!(*lock(&self.slot), Slot::Busy)
    }

    /// Waits until the value is stored; `false` if `deadline` came first.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if self.done.load(Ordering::Acquire) && self.is_ready() {
            return true;
        }
        if deadline.is_none_or(|d| Instant::now() < d) {
            for i in 0..SPIN + YIELDS {
                if self.done.load(Ordering::Acquire) && self.is_ready() {
                    return true;
                }
                if i < SPIN {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        let mut s = lock(&self.slot);
        loop {
            if matches!(*s, Slot::Ready(_) | Slot::Taken) {
                return true;
            }
            self.waiters.fetch_add(1, Ordering::SeqCst);
            s = match deadline {
                None => self.cv.wait(s).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        self.waiters.fetch_sub(1, Ordering::SeqCst);
                        return false;
                    }
                    self.cv.wait_timeout(s, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
            self.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Takes the value, or clones the error.
    fn take(&self) -> Result<T, PoolError> {
        let mut s = lock(&self.slot);
        match std::mem::replace(&mut *s, Slot::Taken) {
            Slot::Ready(Ok(v)) => Ok(v),
            Slot::Ready(Err(e)) => {
                *s = Slot::Ready(Err(e.clone()));
                Err(e)
            }
            Slot::Taken => Err(PoolError::new(
                PoolErrorKind::Taken,
                "the result was already taken by an earlier get(); a value is handed out once",
            )),
            other => {
                *s = other;
                unreachable!("take() before the result is ready")
            }
        }
    }

    fn get_deadline(&self, deadline: Option<Instant>, timeout: Option<Duration>) -> Result<T, PoolError> {
        if !self.is_ready() && in_collector() {
            return Err(PoolError::in_callback());
        }
        if !self.wait_until(deadline) {
            return Err(match timeout {
                Some(t) => PoolError::new(
                    PoolErrorKind::Timeout,
                    format!("the result is not ready after {t:?}; the task goes on: get() it again later"),
                ),
                _ => PoolError::new(PoolErrorKind::WouldBlock, "the result is not ready yet; get() waits for it"),
            });
        }
        self.take()
    }

    /// Registers a callback for success: runs now, in this thread, if the value is there.
    fn on_ok(&self, f: OnOk<T>) {
        let mut s = lock(&self.slot);
        loop {
            match &mut *s {
                Slot::Pending { on_ok, .. } => {
                    *on_ok = Some(f);
                    return;
                }
                Slot::Busy => {
                    drop(s);
                    std::thread::yield_now();
                    s = lock(&self.slot);
                }
                Slot::Ready(Ok(_)) => {
                    let Slot::Ready(v) = std::mem::replace(&mut *s, Slot::Busy) else { unreachable!() };
                    drop(s);
                    run_callbacks(&v, Some(f), None);
                    self.store(v);
                    return;
                }
                Slot::Ready(Err(_)) | Slot::Taken => return,
            }
        }
    }

    /// Registers a callback for failure: runs now, in this thread, if the error is there.
    fn on_err(&self, f: OnErr) {
        let mut s = lock(&self.slot);
        match &mut *s {
            Slot::Pending { on_err, .. } => *on_err = Some(f),
            Slot::Ready(Err(e)) => {
                let e = e.clone();
                drop(s);
                run_callbacks::<T>(&Err(e), None, Some(f));
            }
            Slot::Busy | Slot::Ready(Ok(_)) | Slot::Taken => {}
        }
    }
}

/// Runs the callback that matches `outcome`; a panicking callback is reported on stderr by
/// the panic hook and does not stop the pool.
fn run_callbacks<T>(outcome: &Result<T, PoolError>, on_ok: Option<OnOk<T>>, on_err: Option<OnErr>) {
    let run = std::panic::AssertUnwindSafe(|| match outcome {
        Ok(v) => {
            if let Some(f) = on_ok {
                f(v)
            }
        }
        Err(e) => {
            if let Some(f) = on_err {
                f(e)
            }
        }
    });
    let _ = std::panic::catch_unwind(run);
}

/// A result that arrives later: what [`Pool::apply_async`](super::Pool::apply_async) and
/// [`Pool::map_async`](super::Pool::map_async) return (Python's `AsyncResult`).
///
/// The value is handed out once: the first successful [`get`](AsyncResult::get) takes it, and
/// later calls fail with [`PoolErrorKind::Taken`]. An error is returned to every call.
/// Dropping an `AsyncResult` does not stop the task, and its callbacks still run.
///
/// # Examples
/// ```no_run
/// use multiproc::pool::Pool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = Pool::new(2)?;
/// let r = pool.apply_async(square, 7)?;
/// r.wait();
/// assert!(r.ready() && r.successful()?);
/// assert_eq!(r.get()?, 49);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub struct AsyncResult<T> {
    cell: Arc<ResultCell<T>>,
}

impl<T> AsyncResult<T> {
    pub(crate) fn from_cell(cell: Arc<ResultCell<T>>) -> AsyncResult<T> {
        AsyncResult { cell }
    }

    /// Waits for the result and returns it (Python's `get()`).
    ///
    /// # Errors
    /// The task's failure ([`Panic`](PoolErrorKind::Panic),
    /// [`WorkerLost`](PoolErrorKind::WorkerLost), [`TimedOut`](PoolErrorKind::TimedOut),
    /// [`ResultEncode`](PoolErrorKind::ResultEncode), [`Terminated`](PoolErrorKind::Terminated),
    /// ...), [`Taken`](PoolErrorKind::Taken) after an earlier successful `get`, and
    /// [`InCallback`](PoolErrorKind::InCallback) when called from a callback before the result
    /// is there.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let r = pool.apply_async(|a: u32, b: u32| a + b, (2, 3))?;
    /// assert_eq!(r.get()?, 5);
    /// assert!(r.get().is_err()); // the value was handed out
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn get(&self) -> Result<T, PoolError> {
        self.cell.get_deadline(None, None)
    }

    /// Waits at most `timeout` for the result (Python's `get(timeout)`). A zero timeout only
    /// checks; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`Timeout`](PoolErrorKind::Timeout) when the result is not there in time (the task
    /// goes on, and a later call can still get it); otherwise as [`get`](AsyncResult::get).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let r = pool.apply_async(|| std::thread::sleep(Duration::from_millis(300)), ())?;
    /// assert!(r.get_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// r.get_timeout(Duration::from_secs(10))?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, PoolError> {
        self.cell.get_deadline(crate::deadline::after(timeout), Some(timeout))
    }

    /// The result if it is there now.
    ///
    /// # Errors
    /// [`WouldBlock`](PoolErrorKind::WouldBlock) when it is not; otherwise as
    /// [`get`](AsyncResult::get).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let r = pool.apply_async(|| std::thread::sleep(Duration::from_millis(200)), ())?;
    /// assert!(r.try_get().unwrap_err().is_would_block());
    /// r.wait();
    /// r.try_get()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn try_get(&self) -> Result<T, PoolError> {
        self.cell.get_deadline(Some(Instant::now()), None)
    }

    /// Waits until the result is there (Python's `wait()`). From a callback, returns at once
    /// (waiting there would wait forever).
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let r = pool.apply_async(|| 1, ())?;
    /// r.wait();
    /// assert!(r.ready());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn wait(&self) {
        if !self.cell.is_ready() && in_collector() {
            return;
        }
        self.cell.wait_until(None);
    }

    /// Waits at most `timeout` for the result (Python's `wait(timeout)`).
    ///
    /// # Errors
    /// [`Timeout`] if it is not there by then.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let r = pool.apply_async(|| std::thread::sleep(Duration::from_millis(200)), ())?;
    /// assert!(r.wait_timeout(Duration::from_millis(1)).is_err());
    /// assert!(r.wait_timeout(Duration::from_secs(10)).is_ok());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
        if !self.cell.is_ready() && in_collector() {
            return Err(Timeout);
        }
        if self.cell.wait_until(crate::deadline::after(timeout)) { Ok(()) } else { Err(Timeout) }
    }

    /// Is the result there (Python's `ready()`)?
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let r = pool.apply_async(|| 1, ())?;
    /// r.wait();
    /// assert!(r.ready());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn ready(&self) -> bool {
        self.cell.is_ready()
    }

    /// Did the task succeed (Python's `successful()`)?
    ///
    /// # Errors
    /// [`NotReady`](PoolErrorKind::NotReady) before the result is there (Python's
    /// `ValueError`).
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let r = pool.apply_async(|| -> u8 { panic!("no") }, ())?;
    /// r.wait();
    /// assert!(!r.successful()?);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn successful(&self) -> Result<bool, PoolError> {
        match &*lock(&self.cell.slot) {
            Slot::Ready(r) => Ok(r.is_ok()),
            Slot::Taken => Ok(true),
            _ => Err(PoolError::new(PoolErrorKind::NotReady, "the result is not ready yet; wait() for it first")),
        }
    }

    /// Calls `f` with the value when the task succeeds (Python's `callback`): in the pool's
    /// result thread when the value arrives, or at once in this thread if it is already
    /// there. It runs before the value is handed to waiters, must be quick (it holds up every
    /// other result), and must not wait for the pool. Set it before the value is taken;
    /// setting it again replaces it.
    ///
    /// # Examples
    /// ```no_run
    /// use std::sync::mpsc;
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// let (tx, rx) = mpsc::channel();
    /// for i in 0..4u64 {
    ///     let tx = tx.clone();
    ///     pool.apply_async(|x: u64| x * 10, i)?.callback(move |v| tx.send(*v).unwrap());
    /// }
    /// let mut got: Vec<u64> = rx.iter().take(4).collect();
    /// got.sort();
    /// assert_eq!(got, [0, 10, 20, 30]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn callback(self, f: impl FnOnce(&T) + Send + 'static) -> Self {
        self.cell.on_ok(Box::new(f));
        self
    }

    /// Calls `f` with the error when the task fails (Python's `error_callback`), as
    /// [`callback`](AsyncResult::callback) does for a value. Exactly one of the two runs.
    ///
    /// # Examples
    /// ```no_run
    /// use std::sync::{Arc, Mutex};
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let seen = Arc::new(Mutex::new(None));
    /// let s = seen.clone();
    /// let r = pool
    ///     .apply_async(|| -> u8 { panic!("bad") }, ())?
    ///     .error_callback(move |e| *s.lock().unwrap() = e.panic_message().map(str::to_string));
    /// r.wait();
    /// assert_eq!(seen.lock().unwrap().as_deref(), Some("bad"));
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn error_callback(self, f: impl FnOnce(&PoolError) + Send + 'static) -> Self {
        self.cell.on_err(Box::new(f));
        self
    }
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult").field("ready", &self.ready()).finish()
    }
}

/// One `apply`: the cell is the job.
impl<R: DeserializeOwned + Send + 'static> Job for ResultCell<R> {
    fn deliver(&self, _index: usize, form: Form, items: &[u8]) {
        self.complete(decode_one(form, items));
    }

    fn fail(&self, _range: Range<usize>, err: &PoolError) {
        self.complete(Err(err.clone()));
    }
}

/// The result of a job of one item, from its `RESULT` record (`apply`, an executor's `submit`).
pub(crate) fn decode_one<R: DeserializeOwned>(form: Form, items: &[u8]) -> Result<R, PoolError> {
    let one = |n: usize| PoolError::new(PoolErrorKind::Decode, format!("expected one result, the worker sent {n}"));
    match form {
        Form::Values => match crate::codec::decode::<Vec<R>>(items) {
            Ok(mut v) if v.len() == 1 => Ok(v.pop().expect("one")),
            Ok(v) => Err(one(v.len())),
            Err(e) => Err(decode_error(e)),
        },
        _ => match crate::codec::decode::<Vec<Result<R, TaskFailure>>>(items) {
            Ok(mut v) if v.len() == 1 => v.pop().expect("one").map_err(|f| PoolError::from_failure(f, "the task")),
            Ok(v) => Err(one(v.len())),
            Err(e) => Err(decode_error(e)),
        },
    }
}

pub(crate) fn decode_error(e: crate::CodecError) -> PoolError {
    PoolError::new(PoolErrorKind::Decode, format!("cannot decode the task's result: {e}")).with_source(e)
}

/// The decoded results of a chunk of a `map`: the values up to the first failure.
struct MapItems<R> {
    values: Vec<R>,
    failure: Option<(usize, TaskFailure)>,
}

impl<'de, R: Deserialize<'de>> Deserialize<'de> for MapItems<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<R>(PhantomData<R>);
        impl<'de, R: Deserialize<'de>> Visitor<'de> for V<R> {
            type Value = MapItems<R>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of item results")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<MapItems<R>, S::Error> {
                let mut values = Vec::with_capacity(s.size_hint().unwrap_or(0).min(1 << 20));
                let mut i = 0;
                while let Some(r) = s.next_element::<Result<R, TaskFailure>>()? {
                    match r {
                        Ok(v) => values.push(v),
                        Err(f) => return Ok(MapItems { values, failure: Some((i, f)) }),
                    }
                    i += 1;
                }
                Ok(MapItems { values, failure: None })
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

struct MapParts<R> {
    chunks: BTreeMap<usize, Vec<R>>,
    /// Items with a result.
    delivered: usize,
    /// How many items were sent, once [`MapJob::submitted`] said: the map cannot end while
    /// its items are still being sent.
    total: Option<usize>,
    failed: bool,
}

/// A `map`: chunks arrive in any order; the first failure fails the whole map (as Python's
/// `MapResult`), and the remaining chunks still run.
pub(crate) struct MapJob<R> {
    cell: Arc<ResultCell<Vec<R>>>,
    parts: Mutex<MapParts<R>>,
}

impl<R> MapJob<R> {
    pub(crate) fn new(cell: Arc<ResultCell<Vec<R>>>) -> MapJob<R> {
        let parts = MapParts { chunks: BTreeMap::new(), delivered: 0, total: None, failed: false };
        MapJob { cell, parts: Mutex::new(parts) }
    }

    /// Every item was sent: `total` of them.
    pub(crate) fn submitted(&self, total: usize) {
        let mut p = lock(&self.parts);
        p.total = Some(total);
        self.complete_if_done(p);
    }

    /// Completes the job if every item has its result, with the lock given.
    fn complete_if_done(&self, mut p: std::sync::MutexGuard<'_, MapParts<R>>) {
        if p.failed || p.total != Some(p.delivered) {
            return;
        }
        let (chunks, total) = (std::mem::take(&mut p.chunks), p.delivered);
        drop(p);
        let mut out = Vec::with_capacity(total);
        for (_, mut c) in chunks {
            out.append(&mut c);
        }
        self.cell.complete(Ok(out));
    }

    fn fail_with(&self, err: PoolError) {
        let mut p = lock(&self.parts);
        if p.failed {
            return;
        }
        p.failed = true;
        p.chunks.clear();
        drop(p);
        self.cell.complete(Err(err));
    }
}

impl<R: DeserializeOwned + Send + 'static> Job for MapJob<R> {
    fn deliver(&self, index: usize, form: Form, items: &[u8]) {
        let got = match form {
            Form::Values => crate::codec::decode::<Vec<R>>(items).map(|values| MapItems { values, failure: None }),
            _ => crate::codec::decode::<MapItems<R>>(items),
        };
        let got = match got {
            Ok(g) => g,
            Err(e) => return self.fail_with(decode_error(e)),
        };
        if let Some((k, f)) = got.failure {
            return self.fail_with(PoolError::from_failure(f, &item_name(index + k, false)));
        }
        let mut p = lock(&self.parts);
        if p.failed {
            return;
        }
        p.delivered += got.values.len();
        p.chunks.insert(index, got.values);
        self.complete_if_done(p);
    }

    fn fail(&self, _range: Range<usize>, err: &PoolError) {
        self.fail_with(err.clone());
    }
}
