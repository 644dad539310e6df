//! `ForkServer`: a single-threaded server process, spawned once, forks children on request.
//!
//! ```text
//! client (any thread)                           fork server (single-threaded, before main)
//! -------------------                           -----------
//! socketpair(boot_parent, boot_child)
//! pipe(status_r, status_w)
//! sendmsg(control, "F", [boot_child, status_w]) -> recvmsg; fork()
//! send_framed(boot_parent, BootMsg)                 child: run_child(boot_child), as spawn
//! start() returns                                   parent: "P"+pid -> status_w
//! pid() (when first needed) <- "P"+pid
//! join(): poll boot_parent  <---------------------- child leaves: Report::Exit(code), _exit
//!         (end of file if a signal killed it)       SIGCHLD -> waitpid -> "S"+status, close
//! the code: the child's own report, or "S"+status when the child said nothing
//! ```
//!
//! Waking the caller once per child, when it leaves, is what makes this start method cheap:
//! `start` does not wait for the pid, and `join` does not wait for the server to reap and
//! relay the status unless the child died without a word (a signal).
//!
//! The server dies with the process that started it (`PR_SET_PDEATHSIG`, and end of file on
//! the control socket); its children die with the server. If the server is found dead, the
//! next start launches a new one. Control messages are `SOCK_SEQPACKET`, so requests from
//! several threads never interleave; the server ignores SIGINT, as Python's does.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Encoded;
use crate::error::{ProcessError, ProcessErrorKind};
use crate::process::bootstrap::{self, ENV_PARENT};

const STATUS_PID: u8 = b'P';
const STATUS_SERVER: u8 = b'S';
use crate::process::ChildHandle;
use crate::process::globals::G;
use crate::process::lock;
use crate::sys;
use crate::sys::proc::Forked;

pub(crate) struct Server {
    owner: u32,
    control: OwnedFd,
}

fn start_server() -> Result<Server, ProcessError> {
    let (ours, theirs) =
        sys::socket::socketpair(sys::socket::PairKind::SeqPacket).map_err(|e| ProcessError::os("socketpair", e))?;
    let me = sys::liveness::my_pid();
    super::spawn::spawn_with_boot("forkserver", theirs, &[(ENV_PARENT, me.to_string())]).map_err(|e| {
        ProcessError::new(ProcessErrorKind::ForkServer, format!("cannot start the fork server: {e}")).with_source(e)
    })?;
    Ok(Server { owner: me, control: ours })
}

/// Asks the server for a child; `Ok(None)` if the server is gone (the caller restarts it).
fn request(server: &Server, boot_child: &OwnedFd, status_w: &OwnedFd) -> Result<bool, ProcessError> {
    match sys::socket::send_with_fds(server.control.as_fd(), b"F", &[boot_child.as_fd(), status_w.as_fd()]) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE) | Some(libc::ECONNRESET) | Some(libc::ECONNREFUSED)) => {
            Ok(false)
        }
        Err(e) => Err(ProcessError::new(ProcessErrorKind::ForkServer, format!("cannot reach the fork server: {e}"))
            .with_source(e)),
    }
}

pub(crate) fn launch(enc: Encoded) -> Result<ChildHandle, ProcessError> {
    let me = sys::liveness::my_pid();
    let (boot_parent, boot_child) =
        sys::socket::socketpair(sys::socket::PairKind::Stream).map_err(|e| ProcessError::os("socketpair", e))?;
    let (status_r, status_w) = sys::socket::pipe().map_err(|e| ProcessError::os("pipe", e))?;
    {
        let mut g = lock(&G.server);
        // A server found dead is replaced once; a second failure is reported.
        let mut sent = false;
        for _attempt in 0..2 {
            if g.as_ref().is_none_or(|s| s.owner != me) {
                *g = Some(start_server()?);
            }
            if request(g.as_ref().expect("just set"), &boot_child, &status_w)? {
                sent = true;
                break;
            }
            *g = None;
        }
        if !sent {
            return Err(ProcessError::new(
                ProcessErrorKind::ForkServer,
                "the fork server died twice while starting a process",
            ));
        }
    }
    drop(boot_child);
    drop(status_w);
    // Send what to run right away: the child finds it waiting in its socket as soon as it is
    // forked. The pid is read later, when first needed (`ChildHandle::pid`): not waiting for it
    // here saves a wake-up of this thread per start.
    if let Err(e) = sys::socket::send_framed(boot_parent.as_fd(), &enc.body, &sys::socket::borrow_all(&enc.fds)) {
        log::warn!("multiproc: could not send the bootstrap message to a fork-server child: {e}");
    }
    Ok(ChildHandle::from_fork_server(StatusPipe::new(status_r), boot_parent))
}

