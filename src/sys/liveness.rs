//! Who am I, and is that process still alive: cached pid/tid and owner-liveness probes for the
//! locks in shared memory (`sync/`, the queue ring, `Value`'s borrow word).

use std::cell::Cell;
use std::os::fd::AsFd;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

/// This process's pid, 0 until first asked (and again in a fork child).
static PID: AtomicU32 = AtomicU32::new(0);
/// Bumped in every fork child, so per-thread tid caches made before the fork are recomputed.
static FORK_GEN: AtomicU32 = AtomicU32::new(1);
static ATFORK: Once = Once::new();

thread_local! {
    /// (fork generation, tid) of the calling thread.
    static TID: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

extern "C" fn after_fork_in_child() {
    PID.store(0, Ordering::Relaxed);
    FORK_GEN.fetch_add(1, Ordering::Relaxed);
}

#[cold]
fn pid_slow() -> u32 {
    ATFORK.call_once(|| {
        // SAFETY: the handler is a plain C-ABI function touching only atomics, which is
        // async-signal-safe and therefore fine in a fork child.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    let pid = super::proc::getpid();
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// This process's pid without a syscall (refreshed after `fork` by an atfork handler).
#[inline]
pub(crate) fn my_pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => pid_slow(),
        p => p,
    }
}

/// The calling thread's kernel id without a syscall after the first call in a thread.
#[inline]
pub(crate) fn my_tid() -> u32 {
    TID.with(|c| {
        let (generation, tid) = c.get();
        let now = FORK_GEN.load(Ordering::Relaxed);
        if generation == now && tid != 0 {
            return tid;
        }
        my_pid(); // registers the atfork handler
        let tid = super::proc::gettid();
        c.set((FORK_GEN.load(Ordering::Relaxed), tid));
        tid
    })
}

/// Has process `pid` exited (reaped, or a zombie nobody has reaped yet)?
///
/// Opens a pidfd: `ESRCH` means the pid is gone; otherwise the pidfd is readable once the
/// process has exited, which also covers zombies (where `kill(pid, 0)` still succeeds).
/// Errors other than `ESRCH` (e.g. `EPERM`, too many fds) answer "alive": a liveness probe
/// must never steal a lock from a live owner.
///
/// # References
/// - [pidfd_open(2)](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
/// - [poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
pub(crate) fn process_exited(pid: u32) -> bool {
    match super::proc::pidfd_open(pid) {
        Err(e) => e.raw_os_error() == Some(libc::ESRCH),
        Ok(fd) => super::fd::is_readable(fd.as_fd()).unwrap_or(false),
    }
}

/// Does task (process or thread) `tid` still run? A zombie (killed but not yet reaped) counts
/// as dead: it will never release anything.
///
/// # References
/// - [kill(2)](https://man7.org/linux/man-pages/man2/kill.2.html) (signal 0),
///   [proc_pid_stat(5)](https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html)
pub(crate) fn task_alive(tid: u32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(tid as i32) else { return false };
    if let Err(rustix::io::Errno::SRCH) = rustix::process::test_kill_process(pid) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{tid}/stat")) {
        Err(_) => false,
        Ok(s) => {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !(state.starts_with('Z') || state.starts_with('X'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tid_is_cached_and_alive() {
        let t = my_tid();
        assert_eq!(t, my_tid());
        assert_eq!(t, super::super::proc::gettid());
        assert!(task_alive(t));
        let other = std::thread::spawn(my_tid).join().unwrap();
        assert_ne!(other, t);
        assert!(!task_alive(0));
    }

    #[test]
    fn fork_child_gets_its_own_tid() {
        let parent = my_tid();
        // SAFETY: the child only reads thread-local and atomic state, makes the gettid
        // syscall (the at-fork handler was registered above, so nothing allocates) and exits.
        match unsafe { super::super::proc::fork() }.unwrap() {
            super::super::proc::Forked::Child => {
                let t = my_tid();
                let ok = t != parent && t == super::super::proc::gettid();
                super::super::proc::exit_immediately(if ok { 0 } else { 1 });
            }
            super::super::proc::Forked::Parent(pid) => {
                let mut status = 0;
                // SAFETY: waits for the child just created; `status` is a valid out pointer.
                let r = unsafe { libc::waitpid(pid as i32, &mut status, 0) };
                assert_eq!(r, pid as i32);
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "stale thread id after fork");
            }
        }
    }
}
