//! The child's runtime: what a child does between being made and leaving, whichever start
//! method made it. It runs the target, captures a panic the child way (Python's traceback on
//! stderr, and a report for the parent), joins the child's own children and exits with the
//! code Python would report.
//!
//! ```text
//! parent                                    child (same binary, before main)
//! ------                                    -----
//! socketpair(boot_parent, boot_child)
//! spawn /proc/self/exe, stdin=boot_child,   entry.rs: MULTIPROC_BOOT=spawn
//!   env MULTIPROC_BOOT=spawn                  move fd 0 aside, /dev/null onto fd 0
//! send_framed(BootMsg + SCM_RIGHTS fds) --> read_boot
//!                                           run_child: check binary identity, PR_SET_PDEATHSIG
//!                                           entry = anchor + offset; run target
//!                               <--------- on panic or bootstrap error: a Report
//! pidfd readable, waitid -> exit code       finish_child: exit(code)
//! ```
//!
//! The fork server's children run the same [`run_child`] on a socket the server hands them; a
//! child made by `Fork` runs its target from memory and then [`finish_child`].

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;

use super::globals::G;
use super::method::StartMethod;
use super::records::{
    BootMsg, ChildFailure, ChildInfo, EXIT_FORK_SERVER, EXIT_FORKED, FailureKind, MAX_BOOT_MSG, Report, ReportTo,
};
use crate::logging::{Level, mp_log};
use crate::sys;
use crate::util::{lock, to_hex};

/// The type of every entry trampoline (`target.rs`): runs the target found in the context's
/// payload and returns the exit code. It travels as an offset from `sys::exe::anchor`.
pub(crate) type Entry = fn(ChildCtx) -> i32;

/// Runs `f`, turning a panic into exit code 1 (the panic hook has already reported it).
pub(crate) fn run_caught(f: impl FnOnce() -> i32) -> i32 {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(1)
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
        record_failure(ChildFailure::new(FailureKind::Bootstrap, message));
    }
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
    let Ok(bytes) = crate::codec::encode(report) else { return };
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
            let in_child = G.in_child.load(Ordering::Relaxed);
            if IN_TASK.try_with(|t| t.get()).unwrap_or(false) {
                // A pool task: the failure belongs to that task, not to the process.
                let f = describe_panic(info);
                if in_child {
                    print_child_panic(&f);
                } else {
                    previous(info);
                }
                let _ = TASK_PANIC.try_with(|p| *p.borrow_mut() = Some(f));
            } else if in_child {
                child_panic(info)
            } else {
                previous(info)
            }
        }));
    });
}

thread_local! {
    /// Set while [`catch_task`] runs a task on this thread.
    static IN_TASK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The panic of the task [`catch_task`] runs, as the hook described it.
    static TASK_PANIC: std::cell::RefCell<Option<ChildFailure>> = const { std::cell::RefCell::new(None) };
}

/// A stretch of time in which the calling thread runs pool tasks: a panic there is the
/// failure of the task that panicked (see [`TaskScope::catch`]), not of the process.
pub(crate) struct TaskScope {
    outer: bool,
}

impl TaskScope {
    pub(crate) fn enter() -> TaskScope {
        ensure_panic_hook();
        TaskScope { outer: IN_TASK.replace(true) }
    }

    /// Runs one task, turning a panic into the task's failure (message, `file:line:column`,
    /// backtrace when `RUST_BACKTRACE` asks, thread) instead of unwinding further. The panic
    /// is printed as any other (the child's style in a child), but it is not this process's
    /// failure: nothing is reported to the parent when the process ends.
    #[inline]
    pub(crate) fn catch<R>(&self, f: impl FnOnce() -> R) -> Result<R, ChildFailure> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
            TASK_PANIC.take().unwrap_or_else(|| ChildFailure::new(FailureKind::Panic, payload_text(payload.as_ref())))
        })
    }
}

impl Drop for TaskScope {
    fn drop(&mut self) {
        IN_TASK.set(self.outer);
    }
}

/// Runs one pool task in a scope of its own (see [`TaskScope::catch`]).
pub(crate) fn catch_task<R>(f: impl FnOnce() -> R) -> Result<R, ChildFailure> {
    TaskScope::enter().catch(f)
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// Switches the hook of [`ensure_panic_hook`] to the child behaviour.
pub(crate) fn become_child_panics() {
    G.in_child.store(true, Ordering::Relaxed);
}

/// Prints a panic like Python's traceback and remembers it for the parent.
///
/// The backtrace follows `RUST_BACKTRACE` (and `RUST_LIB_BACKTRACE`) as std's own hook does:
/// unset, a deliberate panic prints three lines, not sixty.
fn child_panic(info: &std::panic::PanicHookInfo<'_>) {
    let f = describe_panic(info);
    print_child_panic(&f);
    record_failure(f);
}

/// A panic as a report: message, location, backtrace (per `RUST_BACKTRACE`), thread.
fn describe_panic(info: &std::panic::PanicHookInfo<'_>) -> ChildFailure {
    let message = payload_text(info.payload());
    let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
    let bt = std::backtrace::Backtrace::capture();
    let backtrace = (bt.status() == std::backtrace::BacktraceStatus::Captured).then(|| bt.to_string());
    let mut f = ChildFailure::new(FailureKind::Panic, message);
    f.location = location;
    f.backtrace = backtrace;
    f.thread = thread_label();
    f
}

/// Prints a child's panic like Python's traceback.
fn print_child_panic(f: &ChildFailure) {
    let name = super::current::current_process().name().to_string();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "Process {name}:\nthread '{}' panicked at {}:\n{}",
        f.thread.as_deref().unwrap_or("<unnamed>"),
        f.location.as_deref().unwrap_or("<unknown>"),
        f.message
    );
    let _ = match &f.backtrace {
        Some(b) => writeln!(err, "stack backtrace:\n{b}"),
        None => writeln!(err, "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"),
    };
    let _ = err.flush();
}

