//! `Fork`: `fork()` the calling process; the child runs the target from memory.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::ProcessError;
use crate::process::bootstrap::{self, ChildInfo};
use crate::process::{CHILDREN, ChildHandle, Target, Waiter};
use crate::sys;
use crate::sys::proc::Forked;

static FORKED: AtomicBool = AtomicBool::new(false);

/// Is this process a child made by the `Fork` start method (so it must leave with `_exit`)?
pub(crate) fn in_forked_child() -> bool {
    FORKED.load(Ordering::Relaxed)
}

pub(crate) fn launch(info: ChildInfo, target: Target) -> Result<ChildHandle, ProcessError> {
    let (report_parent, report_child) =
        sys::socket::socketpair(sys::socket::PairKind::Stream).map_err(|e| ProcessError::os("socketpair", e))?;
    // Whatever sits in stdio buffers would be written twice, once by each process.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let parent_pid = sys::proc::getpid();
    // Hold the registry across fork so the child's copy is consistent; the child's copy of
    // the guard unlocks its copy of the lock.
    let mut children = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the child runs user code after fork, as Python's fork start method does; the
    // hazards with other threads' locks are documented on `StartMethod::Fork`.
    #[allow(unsafe_code)] // the one fork() of this start method
    match unsafe { sys::proc::fork() } {
        Err(e) => Err(ProcessError::os("fork", e)),
        Ok(Forked::Child) => {
            children.clear();
            drop(children);
            FORKED.store(true, Ordering::Relaxed);
            drop(report_parent);
            bootstrap::set_report_sock(report_child);
            match sys::proc::die_with_parent(parent_pid) {
                Ok(true) => {}
                _ => sys::proc::exit_immediately(1),
            }
            super::forkserver::forget_server();
            crate::process::become_child(&info);
            bootstrap::install_panic_hook();
            let code = target.run_here();
            bootstrap::finish_child(code, true)
        }
        Ok(Forked::Parent(pid)) => {
            drop(children);
            drop(report_child);
            let pidfd = sys::proc::pidfd_open(pid).map_err(|e| ProcessError::os("pidfd_open", e))?;
            let _ = report_parent.as_fd();
            Ok(ChildHandle { pid, pidfd: Some(pidfd), waiter: Waiter::Direct, report: report_parent })
        }
    }
}
