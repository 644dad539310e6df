//! The process layer's process-wide state, on one page of memory.
//!
//! After `fork()`, every page that parent or child writes first costs a copy-on-write page
//! fault (about 1-2 us on the machines we measured, each). A fork start writes all of this
//! state in both processes (the `Fork` start method holds these locks across `fork()` and
//! releases them on both sides; the child installs its own identity): kept together, that is
//! one fault per side instead of one per static.
//!
//! Every field is plain data whose type comes from a leaf file (`records.rs`, `method.rs`,
//! `reports.rs`, `start/forkserver/conn.rs`), so that this file imports nothing that imports
//! it back.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32};
use std::sync::{Arc, Mutex};

use super::method::StartMethod;
use super::records::{ChildFailure, EXIT_NORMAL, LiveEntry, ReportTo, SelfInfo};
use super::reports::Registry;
use super::start::forkserver::conn::ServerConn;

/// A start handed to the launcher thread (`launcher.rs`).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// See the module documentation.
#[repr(C, align(4096))]
pub(crate) struct Globals {
    /// The fork server of this process, if started.
    pub(crate) server: Mutex<Option<ServerConn>>,
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
    pub(crate) children: Mutex<Vec<LiveEntry>>,
    /// Where the forked children of this process send their failure reports.
    pub(crate) fork_reports: Mutex<Option<Registry>>,
    /// How this process leaves (`records::EXIT_*`).
    pub(crate) exit_mode: AtomicU8,
    /// Set in a child: panics are reported the child way.
    pub(crate) in_child: AtomicBool,
    /// Numbers default process names (`Process-N`).
    pub(crate) process_counter: AtomicU32,
}

/// The one instance.
pub(crate) static G: Globals = Globals {
    server: Mutex::new(None),
    launcher: Mutex::new(None),
    current: Mutex::new(None),
    parent: Mutex::new(None),
    method: Mutex::new(None),
    report: Mutex::new(None),
    failure: Mutex::new(None),
    children: Mutex::new(Vec::new()),
    fork_reports: Mutex::new(None),
    exit_mode: AtomicU8::new(EXIT_NORMAL),
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
