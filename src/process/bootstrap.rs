//! The child side: a constructor that runs before `main` notices it is a child, reads its
//! bootstrap message, runs the target and exits, so user code needs no guard.
//!
//! ```text
//! parent                                    child (same binary, before main)
//! ------                                    -----
//! socketpair(boot_parent, boot_child)
//! spawn /proc/self/exe, stdin=boot_child,   ctor: MULTIPROC_BOOT=spawn
//!   env MULTIPROC_BOOT=spawn                  move fd 0 aside, /dev/null onto fd 0
//! send_framed(BootMsg + SCM_RIGHTS fds) --> recv_framed
//!                                           check binary identity, PR_SET_PDEATHSIG
//!                                           entry = anchor + offset; run target
//!                               <--------- on panic or bootstrap error: a Report
//! pidfd readable, waitid -> exit code       exit(code)
//! ```
//!
//! The fork server's children run the same [`run_child`] on a socket the server hands them.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::{ChildFailure, FailureKind};
use crate::context::StartMethod;
use crate::process::globals::G;
use crate::process::lock;
use crate::sys;
use crate::sys::socket::AbstractName;

/// Environment variable that marks a child: `spawn` or `forkserver`.
pub(crate) const ENV_BOOT: &str = "MULTIPROC_BOOT";
/// Environment variable that tells the fork server its parent's pid.
pub(crate) const ENV_PARENT: &str = "MULTIPROC_PARENT";
/// Upper bound on a bootstrap message from the parent.
const MAX_BOOT_MSG: usize = 1 << 31;

/// Who the child is, as its parent describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChildInfo {
    pub(crate) name: String,
    pub(crate) identity: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) authkey: Vec<u8>,
    pub(crate) parent_pid: u32,
    pub(crate) parent_name: String,
    pub(crate) method: StartMethod,
}

/// The message that tells a spawned child what to run.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BootMsg {
    pub(crate) exe_id: Vec<u8>,
    pub(crate) entry: isize,
    pub(crate) info: ChildInfo,
    pub(crate) payload: Vec<u8>,
}

/// What a child reports back on its bootstrap socket when things go wrong.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Report {
    Failure(ChildFailure),
    /// A fork-server child's exit code, sent as it leaves (see `finish_child`).
    Exit(i32),
}

/// What an entry trampoline gets: the encoded arguments and the descriptors they refer to.
#[derive(Debug)]
pub(crate) struct ChildCtx {
    pub(crate) payload: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
}

impl ChildCtx {
    pub(crate) fn fail_bootstrap(&mut self, message: String) {
        eprintln!("multiproc: {message}");
        record_failure(ChildFailure { kind: FailureKind::Bootstrap, message, location: None, backtrace: None });
    }
}

/// Where a child sends its reports.
#[derive(Debug)]
pub(crate) enum ReportTo {
    /// Its bootstrap socket (spawn, fork server).
    Socket(OwnedFd),
    /// The parent's report listener (fork; see `reports`).
    Listener(AbstractName),
}

/// Sets where a failing child leaves its report.
pub(crate) fn set_report_sock(sock: OwnedFd) {
    *lock(&G.report) = Some(ReportTo::Socket(sock));
}

/// The longest panic message and backtrace a report carries, in bytes: a report always fits
/// in a socket's buffer, so a failing child never waits for its parent to read before it can
/// exit (the whole text is on the child's stderr).
const MAX_MESSAGE: usize = 16 * 1024;
const MAX_BACKTRACE: usize = 32 * 1024;

/// Cuts `s` to at most `max` bytes on a character boundary, saying how much was cut.
fn bounded(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let cut = s.len() - end;
    s.truncate(end);
    s.push_str(&format!("... ({cut} more bytes on the child's stderr)"));
}

fn record_failure(mut f: ChildFailure) {
    bounded(&mut f.message, MAX_MESSAGE);
    if let Some(b) = f.backtrace.as_mut() {
        bounded(b, MAX_BACKTRACE);
    }
    if let Some(l) = f.location.as_mut() {
        bounded(l, 1024);
    }
    *lock(&G.failure) = Some(f);
}

