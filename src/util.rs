//! Python's `multiprocessing.util`: exit-time hooks ([`Finalize`]), after-fork hooks
//! ([`register_after_fork`]) and [`is_exiting`]; and small helpers every layer of the crate
//! uses.
//!
//! At the normal exit of a process (the end of `main`, [`exit`](fn@crate::exit) or the end of a
//! child's target), CPython's `_exit_function` runs, and so does this crate's:
//!
//! 1. the exit hooks with a priority of 0 or more, highest first, the last registered first
//!    among equals;
//! 2. daemon children are terminated and the other children joined;
//! 3. the remaining exit hooks (negative priorities), in the same order.
//!
//! A hook belongs to the process that registered it: a child made by `Fork` does not run the
//! hooks its parent registered (CPython clears them in the child), but runs those it
//! registers itself. A process killed by a signal runs none.
//!
//! # Examples
//! ```
//! use multiproc::util::{Finalize, is_exiting};
//!
//! let cleanup = Finalize::new(|| println!("closing the log file"), Some(10));
//! assert!(cleanup.is_active() && !is_exiting());
//! cleanup.call(); // runs now, at most once
//! assert!(!cleanup.is_active());
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Locks `m`, going on after a panic elsewhere poisoned it (the state stays usable: every
/// mutex of the crate guards data that a panic cannot leave half-changed).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lower-case hex of `b` (binary identities in messages and environment variables).
pub(crate) fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The bytes of a [`to_hex`] string; `None` if it is not one.
pub(crate) fn from_hex(s: &str) -> Option<Vec<u8>> {
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

type Callback = Box<dyn FnOnce() + Send>;

/// One registered hook.
struct Entry {
    id: u64,
    /// The process that registered it.
    pid: u32,
    priority: Option<i32>,
    callback: Callback,
}

/// Hooks not yet run, in registration order.
static FINALIZERS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// Set when this process starts its exit sequence.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Step 2 of the exit sequence, supplied by the process layer.
static CHILDREN_HOOK: OnceLock<fn()> = OnceLock::new();

/// A callback that runs once: when [`call`](Finalize::call)ed, when the handle is dropped,
/// or (if it has an exit priority) at the normal exit of the process, whichever comes first.
/// Python's `multiprocessing.util.Finalize`, with the handle standing for the object whose
/// collection runs it.
///
/// # Examples
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use multiproc::util::Finalize;
///
/// static RUNS: AtomicU32 = AtomicU32::new(0);
/// let f = Finalize::new(|| { RUNS.fetch_add(1, Ordering::Relaxed); }, None);
/// drop(f); // runs the callback
/// assert_eq!(RUNS.load(Ordering::Relaxed), 1);
///
/// // An exit hook that outlives its handle: runs when the process exits normally.
/// Finalize::new(|| println!("bye"), Some(0)).detach();
/// ```
#[derive(Debug)]
pub struct Finalize {
    id: u64,
    detached: bool,
}

impl Finalize {
    /// Registers `callback`. With `exit_priority` it also runs at exit if it has not run by
    /// then (higher priorities first); without, only by [`call`](Finalize::call) or drop.
    ///
    /// # Examples
    /// See [`Finalize`].
    pub fn new(callback: impl FnOnce() + Send + 'static, exit_priority: Option<i32>) -> Finalize {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let pid = crate::sys::liveness::my_pid();
        lock(&FINALIZERS).push(Entry { id, pid, priority: exit_priority, callback: Box::new(callback) });
        if exit_priority.is_some() {
            ensure_at_exit();
        }
        Finalize { id, detached: false }
    }

    /// Registers an exit-only hook (Python's `Finalize(None, callback, exitpriority=p)`).
    ///
    /// # Examples
    /// ```
    /// multiproc::util::Finalize::at_exit(|| eprintln!("leaving"), 5);
    /// ```
    pub fn at_exit(callback: impl FnOnce() + Send + 'static, priority: i32) {
        Finalize::new(callback, Some(priority)).detach();
    }

    /// Runs the callback now if it has not run (Python's calling the `Finalize` object).
    ///
    /// # Examples
    /// See [`Finalize`].
    pub fn call(&self) {
        if let Some(e) = take(self.id) {
            crate::logging::mp_log!(crate::logging::Level::SubDebug, "finalizer calling a callback (id {})", e.id);
            (e.callback)();
        }
    }

    /// Unregisters the callback without running it.
    ///
    /// # Examples
    /// ```
    /// let f = multiproc::util::Finalize::new(|| unreachable!(), Some(1));
    /// f.cancel();
    /// assert!(!f.is_active());
    /// ```
    pub fn cancel(&self) {
        drop(take(self.id));
    }

    /// Has the callback neither run nor been cancelled? (Python's `still_active()`.)
    ///
    /// # Examples
    /// See [`Finalize`].
    pub fn is_active(&self) -> bool {
        lock(&FINALIZERS).iter().any(|e| e.id == self.id)
    }

    /// Lets the handle go without running the callback: it stays registered for exit (when
    /// it has a priority) and can no longer be called.
    ///
    /// # Examples
    /// See [`Finalize`].
    pub fn detach(mut self) {
        self.detached = true;
    }
}

impl Drop for Finalize {
    fn drop(&mut self) {
        if !self.detached {
            self.call();
        }
    }
}

fn take(id: u64) -> Option<Entry> {
    let mut g = lock(&FINALIZERS);
    let i = g.iter().position(|e| e.id == id)?;
    Some(g.remove(i))
}

/// Runs this process's exit hooks with a priority of at least `min` (all with a priority when
/// `None`), highest first and the last registered first among equals. Hooks registered while
/// these run are run too.
fn run_finalizers(min: Option<i32>) {
    let me = crate::sys::liveness::my_pid();
    loop {
        let next = {
            let mut g = lock(&FINALIZERS);
            let pick = g
                .iter()
                .enumerate()
                .filter(|(_, e)| e.pid == me && e.priority.is_some_and(|p| min.is_none_or(|m| p >= m)))
                .max_by_key(|(i, e)| (e.priority, *i))
                .map(|(i, _)| i);
            pick.map(|i| g.remove(i))
        };
        let Some(e) = next else { return };
        crate::logging::mp_log!(
            crate::logging::Level::SubDebug,
            "finalizer calling an exit hook (priority {:?})",
            e.priority
        );
        // A panicking hook must not stop the others (CPython logs and goes on).
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(e.callback)).is_err() {
            crate::logging::mp_log!(crate::logging::Level::Error, "an exit hook panicked");
        }
    }
}

/// Has this process begun its exit sequence? (Python's `util.is_exiting()`.)
///
/// # Examples
/// ```
/// assert!(!multiproc::util::is_exiting());
/// ```
pub fn is_exiting() -> bool {
    EXITING.load(Ordering::Relaxed)
}

/// The process layer's part of the exit sequence: terminate daemon children, join the others.
pub(crate) fn set_children_hook(f: fn()) {
    let _ = CHILDREN_HOOK.set(f);
    ensure_at_exit();
}

/// The whole exit sequence (see the module docs). Runs once per process; a second call (the
/// at-exit hook after a child's own finish) returns at once.
pub(crate) fn exit_sequence() {
    if EXITING.swap(true, Ordering::SeqCst) {
        return;
    }
    crate::logging::mp_log!(crate::logging::Level::Info, "process shutting down");
    crate::logging::mp_log!(crate::logging::Level::Debug, "running all \"atexit\" finalizers with priority >= 0");
    run_finalizers(Some(0));
    if let Some(children) = CHILDREN_HOOK.get() {
        children();
    }
    crate::logging::mp_log!(crate::logging::Level::Debug, "running the remaining \"atexit\" finalizers");
    run_finalizers(None);
}

extern "C" fn at_exit() {
    exit_sequence();
}

fn ensure_at_exit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| crate::sys::proc::at_exit(at_exit));
}

