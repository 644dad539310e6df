//! The process layer's part of the exit sequence (`util::exit_sequence`, Python's
//! `util._exit_function`): terminate daemon children, join the others. It runs from the
//! at-exit hook in the main process and from `runtime::finish_child` in a child.

use std::sync::Once;

use super::globals::G;
use crate::logging::{Level, mp_log};
use crate::sys;
use crate::util::lock;

/// Terminates this process's daemon children and joins the others.
fn children_at_exit() {
    let me = sys::liveness::my_pid();
    let kids = std::mem::take(&mut *lock(&G.children));
    let kids: Vec<_> = kids.into_iter().filter(|p| p.creator_pid() == me).collect();
    for p in &kids {
        if p.is_daemon() && p.is_alive() {
            mp_log!(Level::Info, "calling terminate() for daemon {}", p.name());
            p.terminate();
        }
    }
    for p in &kids {
        mp_log!(Level::Info, "calling join() for process {}", p.name());
        p.join();
    }
}

/// Makes sure the exit sequence runs at exit and includes the children.
pub(crate) fn ensure_exit_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| crate::util::set_children_hook(children_at_exit));
}
