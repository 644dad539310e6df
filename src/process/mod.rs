//! Processes: [`Process`], start methods, the child bootstrap, exit codes.
//!
//! A [`Process`] runs a target in a child process. The target is a `fn` item or a closure
//! that captures nothing, with serde arguments, so that a child made by any start method can
//! find and run it ([`StartMethod`](crate::StartMethod)); a capturing closure can run under
//! `Fork` only ([`Process::with_closure`]).
//!
//! Exit codes follow Python: 0 when the target returns, `n` after [`exit`]`(n)` or
//! `std::process::exit(n)`, 1 after a panic (message and backtrace go to the child's stderr and
//! to the parent, see [`Process::failure`]), and `-N` when a signal `N` killed the child.

pub(crate) mod bootstrap;
pub(crate) mod globals;
pub(crate) mod launcher;
pub(crate) mod reports;
pub(crate) mod service;
pub(crate) mod start;
mod target;

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use self::bootstrap::ChildInfo;
use self::globals::G;
use self::target::FnTarget;
pub(crate) use self::target::Target;
pub use self::target::{Run, TargetResult};
use crate::context::{StartMethod, get_start_method};
use crate::error::{ProcessError, ProcessErrorKind};
use crate::sys;

/// How a child failed, as reported by the child itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureKind {
    /// The target panicked.
    Panic,
    /// The child could not start the target (bad arguments, a lost bootstrap message).
    Bootstrap,
    /// The child runs a different binary than the parent.
    BinaryMismatch,
}

/// What a failed child reported: Python's traceback, in Rust terms.
///
/// # Examples
/// ```no_run
/// use multiproc::{Process, FailureKind};
/// let p = Process::new(|(): ()| panic!("boom"), ());
/// p.start()?;
/// assert_eq!(p.join()?, 1);
/// let f = p.failure().unwrap();
/// assert_eq!(f.kind, FailureKind::Panic);
/// assert_eq!(f.message, "boom");
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The panic message or the bootstrap error.
    pub message: String,
    /// `file:line:column` of the panic.
    pub location: Option<String>,
    /// The child's backtrace at the panic.
    pub backtrace: Option<String>,
}

/// How the parent learns that a child ended.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// Our own child: the pidfd is readable at exit and `waitid` reaps it.
    Direct,
    /// A child of the fork server: the exit code comes on this pipe.
    Status(start::forkserver::StatusPipe),
}

/// A started child.
#[derive(Debug)]
pub(crate) struct ChildHandle {
    /// The pid and, when it could be opened, the pidfd (for signals and, for direct children,
    /// waiting). Known at once for direct children; for a fork-server child, read from the
    /// server's report when first needed.
    ident: OnceLock<(u32, Option<OwnedFd>)>,
    pub(crate) waiter: Waiter,
    /// The parent's end of the bootstrap socket, where a failing child leaves its report (and a
    /// fork-server child its exit code); `None` for a forked child, which reports to the
    /// process's report listener (`reports`).
    pub(crate) report: Option<OwnedFd>,
    reports: Mutex<Reports>,
    /// The parent's copy of a forked child's identity, freed with the handle rather than
    /// while the child starts: freeing writes to heap pages the child still shares, and each
    /// such write copies a page.
    leftovers: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

/// What the child said on its report socket.
#[derive(Debug, Default)]
struct Reports {
    failure: Option<ChildFailure>,
    exit: Option<i32>,
    eof: bool,
}

impl ChildHandle {
    /// A child of this process, with its pidfd.
    pub(crate) fn direct(pid: u32, pidfd: OwnedFd, report: Option<OwnedFd>) -> ChildHandle {
        ChildHandle {
            ident: OnceLock::from((pid, Some(pidfd))),
            waiter: Waiter::Direct,
            report,
            reports: Mutex::new(Reports::default()),
            leftovers: Mutex::new(None),
        }
    }

    /// Keeps `values` until the handle is dropped.
    pub(crate) fn keeping(self, values: Box<dyn std::any::Any + Send>) -> ChildHandle {
        *lock(&self.leftovers) = Some(values);
        self
    }

    /// A child the fork server is making.
    pub(crate) fn from_fork_server(status: start::forkserver::StatusPipe, report: OwnedFd) -> ChildHandle {
        ChildHandle {
            ident: OnceLock::new(),
            waiter: Waiter::Status(status),
            report: Some(report),
            reports: Mutex::new(Reports::default()),
            leftovers: Mutex::new(None),
        }
    }

    fn ident(&self) -> &(u32, Option<OwnedFd>) {
        self.ident.get_or_init(|| match &self.waiter {
            Waiter::Status(st) => match st.read_pid() {
                Some(pid) => (pid, sys::proc::pidfd_open(pid).ok()),
                None => (0, None),
            },
            Waiter::Direct => (0, None),
        })
    }

    /// The pid; `None` if the fork server died before making the child.
    pub(crate) fn pid(&self) -> Option<u32> {
        Some(self.ident().0).filter(|&p| p != 0)
    }

    fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.ident().1.as_ref().map(|f| f.as_fd())
    }

