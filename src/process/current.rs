//! The calling process and its parent: Python's `current_process()` and `parent_process()`,
//! and how a new child takes on its identity.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::globals::G;
use super::method::StartMethod;
use super::records::{ChildInfo, SelfInfo};
use crate::error::{ProcessError, ProcessErrorKind};
use crate::sys;
use crate::util::lock;

/// The calling process, as Python's `current_process()`.
///
/// # Examples
/// ```
/// let me = multiproc::current_process();
/// assert_eq!(me.name(), "MainProcess");
/// assert_eq!(me.pid(), std::process::id());
/// assert!(!me.is_daemon());
/// assert_eq!(me.authkey().len(), 32);
/// ```
#[derive(Debug, Clone)]
pub struct CurrentProcess {
    info: Arc<SelfInfo>,
}

impl CurrentProcess {
    /// The name: `MainProcess` in the main process, the `Process` name in a child (or what
    /// [`set_name`](CurrentProcess::set_name) made it).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::current_process().name(), "MainProcess");
    /// ```
    pub fn name(&self) -> String {
        lock(&G.current).as_ref().map(|i| i.name.clone()).unwrap_or_else(|| self.info.name.clone())
    }

    /// Renames the calling process (Python's `current_process().name = ...`): later log
    /// records and panic reports carry the new name. The default names of its children
    /// (`Process-N:M`) follow its identity, not its name, as in Python.
    ///
    /// # Examples
    /// ```
    /// let me = multiproc::current_process();
    /// me.set_name("loader");
    /// assert_eq!(multiproc::current_process().name(), "loader");
    /// me.set_name("MainProcess");
    /// ```
    pub fn set_name(&self, name: impl Into<String>) {
        let mut g = lock(&G.current);
        let mut info = (**g.get_or_insert_with(main_info)).clone();
        info.name = name.into();
        *g = Some(Arc::new(info));
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

    /// Is the calling process a daemon? (Python's `current_process().daemon`.)
    ///
    /// # Examples
    /// ```
    /// assert!(!multiproc::current_process().is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
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
    let info = g.get_or_insert_with(main_info);
    CurrentProcess { info: info.clone() }
}

/// The main process's description, made on first use.
fn main_info() -> Arc<SelfInfo> {
    crate::logging::set_name_source(log_name);
    let mut authkey = vec![0u8; 32];
    getrandom::fill(&mut authkey).expect("the system random number generator failed");
    Arc::new(SelfInfo { name: "MainProcess".into(), identity: Vec::new(), daemon: false, authkey })
}

/// The name log records carry.
fn log_name() -> String {
    current_process().name()
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

    /// Waits until the parent ends.
    ///
    /// # Errors
    /// [`Os`](ProcessErrorKind::Os) if the system refuses the wait.
    ///
    /// # Examples
    /// ```
    /// fn child() {
    ///     multiproc::parent_process().unwrap().join().unwrap();
    ///     println!("the parent is gone");
    /// }
    /// ```
    pub fn join(&self) -> Result<(), ProcessError> {
        self.join_deadline(None).map(drop)
    }

    /// Waits until the parent ends or `timeout` passes.
    ///
    /// # Errors
    /// [`Timeout`](ProcessErrorKind::Timeout) if the parent still runs then;
    /// [`Os`](ProcessErrorKind::Os) if the system refuses the wait.
    ///
    /// # Examples
    /// ```
    /// fn child() {
    ///     let parent = multiproc::parent_process().unwrap();
    ///     if parent.join_timeout(std::time::Duration::from_secs(1)).is_ok() {
    ///         println!("the parent is gone");
    ///     }
    /// }
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), ProcessError> {
        if self.join_deadline(crate::deadline::after(timeout))? {
            return Ok(());
        }
        Err(ProcessError::new(
            ProcessErrorKind::Timeout,
            format!("the parent process is still running after {timeout:?}"),
        ))
    }

    /// Whether the parent ended before `deadline`.
    fn join_deadline(&self, deadline: Option<std::time::Instant>) -> Result<bool, ProcessError> {
        match &self.pidfd {
            Some(fd) => sys::fd::poll_readable(&[fd.as_fd()], deadline)
                .map(|v| !v.is_empty())
                .map_err(|e| ProcessError::os("waiting for the parent process", e)),
            // No pidfd: the parent was already gone when this handle was made.
            None => Ok(true),
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
    log: Option<u8>,
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
            log: info.log,
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
        crate::logging::become_child(self.log);
        crate::logging::set_name_source(log_name);
        *method = Some(self.method);
    }
}