/// Hooks run in a child made by `fork`, before its target.
type AfterFork = Arc<dyn Fn() + Send + Sync>;
static AFTER_FORK: Mutex<Vec<AfterFork>> = Mutex::new(Vec::new());

/// Registers `f` to run in every child this process makes by forking (the `Fork` start
/// method), before the child's target: the place to reset state a fork copies but must not
/// share (Python's `util.register_after_fork`). Children made by spawn start afresh and run
/// none; children of the fork server run the hooks the server registered (in a
/// [`set_forkserver_preload`](crate::set_forkserver_preload) function).
///
/// # Examples
/// ```
/// multiproc::util::register_after_fork(|| {
///     // e.g. reopen a connection the parent holds
/// });
/// ```
pub fn register_after_fork(f: impl Fn() + Send + Sync + 'static) {
    lock(&AFTER_FORK).push(Arc::new(f));
}

/// The locks the `Fork` start method holds across `fork()`, so that the child finds the
/// hook lists consistent.
pub(crate) struct ForkHold {
    finalizers: MutexGuard<'static, Vec<Entry>>,
    after_fork: MutexGuard<'static, Vec<AfterFork>>,
}

/// Locks the hook lists for a fork (see [`ForkHold`]).
pub(crate) fn hold_for_fork() -> ForkHold {
    ForkHold { finalizers: lock(&FINALIZERS), after_fork: lock(&AFTER_FORK) }
}

impl ForkHold {
    /// In the child: releases the lists and runs the after-fork hooks. The parent's exit
    /// hooks stay in the list, unfreed (freeing would write to shared pages), and are skipped
    /// by pid.
    pub(crate) fn child_after_fork(self) {
        let hooks: Vec<AfterFork> = self.after_fork.clone();
        drop(self);
        for h in hooks {
            h();
        }
    }
}

impl std::fmt::Debug for ForkHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkHold").field("finalizers", &self.finalizers.len()).finish()
    }
}

/// Runs the after-fork hooks (in a fork-server child, which the server forked).
pub(crate) fn run_after_fork() {
    let hooks: Vec<AfterFork> = lock(&AFTER_FORK).clone();
    for h in hooks {
        h();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_hooks_run_by_priority_then_lifo() {
        use std::sync::Mutex as M;
        static ORDER: M<Vec<&'static str>> = M::new(Vec::new());
        let push = |s: &'static str| move || ORDER.lock().unwrap().push(s);
        Finalize::at_exit(push("low"), -5);
        Finalize::at_exit(push("high-first"), 10);
        Finalize::at_exit(push("high-second"), 10);
        Finalize::at_exit(push("zero"), 0);
        let no_priority = Finalize::new(push("never at exit"), None);
        run_finalizers(Some(0));
        assert_eq!(*ORDER.lock().unwrap(), ["high-second", "high-first", "zero"]);
        run_finalizers(None);
        assert_eq!(*ORDER.lock().unwrap(), ["high-second", "high-first", "zero", "low"]);
        assert!(no_priority.is_active());
        no_priority.cancel();
        assert_eq!(ORDER.lock().unwrap().len(), 4);
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        assert_eq!(to_hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(from_hex("00ab10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("abc"), None);
    }
}
