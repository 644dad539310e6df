//! [`PoolError`]: what went wrong with a pool, a task or a result; and `TaskFailure`, what a
//! worker reports about one item.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::CodecError;

/// What went wrong, for [`PoolError::kind`].
///
/// # Examples
/// ```
/// use multiproc::pool::{Pool, PoolErrorKind};
/// let err = Pool::new(0).unwrap_err();
/// assert_eq!(err.kind(), PoolErrorKind::InvalidArgument);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PoolErrorKind {
    /// A setting or argument is out of range: fewer than 1 process, a `maxtasksperchild` or a
    /// `chunksize` of 0 (Python: `ValueError`).
    InvalidArgument,
    /// A task was submitted after [`close`](crate::pool::Pool::close) or
    /// [`terminate`](crate::pool::Pool::terminate) (Python: `ValueError('Pool not running')`).
    NotRunning,
    /// [`join`](crate::pool::Pool::join) on a pool that was neither closed nor terminated
    /// (Python: `ValueError('Pool is still running')`).
    StillRunning,
    /// The task panicked; [`PoolError::panic_message`] and [`PoolError::location`] say where.
    Panic,
    /// The worker process running the task died (a signal, `exit(n)`, an abort); the task
    /// did not finish. The pool replaced the worker; other tasks were not affected.
    WorkerLost,
    /// The task ran past its hard timeout: the pool killed its worker and started another.
    TimedOut,
    /// A `_timeout` call ran out of time; the task goes on running.
    Timeout,
    /// A `try_` call found that it would have to wait.
    WouldBlock,
    /// [`AsyncResult::successful`](crate::pool::AsyncResult::successful) before the result
    /// is ready (Python: `ValueError`).
    NotReady,
    /// The value was already taken by an earlier `get`.
    Taken,
    /// The task's arguments could not be encoded (Python: the pickling error at submission).
    Encode,
    /// The task's result could not be encoded in the worker (Python's `MaybeEncodingError`);
    /// the worker goes on.
    ResultEncode,
    /// The arguments could not be decoded in the worker, or the result in the pool.
    Decode,
    /// The pool is broken: the initializer failed in several workers in a row.
    InitializerFailed,
    /// The pool is broken: a worker died and the pool was built to break then
    /// ([`WorkerDeath::BreakPool`](crate::pool::WorkerDeath::BreakPool), Python's
    /// `BrokenProcessPool`).
    Broken,
    /// The pool was terminated (or dropped) before the task finished.
    Terminated,
    /// A blocking call was made from a callback, which runs in the thread that delivers every
    /// result: waiting there would wait forever.
    InCallback,
    /// The operating system refused (starting a worker, making its shared memory).
    Os,
    /// The [`Future`](crate::pool::Future) was cancelled before a worker got it (Python's
    /// `CancelledError`).
    Cancelled,
}

/// An error from a [`Pool`](crate::pool::Pool), one of its tasks or one of its results.
///
/// Opaque: ask [`kind`](PoolError::kind) or an `is_*` helper. Task failures carry what the
/// worker knew: the panic's message and location, the exit code of a worker that died.
///
/// # Examples
/// ```no_run
/// use multiproc::pool::Pool;
/// let pool = Pool::new(2)?;
/// let err = pool.apply(|x: u32| -> u32 { panic!("bad input {x}") }, 7).unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.panic_message(), Some("bad input 7"));
/// assert!(err.location().unwrap().contains(".rs:"));
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
#[derive(Clone)]
pub struct PoolError {
    kind: PoolErrorKind,
    message: String,
    panic: Option<Arc<PanicInfo>>,
    exitcode: Option<i32>,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

#[derive(Debug)]
struct PanicInfo {
    message: String,
    location: Option<String>,
    backtrace: Option<String>,
}

impl PoolError {
    pub(crate) fn new(kind: PoolErrorKind, message: impl Into<String>) -> PoolError {
        PoolError { kind, message: message.into(), panic: None, exitcode: None, source: None }
    }

    pub(crate) fn os(what: &str, e: std::io::Error) -> PoolError {
        PoolError::new(PoolErrorKind::Os, format!("{what}: {e}")).with_source(e)
    }

    pub(crate) fn encode(e: CodecError) -> PoolError {
        PoolError::new(PoolErrorKind::Encode, format!("cannot send the task's arguments to a worker: {e}"))
            .with_source(e)
    }

    pub(crate) fn with_source(mut self, e: impl Error + Send + Sync + 'static) -> PoolError {
        self.source = Some(Arc::new(e));
        self
    }

    pub(crate) fn with_exitcode(mut self, code: i32) -> PoolError {
        self.exitcode = Some(code);
        self
    }

    pub(crate) fn not_running() -> PoolError {
        PoolError::new(
            PoolErrorKind::NotRunning,
            "the pool is not running: it was closed or terminated, so it takes no new tasks; make a new pool",
        )
    }

