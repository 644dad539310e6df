//! The process layer's process-wide state, on one page of memory.
//!
//! After `fork()`, every page that parent or child writes first costs a copy-on-write page
//! fault (about 1-2 us on the machines we measured, each). A fork start writes all of this
//! state in both processes (the `Fork` start method holds these locks across `fork()` and
//! releases them on both sides; the child installs its own identity): kept together, that is
//! one fault per side instead of one per static.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32};
use std::sync::{Arc, Mutex};

use super::bootstrap::ReportTo;
use super::launcher::Job;
use super::reports::Registry;
use super::start::forkserver::Server;
use super::{ChildFailure, Process, SelfInfo};
use crate::context::StartMethod;

/// See the module documentation.
#[repr(C, align(4096))]
pub(crate) struct Globals {
    /// The fork server of this process, if started.
    pub(crate) server: Mutex<Option<Server>>,
    /// The binary children run (`set_executable`), `None` for `/proc/self/exe`.
    pub(crate) executable: Mutex<Option<PathBuf>>,
    /// The launcher thread: `(pid that created it, its queue)`.
    pub(crate) launcher: Mutex<Option<(u32, crossbeam_channel::Sender<Job>)>>,
    /// This process's name, identity, daemon flag and authkey.
    pub(crate) current: Mutex<Option<Arc<SelfInfo>>>,
    /// The parent's pid and name, in a child.
    pub(crate) parent: Mutex<Option<(u32, String)>>,
    /// The global start method.
    pub(crate) method: Mutex<Option<StartMethod>>,
    /// Where this child's failure report goes.
    pub(crate) report: Mutex<Option<ReportTo>>,
    /// This child's failure, until it is sent.
    pub(crate) failure: Mutex<Option<ChildFailure>>,
    /// Started children not yet known to have ended (Python's `_children`).
    pub(crate) children: Mutex<Vec<Process>>,
    /// Where the forked children of this process send their failure reports.
    pub(crate) fork_reports: Mutex<Option<Registry>>,
    /// The shared arenas of small objects (`shm::heap`): kept here so that the `Fork` start
    /// method holds its lock across `fork()` with the others.
    pub(crate) heap: Mutex<crate::shm::HeapState>,
    /// How this process leaves (`bootstrap::EXIT_*`).
    pub(crate) exit_mode: AtomicU8,
    /// Set in a child: panics are reported the child way.
    pub(crate) in_child: AtomicBool,
    /// Numbers default process names (`Process-N`).
    pub(crate) process_counter: AtomicU32,
}

/// The one instance.
pub(crate) static G: Globals = Globals {
    server: Mutex::new(None),
    executable: Mutex::new(None),
    launcher: Mutex::new(None),
    current: Mutex::new(None),
    parent: Mutex::new(None),
    method: Mutex::new(None),
    report: Mutex::new(None),
    failure: Mutex::new(None),
    children: Mutex::new(Vec::new()),
    fork_reports: Mutex::new(None),
    heap: Mutex::new(crate::shm::HeapState::new()),
    exit_mode: AtomicU8::new(super::bootstrap::EXIT_NORMAL),
    in_child: AtomicBool::new(false),
    process_counter: AtomicU32::new(0),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_one_page() {
        assert!(std::mem::size_of::<Globals>() <= 4096);
        assert_eq!(&G as *const Globals as usize % 4096, 0);
    }
}
