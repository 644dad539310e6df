//! Processes: [`Process`], start methods, the child bootstrap, exit codes.
//!
//! A [`Process`] runs a target in a child process. The target is a `fn` item or a closure
//! that captures nothing, with serde arguments, so that a child made by any start method can
//! find and run it ([`StartMethod`]); a capturing closure can run under `Fork` only
//! ([`Process::with_closure`]).
//!
//! Exit codes follow Python: 0 when the target returns, `n` after [`exit`](fn@exit)`(n)` or
//! `std::process::exit(n)`, 1 after a panic (message and backtrace go to the child's stderr and
//! to the parent, see [`Process::failure`]), and `-N` when a signal `N` killed the child.
//!
//! The files form a tree, each importing only files below it:
//!
//! | file | holds | uses |
//! |---|---|---|
//! | `builder.rs` | [`ProcessBuilder`], `Process::builder` | `process.rs` |
//! | `process.rs` | [`Process`]: the parent's handle | `start/`, `child.rs`, `launcher.rs`, `current.rs`, `exit.rs`, `entry.rs` |
//! | `default_method.rs` | the global start method (`set_start_method`, `get_start_method`) | `globals.rs` |
//! | `start/` | one file per start method; `forkserver/` client, server loop, status pipe, connection | `child.rs`, `runtime.rs`, `target.rs` |
//! | `entry.rs` | the constructor entry point: spawned child, fork server or service | `runtime.rs`, `start/forkserver/server.rs` |
//! | `child.rs` | the parent's view of a started child: pidfd, status pipe, reports | `reports.rs`, `start/forkserver/status.rs` |
//! | `target.rs` | what a child runs: trampolines, [`Run`], [`TargetResult`] | `runtime.rs` |
//! | `runtime.rs` | the child's runtime: run the target, panic capture, report, [`exit`](fn@exit) | `current.rs`, `exit.rs`, `reports.rs` |
//! | `launcher.rs` | the long-lived thread that starts children for other threads | `globals.rs` |
//! | `current.rs` | [`current_process`], [`parent_process`], a child's new identity | `globals.rs` |
//! | `exit.rs` | Python's at-exit function: terminate daemon children, join the others | `globals.rs` |
//! | `globals.rs` | the process-wide state, on one page | the leaves below |
//! | `records.rs`, `method.rs`, `reports.rs`, `start/forkserver/conn.rs` | leaves: plain records, [`StartMethod`], the fork-report listener, the fork-server connection | `sys/` |

mod builder;
pub(crate) mod child;
pub(crate) mod current;
pub(crate) mod default_method;
mod entry;
pub(crate) mod exit;
pub(crate) mod globals;
pub(crate) mod launcher;
pub(crate) mod method;
#[allow(clippy::module_inception)]
mod process;
pub(crate) mod records;
pub(crate) mod reports;
pub(crate) mod runtime;
pub(crate) mod start;
mod target;

pub use self::builder::ProcessBuilder;
pub use self::current::{CurrentProcess, ParentProcess, current_process, parent_process};
pub use self::default_method::{get_all_start_methods, get_start_method, get_start_method_opt, set_start_method};
pub use self::method::{ContextError, StartMethod};
pub use self::process::Process;
pub use self::records::{ChildFailure, FailureKind};
pub use self::runtime::exit;
pub use self::start::forkserver::client::set_forkserver_preload;
pub use self::target::{Run, TargetResult};

use self::globals::G;
use crate::sys;
use crate::util::lock;

/// The live children of the calling process; ended ones are reaped on the way.
///
/// # Examples
/// ```
/// assert!(multiproc::active_children().is_empty());
/// ```
pub fn active_children() -> Vec<Process> {
    let kids: Vec<Process> =
        lock(&G.children).iter().filter_map(|c| c.as_any().downcast_ref::<Process>().cloned()).collect();
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
    entry::maybe_run_child();
}
