//! The parent's view of a started child: its pid and pidfd, how its end is awaited (a pidfd
//! for a child of this process, a status pipe for a fork-server child), and what it reported.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::globals::G;
use super::records::{ChildFailure, MAX_REPORT, Report};
use super::start::forkserver::status::StatusPipe;
use crate::error::ProcessError;
use crate::sys;
use crate::util::lock;

/// How the parent learns that a child ended.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// Our own child: the pidfd is readable at exit and `waitid` reaps it.
    Direct,
    /// A child of the fork server: the exit code comes on this pipe.
    Status(StatusPipe),
}

/// A started child.
#[derive(Debug)]
pub(crate) struct ChildHandle {
    /// The pid and, when it could be opened, the pidfd (for signals and, for direct children,
    /// waiting). Known at once for direct children; for a fork-server child, read from the
    /// server's report when first needed.
    ident: OnceLock<(u32, Option<OwnedFd>)>,
    pub(crate) waiter: Waiter,
    /// The parent's end of the bootstrap socket, where a failing child leaves its report (and a
    /// fork-server child its exit code); `None` for a forked child, which reports to the
    /// process's report listener (`reports`).
    pub(crate) report: Option<OwnedFd>,
    reports: Mutex<Reports>,
    /// The parent's copy of a forked child's identity, freed with the handle rather than
    /// while the child starts: freeing writes to heap pages the child still shares, and each
    /// such write copies a page.
    leftovers: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

/// What the child said on its report socket.
#[derive(Debug, Default)]
struct Reports {
    failure: Option<ChildFailure>,
    exit: Option<i32>,
    eof: bool,
}

impl ChildHandle {
    /// A child of this process, with its pidfd.
    pub(crate) fn direct(pid: u32, pidfd: OwnedFd, report: Option<OwnedFd>) -> ChildHandle {
        ChildHandle {
            ident: OnceLock::from((pid, Some(pidfd))),
            waiter: Waiter::Direct,
            report,
            reports: Mutex::new(Reports::default()),
            leftovers: Mutex::new(None),
        }
    }

    /// A child of this process that was gone before its pidfd could be opened: with SIGCHLD
    /// ignored the kernel reaps a child that exits at once, and its exit status with it.
    pub(crate) fn vanished(pid: u32, report: Option<OwnedFd>) -> ChildHandle {
        ChildHandle {
            ident: OnceLock::from((pid, None)),
            waiter: Waiter::Direct,
            report,
            reports: Mutex::new(Reports::default()),
            leftovers: Mutex::new(None),
        }
    }

    /// A child of this process: with its pidfd, or [`vanished`](ChildHandle::vanished) if the
    /// pidfd cannot be opened because the child is already reaped.
    pub(crate) fn of_pid(pid: u32, report: Option<OwnedFd>) -> Result<ChildHandle, ProcessError> {
        match sys::proc::pidfd_open(pid) {
            Ok(fd) => Ok(ChildHandle::direct(pid, fd, report)),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(ChildHandle::vanished(pid, report)),
            Err(e) => Err(ProcessError::os("pidfd_open", e)),
        }
    }

    /// Sets the socket the child reports on.
    pub(crate) fn with_report(mut self, report: OwnedFd) -> ChildHandle {
        self.report = Some(report);
        self
    }

    /// Keeps `values` until the handle is dropped.
    pub(crate) fn keeping(self, values: Box<dyn std::any::Any + Send>) -> ChildHandle {
        *lock(&self.leftovers) = Some(values);
        self
    }

    /// A child the fork server is making.
    pub(crate) fn from_fork_server(status: StatusPipe, report: OwnedFd) -> ChildHandle {
        ChildHandle {
            ident: OnceLock::new(),
            waiter: Waiter::Status(status),
            report: Some(report),
            reports: Mutex::new(Reports::default()),
            leftovers: Mutex::new(None),
        }
    }

    fn ident(&self) -> &(u32, Option<OwnedFd>) {
        self.ident.get_or_init(|| match &self.waiter {
            Waiter::Status(st) => match st.read_pid() {
                Some(pid) => (pid, sys::proc::pidfd_open(pid).ok()),
                None => (0, None),
            },
            Waiter::Direct => (0, None),
        })
    }

    /// The pid; `None` if the fork server died before making the child.
    pub(crate) fn pid(&self) -> Option<u32> {
        Some(self.ident().0).filter(|&p| p != 0)
    }

    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.ident().1.as_ref().map(|f| f.as_fd())
    }

    /// The descriptor that becomes readable when the child ends: its pidfd when there is one.
    pub(crate) fn sentinel(&self) -> RawFd {
        match (self.pidfd(), &self.waiter) {
            (Some(fd), _) => fd.as_raw_fd(),
            (None, Waiter::Status(st)) => st.fd().as_raw_fd(),
            (None, Waiter::Direct) => -1,
        }
    }