    /// The descriptor that becomes readable when the child ends: its pidfd when there is one.
    fn sentinel(&self) -> RawFd {
        match (self.pidfd(), &self.waiter) {
            (Some(fd), _) => fd.as_raw_fd(),
            (None, Waiter::Status(st)) => st.fd().as_raw_fd(),
            (None, Waiter::Direct) => -1,
        }
    }

    /// Reads whatever reports have fully arrived, without blocking.
    fn drain_reports(&self) -> std::sync::MutexGuard<'_, Reports> {
        let mut r = lock(&self.reports);
        let Some(report) = self.report.as_ref() else {
            // A forked child: its report, if any, waits at the listener.
            if !r.eof {
                r.eof = true;
                r.failure = self.pid().and_then(reports::take);
            }
            return r;
        };
        while !r.eof && sys::fd::is_readable(report.as_fd()).unwrap_or(false) {
            match sys::socket::recv_framed(report.as_fd(), 1 << 20) {
                Ok(Some((body, _))) => match postcard::from_bytes::<bootstrap::Report>(&body) {
                    Ok(bootstrap::Report::Failure(f)) => r.failure = Some(f),
                    Ok(bootstrap::Report::Exit(code)) => r.exit = Some(code),
                    Err(_) => r.eof = true, // garbage: stop listening
                },
                Ok(None) | Err(_) => r.eof = true,
            }
        }
        r
    }

    /// Collects the exit code if the child has ended (never blocks for long).
    fn try_reap(&self) -> Result<Option<i32>, ProcessError> {
        let os = |e| ProcessError::os("collecting the exit status", e);
        match &self.waiter {
            Waiter::Direct => match self.pidfd() {
                Some(fd) => sys::proc::pidfd_try_reap(fd).map_err(os),
                None => Ok(Some(255)),
            },
            Waiter::Status(st) => {
                let (exit, eof) = {
                    let r = self.drain_reports();
                    (r.exit, r.eof)
                };
                if exit.is_none() && !eof {
                    // Still running? The pidfd says, even when a descendant that forked
                    // without exec still holds the report socket open.
                    let gone = match self.pidfd() {
                        Some(fd) => sys::fd::is_readable(fd).map_err(os)?,
                        None => false,
                    };
                    if !gone {
                        return st.server_code(None).map_err(os);
                    }
                    return st.server_code(Some(Duration::from_secs(10))).map_err(os).map(|c| c.or(Some(255)));
                }
                let limit = Duration::from_secs(10);
                match exit {
                    // The child said its code as it left; wait until it is really gone.
                    Some(code) => {
                        if let Some(fd) = self.pidfd() {
                            sys::fd::spin_then_poll(fd, Duration::from_micros(50), Some(Instant::now() + limit))
                                .map_err(os)?;
                        }
                        Ok(Some(st.server_code(None).map_err(os)?.unwrap_or(code)))
                    }
                    // Gone without a word (a signal, or the server died): the server decides.
                    None => st.server_code(Some(limit)).map_err(os).map(|c| c.or(Some(255))),
                }
            }
        }
    }

    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.waiter {
            Waiter::Direct => self.pidfd(),
            // The report socket: readable when the child leaves (its exit code, or end of
            // file), without first waiting for the server to tell the pid.
            Waiter::Status(_) => self.report.as_ref().map(|r| r.as_fd()),
        }
    }

    fn signal(&self, sig: i32) -> Result<(), ProcessError> {
        let res = match (self.pidfd(), self.pid()) {
            (Some(fd), _) => sys::proc::pidfd_signal(fd, sig),
            // The pidfd could not be opened when the pid arrived (a fork-server child; too
            // many open files, say): try again now rather than drop the signal. A child
            // that is already gone has nothing left to signal; its report socket says so
            // before the pid could be reused.
            (None, Some(_)) if self.report.as_ref().is_some_and(|r| sys::fd::hung_up(r.as_fd()).unwrap_or(true)) => {
                Ok(())
            }
            (None, Some(pid)) => match sys::proc::pidfd_open(pid) {
                Ok(fd) => sys::proc::pidfd_signal(fd.as_fd(), sig),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
                Err(e) => Err(e),
            },
            // The fork server died before it made the child: there is no process.
            (None, None) => Ok(()),
        };
        res.map_err(|e| ProcessError::os(format!("sending signal {sig} to process {:?}", self.pid()), e))
    }

    fn read_failure(&self) -> Option<ChildFailure> {
        self.drain_reports().failure.clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Initial,
    Started,
    Stopped,
}

struct State {
    name: String,
    daemon: bool,
    method: Option<StartMethod>,
    identity: Vec<u32>,
    target: Option<Target>,
    phase: Phase,
    closed: bool,
    exitcode: Option<i32>,
    child: Option<Arc<ChildHandle>>,
    failure: Option<ChildFailure>,
}

struct Inner {
    creator_pid: u32,
    state: Mutex<State>,
}