    pub(crate) fn in_callback() -> PoolError {
        PoolError::new(
            PoolErrorKind::InCallback,
            "a blocking pool call was made from a callback: callbacks run in the thread that delivers every \
             result, so this would wait forever; send the value elsewhere (a channel) and wait there",
        )
    }

    /// The error for one item that failed in a worker; `what` names it ("the task", "item 3").
    pub(crate) fn from_failure(f: TaskFailure, what: &str) -> PoolError {
        match f {
            TaskFailure::Panic { message, location, backtrace } => {
                let text = match &location {
                    Some(l) => format!("{what} panicked at {l}: {message}"),
                    None => format!("{what} panicked: {message}"),
                };
                let mut e = PoolError::new(PoolErrorKind::Panic, text);
                e.panic = Some(Arc::new(PanicInfo { message, location, backtrace }));
                e
            }
            TaskFailure::ResultEncode(m) => PoolError::new(
                PoolErrorKind::ResultEncode,
                format!("{what} finished, but its result could not be sent back (the worker goes on): {m}"),
            ),
            TaskFailure::Decode(m) => PoolError::new(
                PoolErrorKind::Decode,
                format!("{what} could not start: the worker cannot decode its arguments: {m}"),
            ),
        }
    }

    /// The kind of failure.
    ///
    /// # Examples
    /// ```
    /// use multiproc::pool::{Pool, PoolErrorKind};
    /// assert_eq!(Pool::builder().maxtasksperchild(0).build().unwrap_err().kind(), PoolErrorKind::InvalidArgument);
    /// ```
    pub fn kind(&self) -> PoolErrorKind {
        self.kind
    }

    /// Did a `_timeout` call run out of time ([`PoolErrorKind::Timeout`])? The task itself
    /// goes on; compare [`is_timed_out`](PoolError::is_timed_out).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let r = pool.apply_async(|| std::thread::sleep(Duration::from_secs(1)), ())?;
    /// assert!(r.get_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn is_timeout(&self) -> bool {
        self.kind == PoolErrorKind::Timeout
    }

    /// Did a `try_` call find that it would have to wait ([`PoolErrorKind::WouldBlock`])?
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let r = pool.apply_async(|| std::thread::sleep(Duration::from_secs(1)), ())?;
    /// assert!(r.try_get().unwrap_err().is_would_block());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn is_would_block(&self) -> bool {
        self.kind == PoolErrorKind::WouldBlock
    }

    /// Did the task panic ([`PoolErrorKind::Panic`])?
    ///
    /// # Examples
    /// See [`PoolError`].
    pub fn is_panic(&self) -> bool {
        self.kind == PoolErrorKind::Panic
    }

    /// Did the worker running the task die ([`PoolErrorKind::WorkerLost`])?
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(2)?;
    /// let err = pool.apply(|| -> u8 { multiproc::exit(3) }, ()).unwrap_err();
    /// assert!(err.is_worker_lost());
    /// assert_eq!(err.exitcode(), Some(3));
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn is_worker_lost(&self) -> bool {
        self.kind == PoolErrorKind::WorkerLost
    }

    /// Did the task run past its hard timeout, so that its worker was killed
    /// ([`PoolErrorKind::TimedOut`])?
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// use multiproc::pool::{Pool, TaskOptions};
    /// let pool = Pool::new(1)?;
    /// let opts = TaskOptions::new().timeout(Duration::from_millis(100));
    /// let err = pool.apply_with(|| std::thread::sleep(Duration::from_secs(60)), (), &opts).unwrap_err();
    /// assert!(err.is_timed_out());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn is_timed_out(&self) -> bool {
        self.kind == PoolErrorKind::TimedOut
    }

    /// Was the pool terminated (or dropped) before the task finished
    /// ([`PoolErrorKind::Terminated`])?
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let r = pool.apply_async(|| std::thread::sleep(Duration::from_secs(60)), ())?;
    /// pool.terminate();
    /// assert!(r.get().unwrap_err().is_terminated());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.kind == PoolErrorKind::Terminated
    }

    /// Is the pool broken ([`PoolErrorKind::Broken`] or
    /// [`PoolErrorKind::InitializerFailed`])? A broken pool fails every task it had and
    /// refuses new ones.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::Pool;
    /// let pool = Pool::builder().processes(2).initializer(|| panic!("no config"), ()).build()?;
    /// let err = pool.apply(|| 1, ()).unwrap_err();
    /// assert!(err.is_broken());
    /// assert!(err.to_string().contains("no config"));
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(self.kind, PoolErrorKind::Broken | PoolErrorKind::InitializerFailed)
    }

    /// Was the [`Future`](crate::pool::Future) cancelled ([`PoolErrorKind::Cancelled`])?
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// use multiproc::pool::ProcessPoolExecutor;
    /// let ex = ProcessPoolExecutor::new(1)?;
    /// let _busy: Vec<_> = (0..3).map(|_| ex.submit(std::thread::sleep, Duration::from_millis(300))).collect();
    /// let f = ex.submit(|| 1, ())?;
    /// assert!(f.cancel());
    /// assert!(f.result().unwrap_err().is_cancelled());
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.kind == PoolErrorKind::Cancelled
    }

    /// The panic message of a task that panicked (or of the initializer that broke the pool).
    ///
    /// # Examples
    /// See [`PoolError`].
    pub fn panic_message(&self) -> Option<&str> {
        self.panic.as_ref().map(|p| p.message.as_str())
    }

    /// Where the task panicked: `file:line:column`.
    ///
    /// # Examples
    /// See [`PoolError`].
    pub fn location(&self) -> Option<&str> {
        self.panic.as_ref().and_then(|p| p.location.as_deref())
    }

    /// The worker's backtrace at the panic, when `RUST_BACKTRACE` asked for one.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::new(1)?;
    /// let err = pool.apply(|| -> u8 { panic!("x") }, ()).unwrap_err();
    /// if let Some(bt) = err.backtrace() {
    ///     eprintln!("{bt}");
    /// }
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn backtrace(&self) -> Option<&str> {
        self.panic.as_ref().and_then(|p| p.backtrace.as_deref())
    }

    /// The exit code of the worker that died ([`PoolErrorKind::WorkerLost`],
    /// [`PoolErrorKind::TimedOut`], [`PoolErrorKind::Broken`]): `n` after `exit(n)`, `-N`
    /// after signal `N`, as [`Process::exitcode`](crate::Process::exitcode).
    ///
    /// # Examples
    /// See [`is_worker_lost`](PoolError::is_worker_lost).
    pub fn exitcode(&self) -> Option<i32> {
        self.exitcode
    }

    pub(crate) fn with_panic_of(mut self, other: &PoolError) -> PoolError {
        self.panic = other.panic.clone();
        self
    }
}

