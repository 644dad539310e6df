//! `Spawn`: re-execute the running binary; the child's constructor takes over before `main`.

use std::os::fd::AsFd;
use std::process::{Command, Stdio};

use super::Encoded;
use crate::error::ProcessError;
use crate::process::ChildHandle;
use crate::process::bootstrap::ENV_BOOT;
use crate::process::globals::G;
use crate::process::lock;
use crate::sys;

/// The path of the running binary, or the one set with `set_executable`.
pub(crate) fn executable() -> std::path::PathBuf {
    lock(&G.executable).clone().unwrap_or_else(|| "/proc/self/exe".into())
}

/// `argv[0]` for children: the parent's, so tools like `ps` show the program name.
fn argv0() -> std::ffi::OsString {
    std::env::args_os().next().unwrap_or_else(|| "multiproc-child".into())
}

/// Spawns a child running `executable()` with `stdin` set to `boot_child` and the boot env var.
pub(crate) fn spawn_with_boot(
    mode: &str,
    boot_child: std::os::fd::OwnedFd,
    extra_env: &[(&str, String)],
) -> Result<u32, ProcessError> {
    let mut cmd = Command::new(executable());
    {
        use std::os::unix::process::CommandExt;
        cmd.arg0(argv0());
    }
    cmd.env(ENV_BOOT, mode).stdin(Stdio::from(boot_child));
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().map_err(|e| ProcessError::os(format!("cannot spawn {}", executable().display()), e))?;
    // The pidfd reaps it; std's handle is only dropped (dropping neither waits nor kills).
    Ok(child.id())
}

pub(crate) fn launch(enc: Encoded) -> Result<ChildHandle, ProcessError> {
    let (boot_parent, boot_child) =
        sys::socket::socketpair(sys::socket::PairKind::Stream).map_err(|e| ProcessError::os("socketpair", e))?;
    let pid = spawn_with_boot("spawn", boot_child, &[])?;
    let pidfd = sys::proc::pidfd_open(pid).map_err(|e| ProcessError::os("pidfd_open", e))?;
    // If the child died before reading, its exit code and report tell why; the parent does not
    // fail the start for it (Python would raise BrokenPipeError here).
    if let Err(e) = sys::socket::send_framed(boot_parent.as_fd(), &enc.body, &sys::socket::borrow_all(&enc.fds)) {
        log::warn!("multiproc: could not send the bootstrap message to process {pid}: {e}");
    }
    drop(enc);
    Ok(ChildHandle::direct(pid, pidfd, Some(boot_parent)))
}

/// Sets the binary spawned children run (Python's `set_executable`). It must be a build of
/// the same program: the child checks the binary identity and fails clearly otherwise.
///
/// # Examples
/// ```
/// multiproc::set_executable(std::env::current_exe().unwrap());
/// multiproc::set_executable("/proc/self/exe");
/// ```
pub fn set_executable(path: impl Into<std::path::PathBuf>) {
    *lock(&G.executable) = Some(path.into());
}