/// A process running a target, as Python's `multiprocessing.Process`.
///
/// Cloning gives another handle to the same process (Python's objects are references too).
///
/// # Examples
/// ```no_run
/// use multiproc::Process;
///
/// fn greet(name: String) {
///     println!("hello, {name}");
/// }
///
/// let p = Process::new(greet, "bob".to_string());
/// p.start()?;
/// assert_eq!(p.join()?, 0);
///
/// let p = Process::new(|(a, b): (u64, u64)| multiproc::exit((a + b) as i32), (2, 3));
/// p.start()?;
/// assert_eq!(p.join()?, 5);
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
#[derive(Clone)]
pub struct Process {
    inner: Arc<Inner>,
}

/// The longest a fork-server child's `join` sleeps on the report socket before it also looks
/// at the child's pidfd.
const SLICE: Duration = Duration::from_millis(100);

/// Locks `m`, going on after a panic elsewhere poisoned it (the state stays usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Process {
    /// A process that will run `target(args)`.
    ///
    /// `target` must be a `fn` item or a closure that captures nothing (anything else fails to
    /// compile: the child rebuilds the function from its type). Pass several arguments as a
    /// tuple. Arguments may hold handles (connections, locks, queues, [`Fd`](crate::handle::Fd)):
    /// they reach the child under every start method.
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::new(|n: u32| assert!(n > 0), 7);
    /// assert_eq!(p.name(), format!("Process-{}", p.name()[8..].to_string()));
    /// assert!(!p.is_alive());
    /// ```
    pub fn new<F, A>(target: F, args: A) -> Process
    where
        F: Fn(A) + Send + Sync + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
    {
        const {
            assert!(
                std::mem::size_of::<F>() == 0,
                "a process target must be a fn item or a closure that captures nothing"
            )
        };
        Process::with_target(
            "Process".to_string(),
            Target::Portable(Box::new(FnTarget { f: target, args, _r: std::marker::PhantomData })),
            None,
        )
    }

    /// A process running a [`Run`] job (Python's subclass overriding `run()`); its default
    /// name uses the type's name, as Python uses the class name.
    ///
    /// # Examples
    /// See [`Run`].
    pub fn from_run<J: Run>(job: J) -> Process {
        fn run_job<J: Run>(job: J) -> J::Output {
            job.run()
        }
        Process::with_target(
            J::name_prefix(),
            Target::Portable(Box::new(FnTarget { f: run_job::<J>, args: job, _r: std::marker::PhantomData })),
            None,
        )
    }

    /// A process running a closure that may capture anything; it can only start with
    /// [`StartMethod::Fork`], which this sets.
    ///
    /// # Examples
    /// ```no_run
    /// let data = vec![1, 2, 3];
    /// let p = multiproc::Process::with_closure(move || assert_eq!(data.len(), 3));
    /// p.start()?;
    /// assert_eq!(p.join()?, 0);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn with_closure<F>(f: F) -> Process
    where
        F: FnOnce() + Send + 'static,
    {
        Process::with_target(
            "Process".to_string(),
            Target::Closure(Box::new(move || {
                f();
                0
            })),
            Some(StartMethod::Fork),
        )
    }

    /// A builder to set the name, daemon flag and start method before choosing the target.
    ///
    /// # Examples
    /// ```
    /// use multiproc::{Process, StartMethod};
    /// let p = Process::builder().name("worker").daemon(true).start_method(StartMethod::Fork)
    ///     .target(|(): ()| {}, ());
    /// assert_eq!(p.name(), "worker");
    /// assert!(p.daemon());
    /// ```
    pub fn builder() -> ProcessBuilder {
        ProcessBuilder::default()
    }

    fn with_target(prefix: String, target: Target, method: Option<StartMethod>) -> Process {
        let count = G.process_counter.fetch_add(1, Ordering::Relaxed) + 1;
        let cur = current_process();
        let mut identity = cur.info.identity.clone();
        identity.push(count);
        let name = format!("{prefix}-{}", identity.iter().map(u32::to_string).collect::<Vec<_>>().join(":"));
        Process {
            inner: Arc::new(Inner {
                creator_pid: sys::liveness::my_pid(),
                state: Mutex::new(State {
                    name,
                    daemon: cur.info.daemon,
                    method,
                    identity,
                    target: Some(target),
                    phase: Phase::Initial,
                    closed: false,
                    exitcode: None,
                    child: None,
                    failure: None,
                }),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// The process name (Python's default: `Process-N`, `Process-N:M` in a child).
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// assert!(p.name().starts_with("Process-"));
    /// ```
    pub fn name(&self) -> String {
        self.state().name.clone()
    }

    /// Renames the process; the child sees the name it had at start.
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// p.set_name("worker");
    /// assert_eq!(p.name(), "worker");
    /// ```
    pub fn set_name(&self, name: impl Into<String>) {
        self.state().name = name.into();
    }

    /// Is this a daemon process (terminated when its parent exits; may not have children)?
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// assert!(!p.daemon()); // the main process is not a daemon
    /// ```
    pub fn daemon(&self) -> bool {
        self.state().daemon
    }

    /// Sets the daemon flag.
    ///
    /// # Errors
    /// [`ProcessErrorKind::AlreadyStartedSetting`] once started.
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// p.set_daemon(true)?;
    /// assert!(p.daemon());
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn set_daemon(&self, daemon: bool) -> Result<(), ProcessError> {
        let mut s = self.state();
        if s.phase != Phase::Initial {
            return Err(ProcessError::new(ProcessErrorKind::AlreadyStartedSetting, "process has already started"));
        }
        s.daemon = daemon;
        Ok(())
    }

    /// The start method this process uses (the global one unless set).
    ///
    /// # Examples
    /// ```
    /// use multiproc::{Process, StartMethod};
    /// let p = Process::new(|(): ()| {}, ());
    /// p.set_start_method(StartMethod::Fork)?;
    /// assert_eq!(p.start_method(), StartMethod::Fork);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn start_method(&self) -> StartMethod {
        self.state().method.unwrap_or_else(get_start_method)
    }

    /// Chooses the start method for this process.
    ///
    /// # Errors
    /// Fails once started, and for a closure process with anything but `Fork`.
    ///
    /// # Examples
    /// ```
    /// use multiproc::{Process, StartMethod};
    /// let p = Process::new(|(): ()| {}, ());
    /// p.set_start_method(StartMethod::ForkServer)?;
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn set_start_method(&self, method: StartMethod) -> Result<(), ProcessError> {
        let mut s = self.state();
        if s.phase != Phase::Initial {
            return Err(ProcessError::new(ProcessErrorKind::AlreadyStartedSetting, "process has already started"));
        }
        if matches!(s.target, Some(Target::Closure(_))) && method != StartMethod::Fork {
            return Err(ProcessError::new(
                ProcessErrorKind::ClosureNeedsFork,
                "a capturing closure can only run in a child made by fork",
            ));
        }
        s.method = Some(method);
        Ok(())
    }

    /// Starts the child. At most once per `Process`.
    ///
    /// # Errors
    /// [`AlreadyStarted`](ProcessErrorKind::AlreadyStarted), [`Closed`](ProcessErrorKind::Closed),
    /// [`DaemonChildren`](ProcessErrorKind::DaemonChildren) in a daemon process,
    /// [`NotCreator`](ProcessErrorKind::NotCreator), [`Encode`](ProcessErrorKind::Encode) when
    /// the arguments cannot be serialized, [`Os`](ProcessErrorKind::Os) when the system refuses.
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// p.start()?;
    /// assert!(p.start().is_err()); // only once
    /// p.join()?;
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn start(&self) -> Result<(), ProcessError> {
        bootstrap::keep_ctor();
        let mut s = self.state();
        if s.closed {
            return Err(closed());
        }
        if s.phase != Phase::Initial {
            return Err(ProcessError::new(ProcessErrorKind::AlreadyStarted, "cannot start a process twice"));
        }
        if self.inner.creator_pid != sys::liveness::my_pid() {
            return Err(ProcessError::new(
                ProcessErrorKind::NotCreator,
                "can only start a process object created by current process",
            ));
        }
        let cur = current_process();
        if cur.daemon() {
            return Err(ProcessError::new(
                ProcessErrorKind::DaemonChildren,
                "daemonic processes are not allowed to have children",
            ));
        }
        let method = s.method.unwrap_or_else(get_start_method);
        let Some(target) = s.target.take() else {
            return Err(ProcessError::new(ProcessErrorKind::AlreadyStarted, "cannot start a process twice"));
        };
        if matches!(target, Target::Closure(_)) && method != StartMethod::Fork {
            s.target = Some(target);
            return Err(ProcessError::new(
                ProcessErrorKind::ClosureNeedsFork,
                "a capturing closure can only run in a child made by fork",
            ));
        }
        let info = ChildInfo {
            name: s.name.clone(),
            identity: s.identity.clone(),
            daemon: s.daemon,
            authkey: cur.info.authkey.clone(),
            parent_pid: sys::liveness::my_pid(),
            parent_name: cur.info.name.clone(),
            method,
        };
        ensure_exit_hook();
        let child = launcher::run(move || start::launch(method, info, target))?;
        s.child = Some(Arc::new(child));
        s.phase = Phase::Started;
        drop(s);
        lock(&G.children).push(self.clone());
        Ok(())
    }

    fn started_child(&self) -> Result<Option<Arc<ChildHandle>>, ProcessError> {
        let s = self.state();
        if s.closed {
            return Err(closed());
        }
        if s.phase == Phase::Initial {
            return Err(ProcessError::new(ProcessErrorKind::NotStarted, "can only join a started process"));
        }
        if self.inner.creator_pid != sys::liveness::my_pid() {
            return Err(ProcessError::new(ProcessErrorKind::NotCreator, "can only join a child process"));
        }
        Ok(if s.exitcode.is_some() { None } else { s.child.clone() })
    }

    /// Records the exit if the child has ended; returns the exit code if known.
    fn poll_exit(&self) -> Result<Option<i32>, ProcessError> {
        let mut s = self.state();
        if let Some(c) = s.exitcode {
            return Ok(Some(c));
        }
        let Some(child) = s.child.clone() else { return Ok(None) };
        match child.try_reap()? {
            None => Ok(None),
            Some(code) => {
                s.exitcode = Some(code);
                s.phase = Phase::Stopped;
                // A child reports only when it fails, and then its exit code is not 0.
                s.failure = if code != 0 { child.read_failure() } else { None };
                drop(s);
                lock(&G.children).retain(|p| !Arc::ptr_eq(&p.inner, &self.inner));
                Ok(Some(code))
            }
        }
    }

    /// Waits for the child to end and returns its exit code. May be called many times.
    ///
    /// # Errors
    /// [`NotStarted`](ProcessErrorKind::NotStarted), [`Closed`](ProcessErrorKind::Closed),
    /// [`NotCreator`](ProcessErrorKind::NotCreator).
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|code: i32| multiproc::exit(code), 4);
    /// p.start()?;
    /// assert_eq!(p.join()?, 4);
    /// assert_eq!(p.join()?, 4); // again: same answer
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn join(&self) -> Result<i32, ProcessError> {
        loop {
            if let Some(code) = self.join_deadline(None)? {
                return Ok(code);
            }
        }
    }

    /// Waits at most `timeout`; `Ok(None)` if the child is still running then.
    /// A zero timeout only checks.
    ///
    /// # Errors
    /// As [`join`](Process::join).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let p = multiproc::Process::new(|s: u64| std::thread::sleep(Duration::from_secs(s)), 10);
    /// p.start()?;
    /// assert_eq!(p.join_timeout(Duration::from_millis(10))?, None); // still running
    /// p.kill()?;
    /// assert_eq!(p.join()?, -9);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<Option<i32>, ProcessError> {
        self.join_deadline(Some(Instant::now() + timeout))
    }

    fn join_deadline(&self, deadline: Option<Instant>) -> Result<Option<i32>, ProcessError> {
        loop {
            let Some(child) = self.started_child()? else {
                return Ok(self.state().exitcode);
            };
            // A fork-server child is awaited on its report socket, which a descendant that
            // forked without exec could keep open after the child died: look at the child's
            // pidfd at least every `SLICE`.
            let until = match (&child.waiter, deadline) {
                (Waiter::Status(_), Some(d)) => Some(d.min(Instant::now() + SLICE)),
                (Waiter::Status(_), None) => Some(Instant::now() + SLICE),
                (Waiter::Direct, d) => d,
            };
            match (&child.waiter, child.wait_fd()) {
                // No spinning first: polling a pidfd in a loop slows the exiting child (both take
                // the pidfd's wait-queue lock) more than the wake-up it would save (measured).
                (Waiter::Direct, Some(fd)) => {
                    sys::fd::poll_readable(&[fd], until).map_err(|e| ProcessError::os("poll", e))?;
                }
                // The child writes its exit code there and then exits: woken by the exit.
                (Waiter::Status(_), Some(fd)) => {
                    sys::fd::poll_hangup(fd, until).map_err(|e| ProcessError::os("poll", e))?;
                }
                (_, None) => {}
            }
            if let Some(code) = self.poll_exit()? {
                return Ok(Some(code));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// Is the child running? False before start and after it ended (and reaps it).
    /// A closed process is not alive.
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// assert!(!p.is_alive()); // not started
    /// p.start()?;
    /// p.join()?;
    /// assert!(!p.is_alive()); // ended
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        {
            let s = self.state();
            if s.closed || s.phase != Phase::Started || self.inner.creator_pid != sys::liveness::my_pid() {
                return false;
            }
        }
        matches!(self.poll_exit(), Ok(None))
    }

    /// The child's pid once started.
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// assert_eq!(p.pid(), None);
    /// p.start()?;
    /// assert!(p.pid().is_some());
    /// p.join()?;
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn pid(&self) -> Option<u32> {
        self.state().child.as_ref().and_then(|c| c.pid())
    }

    /// The exit code once the child ended: 0, `n`, 1 after a panic, `-N` after signal `N`.
    ///
    /// A crash is a signal: a segfault gives `-11`, `abort()` `-6`. A stack overflow is
    /// `-11`, except under [`StartMethod::Fork`] where the child inherits the Rust runtime's
    /// handler from the parent, which prints "has overflowed its stack" and aborts (`-6`).
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// assert_eq!(p.exitcode(), None);
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(0));
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        if self.state().phase == Phase::Started {
            let _ = self.poll_exit();
        }
        self.state().exitcode
    }

    /// What the child reported if it panicked or failed to start (after it ended).
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|(): ()| panic!("oops"), ());
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(p.failure().unwrap().message, "oops");
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn failure(&self) -> Option<ChildFailure> {
        self.state().failure.clone()
    }

    /// A descriptor that becomes readable when the child ends (for `poll`/`wait`).
    ///
    /// # Errors
    /// [`NotStarted`](ProcessErrorKind::NotStarted) before start (Python: `ValueError('process not started')`),
    /// [`Closed`](ProcessErrorKind::Closed) after close.
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// assert!(p.sentinel().is_err()); // not started
    /// p.start()?;
    /// let fd = p.sentinel()?; // poll it, or pass it to connection::wait
    /// assert!(fd >= 0);
    /// p.join()?;
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn sentinel(&self) -> Result<RawFd, ProcessError> {
        let s = self.state();
        if s.closed {
            return Err(closed());
        }
        match &s.child {
            Some(c) => Ok(c.sentinel()),
            None => Err(ProcessError::new(ProcessErrorKind::NotStarted, "process not started")),
        }
    }

    fn signal(&self, sig: i32) -> Result<(), ProcessError> {
        let Some(child) = self.started_child()? else { return Ok(()) };
        child.signal(sig)
    }

    /// Sends SIGTERM (Python's `terminate`). The child's exit code becomes -15 unless it
    /// handles the signal. Nothing happens if it already ended.
    ///
    /// # Errors
    /// As [`join`](Process::join), or the system refusing the signal.
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|(): ()| std::thread::sleep(std::time::Duration::from_secs(60)), ());
    /// p.start()?;
    /// p.terminate()?;
    /// assert_eq!(p.join()?, -15);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.signal(libc::SIGTERM)
    }

    /// Sends SIGKILL: exit code -9.
    ///
    /// # Errors
    /// As [`terminate`](Process::terminate).
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|(): ()| std::thread::sleep(std::time::Duration::from_secs(60)), ());
    /// p.start()?;
    /// p.kill()?;
    /// assert_eq!(p.join()?, -9);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.signal(libc::SIGKILL)
    }

    /// Sends SIGINT: exit code -2 unless the child handles it.
    ///
    /// # Errors
    /// As [`terminate`](Process::terminate).
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|(): ()| std::thread::sleep(std::time::Duration::from_secs(60)), ());
    /// p.start()?;
    /// p.interrupt()?;
    /// assert_eq!(p.join()?, -2);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn interrupt(&self) -> Result<(), ProcessError> {
        self.signal(libc::SIGINT)
    }

    /// Releases the resources of an ended process. Idempotent; afterwards most methods fail
    /// with [`Closed`](ProcessErrorKind::Closed).
    ///
    /// # Errors
    /// [`StillRunning`](ProcessErrorKind::StillRunning) if the child runs.
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// p.start()?;
    /// p.join()?;
    /// p.close()?;
    /// assert!(p.join().is_err()); // closed
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn close(&self) -> Result<(), ProcessError> {
        if self.state().phase == Phase::Started && self.poll_exit()?.is_none() {
            return Err(ProcessError::new(
                ProcessErrorKind::StillRunning,
                "cannot close a process while it is still running; join() or terminate() it first",
            ));
        }
        let mut s = self.state();
        s.closed = true;
        s.child = None;
        s.target = None;
        drop(s);
        lock(&G.children).retain(|p| !Arc::ptr_eq(&p.inner, &self.inner));
        Ok(())
    }

    /// The authentication key the child inherits (the creator's).
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::new(|(): ()| {}, ());
    /// assert_eq!(p.authkey(), multiproc::current_process().authkey());
    /// ```
    pub fn authkey(&self) -> Vec<u8> {
        current_process().info.authkey.clone()
    }
}

