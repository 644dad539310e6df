//! What a process does at its normal exit: Python's `util._exit_function` (terminate daemon
//! children, join the others), from an at-exit hook in the main process and from
//! `runtime::finish_child` in a child.

use std::sync::Once;

use super::globals::G;
use crate::sys;
use crate::util::lock;

/// Python's `util._exit_function`: terminate daemon children, join the others.
pub(crate) fn exit_function() {
    let me = sys::liveness::my_pid();
    let kids = std::mem::take(&mut *lock(&G.children));
    let kids: Vec<_> = kids.into_iter().filter(|p| p.creator_pid() == me).collect();
    for p in &kids {
        if p.is_daemon() && p.is_alive() {
            p.terminate();
        }
    }
    for p in &kids {
        p.join();
    }
}

extern "C" fn at_exit() {
    exit_function();
}

pub(crate) fn ensure_exit_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| sys::proc::at_exit(at_exit));
}
