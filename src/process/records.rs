//! Plain records both sides of a start share, and that the process globals hold: who a child
//! is, what a failed child reports, the bootstrap and report messages, how a process leaves.
//!
//! This file is a leaf: it names no other file of the process layer, so the globals, the
//! parent's side and the child's side can all use it without importing each other.

use std::any::Any;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::method::StartMethod;
use crate::sys::socket::AbstractName;

/// How a child failed, as reported by the child itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureKind {
    /// The target panicked.
    Panic,
    /// The target returned an error (`Err(e)` from a target returning `Result`).
    Error,
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
/// let p = Process::new(|| panic!("boom"), ());
/// p.start()?;
/// assert_eq!(p.join()?, 1);
/// let f = p.failure().unwrap();
/// assert_eq!(f.kind, FailureKind::Panic);
/// assert_eq!(f.message, "boom");
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChildFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The panic message, the error's text, or the bootstrap error.
    pub message: String,
    /// `file:line:column` of the panic.
    pub location: Option<String>,
    /// The child's backtrace at the panic, when `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`)
    /// asked for one.
    pub backtrace: Option<String>,
    /// The thread that panicked: `main` for the thread running the target, `None` for a
    /// thread without a name.
    pub thread: Option<String>,
}

impl ChildFailure {
    pub(crate) fn new(kind: FailureKind, message: String) -> ChildFailure {
        ChildFailure { kind, message, location: None, backtrace: None, thread: None }
    }
}

/// Who the child is, as its parent describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChildInfo {
    pub(crate) name: String,
    pub(crate) identity: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) authkey: Vec<u8>,
    pub(crate) parent_pid: u32,
    pub(crate) parent_name: String,
    pub(crate) method: StartMethod,
    /// The parent's stderr logging level, when it logs to stderr (`logging::inherited`).
    pub(crate) log: Option<u8>,
}

/// The message that tells a spawned or fork-server child what to run.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BootMsg {
    pub(crate) exe_id: Vec<u8>,
    pub(crate) entry: isize,
    pub(crate) info: ChildInfo,
    pub(crate) payload: Vec<u8>,
}

/// Upper bound on a bootstrap message from the parent.
pub(crate) const MAX_BOOT_MSG: usize = 1 << 31;
/// The most bytes read from one failure report.
pub(crate) const MAX_REPORT: usize = 1 << 20;

/// What a child reports back when things go wrong.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Report {
    Failure(ChildFailure),
    /// A fork-server child's exit code, sent as it leaves.
    Exit(i32),
}

/// Where a child sends its reports.
#[derive(Debug)]
pub(crate) enum ReportTo {
    /// Its bootstrap socket (spawn, fork server).
    Socket(OwnedFd),
    /// The parent's report listener (fork; see `reports.rs`).
    Listener(AbstractName),
}

/// What this process knows about itself.
#[derive(Debug, Clone)]
pub(crate) struct SelfInfo {
    pub(crate) name: String,
    pub(crate) identity: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) authkey: Vec<u8>,
}

/// How this process leaves (the globals' `exit_mode`).
pub(crate) const EXIT_NORMAL: u8 = 0;
/// Made by the `Fork` start method: `_exit`, as Python's forked children do (the at-exit
/// handlers it inherited belong to the parent).
pub(crate) const EXIT_FORKED: u8 = 1;
/// Made by the fork server: `_exit`, after telling the parent its code.
pub(crate) const EXIT_FORK_SERVER: u8 = 2;

/// A started child as the at-exit hook sees it (Python's `_children`): the process layer's
/// `Process` implements it, and the globals hold the live ones as trait objects, so that this
/// leaf and the globals need not know the `Process` type.
pub(crate) trait LiveChild: Send + Sync {
    /// The pid of the process that created the `Process` object (a forked child inherits its
    /// parent's list and must leave those alone).
    fn creator_pid(&self) -> u32;
    fn is_daemon(&self) -> bool;
    fn name(&self) -> String;
    fn is_alive(&self) -> bool;
    fn terminate(&self);
    fn join(&self);
    /// A number that is the same for every handle on the same process (to find it again).
    fn key(&self) -> usize;
    fn as_any(&self) -> &dyn Any;
}

/// One entry of the live-children list.
pub(crate) type LiveEntry = Arc<dyn LiveChild>;