fn closed() -> ProcessError {
    ProcessError::new(ProcessErrorKind::Closed, "process object is closed")
}

impl fmt::Debug for Process {
    /// Python's repr: `<Process name='Process-5' pid=123 parent=100 stopped exitcode=-SIGTERM daemon>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state();
        let status = if s.closed {
            "closed"
        } else {
            match s.phase {
                Phase::Initial => "initial",
                Phase::Started => "started",
                Phase::Stopped => "stopped",
            }
        };
        write!(f, "<Process name='{}'", s.name)?;
        if let Some(pid) = s.child.as_ref().and_then(|c| c.pid()) {
            write!(f, " pid={pid} parent={}", self.inner.creator_pid)?;
        }
        write!(f, " {status}")?;
        if let Some(code) = s.exitcode {
            match signal_name(-code) {
                Some(n) if code < 0 => write!(f, " exitcode=-{n}")?,
                _ => write!(f, " exitcode={code}")?,
            }
        }
        if s.daemon {
            write!(f, " daemon")?;
        }
        write!(f, ">")
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// Sets name, daemon flag and start method, then the target.
///
/// # Examples
/// ```
/// let p = multiproc::Process::builder().name("job").target(|x: i32| assert_eq!(x, 1), 1);
/// assert_eq!(p.name(), "job");
/// ```
#[derive(Debug, Default, Clone)]
pub struct ProcessBuilder {
    name: Option<String>,
    daemon: Option<bool>,
    method: Option<StartMethod>,
}

impl ProcessBuilder {
    /// The process name.
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::builder().name("loader").target(|(): ()| {}, ());
    /// assert_eq!(p.name(), "loader");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The daemon flag (default: the creator's).
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::builder().daemon(true).target(|(): ()| {}, ());
    /// assert!(p.daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// The start method (default: the global one at start time).
    ///
    /// # Examples
    /// ```
    /// use multiproc::{Process, StartMethod};
    /// let p = Process::builder().start_method(StartMethod::Fork).target(|(): ()| {}, ());
    /// assert_eq!(p.start_method(), StartMethod::Fork);
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    fn apply(self, p: Process) -> Process {
        {
            let mut s = p.state();
            if let Some(n) = self.name {
                s.name = n;
            }
            if let Some(d) = self.daemon {
                s.daemon = d;
            }
            if let Some(m) = self.method {
                s.method = Some(m);
            }
        }
        p
    }

