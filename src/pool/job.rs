//! Where a job's results go: the pool's state machine (`core/`) knows jobs only through
//! [`Job`], implemented per result type by `result.rs` (apply, map) and `imap.rs`.

use std::cell::Cell;
use std::ops::Range;

use super::error::PoolError;
use super::records::Form;

/// The receiving end of one job (one `apply`, one `map`, one `imap`), whose items are
/// numbered `0..n` across all its task records.
pub(crate) trait Job: Send + Sync {
    /// The results of items `index..index + n` arrived: `items` is the count `n` and the `n`
    /// results, as a `RESULT` record carries them: `n` values `R` ([`Form::Values`]) or `n`
    /// `Result<R, TaskFailure>` ([`Form::Tagged`]). Runs in the collector thread, with no lock
    /// of the pool held.
    fn deliver(&self, index: usize, form: Form, items: &[u8]);

    /// Items `range` will have no result: they failed with `err` (the worker died, the task
    /// timed out, the pool was terminated or broke).
    fn fail(&self, range: Range<usize>, err: &PoolError);
}

thread_local! {
    static IN_COLLECTOR: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as a pool's collector (which runs callbacks).
pub(crate) fn set_in_collector() {
    IN_COLLECTOR.with(|c| c.set(true));
}

/// Is the calling thread a pool's collector? A blocking wait there would wait for itself.
pub(crate) fn in_collector() -> bool {
    IN_COLLECTOR.with(|c| c.get())
}
