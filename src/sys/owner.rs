//! Owner identities for locks in shared memory: the calling thread's kernel id (cached, and
//! refreshed after `fork`), and whether the task holding a lock still lives.

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped in every child created by `fork` (an at-fork handler), so that cached thread ids
/// copied from the parent are not trusted.
static FORK_GEN: AtomicU64 = AtomicU64::new(1);
static REGISTER: Once = Once::new();

thread_local! {
    static TID: Cell<(u64, u32)> = const { Cell::new((0, 0)) };
}

extern "C" fn after_fork_in_child() {
    FORK_GEN.fetch_add(1, Ordering::Relaxed);
}

/// The calling thread's kernel id, without a syscall after the first call on a thread.
///
/// # References
/// - [gettid(2)](https://man7.org/linux/man-pages/man2/gettid.2.html),
///   [pthread_atfork(3)](https://man7.org/linux/man-pages/man3/pthread_atfork.3.html)
#[inline]
pub(crate) fn current_tid() -> u32 {
    let gen_now = FORK_GEN.load(Ordering::Relaxed);
    let (g, t) = TID.with(Cell::get);
    if g == gen_now && t != 0 {
        return t;
    }
    refresh_tid()
}

#[cold]
fn refresh_tid() -> u32 {
    REGISTER.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic (async-signal-safe); it is
        // never unregistered and the function lives for the whole program.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    let gen_now = FORK_GEN.load(Ordering::Relaxed);
    let t = super::proc::gettid();
    TID.with(|c| c.set((gen_now, t)));
    t
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
        let t = current_tid();
        assert_eq!(t, current_tid());
        assert_eq!(t, super::super::proc::gettid());
        assert!(task_alive(t));
        let other = std::thread::spawn(current_tid).join().unwrap();
        assert_ne!(other, t);
        assert!(!task_alive(0));
    }

    #[test]
    fn fork_child_gets_its_own_tid() {
        let parent = current_tid();
        // SAFETY: the child only reads thread-local and atomic state, makes the gettid
        // syscall (the at-fork handler was registered above, so nothing allocates) and exits.
        match unsafe { super::super::proc::fork() }.unwrap() {
            super::super::proc::Forked::Child => {
                let t = current_tid();
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