    /// A process running `target(args)`; see [`Process::new`].
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::builder().name("adder").target(|(a, b): (i32, i32)| println!("{}", a + b), (1, 2));
    /// assert_eq!(p.name(), "adder");
    /// ```
    pub fn target<F, A>(self, target: F, args: A) -> Process
    where
        F: Fn(A) + Send + Sync + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply(Process::new(target, args))
    }

    /// A process running a [`Run`] job; see [`Process::from_run`].
    ///
    /// # Examples
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Job;
    /// impl multiproc::Run for Job {
    ///     type Output = ();
    ///     fn run(self) {}
    /// }
    /// let p = multiproc::Process::builder().name("job").run(Job);
    /// assert_eq!(p.name(), "job");
    /// ```
    pub fn run<J: Run>(self, job: J) -> Process {
        self.apply(Process::from_run(job))
    }
}

/// What this process knows about itself.
#[derive(Debug, Clone)]
pub(crate) struct SelfInfo {
    pub(crate) name: String,
    pub(crate) identity: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) authkey: Vec<u8>,
}

/// The calling process, as Python's `current_process()`.
///
/// # Examples
/// ```
/// let me = multiproc::current_process();
/// assert_eq!(me.name(), "MainProcess");
/// assert_eq!(me.pid(), std::process::id());
/// assert!(!me.daemon());
/// assert_eq!(me.authkey().len(), 32);
/// ```
#[derive(Debug, Clone)]
pub struct CurrentProcess {
    info: Arc<SelfInfo>,
}

