//! Service processes: helpers the library runs for itself (the shared-memory tracker, a
//! manager server), started by re-executing the binary like `Spawn`, but
//!
//! - not registered as children: `active_children` does not list them and the at-exit hook
//!   does not join them;
//! - optionally *not* killed with their parent, so that a tracker can clean up after a crash.
//!
//! The service's main function gets one descriptor (its stdin at exec, moved aside before it
//! runs) and returns the exit code. The caller owns the returned [`Service`] and reaps it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use crate::sys;
use crate::sys::exe::ENV_PARENT;
use crate::util::{from_hex, to_hex};

/// Environment variable naming the service entry: `<binary identity hex>:<offset>:<die flag>`.
pub(crate) const ENV_SERVICE: &str = "MULTIPROC_SERVICE";

/// The main function of a service process.
pub(crate) type ServiceMain = fn(OwnedFd) -> i32;

/// A running service process.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) pid: u32,
    pidfd: OwnedFd,
}

impl Service {
    /// Waits for the service to end, up to `deadline`; returns its exit code if it did.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> io::Result<Option<i32>> {
        if sys::fd::poll_readable(&[self.pidfd.as_fd()], deadline)?.is_empty() {
            return Ok(None);
        }
        sys::proc::pidfd_try_reap(self.pidfd.as_fd())
    }
}

/// Starts `main(fd)` in a new process running this binary.
///
/// With `die_with_parent`, the service gets SIGKILL when the calling process dies (as
/// children do); without, it lives on until `main` returns.
pub(crate) fn spawn_service(main: ServiceMain, fd: OwnedFd, die_with_parent: bool) -> io::Result<Service> {
    let offset = sys::exe::fn_offset(main);
    let spec = format!("{}:{}:{}", to_hex(sys::exe::identity()), offset, u8::from(die_with_parent));
    let me = sys::liveness::my_pid().to_string();
    let child = sys::exe::reexec("service", fd, &[(ENV_SERVICE, &spec), (ENV_PARENT, &me)])?;
    let pid = child.id();
    let pidfd = sys::proc::pidfd_open(pid)?;
    Ok(Service { pid, pidfd })
}

/// The service side, called by the bootstrap with the moved-aside stdin.
pub(crate) fn run_service(fd: OwnedFd, parent: Option<u32>) -> ! {
    let spec = std::env::var(ENV_SERVICE).unwrap_or_default();
    sys::env_remove(ENV_SERVICE);
    let mut parts = spec.split(':');
    let (Some(id), Some(off), Some(die)) = (parts.next(), parts.next(), parts.next()) else {
        eprintln!("multiproc: malformed {ENV_SERVICE} value {spec:?}");
        std::process::exit(1)
    };
    let Ok(offset) = off.parse::<isize>() else {
        eprintln!("multiproc: malformed service offset {off:?}");
        std::process::exit(1)
    };
    if die == "1" {
        if let Some(p) = parent
            && !sys::proc::die_with_parent(p).unwrap_or(false)
        {
            std::process::exit(0)
        }
    } else {
        // A service that outlives its parent must not get the terminal's Ctrl-C either.
        sys::proc::ignore_signal(libc::SIGINT);
    }
    let main: ServiceMain = match from_hex(id).and_then(|id| sys::exe::fn_at(offset, &id).ok()) {
        Some(f) => f,
        None => {
            eprintln!("multiproc: a service was started from a different binary; refusing to run it");
            std::process::exit(1)
        }
    };
    let code = main(fd);
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_service(fd: OwnedFd) -> i32 {
        let mut b = [0u8; 1];
        if sys::fd::read_exact_or_eof(fd.as_fd(), &mut b).unwrap_or(false) {
            let _ = sys::fd::write_all(fd.as_fd(), &[b[0] + 1]);
        }
        7
    }

    #[test]
    fn a_service_runs_its_main_and_exits_with_its_code() {
        let (ours, theirs) = sys::socket::socketpair(sys::socket::PairKind::Stream).unwrap();
        let svc = spawn_service(echo_service, theirs, true).unwrap();
        sys::fd::write_all(ours.as_fd(), &[41]).unwrap();
        let mut b = [0u8; 1];
        assert!(sys::fd::read_exact_or_eof(ours.as_fd(), &mut b).unwrap());
        assert_eq!(b[0], 42);
        let code = svc.wait(Some(Instant::now() + std::time::Duration::from_secs(30))).unwrap();
        assert_eq!(code, Some(7));
    }
}