/// Sends the recorded failure, if any, to the parent.
pub(crate) fn send_report() {
    let failure = lock(&G.failure).take();
    if let Some(f) = failure {
        send(&Report::Failure(f));
    }
}

/// Sends one report to the parent, if it listens.
fn send(report: &Report) {
    let to = lock(&G.report);
    let Ok(bytes) = postcard::to_stdvec(report) else { return };
    match to.as_ref() {
        Some(ReportTo::Socket(sock)) => {
            let _ = sys::socket::send_framed(sock.as_fd(), &bytes, &[]);
        }
        Some(ReportTo::Listener(name)) => super::reports::send_to(name, &bytes),
        None => {}
    }
}

/// Installs, once per process, a panic hook that behaves as the previous hook in the main
/// process and reports the child way in a child.
///
/// It is installed by the parent before it forks (std's hook lives behind a lock that another
/// thread of the parent may hold at the instant of a fork, so a forked child must never call
/// `set_hook`); a spawned child installs it while it is still single-threaded.
pub(crate) fn ensure_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if G.in_child.load(Ordering::Relaxed) { child_panic(info) } else { previous(info) }
        }));
    });
}

/// Switches the hook of [`ensure_panic_hook`] to the child behaviour.
pub(crate) fn become_child_panics() {
    G.in_child.store(true, Ordering::Relaxed);
}

/// Prints a panic like Python's traceback and remembers it for the parent.
fn child_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = info.payload().downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    };
    let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
    let backtrace = std::backtrace::Backtrace::force_capture().to_string();
    let name = super::current_process().name().to_string();
    let thread = std::thread::current().name().unwrap_or("main").to_string();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "Process {name}:\nthread '{thread}' panicked at {}:\n{message}\nstack backtrace:\n{backtrace}",
        location.as_deref().unwrap_or("<unknown>")
    );
    let _ = err.flush();
    record_failure(ChildFailure { kind: FailureKind::Panic, message, location, backtrace: Some(backtrace) });
}

static CHECKED: AtomicBool = AtomicBool::new(false);

/// Runs the child bootstrap if this process is a child; returns if it is not.
pub(crate) fn maybe_run_child() {
    if CHECKED.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(mode) = std::env::var_os(ENV_BOOT) else { return };
    let parent = std::env::var(ENV_PARENT).ok().and_then(|s| s.parse::<u32>().ok());
    sys::env_remove(ENV_BOOT);
    sys::env_remove(ENV_PARENT);
    sys::proc::ignore_sigpipe();
    let boot = match sys::fd::dup_cloexec(std::io::stdin().as_fd()) {
        Ok(fd) => fd,
        Err(e) => die(&format!("cannot take the bootstrap socket: {e}")),
    };
    let _ = sys::fd::devnull_onto(0);
    match mode.to_str() {
        Some("spawn") => {
            let msg = read_boot(&boot);
            let expected = msg.0.info.parent_pid;
            run_child(boot, msg.0, msg.1, expected)
        }
        Some("forkserver") => super::start::forkserver::serve(boot, parent.unwrap_or(0)),
        Some("service") => super::service::run_service(boot, parent),
        _ => die(&format!("unknown {ENV_BOOT} mode {mode:?}")),
    }
}

fn die(msg: &str) -> ! {
    eprintln!("multiproc: child bootstrap failed: {msg}");
    std::process::exit(1)
}

pub(crate) fn read_boot(sock: &OwnedFd) -> (BootMsg, Vec<OwnedFd>) {
    let (body, fds) = match sys::socket::recv_framed(sock.as_fd(), MAX_BOOT_MSG) {
        Ok(Some(x)) => x,
        Ok(None) => die("the parent closed the bootstrap socket before sending what to run"),
        Err(e) => die(&format!("cannot read the bootstrap message: {e}")),
    };
    match postcard::from_bytes::<BootMsg>(&body) {
        Ok(m) => (m, fds),
        Err(e) => die(&format!("malformed bootstrap message: {e}")),
    }
}