impl CurrentProcess {
    /// The name: `MainProcess` in the main process, the `Process` name in a child.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::current_process().name(), "MainProcess");
    /// ```
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The pid of the calling process.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::current_process().pid(), std::process::id());
    /// ```
    pub fn pid(&self) -> u32 {
        sys::liveness::my_pid()
    }

    /// Is the calling process a daemon?
    ///
    /// # Examples
    /// ```
    /// assert!(!multiproc::current_process().daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        self.info.daemon
    }

    /// The authentication key (32 random bytes in the main process, inherited by children).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::current_process().authkey().len(), 32);
    /// ```
    pub fn authkey(&self) -> &[u8] {
        &self.info.authkey
    }

    /// Always true: the calling process is running.
    ///
    /// # Examples
    /// ```
    /// assert!(multiproc::current_process().is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        true
    }

    /// Always `None` for the running process.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::current_process().exitcode(), None);
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        None
    }

    /// The identity path: empty in the main process, `[1]` for `Process-1`, `[1, 2]` for its
    /// second child.
    ///
    /// # Examples
    /// ```
    /// assert!(multiproc::current_process().identity().is_empty()); // the main process
    /// ```
    pub fn identity(&self) -> &[u32] {
        &self.info.identity
    }
}

/// The calling process.
///
/// # Examples
/// See [`CurrentProcess`].
pub fn current_process() -> CurrentProcess {
    let mut g = lock(&G.current);
    let info = g.get_or_insert_with(|| {
        let mut authkey = vec![0u8; 32];
        getrandom::fill(&mut authkey).expect("the system random number generator failed");
        Arc::new(SelfInfo { name: "MainProcess".into(), identity: Vec::new(), daemon: false, authkey })
    });
    CurrentProcess { info: info.clone() }
}

