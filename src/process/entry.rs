//! The constructor entry point: before `main`, a re-executed copy of the binary finds out
//! what it is (a spawned child, the fork server, a service process) and never returns to
//! `main`; a normal start returns at once. So user code needs no guard.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};

use super::runtime::{die, read_boot, run_child};
use super::start::forkserver::server;
use crate::sys;
use crate::sys::exe::{ENV_BOOT, ENV_PARENT};

static CHECKED: AtomicBool = AtomicBool::new(false);

/// Runs the child bootstrap if this process is a child; returns if it is not.
pub(crate) fn maybe_run_child() {
    if CHECKED.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(mode) = std::env::var_os(ENV_BOOT) else { return };
    let parent = std::env::var(ENV_PARENT).ok().and_then(|s| s.parse::<u32>().ok());
    sys::env_remove(ENV_BOOT);
    sys::env_remove(ENV_PARENT);
    sys::proc::ignore_sigpipe();
    let boot = match sys::fd::dup_cloexec(std::io::stdin().as_fd()) {
        Ok(fd) => fd,
        Err(e) => die(&format!("cannot take the bootstrap socket: {e}")),
    };
    let _ = sys::fd::devnull_onto(0);
    match mode.to_str() {
        Some("spawn") => {
            let (msg, fds) = read_boot(&boot);
            let expected = msg.info.parent_pid;
            run_child(boot, msg, fds, expected)
        }
        Some("forkserver") => server::serve(boot, parent.unwrap_or(0)),
        Some("service") => crate::service::run_service(boot, parent),
        _ => die(&format!("unknown {ENV_BOOT} mode {mode:?}")),
    }
}

#[cfg(feature = "ctor")]
#[ctor::ctor(unsafe)]
fn multiproc_bootstrap_ctor() {
    maybe_run_child();
}

/// Keeps the constructor's object file in the link: called from `Process::start`.
#[inline(never)]
pub(crate) fn keep_ctor() {
    #[cfg(feature = "ctor")]
    std::hint::black_box(multiproc_bootstrap_ctor as fn());
}
