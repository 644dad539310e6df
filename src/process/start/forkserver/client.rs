//! The client side of the fork server: start it, ask it for children, replace it when it died.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use super::conn::ServerConn;
use super::status::StatusPipe;
use super::wire::{ENV_PRELOAD, Request, encode_preload};
use crate::error::{ProcessError, ProcessErrorKind};
use crate::process::child::ChildHandle;
use crate::process::globals::G;
use crate::process::start::Encoded;
use crate::sys;
use crate::sys::exe::ENV_PARENT;
use crate::util::lock;

/// The functions a new fork server runs first (`set_forkserver_preload`).
static PRELOAD: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

/// Sets functions the fork server runs once, before it forks any child, so that expensive
/// set-up (loading a model, building tables, warming caches) is done once and shared by every
/// child it forks afterwards, copy-on-write: Python's `set_forkserver_preload`, with
/// functions instead of module names.
///
/// The list is read when a fork server starts: set it before the first start with
/// [`StartMethod::ForkServer`](crate::StartMethod::ForkServer) (a server already running
/// keeps what it ran). A preload function that panics is reported on stderr and the server
/// goes on, as CPython's goes on after a failed import.
///
/// # Examples
/// ```no_run
/// use std::sync::OnceLock;
/// use multiproc::{StartMethod, get_context, set_forkserver_preload};
///
/// static TABLE: OnceLock<Vec<u64>> = OnceLock::new();
/// fn build_table() {
///     TABLE.get_or_init(|| (0..1_000_000).map(|x| x * x).collect());
/// }
///
/// set_forkserver_preload(&[build_table]);
/// let p = get_context(Some(StartMethod::ForkServer))
///     .process(|| assert_eq!(TABLE.get().map(|t| t[3]), Some(9)), ());
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
pub fn set_forkserver_preload(functions: &[fn()]) {
    *lock(&PRELOAD) = functions.to_vec();
}

fn start_server() -> Result<ServerConn, ProcessError> {
    let (ours, theirs) =
        sys::socket::socketpair(sys::socket::PairKind::SeqPacket).map_err(|e| ProcessError::os("socketpair", e))?;
    let me = sys::liveness::my_pid().to_string();
    let offsets: Vec<isize> = lock(&PRELOAD).iter().map(|&f| sys::exe::fn_offset(f)).collect();
    let preload = encode_preload(sys::exe::identity(), &offsets);
    let env = [(ENV_PARENT, me.as_str()), (ENV_PRELOAD, preload.as_str())];
    let pid = sys::exe::reexec("forkserver", theirs, &env).map(|c| c.id()).map_err(|e| {
        ProcessError::new(ProcessErrorKind::ForkServer, format!("cannot start the fork server: {e}")).with_source(e)
    })?;
    let me = sys::liveness::my_pid();
    Ok(ServerConn { owner: me, control: ours, pidfd: sys::proc::pidfd_open(pid).ok() })
}

/// Asks the server for a child; `Ok(false)` if the server is gone (the caller restarts it).
fn request(server: &ServerConn, boot_child: &OwnedFd, status_w: &OwnedFd) -> Result<bool, ProcessError> {
    let req = Request.encode();
    match sys::socket::send_with_fds(server.control.as_fd(), &req, &[boot_child.as_fd(), status_w.as_fd()]) {
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
