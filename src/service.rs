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

    /// Sends SIGKILL to the service (nothing if it is gone already).
    pub(crate) fn kill(&self) -> io::Result<()> {
        sys::proc::pidfd_signal(self.pidfd.as_fd(), libc::SIGKILL)
    }
}

/// What a service process is told in [`ENV_SERVICE`]: `<binary identity hex>:<offset of
/// main>:<1 to die with the parent, else 0>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    exe_id: Vec<u8>,
    offset: isize,
    die_with_parent: bool,
}

impl Spec {
    fn encode(&self) -> String {
        format!("{}:{}:{}", to_hex(&self.exe_id), self.offset, u8::from(self.die_with_parent))
    }

    fn decode(s: &str) -> Result<Spec, String> {
        let mut parts = s.split(':');
        let (Some(id), Some(off), Some(die), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(format!("malformed {ENV_SERVICE} value {s:?}"));
        };
        let exe_id = from_hex(id).ok_or_else(|| format!("malformed binary identity {id:?} in {ENV_SERVICE}"))?;
        let offset = off.parse().map_err(|_| format!("malformed service offset {off:?} in {ENV_SERVICE}"))?;
        let die_with_parent = match die {
            "1" => true,
            "0" => false,
            _ => return Err(format!("malformed parent-death flag {die:?} in {ENV_SERVICE}")),
        };
        Ok(Spec { exe_id, offset, die_with_parent })
    }
}

/// Starts `main(fd)` in a new process running this binary.
///
/// With `die_with_parent`, the service gets SIGKILL when the calling process dies (as
/// children do); without, it lives on until `main` returns.
pub(crate) fn spawn_service(main: ServiceMain, fd: OwnedFd, die_with_parent: bool) -> io::Result<Service> {
    let spec =
        Spec { exe_id: sys::exe::identity().to_vec(), offset: sys::exe::fn_offset(main), die_with_parent }.encode();
    let me = sys::liveness::my_pid().to_string();
    let child = sys::exe::reexec("service", fd, &[(ENV_SERVICE, &spec), (ENV_PARENT, &me)])?;
    let pid = child.id();
    let pidfd = sys::proc::pidfd_open(pid)?;
    Ok(Service { pid, pidfd })
}

/// The service side, called by the entry point with the moved-aside stdin.
pub(crate) fn run_service(fd: OwnedFd, parent: Option<u32>) -> ! {
    let raw = std::env::var(ENV_SERVICE).unwrap_or_default();
    sys::env_remove(ENV_SERVICE);
    let spec = match Spec::decode(&raw) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("multiproc: {e}");
            std::process::exit(1)
        }
    };
    if spec.die_with_parent {
        if let Some(p) = parent
            && !sys::proc::die_with_parent(p).unwrap_or(false)
        {
            std::process::exit(0)
        }
    } else {
        // A service that outlives its parent must not get the terminal's Ctrl-C either.
        sys::proc::ignore_signal(libc::SIGINT);
    }
    let main: ServiceMain = match sys::exe::fn_at(spec.offset, &spec.exe_id) {
        Ok(f) => f,
        Err(_) => {
            eprintln!("multiproc: a service was started from a different binary; refusing to run it");
            std::process::exit(1)
        }
    };
    let code = main(fd);
    std::process::exit(code)
}

/// Decodes `data` as a service spec (fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Spec::decode(s);
    }
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
    fn specs_round_trip_and_garbage_is_refused() {
        let spec = Spec { exe_id: vec![1, 0xab], offset: -4096, die_with_parent: true };
        assert_eq!(Spec::decode(&spec.encode()), Ok(spec));
        for bad in ["", "01ab", "01ab:12", "01ab:x:1", "0g:1:1", "01ab:1:2", "01ab:1:1:extra"] {
            assert!(Spec::decode(bad).is_err(), "{bad:?}");
        }
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
