//! Every syscall the crate makes, behind small safe wrappers.
//!
//! Nothing outside `sys/` calls `libc` or `rustix` directly for process, memory or socket work:
//! the rest of the crate sees `OwnedFd`s, `Mapping`s and plain results. Linux is the only target
//! for now; each file holds one OS concern:
//!
//! | file | concern |
//! |---|---|
//! | `fd.rs` | duplication, `poll` with deadlines, EINTR retry, exact reads and writes |
//! | `socket.rs` | socketpairs and SCM_RIGHTS fd passing |
//! | `proc.rs` | fork, pidfd, waitid, signals, parent-death signal, at-exit hook |
//! | `futex.rs` | shared (never private) futex wait and wake |
//! | `mem.rs` | memfd segments and shared mappings |
//! | `net.rs` | connection I/O: vectored writes, reads collecting SCM_RIGHTS fds, poll on raw fds |
//! | `exe.rs` | the running binary's identity; functions sent to another process as offsets |
//! | `liveness.rs` | cached pid/tid (refreshed after fork); the owner record of every lock in shared memory and its one liveness check; the recovery rule |
//! | `shm_open.rs` | named POSIX shared memory in `/dev/shm` (mode 0600) |
//! | `clock.rs` | the monotonic clock as nanoseconds every process reads alike |
#![allow(unsafe_code)]

pub(crate) mod clock;
pub(crate) mod exe;
pub(crate) mod fd;
pub(crate) mod futex;
pub(crate) mod liveness;
pub(crate) mod mem;
pub(crate) mod net;
pub(crate) mod proc;
pub(crate) mod shm_open;
pub(crate) mod socket;

/// Removes a variable from the environment.
///
/// Called only during the child bootstrap, before `main` and before any thread exists.
pub(crate) fn env_remove(key: &str) {
    // SAFETY: the bootstrap runs before `main`, single-threaded, so no other thread can be
    // reading the environment.
    unsafe { std::env::remove_var(key) }
}