/// Runs, in a fork-server spare waiting for its request, the steps a child takes on its way
/// to the target, on dummy data: the page faults they cost (code mapped in, heap and data
/// pages copied from the server) are taken while nobody waits.
pub(crate) fn warm_up_child_path() {
    let info = ChildInfo {
        name: String::new(),
        identity: vec![0],
        daemon: false,
        authkey: vec![0; 32],
        parent_pid: 0,
        parent_name: String::new(),
        method: StartMethod::ForkServer,
    };
    let msg = BootMsg { exe_id: sys::exe::identity().to_vec(), entry: 0, info, payload: vec![0; 64] };
    if let Ok(bytes) = postcard::to_stdvec(&msg) {
        let _ = std::hint::black_box(postcard::from_bytes::<BootMsg>(&bytes));
    }
    let _ = std::io::stdout().flush();
    drop((lock(&G.report), lock(&G.failure), lock(&G.current), lock(&G.parent), lock(&G.method)));
}

/// Runs the target described by `msg` and exits. `expected_parent` is the pid whose death
/// must kill this process (the fork server for its children).
pub(crate) fn run_child(sock: OwnedFd, msg: BootMsg, fds: Vec<OwnedFd>, expected_parent: u32) -> ! {
    set_report_sock(sock);
    match sys::proc::die_with_parent(expected_parent) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1), // the parent is already gone
        Err(e) => eprintln!("multiproc: cannot set the parent-death signal: {e}"),
    }
    super::become_child(&msg.info);
    ensure_panic_hook();
    become_child_panics();
    let mut ctx = ChildCtx { payload: msg.payload, fds };
    let code = if msg.exe_id != sys::exe::identity() {
        ctx.fail_bootstrap(format!(
            "the child runs a different binary than its parent (binary identity {} vs {}); \
             start processes only from the binary that will run them",
            sys::exe::to_hex(&msg.exe_id),
            sys::exe::to_hex(sys::exe::identity())
        ));
        let mut f = lock(&G.failure);
        if let Some(f) = f.as_mut() {
            f.kind = FailureKind::BinaryMismatch;
        }
        1
    } else {
        // SAFETY-relevant check done above: same binary, so the offset names an entry.
        match sys::exe::fn_at::<sys::exe::Entry>(msg.entry, &msg.exe_id) {
            Ok(entry) => super::target::run_caught(|| entry(&mut ctx)),
            Err(e) => {
                ctx.fail_bootstrap(e.to_string());
                1
            }
        }
    };
    drop(ctx);
    finish_child(code)
}

/// Ends a child: report a failure, join its own children, flush, exit.
pub(crate) fn finish_child(code: i32) -> ! {
    send_report();
    super::exit_function();
    // (stderr is unbuffered: nothing to flush there.)
    let _ = std::io::stdout().flush();
    match G.exit_mode.load(Ordering::Relaxed) {
        // A forked child leaves with `_exit`, as Python's do: the at-exit handlers it
        // inherited belong to the parent.
        EXIT_FORKED => sys::proc::exit_immediately(code),
        // A fork-server child also tells its parent the code it chose, last thing, so that
        // the parent wakes once, when the child leaves, without waiting for the server to
        // reap it and relay the status (the server's report still decides after a signal).
        EXIT_FORK_SERVER => {
            send(&Report::Exit(code));
            sys::proc::exit_immediately(code)
        }
        _ => std::process::exit(code),
    }
}

pub(crate) const EXIT_NORMAL: u8 = 0;
const EXIT_FORKED: u8 = 1;
const EXIT_FORK_SERVER: u8 = 2;

/// Marks this process as made by `fork`: by the `Fork` start method, or (`fork_server`) by
/// the fork server.
pub(crate) fn set_forked(fork_server: bool) {
    G.exit_mode.store(if fork_server { EXIT_FORK_SERVER } else { EXIT_FORKED }, Ordering::Relaxed);
}

#[cfg(feature = "ctor")]
#[ctor::ctor(unsafe)]
fn multiproc_bootstrap_ctor() {
    maybe_run_child();
}

/// Keeps the constructor's object file in the link: called from `Process::start`.
#[inline(never)]
pub(crate) fn keep_ctor() {
    #[cfg(feature = "ctor")]
    std::hint::black_box(multiproc_bootstrap_ctor as fn());
}
