//! `ForkServer`: a single-threaded server process, spawned once, that keeps one child forked
//! ahead of need (the spare); a request goes straight to the spare.
//!
//! ```text
//! client (any thread)                 fork server                  spare (forked in advance)
//! -------------------                 -----------                  -----
//!                                     fork() the spare -------->   recvmsg(control) ...
//! socketpair(boot_parent, boot_child)
//! pipe(status_r, status_w)
//! sendmsg(control, "F", [boot_child, status_w]) ------------------> takes the request
//! send_framed(boot_parent, BootMsg)   <- notice(pid, status_w) --
//! start() returns                                                   "P"+pid -> status_w
//!                                     fork() the next spare         run_child(boot_child)
//! join(): poll boot_parent  <-------------------------------------- Report::Exit(code), _exit
//!         (end of file if a signal killed it)
//!                                     SIGCHLD -> waitpid -> "S"+status -> status_w, close
//! the code: the child's own report, or "S"+status when the child said nothing
//! ```
//!
//! The fork is off the critical path: it happens while the previous child runs or while the
//! client does something else, and a start costs one wake-up of the spare. `start` does not
//! wait for the pid, and `join` wakes once per child, when it leaves; it waits for the
//! server's status only when the child died without a word (a signal).
//!
//! The server dies with the process that started it (`PR_SET_PDEATHSIG`); the spare and the
//! children die with the server. A spare that finds the control socket closed leaves, and so
//! does the server then. If the server is found dead, the next start launches a new one.
//! Control messages are `SOCK_SEQPACKET`, so requests from several threads never interleave;
//! the server ignores SIGINT, as Python's does, and its children get the client's SIGINT and
//! SIGCHLD dispositions back (ignored stays ignored, as under the other start methods).

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
    /// The server's pidfd, to notice its death before sending it a request.
    pidfd: Option<OwnedFd>,
}

impl Server {
    fn alive(&self) -> bool {
        match &self.pidfd {
            Some(fd) => !sys::fd::is_readable(fd.as_fd()).unwrap_or(true),
            None => true,
        }
    }
}

