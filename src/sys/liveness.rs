//! Who am I, and is that process still alive: cached pid/tid and owner-liveness probes for the
//! robust locks of `sync/`, plus `fn()` pointers carried between processes of one binary.

use std::cell::Cell;
use std::io;
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

/// The offset of `f` from the crate's anchor, meaningful in any process running this binary.
pub(crate) fn fn_offset(f: fn()) -> isize {
    (f as usize as isize).wrapping_sub(super::exe::anchor() as isize)
}

/// Turns an offset made by [`fn_offset`] back into the function, after checking that `identity`
/// (sent along by the other process) names this very binary.
pub(crate) fn fn_from_offset(offset: isize, identity: &[u8]) -> io::Result<fn()> {
    if identity != super::exe::identity() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a function pointer came from a different binary; run the same executable in every process",
        ));
    }
    let addr = (super::exe::anchor() as isize).wrapping_add(offset) as usize;
    // SAFETY: the binary identities match, so `addr` is the address in this process of the
    // `fn()` whose offset the sender computed with `fn_offset` in the same binary.
    Ok(unsafe { std::mem::transmute::<usize, fn()>(addr) })
}
