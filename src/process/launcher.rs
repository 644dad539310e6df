//! Starts children from one long-lived thread when the caller is not the main thread.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that created a child exits, not the process. A
//! child started from a short-lived worker thread would be killed when that thread ends. So
//! starts from threads other than the main one are handed to a launcher thread that lives as
//! long as the process; starts from the main thread run directly (its end is the process's
//! end anyway).

use crossbeam_channel::{Sender, bounded, unbounded};

use super::globals::{G, Job};
use crate::error::{ProcessError, ProcessErrorKind};
use crate::sys;
use crate::util::lock;

fn launcher() -> Sender<Job> {
    let me = sys::liveness::my_pid();
    let mut g = lock(&G.launcher);
    if let Some((pid, tx)) = g.as_ref()
        && *pid == me
    {
        return tx.clone();
    }
    let (tx, rx) = unbounded::<Job>();
    std::thread::Builder::new()
        .name("multiproc-launcher".into())
        .spawn(move || {
            for job in rx {
                job();
            }
        })
        .expect("cannot start the multiproc launcher thread");
    *g = Some((me, tx.clone()));
    tx
}

/// Runs `f` on the main thread if that is the caller, else on the launcher thread.
pub(crate) fn run<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, ProcessError> + Send + 'static,
) -> Result<R, ProcessError> {
    if sys::proc::is_main_thread() {
        return f();
    }
    let (tx, rx) = bounded(1);
    launcher()
        .send(Box::new(move || {
            let _ = tx.send(f());
        }))
        .map_err(|_| ProcessError::new(ProcessErrorKind::Os, "the launcher thread is gone"))?;
    rx.recv()
        .map_err(|_| ProcessError::new(ProcessErrorKind::Os, "the launcher thread died while starting a process"))?
}
