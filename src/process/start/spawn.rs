//! `Spawn`: re-execute the running binary; the child's entry point takes over before `main`.

use std::os::fd::AsFd;

use super::Encoded;
use crate::error::ProcessError;
use crate::process::child::ChildHandle;
use crate::sys;

pub(crate) fn launch(enc: Encoded) -> Result<ChildHandle, ProcessError> {
    let (boot_parent, boot_child) =
        sys::socket::socketpair(sys::socket::PairKind::Stream).map_err(|e| ProcessError::os("socketpair", e))?;
    // The pidfd reaps the child; std's handle is only dropped (dropping neither waits nor kills).
    let pid = sys::exe::reexec("spawn", boot_child, &[])
        .map_err(|e| ProcessError::os(format!("cannot spawn {}", sys::exe::executable().display()), e))?
        .id();
    let child = ChildHandle::of_pid(pid, None)?;
    // If the child died before reading, its exit code and report tell why; the parent does not
    // fail the start for it (Python would raise BrokenPipeError here).
    if let Err(e) = sys::socket::send_framed(boot_parent.as_fd(), &enc.body, &sys::socket::borrow_all(&enc.fds)) {
        log::warn!("multiproc: could not send the bootstrap message to process {pid}: {e}");
    }
    drop(enc);
    Ok(child.with_report(boot_parent))
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
    sys::exe::set_executable(path.into());
}

/// The binary spawned children run (Python's `get_executable`): the one set with
/// [`set_executable`], else `/proc/self/exe` (the running binary).
///
/// # Examples
/// ```
/// assert_eq!(multiproc::get_executable(), std::path::PathBuf::from("/proc/self/exe"));
/// ```
pub fn get_executable() -> std::path::PathBuf {
    sys::exe::executable()
}
