//! The fork server's side: its main loop, and the spare child that waits for a request.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use super::wire::{ENV_PRELOAD, Notice, REQUEST_FDS, Request, Status, decode_preload};
use crate::process::runtime;
use crate::sys;
use crate::sys::proc::Forked;

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
    runtime::ensure_panic_hook();
    sys::exe::identity();
    crate::handle::warm_up();
    run_preload();
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
                let _ = sys::fd::write_all(w.as_fd(), &Status::Server(code).encode());
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

/// Runs the functions of `set_forkserver_preload`, once, before the first fork.
fn run_preload() {
    let Ok(spec) = std::env::var(ENV_PRELOAD) else { return };
    sys::env_remove(ENV_PRELOAD);
    let Some((exe_id, offsets)) = decode_preload(&spec) else {
        eprintln!("multiproc fork server: malformed {ENV_PRELOAD} value {spec:?}; preloading nothing");
        return;
    };
    for off in offsets {
        match sys::exe::fn_at::<fn()>(off, &exe_id) {
            Ok(f) => {
                if std::panic::catch_unwind(f).is_err() {
                    eprintln!("multiproc fork server: a preload function panicked; going on without it");
                }
            }
            Err(e) => eprintln!("multiproc fork server: cannot preload: {e}"),
        }
    }
}

/// Reads the spares' notices that have arrived: which child each became, with its status
/// pipe.
fn take_notices(notices: &OwnedFd, children: &mut HashMap<u32, OwnedFd>, spare: &mut Option<u32>, lost: &mut u32) {
    while sys::fd::is_readable(notices.as_fd()).unwrap_or(false) {
        let mut buf = [0u8; Notice::LEN];
        if let Ok((n, mut fds)) = sys::socket::recv_with_fds(notices.as_fd(), &mut buf, 1)
            && let Some(Notice { pid }) = Notice::decode(&buf[..n])
            && let Some(status_w) = fds.pop()
        {
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
    runtime::warm_up_child_path();
    let (boot_child, status_w) = loop {
        let mut buf = [0u8; Request::LEN];
        let (n, mut fds) = match sys::socket::recv_with_fds(control.as_fd(), &mut buf, REQUEST_FDS) {
            Ok(x) => x,
            Err(_) => sys::proc::exit_immediately(0),
        };
        if n == 0 && fds.is_empty() {
            sys::proc::exit_immediately(0); // the client closed the control socket
        }
        if Request::decode(&buf[..n], fds.len()).is_some() {
            let status_w = fds.pop().expect("two fds");
            break (fds.pop().expect("two fds"), status_w);
        }
        // A malformed request: drop it (and its fds) and wait for the next.
    };
    let me = sys::liveness::my_pid();
    // The notice goes first: once the pid is out, the parent may kill this process at any
    // moment, and the server must then know where to report how it ended.
    let _ = sys::socket::send_with_fds(notify.as_fd(), &Notice { pid: me }.encode(), &[status_w.as_fd()]);
    let _ = sys::fd::write_all(status_w.as_fd(), &Status::Pid(me).encode());
    drop((status_w, notify, control));
    runtime::set_forked(true);
    crate::util::run_after_fork();
    let (msg, fds) = runtime::read_boot(&boot_child);
    runtime::run_child(boot_child, msg, fds, server)
}
