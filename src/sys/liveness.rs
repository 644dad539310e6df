//! Who am I, and is a lock's owner still alive: the cached pid and tid, and the one owner
//! record every lock in shared memory uses (the robust mutex of `sync/`, the queue ring's
//! producer and consumer locks, the borrow word of a `Value` or `Array`).
//!
//! # The owner word
//!
//! A lock records its owner in a `u32`, the word its compare-and-swap takes:
//!
//! | bits | holds |
//! |---|---|
//! | 0-21 ([`OWNER_MASK`]) | the owner's pid, 0 when nobody owns it (Linux pids stay below `PID_MAX_LIMIT`, 2^22) |
//! | 22-31 | the lock's own flags (the mutex's `CONTENDED` bit); none in the other two |
//!
//! The mutex, which must tell its owner's threads apart (an `RLock` re-entered,
//! `Lock::is_mine`), keeps the owning thread's tid beside the word ([`OwnerRecord`]). The tid
//! only answers "is it this very thread?": it is written after the word is taken and cleared
//! before the word is released, and only a reader of the owner's own process looks at it. The
//! ring's locks and the borrow word have no use for it and keep the bare word.
//!
//! # Owner died
//!
//! An owner is dead when its *process* has exited: reaped, or a zombie that will never run
//! again ([`Owner::is_dead`]: a pidfd that cannot be opened or is readable). That is the one
//! meaning of "owner died" for every lock, checked by [`owner_is_dead`]:
//!
//! - A thread that ends while its process lives is no death: a `Lock` may be released by
//!   another thread (Python allows it), and the ring's and the borrow word's guards release
//!   on unwinding, so a live process never leaves them held by a vanished thread.
//! - A process that hangs or is stopped (`SIGSTOP`) is alive: its locks stay held (the
//!   `_timeout` forms bound the wait).
//! - A pid reused by a new process before anyone probes looks alive: the lock then waits for
//!   the new process, like a hang. Linux hands out pids in increasing order, so this needs the
//!   pid space to wrap around first.
//! - Probing costs a `pidfd_open` and a `poll`: it happens only on contended paths, at the end
//!   of a waiter's sleep slice (the slices are `crate::wait`'s policies), when a timed wait
//!   reaches its deadline, or when a non-blocking attempt finds the lock held by another process.
//!
//! # The recovery rule
//!
//! The first taker that finds the owner dead replaces the dead owner's word by its own with a
//! compare-and-swap ([`take_over`]: so two takers cannot both win, and a live new owner is
//! never displaced) and is told: it holds the lock, and the acquire reports `OwnerDied` (`Acquire::OwnerDied`
//! of `sync`'s raw lock trait). What it must repair depends on what the lock protects:
//!
//! | lock | after a takeover |
//! |---|---|
//! | `Lock`, `RLock`, a `Condition`'s lock | user data may be half-updated: the lock is marked *inconsistent* and every acquirer gets `OwnerDied` (with the guard) until one calls `make_consistent()` (`sync/robust.rs`) |
//! | the queue ring's producer and consumer locks | nothing is visible before a holder's single commit store, so nothing needs repair; the ring ends a dead producer's half-streamed item (`queue/README.md`) |
//! | the borrow word of a `Value` or `Array` | taken over silently: the lock under it already reported the death (`shared/locked.rs`) |

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

/// The bits of an owner word that hold the owner's pid (see the module doc); the bits above
/// are the lock's own.
pub(crate) const OWNER_MASK: u32 = (1 << 22) - 1;

/// The owner named by an owner word: a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner(u32);

impl Owner {
    /// The calling process, as an owner.
    #[inline]
    pub(crate) fn me() -> Owner {
        let pid = my_pid();
        debug_assert!(pid & !OWNER_MASK == 0, "pid {pid} does not fit an owner word");
        Owner(pid)
    }

    /// The owner an owner word names, `None` for a free word (flag bits are ignored).
    #[inline]
    pub(crate) fn of(word: u32) -> Option<Owner> {
        match word & OWNER_MASK {
            0 => None,
            pid => Some(Owner(pid)),
        }
    }

    /// The owner word naming this owner, without flags.
    #[inline]
    pub(crate) fn word(self) -> u32 {
        self.0
    }

    /// The owner's pid.
    pub(crate) fn pid(self) -> u32 {
        self.0
    }

    /// Is the owner the calling process?
    #[inline]
    pub(crate) fn is_me(self) -> bool {
        self.0 == my_pid()
    }

    /// Has the owner died (see the module doc)? Never true for the calling process.
    pub(crate) fn is_dead(self) -> bool {
        !self.is_me() && process_exited(self.0)
    }
}

/// Does `word` name an owner that has died? The one liveness check of every lock.
pub(crate) fn owner_is_dead(word: u32) -> bool {
    Owner::of(word).is_some_and(Owner::is_dead)
}

/// The recovery rule's takeover: if `observed` names a dead owner and `word` still holds it,
/// replaces it by `new`; `true` when the caller now owns the lock (and must say so: see the
/// module doc).
pub(crate) fn take_over(word: &AtomicU32, observed: u32, new: u32) -> bool {
    owner_is_dead(observed) && word.compare_exchange(observed, new, Ordering::Acquire, Ordering::Relaxed).is_ok()
}