/// The name of the calling thread as a panic report gives it: `main` for the thread that
/// runs the target (the child's first thread, whichever thread of the parent forked it), the
/// thread's name for the others, `None` for an unnamed one.
fn thread_label() -> Option<String> {
    if sys::liveness::my_tid() == sys::liveness::my_pid() {
        return Some("main".to_string());
    }
    std::thread::current().name().map(str::to_string)
}

/// A target returned `Err(e)`: prints it as Python prints an exception that ended a process
/// and reports its text to the parent ([`FailureKind::Error`]).
pub(crate) fn report_error(text: String) {
    let name = super::current::current_process().name().to_string();
    eprintln!("Process {name}:\nError: {text}");
    record_failure(ChildFailure::new(FailureKind::Error, text));
}

pub(crate) fn die(msg: &str) -> ! {
    eprintln!("multiproc: child bootstrap failed: {msg}");
    std::process::exit(1)
}

pub(crate) fn read_boot(sock: &OwnedFd) -> (BootMsg, Vec<OwnedFd>) {
    let (body, fds) = match sys::socket::recv_framed(sock.as_fd(), MAX_BOOT_MSG) {
        Ok(Some(x)) => x,
        Ok(None) => die("the parent closed the bootstrap socket before sending what to run"),
        Err(e) => die(&format!("cannot read the bootstrap message: {e}")),
    };
    match crate::codec::decode::<BootMsg>(&body) {
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
        log: None,
    };
    let msg = BootMsg { exe_id: sys::exe::identity().to_vec(), entry: 0, info, payload: vec![0; 64] };
    if let Ok(bytes) = crate::codec::encode(&msg) {
        let _ = std::hint::black_box(crate::codec::decode::<BootMsg>(&bytes));
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
    super::current::become_child(&msg.info);
    ensure_panic_hook();
    become_child_panics();
    // The arguments' descriptors are closed before the child leaves (in the trampoline, or
    // here on a failure): a reader waiting for end of file must not wait for the exit too.
    let mut ctx = ChildCtx { payload: msg.payload, fds };
    let code = if msg.exe_id != sys::exe::identity() {
        ctx.fail_bootstrap(format!(
            "the child runs a different binary than its parent (binary identity {} vs {}); \
             start processes only from the binary that will run them",
            to_hex(&msg.exe_id),
            to_hex(sys::exe::identity())
        ));
        if let Some(f) = lock(&G.failure).as_mut() {
            f.kind = FailureKind::BinaryMismatch;
        }
        drop(ctx);
        1
    } else {
        // SAFETY-relevant check done above: same binary, so the offset names an entry.
        match sys::exe::fn_at::<Entry>(msg.entry, &msg.exe_id) {
            Ok(entry) => {
                mp_log!(Level::Info, "child process calling self.run()");
                run_caught(move || entry(ctx))
            }
            Err(e) => {
                ctx.fail_bootstrap(e.to_string());
                drop(ctx);
                1
            }
        }
    };
    finish_child(code)
}

/// Ends the calling process with `code` after joining its non-daemon children and flushing
/// stdout and stderr: the way for a target to set its exit code (Python's `sys.exit(n)`).
///
/// # Examples
/// ```no_run
/// let p = multiproc::Process::new(|(): ()| multiproc::exit(3), ());
/// p.start()?;
/// assert_eq!(p.join()?, 3);
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
pub fn exit(code: i32) -> ! {
    finish_child(code)
}

/// Ends a child: report a failure, join its own children, flush, exit.
pub(crate) fn finish_child(code: i32) -> ! {
    mp_log!(Level::Info, "process exiting with exitcode {code}");
    send_report();
    crate::util::exit_sequence();
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

/// Marks this process as made by `fork`: by the `Fork` start method, or (`fork_server`) by
/// the fork server.
pub(crate) fn set_forked(fork_server: bool) {
    G.exit_mode.store(if fork_server { EXIT_FORK_SERVER } else { EXIT_FORKED }, Ordering::Relaxed);
}