/// The parent of a child process, as Python's `parent_process()`.
///
/// # Examples
/// ```
/// assert!(multiproc::parent_process().is_none()); // in the main process
/// ```
#[derive(Debug)]
pub struct ParentProcess {
    pid: u32,
    name: String,
    pidfd: Option<OwnedFd>,
}

impl ParentProcess {
    /// The parent's pid.
    ///
    /// # Examples
    /// ```
    /// fn child(_: ()) {
    ///     let parent = multiproc::parent_process().unwrap();
    ///     println!("my parent is {}", parent.pid());
    /// }
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The parent's name.
    ///
    /// # Examples
    /// ```
    /// fn child(_: ()) {
    ///     assert_eq!(multiproc::parent_process().unwrap().name(), "MainProcess");
    /// }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Is the parent still running?
    ///
    /// # Examples
    /// ```
    /// fn child(_: ()) {
    ///     assert!(multiproc::parent_process().unwrap().is_alive());
    /// }
    /// ```
    pub fn is_alive(&self) -> bool {
        match &self.pidfd {
            Some(fd) => !sys::fd::is_readable(fd.as_fd()).unwrap_or(true),
            None => false,
        }
    }

    /// Waits until the parent ends or `timeout` passes; returns whether it ended.
    ///
    /// # Examples
    /// ```
    /// fn child(_: ()) {
    ///     let parent = multiproc::parent_process().unwrap();
    ///     if parent.join_timeout(std::time::Duration::from_secs(1)) {
    ///         println!("the parent is gone");
    ///     }
    /// }
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        match &self.pidfd {
            Some(fd) => !sys::fd::poll_readable(&[fd.as_fd()], Some(Instant::now() + timeout))
                .map(|v| v.is_empty())
                .unwrap_or(false),
            None => true,
        }
    }

    /// A descriptor that becomes readable when the parent ends.
    ///
    /// # Examples
    /// ```
    /// fn child(_: ()) {
    ///     let fd = multiproc::parent_process().unwrap().sentinel();
    ///     assert!(fd.is_some());
    /// }
    /// ```
    pub fn sentinel(&self) -> Option<RawFd> {
        self.pidfd.as_ref().map(|f| f.as_raw_fd())
    }
}