    /// Reads whatever reports have fully arrived, without blocking.
    fn drain_reports(&self) -> std::sync::MutexGuard<'_, Reports> {
        let mut r = lock(&self.reports);
        let Some(report) = self.report.as_ref() else {
            // A forked child: its report, if any, waits at the listener.
            if !r.eof {
                r.eof = true;
                r.failure = self.pid().and_then(take_fork_report);
            }
            return r;
        };
        while !r.eof && sys::fd::is_readable(report.as_fd()).unwrap_or(false) {
            match sys::socket::recv_framed(report.as_fd(), MAX_REPORT) {
                Ok(Some((body, _))) => match crate::codec::decode::<Report>(&body) {
                    Ok(Report::Failure(f)) => r.failure = Some(f),
                    Ok(Report::Exit(code)) => r.exit = Some(code),
                    Err(_) => r.eof = true, // garbage: stop listening
                },
                Ok(None) | Err(_) => r.eof = true,
            }
        }
        r
    }

    /// Collects the exit code if the child has ended (never blocks for long).
    pub(crate) fn try_reap(&self) -> Result<Option<i32>, ProcessError> {
        let os = |e| ProcessError::os("collecting the exit status", e);
        match &self.waiter {
            Waiter::Direct => match self.pidfd() {
                Some(fd) => sys::proc::pidfd_try_reap(fd).map_err(os),
                // Reaped by the kernel before we could look (see `vanished`).
                None => Err(os(sys::proc::status_gone())),
            },
            Waiter::Status(st) => {
                let (exit, eof) = {
                    let r = self.drain_reports();
                    (r.exit, r.eof)
                };
                if exit.is_none() && !eof {
                    // Still running? The pidfd says, even when a descendant that forked
                    // without exec still holds the report socket open.
                    let gone = match self.pidfd() {
                        Some(fd) => sys::fd::is_readable(fd).map_err(os)?,
                        None => false,
                    };
                    if !gone {
                        return st.server_code(None).map_err(os);
                    }
                    return st.server_code(Some(Duration::from_secs(10))).map_err(os).map(|c| c.or(Some(255)));
                }
                let limit = Duration::from_secs(10);
                match exit {
                    // The child said its code as it left; wait until it is really gone.
                    Some(code) => {
                        if let Some(fd) = self.pidfd() {
                            sys::fd::spin_then_poll(fd, Duration::from_micros(50), crate::deadline::after(limit))
                                .map_err(os)?;
                        }
                        Ok(Some(st.server_code(None).map_err(os)?.unwrap_or(code)))
                    }
                    // Gone without a word (a signal, or the server died): the server decides.
                    None => st.server_code(Some(limit)).map_err(os).map(|c| c.or(Some(255))),
                }
            }
        }
    }

    pub(crate) fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.waiter {
            Waiter::Direct => self.pidfd(),
            // The report socket: readable when the child leaves (its exit code, or end of
            // file), without first waiting for the server to tell the pid.
            Waiter::Status(_) => self.report.as_ref().map(|r| r.as_fd()),
        }
    }

    pub(crate) fn signal(&self, sig: i32) -> Result<(), ProcessError> {
        let res = match (self.pidfd(), self.pid()) {
            (Some(fd), _) => sys::proc::pidfd_signal(fd, sig),
            // The pidfd could not be opened when the pid arrived (a fork-server child; too
            // many open files, say): try again now rather than drop the signal. A child
            // that is already gone has nothing left to signal; its report socket says so
            // before the pid could be reused.
            (None, Some(_)) if self.report.as_ref().is_some_and(|r| sys::fd::hung_up(r.as_fd()).unwrap_or(true)) => {
                Ok(())
            }
            (None, Some(pid)) => match sys::proc::pidfd_open(pid) {
                Ok(fd) => sys::proc::pidfd_signal(fd.as_fd(), sig),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
                Err(e) => Err(e),
            },
            // The fork server died before it made the child: there is no process.
            (None, None) => Ok(()),
        };
        res.map_err(|e| ProcessError::os(format!("sending signal {sig} to process {:?}", self.pid()), e))
    }

    pub(crate) fn read_failure(&self) -> Option<ChildFailure> {
        self.drain_reports().failure.clone()
    }
}

/// Takes the report of the forked child `pid`, which has just been reaped, if it sent one.
fn take_fork_report(pid: u32) -> Option<ChildFailure> {
    let mut g = lock(&G.fork_reports);
    g.as_mut().and_then(|r| r.take(pid))
}