impl Drop for Server {
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

fn start_server() -> Result<Server, ProcessError> {
    let (ours, theirs) =
        sys::socket::socketpair(sys::socket::PairKind::SeqPacket).map_err(|e| ProcessError::os("socketpair", e))?;
    let me = sys::liveness::my_pid();
    let pid = super::spawn::spawn_with_boot("forkserver", theirs, &[(ENV_PARENT, me.to_string())]).map_err(|e| {
        ProcessError::new(ProcessErrorKind::ForkServer, format!("cannot start the fork server: {e}")).with_source(e)
    })?;
    Ok(Server { owner: me, control: ours, pidfd: sys::proc::pidfd_open(pid).ok() })
}

/// Asks the server for a child; `Ok(false)` if the server is gone (the caller restarts it).
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
            // A server known dead is replaced before the request: its spare may still be
            // alive for a moment, and would take the request with it.
            if g.as_ref().is_none_or(|s| s.owner != me || !s.alive()) {
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
    // Children get back the dispositions the server inherited from the client (ignored or
    // default), as spawned and forked children inherit them directly. The server needs
    // SIGCHLD: with it ignored, the kernel would reap children before their status is read.
    let inherited = Inherited {
        sigint_ignored: sys::proc::signal_ignored(libc::SIGINT),
        sigchld_ignored: sys::proc::signal_ignored(libc::SIGCHLD),
    };
    sys::proc::ignore_signal(libc::SIGINT);
    sys::proc::default_signal(libc::SIGCHLD);
    // Done once here and inherited, instead of done by every child on its critical path: the
    // panic hook, the binary's identity (read from the ELF notes), the handle table.
    bootstrap::ensure_panic_hook();
    sys::exe::identity();
    crate::handle::warm_up();
    let fail = |what: &str, e: std::io::Error| -> ! {
        eprintln!("multiproc fork server: cannot {what}: {e}");
        std::process::exit(1)
    };
    let sigchld = sys::proc::sigchld_fd().unwrap_or_else(|e| fail("watch SIGCHLD", e));
    // Spares tell the server which child they became, with the child's status pipe.
    let (notices, notify) =
        sys::socket::socketpair(sys::socket::PairKind::SeqPacket).unwrap_or_else(|e| fail("make a socketpair", e));
    let me = sys::liveness::my_pid();
    // Children that took a request: where their status goes.
    let mut children: HashMap<u32, OwnedFd> = HashMap::new();
    let mut spare: Option<u32> = None;
    // Spares lost without taking a request, in a row: slows down a fork loop if something
    // kills every spare.
    let mut lost = 0u32;
    loop {
        if spare.is_none() {
            if lost > 3 {
                std::thread::sleep(Duration::from_millis(10 * u64::from(lost.min(100))));
            }
            #[allow(unsafe_code)] // the fork server's one fork()
            // SAFETY: the fork server is single-threaded, so the child may run arbitrary code.
            let forked = unsafe { sys::proc::fork() };
            match forked {
                Err(_) => lost += 1,
                Ok(Forked::Child) => {
                    drop(children);
                    drop(sigchld);
                    drop(notices);
                    wait_as_spare(control, notify, me, inherited)
                }
                Ok(Forked::Parent(pid)) => spare = Some(pid),
            }
        }
        let ready = match sys::fd::poll_readable(&[notices.as_fd(), sigchld.as_fd()], None) {
            Ok(r) => r,
            Err(_) => std::process::exit(1),
        };
        if ready.contains(&1) {
            sys::proc::drain_signalfd(sigchld.as_fd());
        }
        take_notices(&notices, &mut children, &mut spare, &mut lost);
        while let Ok(Some((pid, code))) = sys::proc::reap_any() {
            if !children.contains_key(&pid) {
                // A spare sends its notice before it runs anything: if it took a request,
                // the notice is waiting now, even when the child has already ended.
                take_notices(&notices, &mut children, &mut spare, &mut lost);
            }
            if let Some(w) = children.remove(&pid) {
                let _ = sys::fd::write_all(w.as_fd(), &record(STATUS_SERVER, code));
            } else if spare == Some(pid) {
                // The spare left without a request: the client closed the control socket
                // (it is exiting), or something killed the spare.
                if sys::fd::hung_up(control.as_fd()).unwrap_or(true) {
                    std::process::exit(0);
                }
                spare = None;
                lost += 1;
            }
        }
    }
}

/// Reads the spares' notices that have arrived: which child each became, with its status
/// pipe.
fn take_notices(notices: &OwnedFd, children: &mut HashMap<u32, OwnedFd>, spare: &mut Option<u32>, lost: &mut u32) {
    while sys::fd::is_readable(notices.as_fd()).unwrap_or(false) {
        let mut pid = [0u8; 4];
        if let Ok((4, mut fds)) = sys::socket::recv_with_fds(notices.as_fd(), &mut pid, 1)
            && let Some(status_w) = fds.pop()
        {
            let pid = u32::from_le_bytes(pid);
            children.insert(pid, status_w);
            if *spare == Some(pid) {
                *spare = None;
                *lost = 0;
            }
        }
    }
}

/// Signal dispositions the server found at its start (those of the client that spawned it).
#[derive(Clone, Copy)]
struct Inherited {
    sigint_ignored: bool,
    sigchld_ignored: bool,
}

/// The spare: waits for one request, then becomes the child it asks for.
fn wait_as_spare(control: OwnedFd, notify: OwnedFd, server: u32, inherited: Inherited) -> ! {
    match sys::proc::die_with_parent(server) {
        Ok(true) => {}
        _ => sys::proc::exit_immediately(0),
    }
    sys::proc::unblock_all_signals();
    sys::proc::set_ignored(libc::SIGINT, inherited.sigint_ignored);
    sys::proc::set_ignored(libc::SIGCHLD, inherited.sigchld_ignored);
    bootstrap::warm_up_child_path();
    let (boot_child, status_w) = loop {
        let mut buf = [0u8; 1];
        let (n, mut fds) = match sys::socket::recv_with_fds(control.as_fd(), &mut buf, 2) {
            Ok(x) => x,
            Err(_) => sys::proc::exit_immediately(0),
        };
        if n == 0 && fds.is_empty() {
            sys::proc::exit_immediately(0); // the client closed the control socket
        }
        if fds.len() == 2 && buf[0] == b'F' {
            let status_w = fds.pop().expect("two fds");
            break (fds.pop().expect("two fds"), status_w);
        }
        // A malformed request: drop it (and its fds) and wait for the next.
    };
    let me = sys::liveness::my_pid();
    // The notice goes first: once the pid is out, the parent may kill this process at any
    // moment, and the server must then know where to report how it ended.
    let _ = sys::socket::send_with_fds(notify.as_fd(), &me.to_le_bytes(), &[status_w.as_fd()]);
    let _ = sys::fd::write_all(status_w.as_fd(), &record(STATUS_PID, me as i32));
    drop((status_w, notify, control));
    bootstrap::set_forked(true);
    let (msg, fds) = bootstrap::read_boot(&boot_child);
    bootstrap::run_child(boot_child, msg, fds, server)
}