impl fmt::Debug for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PoolError");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(c) = self.exitcode {
            d.field("exitcode", &c);
        }
        d.finish()
    }
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for PoolError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<PoolError> for std::io::Error {
    fn from(e: PoolError) -> std::io::Error {
        std::io::Error::other(e)
    }
}

/// How one item failed in a worker, as the worker reports it (inside a `RESULT` record, or
/// alone in `INIT_FAILED`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TaskFailure {
    Panic { message: String, location: Option<String>, backtrace: Option<String> },
    ResultEncode(String),
    Decode(String),
}

/// The longest panic message and backtrace a failure carries back (the whole text is on the
/// worker's stderr).
const MAX_TEXT: usize = 16 * 1024;

fn bounded(mut s: String) -> String {
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let cut = s.len() - end;
        s.truncate(end);
        s.push_str(&format!("... ({cut} more bytes on the worker's stderr)"));
    }
    s
}

impl TaskFailure {
    pub(crate) fn panic(f: crate::process::ChildFailure) -> TaskFailure {
        TaskFailure::Panic { message: bounded(f.message), location: f.location, backtrace: f.backtrace.map(bounded) }
    }
}

/// Names the item `index` of a job for messages: "the task" for a job of one item.
pub(crate) fn item_name(index: usize, single: bool) -> String {
    if single { "the task".to_string() } else { format!("item {index}") }
}

/// A signal's name for messages, from a negative exit code.
pub(crate) fn describe_exit(code: i32) -> String {
    if code >= 0 {
        return format!("exit code {code}");
    }
    let name = match -code {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "",
    };
    if name.is_empty() { format!("signal {}", -code) } else { format!("signal {} ({name})", -code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_become_errors_with_what_happened() {
        let e = PoolError::from_failure(
            TaskFailure::Panic { message: "boom".into(), location: Some("a.rs:1:2".into()), backtrace: None },
            "item 4",
        );
        assert_eq!(e.kind(), PoolErrorKind::Panic);
        assert_eq!(e.to_string(), "item 4 panicked at a.rs:1:2: boom");
        assert_eq!((e.panic_message(), e.location()), (Some("boom"), Some("a.rs:1:2")));
        let e = PoolError::from_failure(TaskFailure::ResultEncode("no".into()), "the task");
        assert_eq!(e.kind(), PoolErrorKind::ResultEncode);
        assert!(e.to_string().contains("worker goes on"));
        assert_eq!(describe_exit(-9), "signal 9 (SIGKILL)");
        assert_eq!(describe_exit(3), "exit code 3");
        assert_eq!(
            bounded("x".repeat(MAX_TEXT + 10)).len(),
            MAX_TEXT + "... (10 more bytes on the worker's stderr)".len()
        );
    }
}
