//! The client's connection to its fork server, as the process globals hold it.

use std::os::fd::{AsFd, OwnedFd};

use crate::sys;

/// A running fork server: its control socket and pidfd.
#[derive(Debug)]
pub(crate) struct ServerConn {
    /// The process that started the server (a forked child inherits the connection, and must
    /// start its own server).
    pub(crate) owner: u32,
    pub(crate) control: OwnedFd,
    /// The server's pidfd, to notice its death before sending it a request.
    pub(crate) pidfd: Option<OwnedFd>,
}

impl ServerConn {
    pub(crate) fn alive(&self) -> bool {
        match &self.pidfd {
            Some(fd) => !sys::fd::is_readable(fd.as_fd()).unwrap_or(true),
            None => true,
        }
    }
}

impl Drop for ServerConn {
    /// Collects a dead server (it is this process's child), so no zombie is left behind.
    fn drop(&mut self) {
        if self.owner == sys::liveness::my_pid()
            && let Some(fd) = &self.pidfd
            && !self.alive()
        {
            let _ = sys::proc::pidfd_try_reap(fd.as_fd());
        }
    }
}