/// The parent process of a child, `None` in the main process.
///
/// # Examples
/// See [`ParentProcess`].
pub fn parent_process() -> Option<ParentProcess> {
    let (pid, name) = lock(&G.parent).clone()?;
    Some(ParentProcess { pid, name, pidfd: sys::proc::pidfd_open(pid).ok() })
}

/// Sets up the process-wide state of a new child.
pub(crate) fn become_child(info: &ChildInfo) {
    ChildGlobals::new(info).install(&mut lock(&G.current), &mut lock(&G.parent), &mut lock(&G.method));
}

/// The process-wide state of a new child, built before `fork` so that the child only moves
/// values into place (no allocation, fewer copy-on-write page faults).
pub(crate) struct ChildGlobals {
    current: Arc<SelfInfo>,
    parent: (u32, String),
    method: StartMethod,
}

impl ChildGlobals {
    pub(crate) fn new(info: &ChildInfo) -> ChildGlobals {
        ChildGlobals {
            current: Arc::new(SelfInfo {
                name: info.name.clone(),
                identity: info.identity.clone(),
                daemon: info.daemon,
                authkey: info.authkey.clone(),
            }),
            parent: (info.parent_pid, info.parent_name.clone()),
            method: info.method,
        }
    }

    /// Installs the state, with the globals already locked (a forked child holds copies of
    /// the parent's guards).
    pub(crate) fn install(
        self,
        current: &mut Option<Arc<SelfInfo>>,
        parent: &mut Option<(u32, String)>,
        method: &mut Option<StartMethod>,
    ) {
        // What was there is the parent's: left unfreed, as freeing would write to the heap
        // (in a forked child, each page written is copied).
        std::mem::forget(current.replace(self.current));
        std::mem::forget(parent.replace(self.parent));
        G.process_counter.store(0, Ordering::Relaxed);
        *method = Some(self.method);
    }
}

/// The live children of the calling process; ended ones are reaped on the way.
///
/// # Examples
/// ```
/// assert!(multiproc::active_children().is_empty());
/// ```
pub fn active_children() -> Vec<Process> {
    let kids: Vec<Process> = lock(&G.children).clone();
    kids.into_iter().filter(|p| p.is_alive()).collect()
}

/// The number of CPUs in the system (Python's `os.cpu_count()`), at least 1.
///
/// # Examples
/// ```
/// assert!(multiproc::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    sys::proc::cpu_count()
}

/// The number of CPUs this process may use (affinity and cgroup limits), at least 1: the
/// default worker count of pools (Python 3.13's `os.process_cpu_count()`).
///
/// # Examples
/// ```
/// assert!(multiproc::process_cpu_count() <= multiproc::cpu_count());
/// ```
pub fn process_cpu_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(cpu_count())
}

/// Ends the calling process with `code` after joining its non-daemon children and flushing
/// stdout and stderr: the way for a target to set its exit code (Python's `sys.exit(n)`).
///
/// # Examples
/// ```no_run
/// let p = multiproc::Process::new(|(): ()| multiproc::exit(3), ());
/// p.start()?;
/// assert_eq!(p.join()?, 3);
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
pub fn exit(code: i32) -> ! {
    bootstrap::finish_child(code)
}

/// Python's `util._exit_function`: terminate daemon children, join the others.
pub(crate) fn exit_function() {
    let me = sys::liveness::my_pid();
    let kids: Vec<Process> = std::mem::take(&mut *lock(&G.children));
    let kids: Vec<Process> = kids.into_iter().filter(|p| p.inner.creator_pid == me).collect();
    for p in &kids {
        if p.daemon() && p.is_alive() {
            let _ = p.terminate();
        }
    }
    for p in &kids {
        let _ = p.join();
    }
}

extern "C" fn at_exit() {
    exit_function();
}

fn ensure_exit_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| sys::proc::at_exit(at_exit));
}

/// Runs the child bootstrap when this process was started as a child, and does nothing
/// otherwise.
///
/// With the default `ctor` feature the bootstrap already ran before `main`, and this is a
/// no-op. Without it, call `init()` first thing in `main`: code before it runs in every child
/// too.
///
/// # Examples
/// ```
/// fn main() {
///     multiproc::init();
///     // ...
/// }
/// # main();
/// ```
pub fn init() {
    bootstrap::maybe_run_child();
}
