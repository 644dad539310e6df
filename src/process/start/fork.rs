//! `Fork`: `fork()` the calling process; the child runs the target from memory.

use std::io::Write;

use super::{forkserver, spawn};
use crate::error::ProcessError;
use crate::process::bootstrap::{self, ChildInfo};
use crate::process::{CHILDREN, ChildHandle, Target, launcher, lock};
use crate::sys;
use crate::sys::proc::Forked;

pub(crate) fn launch(info: ChildInfo, target: Target) -> Result<ChildHandle, ProcessError> {
    let (report_parent, report_child) =
        sys::socket::socketpair(sys::socket::PairKind::Stream).map_err(|e| ProcessError::os("socketpair", e))?;
    let parent_pid = sys::proc::getpid();
    bootstrap::ensure_panic_hook();
    let globals = crate::process::ChildGlobals::new(&info);
    drop(info);
    // Every lock the child will touch is taken here, in one fixed order, and held across
    // fork(): the child then owns consistent copies and releases them, instead of finding a
    // lock that another thread of the parent held at the instant of the fork. stdout and
    // stderr are flushed and held too, so a child's first print cannot deadlock and nothing
    // buffered is written twice.
    let server = lock(&forkserver::SERVER);
    let executable = lock(&spawn::EXECUTABLE);
    let launcher = lock(&launcher::LAUNCHER);
    let mut current = lock(&crate::process::CURRENT);
    let mut parent = lock(&crate::process::PARENT);
    let mut method = lock(&crate::context::GLOBAL);
    let mut report = lock(&bootstrap::REPORT_SOCK);
    let mut failure = lock(&bootstrap::FAILURE);
    let mut children = lock(&CHILDREN);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let _ = out.flush();
    let _ = err.flush();
    #[allow(unsafe_code)] // the one fork() of this start method
    // SAFETY: the child runs user code after fork, as Python's fork start method does; the
    // library's own locks are held above, the hazards with other locks of other threads are
    // documented on `StartMethod::Fork`.
    let forked = unsafe { sys::proc::fork() };
    match forked {
        Err(e) => Err(ProcessError::os("fork", e)),
        Ok(Forked::Child) => {
            bootstrap::set_forked(false);
            children.clear();
            drop(report_parent);
            *report = Some(report_child);
            *failure = None;
            globals.install(&mut current, &mut parent, &mut method);
            // The parent's fork server connection and launcher thread are not ours.
            let mut server = server;
            drop(server.take()); // closes only this process's copy of the control socket
            drop((server, executable, launcher, current, parent, method, report, failure, children, out, err));
            match sys::proc::die_with_parent(parent_pid) {
                Ok(true) => {}
                _ => sys::proc::exit_immediately(1),
            }
            bootstrap::become_child_panics();
            let code = target.run_here();
            bootstrap::finish_child(code)
        }
        Ok(Forked::Parent(pid)) => {
            drop(globals);
            drop((server, executable, launcher, current, parent, method, report, failure, children, out, err));
            drop(report_child);
            let pidfd = sys::proc::pidfd_open(pid).map_err(|e| ProcessError::os("pidfd_open", e))?;
            Ok(ChildHandle::direct(pid, pidfd, report_parent))
        }
    }
}
