//! The status pipe of a fork-server child: the server writes, the client reads.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::wire::Status;
use crate::sys;
use crate::util::lock;

/// The parent's end of a fork-server child's status pipe: 5-byte records (tag + `i32`): the
/// pid after the fork, the wait status after the server reaped the child. Each is written at
/// once, so never torn (pipe writes up to `PIPE_BUF` are atomic).
#[derive(Debug)]
pub(crate) struct StatusPipe {
    fd: OwnedFd,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    pid: Option<u32>,
    server: Option<i32>,
    eof: bool,
}

impl StatusPipe {
    pub(super) fn new(fd: OwnedFd) -> StatusPipe {
        StatusPipe { fd, seen: Mutex::new(Seen::default()) }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads one record (blocking); false at end of file.
    fn read_one(&self, seen: &mut Seen) -> bool {
        let mut r = [0u8; Status::LEN];
        match sys::fd::read_exact_or_eof(self.fd.as_fd(), &mut r) {
            Ok(true) => {
                match Status::decode(&r) {
                    Some(Status::Pid(pid)) => seen.pid = Some(pid),
                    Some(Status::Server(code)) => seen.server = Some(code),
                    None => {}
                }
                true
            }
            _ => {
                seen.eof = true;
                false
            }
        }
    }

    /// Blocks until the server reported the pid; `None` if it died before forking.
    pub(crate) fn read_pid(&self) -> Option<u32> {
        let mut seen = lock(&self.seen);
        while seen.pid.is_none() && self.read_one(&mut seen) {}
        seen.pid
    }

    /// The wait status the server reaped, waiting up to `wait` for it; 255 if the server died
    /// without reporting (as Python reports a lost fork-server child).
    pub(crate) fn server_code(&self, wait: Option<Duration>) -> std::io::Result<Option<i32>> {
        let mut seen = lock(&self.seen);
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            while !seen.eof && seen.server.is_none() && sys::fd::is_readable(self.fd.as_fd())? {
                self.read_one(&mut seen);
            }
            match (seen.server, seen.eof) {
                (Some(code), _) => return Ok(Some(code)),
                (None, true) => return Ok(Some(255)),
                (None, false) => {}
            }
            match deadline {
                Some(d) if Instant::now() < d => {
                    sys::fd::spin_then_poll(self.fd.as_fd(), &crate::wait::SERVER_STATUS, Some(d))?;
                }
                _ => return Ok(None),
            }
        }
    }
}
