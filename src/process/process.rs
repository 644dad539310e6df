//! [`Process`]: Python's `multiprocessing.Process`, the parent's handle on a child.

use std::fmt;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::child::{ChildHandle, Waiter};
use super::current::current_process;
use super::default_method::get_start_method;
use super::globals::G;
use super::method::StartMethod;
use super::records::{ChildFailure, ChildInfo, LiveChild, LiveEntry};
use super::target::{FnTarget, Run, TargetResult, Work};
use super::{entry, exit, launcher, start};
use crate::error::{ProcessError, ProcessErrorKind};
use crate::func::Target;
use crate::sys;
use crate::util::lock;

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
    target: Option<Work>,
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

impl Process {
    /// A process that will run `target(args)`.
    ///
    /// `target` is a `fn` item or a closure that captures nothing, of any arity up to eight
    /// (see [`Target`]): `args` is `()` for none, the argument itself for one, a tuple for
    /// more. It may return `()`, an exit code, or a `Result` whose error becomes exit code 1
    /// and [`failure`](Process::failure) (see [`TargetResult`]).
    /// Arguments may hold handles (connections, locks, queues, [`Fd`](crate::handle::Fd)):
    /// they reach the child under every start method.
    ///
    /// A closure that captures data cannot be rebuilt in a child and fails to build (in
    /// `cargo build`; `cargo check` stops before that check) with a message saying what to do:
    /// pass the data as an argument, or use [`Process::with_closure`] under `Fork`.
    ///
    /// The arguments are encoded with the crate's codec (postcard): a type it can encode but
    /// not decode (`#[serde(untagged)]`, `#[serde(flatten)]`, `deserialize_any`) is refused by
    /// [`start`](Process::start) with [`ProcessErrorKind::Encode`] and the reason.
    ///
    /// # Examples
    /// ```
    /// use multiproc::Process;
    ///
    /// fn hello() {}
    /// fn add(a: u64, b: u64) -> i32 {
    ///     (a + b) as i32 // the exit code
    /// }
    /// let p = Process::new(hello, ());
    /// let q = Process::new(add, (1, 2));
    /// let r = Process::new(|n: u32| assert!(n > 0), 7);
    /// assert!(p.name().starts_with("Process-") && !q.is_alive() && !r.is_alive());
    /// ```
    ///
    /// A capturing closure does not build:
    /// ```compile_fail
    /// let data = vec![1, 2, 3];
    /// let p = multiproc::Process::new(move || assert_eq!(data.len(), 3), ());
    /// ```
    ///
    /// Nor do arguments that cannot be serialized:
    /// ```compile_fail
    /// struct NotSerde;
    /// let p = multiproc::Process::new(|_x: NotSerde| {}, NotSerde);
    /// ```
    pub fn new<F, A, M>(target: F, args: A) -> Process
    where
        F: Target<A, M>,
        F::Output: TargetResult,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        Process::with_target("Process".to_string(), Work::Portable(Box::new(FnTarget::new(target, args))), None)
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
        Process::with_target(J::name_prefix(), Work::Portable(Box::new(FnTarget::new(run_job::<J>, job))), None)
    }

    /// A process running a closure that may capture anything; it can only start with
    /// [`StartMethod::Fork`], which this sets. It may return what a target returns
    /// ([`TargetResult`]).
    ///
    /// # Examples
    /// ```no_run
    /// let data = vec![1, 2, 3];
    /// let p = multiproc::Process::with_closure(move || assert_eq!(data.len(), 3));
    /// p.start()?;
    /// assert_eq!(p.join()?, 0);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn with_closure<F, R>(f: F) -> Process
    where
        F: FnOnce() -> R + Send + 'static,
        R: TargetResult,
    {
        Process::with_target(
            "Process".to_string(),
            Work::Closure(Box::new(move || f().into_exit_code())),
            Some(StartMethod::Fork),
        )
    }

    fn with_target(prefix: String, target: Work, method: Option<StartMethod>) -> Process {
        let count = G.process_counter.fetch_add(1, Ordering::Relaxed) + 1;
        let cur = current_process();
        let mut identity = cur.identity().to_vec();
        identity.push(count);
        let name = format!("{prefix}-{}", identity.iter().map(u32::to_string).collect::<Vec<_>>().join(":"));
        Process {
            inner: Arc::new(Inner {
                creator_pid: sys::liveness::my_pid(),
                state: Mutex::new(State {
                    name,
                    daemon: cur.is_daemon(),
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

    /// Sets what a builder was given, on a process that has not started.
    pub(super) fn configure(&self, name: Option<String>, daemon: Option<bool>, method: Option<StartMethod>) {
        let mut s = self.state();
        if let Some(n) = name {
            s.name = n;
        }
        if let Some(d) = daemon {
            s.daemon = d;
        }
        if let Some(m) = method {
            s.method = Some(m);
        }
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
    /// Python's `p.daemon`.
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::new(|| {}, ());
    /// assert!(!p.is_daemon()); // the main process is not a daemon
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.state().daemon
    }

    /// Sets the daemon flag (Python's `p.daemon = True`).
    ///
    /// # Errors
    /// [`ProcessErrorKind::AlreadyStartedSetting`] once started (Python: `AssertionError('process
    /// has already started')`).
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::new(|| {}, ());
    /// p.set_daemon(true)?;
    /// assert!(p.is_daemon());
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
        if matches!(s.target, Some(Work::Closure(_))) && method != StartMethod::Fork {
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
        entry::keep_ctor();
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
        if cur.is_daemon() {
            return Err(ProcessError::new(
                ProcessErrorKind::DaemonChildren,
                "daemonic processes are not allowed to have children",
            ));
        }
        let method = s.method.unwrap_or_else(get_start_method);
        let Some(target) = s.target.take() else {
            return Err(ProcessError::new(ProcessErrorKind::AlreadyStarted, "cannot start a process twice"));
        };
        if matches!(target, Work::Closure(_)) && method != StartMethod::Fork {
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
            authkey: cur.authkey().to_vec(),
            parent_pid: sys::liveness::my_pid(),
            parent_name: cur.name().to_string(),
            method,
            log: crate::logging::inherited(),
        };
        exit::ensure_exit_hook();
        let child = launcher::run(move || start::launch(method, info, target))?;
        s.child = Some(Arc::new(child));
        s.phase = Phase::Started;
        drop(s);
        lock(&G.children).push(Arc::new(self.clone()) as LiveEntry);
        Ok(())
    }

    /// The child, for `verb` ("join", "terminate", ...): `None` once it has ended.
    fn started_child(&self, verb: &str) -> Result<Option<Arc<ChildHandle>>, ProcessError> {
        let s = self.state();
        if s.closed {
            return Err(closed());
        }
        if s.phase == Phase::Initial {
            return Err(ProcessError::new(
                ProcessErrorKind::NotStarted,
                format!("can only {verb} a started process; call start() first"),
            ));
        }
        if self.inner.creator_pid != sys::liveness::my_pid() {
            return Err(ProcessError::new(
                ProcessErrorKind::NotCreator,
                format!(
                    "can only {verb} a child process: this process object was created by process {}",
                    self.inner.creator_pid
                ),
            ));
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
                self.forget_child();
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

    /// Waits at most `timeout` for the child to end and returns its exit code (Python's
    /// `join(timeout)`, which returns `None` and leaves `exitcode` unset when time runs out).
    /// A zero timeout only checks; `Duration::MAX` waits as long as [`join`](Process::join).
    ///
    /// # Errors
    /// [`Timeout`](ProcessErrorKind::Timeout) (see [`ProcessError::is_timeout`]) if the child
    /// is still running then; otherwise as [`join`](Process::join).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let p = multiproc::Process::new(|s: u64| std::thread::sleep(Duration::from_secs(s)), 10);
    /// p.start()?;
    /// assert!(p.join_timeout(Duration::from_millis(10)).unwrap_err().is_timeout()); // still running
    /// p.kill()?;
    /// assert_eq!(p.join()?, -9);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<i32, ProcessError> {
        match self.join_deadline(crate::deadline::after(timeout))? {
            Some(code) => Ok(code),
            None => Err(ProcessError::new(
                ProcessErrorKind::Timeout,
                format!("the process is still running after {timeout:?}; join again, or terminate() or kill() it"),
            )),
        }
    }

    /// The exit code if the child has ended, without waiting.
    ///
    /// # Errors
    /// [`WouldBlock`](ProcessErrorKind::WouldBlock) (see [`ProcessError::is_would_block`]) if
    /// the child is still running; otherwise as [`join`](Process::join).
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|| std::thread::sleep(std::time::Duration::from_secs(60)), ());
    /// p.start()?;
    /// assert!(p.try_join().unwrap_err().is_would_block());
    /// p.kill()?;
    /// assert_eq!(p.join()?, -9);
    /// assert_eq!(p.try_join()?, -9);
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn try_join(&self) -> Result<i32, ProcessError> {
        match self.join_deadline(Some(Instant::now()))? {
            Some(code) => Ok(code),
            None => Err(ProcessError::new(
                ProcessErrorKind::WouldBlock,
                "the process is still running; join() waits for it, join_timeout() for a while",
            )),
        }
    }

    fn join_deadline(&self, deadline: Option<Instant>) -> Result<Option<i32>, ProcessError> {
        loop {
            let Some(child) = self.started_child("join")? else {
                return Ok(self.state().exitcode);
            };
            // A fork-server child is awaited on its report socket, which a descendant that
            // forked without exec could keep open after the child died: look at the child's
            // pidfd at least every `SLICE`.
            let until = match (&child.waiter, deadline) {
                (Waiter::Status(_), d) => crate::deadline::min_slice(d, SLICE),
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

    /// The child's pid once started: Python's `ident`, another name for [`pid`](Process::pid).
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::new(|| {}, ());
    /// assert_eq!(p.ident(), p.pid());
    /// ```
    pub fn ident(&self) -> Option<u32> {
        self.pid()
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

    fn signal(&self, sig: i32, verb: &str) -> Result<(), ProcessError> {
        let Some(child) = self.started_child(verb)? else { return Ok(()) };
        child.signal(sig)
    }

    /// Sends SIGTERM (Python's `terminate`). The child's exit code becomes -15 unless it
    /// handles the signal. Nothing happens if it already ended.
    ///
    /// # Errors
    /// [`NotStarted`](ProcessErrorKind::NotStarted) before [`start`](Process::start) ("can only
    /// terminate a started process"), as [`join`](Process::join) otherwise, or the system
    /// refusing the signal.
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
        self.signal(libc::SIGTERM, "terminate")
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
        self.signal(libc::SIGKILL, "kill")
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
        self.signal(libc::SIGINT, "interrupt")
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
        self.forget_child();
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
        current_process().authkey().to_vec()
    }

    /// Takes this process off the live-children list.
    fn forget_child(&self) {
        let key = LiveChild::key(self);
        lock(&G.children).retain(|p| p.key() != key);
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

impl LiveChild for Process {
    fn creator_pid(&self) -> u32 {
        self.inner.creator_pid
    }

    fn is_daemon(&self) -> bool {
        Process::is_daemon(self)
    }

    fn name(&self) -> String {
        Process::name(self)
    }

    fn is_alive(&self) -> bool {
        Process::is_alive(self)
    }

    fn terminate(&self) {
        let _ = Process::terminate(self);
    }

    fn join(&self) {
        let _ = Process::join(self);
    }

    fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