fn record(tag: u8, value: i32) -> [u8; 5] {
    let mut r = [0u8; 5];
    r[0] = tag;
    r[1..].copy_from_slice(&value.to_le_bytes());
    r
}

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
    fn new(fd: OwnedFd) -> StatusPipe {
        StatusPipe { fd, seen: Mutex::new(Seen::default()) }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads one record (blocking); false at end of file.
    fn read_one(&self, seen: &mut Seen) -> bool {
        let mut r = [0u8; 5];
        match sys::fd::read_exact_or_eof(self.fd.as_fd(), &mut r) {
            Ok(true) => {
                let v = i32::from_le_bytes(r[1..].try_into().expect("4 bytes"));
                match r[0] {
                    STATUS_PID => seen.pid = Some(v as u32),
                    STATUS_SERVER => seen.server = Some(v),
                    _ => {}
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
                    sys::fd::spin_then_poll(self.fd.as_fd(), Duration::from_micros(200), Some(d))?;
                }
                _ => return Ok(None),
            }
        }
    }
}

/// The server's main loop; runs in the spawned server process before `main` and never returns.
pub(crate) fn serve(control: OwnedFd, parent: u32) -> ! {
    match sys::proc::die_with_parent(parent) {
        Ok(true) => {}
        _ => std::process::exit(0),
    }
    // SIGINT from a terminal goes to the whole process group: the server must survive it.
    // SAFETY-free: plain disposition change through the sys layer.
    sys::proc::ignore_signal(libc::SIGINT);
    let sigchld = match sys::proc::sigchld_fd() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("multiproc fork server: cannot watch SIGCHLD: {e}");
            std::process::exit(1);
        }
    };
    let mut children: HashMap<u32, OwnedFd> = HashMap::new();
    loop {
        let ready = match sys::fd::poll_readable(&[control.as_fd(), sigchld.as_fd()], None) {
            Ok(r) => r,
            Err(_) => std::process::exit(1),
        };
        if ready.contains(&1) {
            sys::proc::drain_signalfd(sigchld.as_fd());
        }
        // Reap on every wake-up: a child may have ended before its status pipe was stored.
        while let Ok(Some((pid, code))) = sys::proc::reap_any() {
            if let Some(w) = children.remove(&pid) {
                let _ = sys::fd::write_all(w.as_fd(), &record(STATUS_SERVER, code));
            }
        }
        if !ready.contains(&0) {
            continue;
        }
        let mut buf = [0u8; 1];
        let (n, mut fds) = match sys::socket::recv_with_fds(control.as_fd(), &mut buf, 2) {
            Ok(x) => x,
            Err(_) => continue,
        };
        if n == 0 && fds.is_empty() {
            std::process::exit(0); // the parent closed the control socket: it is exiting
        }
        if fds.len() != 2 || buf[0] != b'F' {
            continue; // malformed request: ignore it, dropping its fds
        }
        let status_w = fds.pop().expect("two fds");
        let boot_child = fds.pop().expect("two fds");
        let me = sys::liveness::my_pid();
        #[allow(unsafe_code)] // the fork server's one fork()
        // SAFETY: the fork server is single-threaded, so the child may run arbitrary code.
        let forked = unsafe { sys::proc::fork() };
        match forked {
            Err(_) => drop((status_w, boot_child)),
            Ok(Forked::Child) => {
                drop(children);
                drop(status_w);
                bootstrap::set_forked(true);
                drop(sigchld);
                drop(control);
                sys::proc::unblock_all_signals();
                sys::proc::default_signal(libc::SIGINT);
                sys::proc::default_signal(libc::SIGCHLD);
                let (msg, fds) = bootstrap::read_boot(&boot_child);
                bootstrap::run_child(boot_child, msg, fds, me)
            }
            Ok(Forked::Parent(pid)) => {
                drop(boot_child);
                if sys::fd::write_all(status_w.as_fd(), &record(STATUS_PID, pid as i32)).is_ok() {
                    children.insert(pid, status_w);
                }
            }
        }
    }
}
