//! `Fork`: `fork()` the calling process; the child runs the target from memory.

use std::io::Write;

use crate::error::ProcessError;
use crate::logging::{Level, mp_log};
use crate::process::child::ChildHandle;
use crate::process::current::ChildGlobals;
use crate::process::globals::G;
use crate::process::records::{ChildInfo, ReportTo};
use crate::process::target::Work;
use crate::process::{reports, runtime};
use crate::sys;
use crate::sys::proc::Forked;
use crate::util::lock;

pub(crate) fn launch(info: ChildInfo, target: Work) -> Result<ChildHandle, ProcessError> {
    let parent_pid = sys::liveness::my_pid();
    runtime::ensure_panic_hook();
    let globals = ChildGlobals::new(&info);
    drop(info);
    // Every lock the child will touch is taken here, in one fixed order, and held across
    // fork(): the child then owns consistent copies and releases them, instead of finding a
    // lock that another thread of the parent held at the instant of the fork. stdout and
    // stderr are flushed and held too, so a child's first print cannot deadlock and nothing
    // buffered is written twice. The process layer's locks live on one page (`globals`):
    // releasing them costs each side one copy-on-write fault (and one more for the heap's).
    let server = lock(&G.server);
    let launcher = lock(&G.launcher);
    let mut current = lock(&G.current);
    let mut parent = lock(&G.parent);
    let mut method = lock(&G.method);
    let mut report = lock(&G.report);
    let mut failure = lock(&G.failure);
    let mut children = lock(&G.children);
    let mut registry = lock(&G.fork_reports);
    let heap = crate::shm::heap::hold_for_fork();
    let hooks = crate::util::hold_for_fork();
    let report_to =
        reports::address(&mut registry).map_err(|e| ProcessError::os("listening for the children's reports", e))?;
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
            // Write as little as possible: every page written now is copied. What the parent's
            // lists held is left in place, unfreed (freeing writes to the heap).
            runtime::set_forked(false);
            std::mem::forget(std::mem::take(&mut *children));
            *report = Some(ReportTo::Listener(report_to));
            *failure = None;
            globals.install(&mut current, &mut parent, &mut method);
            // The parent's fork server connection and launcher thread are not ours.
            let mut server = server;
            drop(server.take()); // closes only this process's copy of the control socket
            drop((server, launcher, current, parent, method, report, failure, children, registry, heap));
            drop((out, err));
            match sys::proc::die_with_parent(parent_pid) {
                Ok(true) => {}
                _ => sys::proc::exit_immediately(1),
            }
            runtime::become_child_panics();
            hooks.child_after_fork();
            mp_log!(Level::Info, "child process calling self.run()");
            let code = target.run_here();
            runtime::finish_child(code)
        }
        Ok(Forked::Parent(pid)) => {
            drop((server, launcher, current, parent, method, report, failure, children, registry, heap, hooks));
            drop((out, err));
            // The parent's copy of the target goes now: the handles in it (a pipe's write
            // end, say) must close here, or a reader waiting for end of file would wait for
            // the child's handle to be dropped too.
            drop(target);
            Ok(ChildHandle::of_pid(pid, None)?.keeping(Box::new(globals)))
        }
    }
}