/// An owner word with the owning thread beside it (see the module doc), for a lock that must
/// tell the owner's threads apart: the word is the one the lock's compare-and-swap takes (the
/// lock may keep flags above [`OWNER_MASK`] and sleep on it).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct OwnerRecord {
    /// Owner word: `0`, or the owner's pid with the lock's flag bits.
    pub(crate) word: AtomicU32,
    /// Kernel tid of the owning thread, written by it after it took the word; meaningful only
    /// to a reader of the owner's own process.
    pub(crate) tid: AtomicU32,
}

impl OwnerRecord {
    /// A record naming nobody.
    pub(crate) const fn new() -> OwnerRecord {
        OwnerRecord { word: AtomicU32::new(0), tid: AtomicU32::new(0) }
    }

    /// Records the calling thread, right after its compare-and-swap took the word.
    #[inline]
    pub(crate) fn set_thread(&self) {
        self.tid.store(my_tid(), Ordering::Relaxed);
    }

    /// Forgets the thread, right before the word is released.
    #[inline]
    pub(crate) fn clear_thread(&self) {
        self.tid.store(0, Ordering::Relaxed);
    }

    /// The owner and (meaningful when it is this process) its thread.
    pub(crate) fn owner(&self) -> Option<(Owner, u32)> {
        Owner::of(self.word.load(Ordering::Relaxed)).map(|o| (o, self.tid.load(Ordering::Relaxed)))
    }

    /// Is the lock held by the calling thread?
    #[inline]
    pub(crate) fn is_mine(&self) -> bool {
        Owner::of(self.word.load(Ordering::Relaxed)).is_some_and(Owner::is_me)
            && self.tid.load(Ordering::Relaxed) == my_tid()
    }

    /// If the word still holds `observed` and names a dead owner, replaces it by `new` (the
    /// recovery rule's takeover); `true` when the caller now owns the lock. Records the
    /// caller's thread.
    pub(crate) fn take_over_if_dead(&self, observed: u32, new: u32) -> bool {
        let taken = take_over(&self.word, observed, new);
        if taken {
            self.set_thread();
        }
        taken
    }
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
fn process_exited(pid: u32) -> bool {
    match super::proc::pidfd_open(pid) {
        Err(e) => e.raw_os_error() == Some(libc::ESRCH),
        Ok(fd) => super::fd::is_readable(fd.as_fd()).unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tid_is_cached_per_thread() {
        let t = my_tid();
        assert_eq!(t, my_tid());
        assert_eq!(t, super::super::proc::gettid());
        let other = std::thread::spawn(my_tid).join().unwrap();
        assert_ne!(other, t);
    }

    #[test]
    fn owner_words_and_records() {
        let me = Owner::me();
        assert_eq!(Owner::of(0), None);
        assert_eq!(Owner::of(me.word() | 1 << 31), Some(me), "flag bits are not the owner");
        assert!(me.is_me() && !me.is_dead() && !owner_is_dead(me.word()));
        assert!(!owner_is_dead(0), "a free word names nobody");
        let r = OwnerRecord::new();
        assert!(r.owner().is_none() && !r.is_mine());
        r.word.store(me.word(), Ordering::Relaxed);
        r.set_thread();
        assert!(r.is_mine());
        assert_eq!(r.owner(), Some((me, my_tid())));
        let other_thread = std::thread::scope(|s| s.spawn(|| r.is_mine()).join().unwrap());
        assert!(!other_thread, "another thread of the owner's process does not own it");
        assert!(!r.take_over_if_dead(me.word(), 7), "a live owner is never displaced");
        r.clear_thread();
        assert!(!r.is_mine());
    }

    /// A child that exits (reaped or zombie) is a dead owner; the takeover replaces its word.
    #[test]
    fn exited_process_is_a_dead_owner() {
        // SAFETY: the child makes no allocation and exits at once.
        match unsafe { super::super::proc::fork() }.unwrap() {
            super::super::proc::Forked::Child => super::super::proc::exit_immediately(0),
            super::super::proc::Forked::Parent(pid) => {
                let word = Owner::of(pid).unwrap().word() | 1 << 31;
                // A zombie until reaped: already dead.
                let t = std::time::Instant::now();
                while !owner_is_dead(word) {
                    assert!(t.elapsed() < std::time::Duration::from_secs(10), "the exited child looks alive");
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                let r = OwnerRecord::new();
                r.word.store(word, Ordering::Relaxed);
                assert!(r.take_over_if_dead(word, Owner::me().word()));
                assert!(r.is_mine());
                let mut status = 0;
                // SAFETY: reaps the child just created; `status` is a valid out pointer.
                assert_eq!(unsafe { libc::waitpid(pid as i32, &mut status, 0) }, pid as i32);
                assert!(owner_is_dead(word), "a reaped process is dead too");
            }
        }
    }

    #[test]
    fn fork_child_gets_its_own_tid() {
        let parent = my_tid();
        // SAFETY: the child only reads thread-local and atomic state, makes the gettid
        // syscall (the at-fork handler was registered above, so nothing allocates) and exits.
        match unsafe { super::super::proc::fork() }.unwrap() {
            super::super::proc::Forked::Child => {
                let t = my_tid();
                let ok = t != parent && t == super::super::proc::gettid() && Owner::me().pid() == t;
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
