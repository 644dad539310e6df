//! Failure reports of children made by `fork`: one listening socket per parent process.
//!
//! A spawned or fork-server child reports on its bootstrap socket, which exists anyway. A
//! forked child needs no bootstrap socket, and a socketpair per start (create, and close three
//! ends) costs more than the rest of a fork start's bookkeeping together. So a parent keeps
//! one listening socket on an abstract name; a forked child that fails connects to it, sends
//! its report and leaves. Children that succeed (nearly all) cost nothing.
//!
//! ```text
//! parent                                      child made by fork
//! ------                                      ------------------
//! listen on "\0xxxxx" (once per process)
//! fork()                              ------> panics: connect("\0xxxxx"), send the report
//! join: exit code != 0 -> accept what waits,   _exit(1)
//!       SO_PEERCRED tells whose report it is
//! ```
//!
//! The reports of ended children are complete when the parent reads them (a child sends
//! before it leaves). A connection is kept only if it comes from a child of this process that
//! has not been reaped yet, or from the one being reaped; others (a stranger, a child already
//! collected) are closed unread, so nothing piles up.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

use super::records::{ChildFailure, MAX_REPORT, Report};
use crate::sys;
use crate::sys::socket::AbstractName;

/// The parent's listening socket and the reports read from it.
#[derive(Debug)]
pub(crate) struct Registry {
    /// The process that listens (a forked child inherits its parent's registry and makes its
    /// own when it forks in turn).
    owner: u32,
    listener: OwnedFd,
    name: AbstractName,
    /// Connections whose report has not fully arrived (the child is still running).
    partial: HashMap<u32, (OwnedFd, Vec<u8>)>,
    /// Complete reports not yet collected.
    done: HashMap<u32, ChildFailure>,
}

/// The address forked children of this process report to, creating the listener on first
/// use (and anew in a forked child, which must not use its parent's).
pub(crate) fn address(registry: &mut Option<Registry>) -> std::io::Result<AbstractName> {
    let me = sys::liveness::my_pid();
    if let Some(r) = registry.as_ref()
        && r.owner == me
    {
        return Ok(r.name);
    }
    let (listener, name) = sys::socket::listen_abstract()?;
    // A registry inherited from the parent is dropped: its listener is closed here (the
    // parent's stays open), its reports were the parent's.
    *registry = Some(Registry { owner: me, listener, name, partial: HashMap::new(), done: HashMap::new() });
    Ok(name)
}

impl Registry {
    /// Takes the report of the child `pid`, which has just been reaped, if it sent one (a
    /// registry inherited from the parent holds nothing of this process's).
    pub(crate) fn take(&mut self, pid: u32) -> Option<ChildFailure> {
        if self.owner != sys::liveness::my_pid() {
            return None;
        }
        self.drain(pid);
        self.done.remove(&pid)
    }

    /// Accepts every waiting connection and reads what has arrived. `reaped` is the child
    /// collected just now (`waitid` no longer knows it).
    fn drain(&mut self, reaped: u32) {
        while let Ok(Some(conn)) = sys::socket::accept_now(self.listener.as_fd()) {
            let Ok(pid) = sys::socket::peer_pid(conn.as_fd()) else { continue };
            if pid == reaped || sys::proc::is_unreaped_child(pid) {
                self.partial.insert(pid, (conn, Vec::new()));
            }
        }
        let pids: Vec<u32> = self.partial.keys().copied().collect();
        for pid in pids {
            let Some((conn, mut buf)) = self.partial.remove(&pid) else { continue };
            match sys::socket::read_available(conn.as_fd(), &mut buf, MAX_REPORT) {
                Ok(true) => {
                    if let Some(f) = decode(&buf) {
                        self.done.insert(pid, f);
                    }
                }
                // Not all there yet: only a running child can still be writing.
                Ok(false) if pid != reaped => {
                    self.partial.insert(pid, (conn, buf));
                }
                Ok(false) | Err(_) => {}
            }
        }
    }
}

/// Decodes `data` as a report connection's bytes (fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(data: &[u8]) {
    let _ = decode(data);
}

/// A report as [`sys::socket::send_framed`] wrote it.
fn decode(buf: &[u8]) -> Option<ChildFailure> {
    match crate::codec::decode::<Report>(sys::socket::parse_framed(buf)?).ok()? {
        Report::Failure(f) => Some(f),
        Report::Exit(_) => None,
    }
}

/// In a forked child: sends `report` to the parent's listener. Gives up rather than block
/// (the report is also on the child's stderr).
pub(crate) fn send_to(name: &AbstractName, report: &[u8]) {
    match sys::socket::connect_abstract(name) {
        Ok(sock) => {
            if let Err(e) = sys::socket::send_framed(sock.as_fd(), report, &[]) {
                log::debug!("multiproc: could not send the failure report to the parent: {e}");
            }
        }
        Err(e) => log::debug!("multiproc: could not reach the parent for the failure report: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::records::FailureKind;

    fn report(message: &str) -> Vec<u8> {
        let f = ChildFailure::new(FailureKind::Panic, message.into());
        crate::codec::encode(&Report::Failure(f)).unwrap()
    }

    #[test]
    fn reads_the_report_of_the_reaped_child_and_drops_strangers() {
        let mut slot = None;
        let name = address(&mut slot).unwrap();
        let me = sys::liveness::my_pid();
        // This process is no child of itself: as a stranger, its report is dropped unread...
        send_to(&name, &report("from a stranger"));
        let r = slot.as_mut().unwrap();
        r.drain(1);
        assert!(r.partial.is_empty() && r.done.is_empty());
        // ...unless it is the child being reaped.
        send_to(&name, &report("boom"));
        r.drain(me);
        assert_eq!(r.done.remove(&me).map(|f| f.message), Some("boom".to_string()));
    }

    #[test]
    fn garbage_and_truncated_reports_are_ignored() {
        let mut slot = None;
        let name = address(&mut slot).unwrap();
        let me = sys::liveness::my_pid();
        for bad in [&b"\xff\xff\xff\xff\0\0\0\0xyz"[..], b"\x03\0\0\0\0\0\0\0\xff\xff\xff", b"\x01"] {
            let sock = sys::socket::connect_abstract(&name).unwrap();
            sys::fd::write_all(sock.as_fd(), bad).unwrap();
            drop(sock);
            let r = slot.as_mut().unwrap();
            r.drain(me);
            assert!(r.done.is_empty() && r.partial.is_empty(), "{bad:?}");
        }
    }
}
