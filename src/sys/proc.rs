//! Processes: fork, pidfds, exit statuses, signals, the parent-death signal and the at-exit hook.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, WaitOptions};

use super::fd::retry;

/// The outcome of `fork` as seen by the caller.
#[derive(Debug)]
pub(crate) enum Forked {
    /// In the parent, with the child's pid.
    Parent(u32),
    /// In the child.
    Child,
}

/// `fork()`.
///
/// # Safety
/// In the child only async-signal-safe work is allowed until it execs or exits, unless the
/// parent had a single thread: no allocation and no locks that another thread could have held.
///
/// # References
/// - [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html)
pub(crate) unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: the caller upholds the post-fork restrictions documented above.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        p => Ok(Forked::Parent(p as u32)),
    }
}

/// Ends the process at once, without running at-exit handlers or flushing stdio.
pub(crate) fn exit_immediately(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it ends the process without returning.
    unsafe { libc::_exit(code) }
}

fn pid_of(pid: u32) -> io::Result<Pid> {
    Pid::from_raw(pid as i32).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "pid 0"))
}

/// Opens a pidfd for `pid`: readable once the process has exited.
///
/// # References
/// - [pidfd_open(2)](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    super::fd::off_stdio(rustix::process::pidfd_open(pid_of(pid)?, PidfdFlags::empty())?)
}

/// Sends `sig` through a pidfd (no pid-reuse race).
pub(crate) fn pidfd_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    let sig = Signal::from_named_raw(sig).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad signal"))?;
    match rustix::process::pidfd_send_signal(pidfd, sig) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Python's exit code for a wait status: the code, or `-signal`.
fn code_of(status: rustix::process::WaitIdStatus) -> i32 {
    if let Some(sig) = status.terminating_signal() { -sig } else { status.exit_status().unwrap_or(255) }
}

/// Reaps the child behind `pidfd` if it has exited; `Ok(None)` while it runs.
///
/// # References
/// - [waitid(2), P_PIDFD](https://man7.org/linux/man-pages/man2/waitid.2.html)
pub(crate) fn pidfd_try_reap(pidfd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    let st = retry(|| rustix::process::waitid(WaitId::PidFd(pidfd), WaitIdOptions::EXITED | WaitIdOptions::NOHANG))
        .map_err(|e| if e.raw_os_error() == Some(libc::ECHILD) { status_gone() } else { e })?;
    Ok(st.and_then(|s| if s.raw_signo() == 0 { None } else { Some(code_of(s)) }))
}

/// The error for a child whose exit status is gone, saying the likely reason.
pub(crate) fn status_gone() -> io::Error {
    let why = if signal_ignored(libc::SIGCHLD) || sigchld_nocldwait() {
        "SIGCHLD is ignored (SIG_IGN or SA_NOCLDWAIT) in this process, so the kernel discarded it; \
         restore SIGCHLD to SIG_DFL before starting processes"
    } else {
        "another part of this program reaped the child (a waitpid(-1) or a SIGCHLD handler that reaps)"
    };
    io::Error::new(io::ErrorKind::NotFound, format!("the child's exit status is gone: {why}"))
}

/// Is `SA_NOCLDWAIT` set on SIGCHLD (children reaped by the kernel)?
fn sigchld_nocldwait() -> bool {
    action_of(libc::SIGCHLD).is_some_and(|a| a.sa_flags & libc::SA_NOCLDWAIT != 0)
}

/// Is `pid` a child of this process that has not been reaped (running, or ended and not yet
/// collected)? Collects nothing.
pub(crate) fn is_unreaped_child(pid: u32) -> bool {
    let Some(pid) = Pid::from_raw(pid as i32) else { return false };
    retry(|| {
        rustix::process::waitid(WaitId::Pid(pid), WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT)
    })
    .is_ok()
}

/// Reaps any exited child without blocking: `(pid, exit code)`.
pub(crate) fn reap_any() -> io::Result<Option<(u32, i32)>> {
    match retry(|| rustix::process::wait(WaitOptions::NOHANG)) {
        Ok(Some((pid, st))) => {
            let code = if let Some(sig) = st.terminating_signal() { -sig } else { st.exit_status().unwrap_or(255) };
            Ok(Some((pid.as_raw_nonzero().get() as u32, code)))
        }
        Ok(None) => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(None),
        Err(e) => Err(e),
    }
}

/// This process's pid.
pub(crate) fn getpid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The parent's pid (0 when the parent is gone and we were reparented to no one).
pub(crate) fn getppid() -> u32 {
    rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32).unwrap_or(0)
}

/// Is the calling thread the process's main thread?
pub(crate) fn is_main_thread() -> bool {
    rustix::thread::gettid() == rustix::process::getpid()
}

/// The kernel id of the calling thread.
pub(crate) fn gettid() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

/// Asks the kernel to SIGKILL this process when the thread that created it dies, then checks
/// that the expected parent is still there (it may have died before the request).
///
/// # References
/// - [PR_SET_PDEATHSIG](https://man7.org/linux/man-pages/man2/PR_SET_PDEATHSIG.2const.html)
pub(crate) fn die_with_parent(expected_parent: u32) -> io::Result<bool> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    Ok(getppid() == expected_parent)
}

/// Restores the default disposition of `SIGPIPE` to "ignore", as a Rust `main` would have
/// done, for code that runs in a child before `main`.
pub(crate) fn ignore_sigpipe() {
    // SAFETY: setting a signal to SIG_IGN has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Ignores `sig`.
pub(crate) fn ignore_signal(sig: i32) {
    // SAFETY: setting a signal to SIG_IGN has no memory-safety preconditions.
    unsafe {
        libc::signal(sig, libc::SIG_IGN);
    }
}

/// Is `sig` ignored (`SIG_IGN`) in this process? Dispositions other than "ignore" are not
/// inherited across `exec`, so this is what a spawned process can learn of its parent's.
pub(crate) fn signal_ignored(sig: i32) -> bool {
    action_of(sig).is_some_and(|a| a.sa_sigaction == libc::SIG_IGN)
}

/// The current action of `sig`, changing nothing; `None` for an invalid signal.
fn action_of(sig: i32) -> Option<libc::sigaction> {
    // SAFETY: sigaction with a null new action only reads the current one into `old`, a
    // plain-data struct zero-initialised here.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(sig, std::ptr::null(), &mut old) == 0).then_some(old)
    }
}

/// Sets `sig` to "ignore" or back to its default disposition.
pub(crate) fn set_ignored(sig: i32, ignored: bool) {
    if ignored { ignore_signal(sig) } else { default_signal(sig) }
}

/// Resets `sig` to its default disposition.
pub(crate) fn default_signal(sig: i32) {
    // SAFETY: setting a signal to SIG_DFL has no memory-safety preconditions.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}

/// Blocks `SIGCHLD` for the calling thread and returns a signalfd that reports it.
///
/// # References
/// - [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html)
pub(crate) fn sigchld_fd() -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it; the fd returned by
    // signalfd is fresh and owned by the returned OwnedFd.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(super::fd::owned_from_raw(fd))
    }
}

/// Unblocks every signal for the calling thread (a forked child of the fork server).
pub(crate) fn unblock_all_signals() {
    // SAFETY: as in `sigchld_fd`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Drains a signalfd made by [`sigchld_fd`].
pub(crate) fn drain_signalfd(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 128 * 8];
    while let Ok(n) = rustix::io::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// Registers `f` to run at normal process exit (`exit(3)`, returning from `main`).
pub(crate) fn at_exit(f: extern "C" fn()) {
    // SAFETY: `f` is a plain function with C ABI that lives for the whole program.
    unsafe {
        libc::atexit(f);
    }
}

/// The number of online CPUs, as Python's `os.cpu_count()`.
pub(crate) fn cpu_count() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n < 1 { 1 } else { n as usize }
}

/// The resident set size of this process in bytes, as `/proc/self/statm` gives it (pages in
/// memory now, not the peak).
///
/// # References
/// - [proc_pid_statm(5)](https://man7.org/linux/man-pages/man5/proc_pid_statm.5.html)
pub(crate) fn rss_bytes() -> io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/self/statm"))?;
    Ok(pages * rustix::param::page_size() as u64)
}

/// The CPUs the calling thread may run on.
///
/// # References
/// - [sched_getaffinity(2)](https://man7.org/linux/man-pages/man2/sched_getaffinity.2.html)
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    let set = rustix::thread::sched_getaffinity(None)?;
    Ok((0..rustix::thread::CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
}

/// The highest CPU number [`pin_to_cpus`] takes, plus one.
pub(crate) const MAX_CPU: usize = rustix::thread::CpuSet::MAX_CPU;

/// Lets the calling thread run only on `cpus` (each below [`MAX_CPU`]); in a process's only
/// thread, that is the process.
///
/// # References
/// - [sched_setaffinity(2)](https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html)
pub(crate) fn pin_to_cpus(cpus: &[usize]) -> io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    for &c in cpus {
        if c >= MAX_CPU {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("no CPU {c}")));
        }
        set.set(c);
    }
    Ok(rustix::thread::sched_setaffinity(None, &set)?)
}
