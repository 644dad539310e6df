//! The worker's side of a backend: how a worker receives task records, sends records back,
//! keeps the results of the chunk it is running, and shows what it runs (its slot).
//!
//! Each backend implements [`WorkerIo`] once (shared-memory rings for processes, channels
//! for threads); the worker loop and the task trampolines only see this trait.

use std::sync::atomic::{AtomicU64, Ordering};

use super::records::ExitStats;

/// A worker's slot: words the worker writes and the pool reads at any time, above all after
/// the worker's death (in shared memory for a process). See `README.md`, "The slot".
pub(crate) type SlotWords = [AtomicU64; 16];

/// The id of the task record running, 0 between records.
pub(crate) const TASK: usize = 0;
/// The index (in its record) of the item running, [`NONE`] before the first.
pub(crate) const ITEM: usize = 1;
/// When the item running started (monotonic ns): written only for records with a timeout.
pub(crate) const ITEM_STARTED: usize = 2;
/// When the record running started (monotonic ns).
pub(crate) const RECORD_STARTED: usize = 3;
/// Records completed by this worker.
pub(crate) const RECORDS_DONE: usize = 4;
/// Items completed by this worker.
pub(crate) const ITEMS_DONE: usize = 5;
/// Nanoseconds spent running records.
pub(crate) const BUSY_NS: usize = 6;
/// The worker's pid (0 for a thread).
pub(crate) const PID: usize = 7;
/// [`STARTING`], [`IDLE`] or [`BUSY`].
pub(crate) const STATE: usize = 8;

/// When the worker started (monotonic ns).
pub(crate) const STARTED_AT: usize = 9;
/// Nanoseconds in the initializer and the worker-state function.
pub(crate) const INIT_NS: usize = 10;
/// Nanoseconds in the worker-exit function.
pub(crate) const EXIT_NS: usize = 11;
/// When the worker's loop ended (monotonic ns), 0 before.
pub(crate) const LEFT_AT: usize = 12;

/// No item is running.
pub(crate) const NONE: u64 = u64::MAX;

/// [`STATE`] values.
pub(crate) const STARTING: u64 = 0;
pub(crate) const IDLE: u64 = 1;
pub(crate) const BUSY: u64 = 2;

/// A zeroed slot.
pub(crate) fn new_slot() -> SlotWords {
    std::array::from_fn(|i| AtomicU64::new(if i == ITEM { NONE } else { 0 }))
}

/// What the pool reads in a slot, in one consistent look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Progress {
    pub(crate) task: u64,
    pub(crate) item: Option<u32>,
    pub(crate) item_started_ns: u64,
}

/// Reads `task`, `item` and `item_started` so that they belong together: a look that
/// overlapped the worker moving to another record is taken again.
pub(crate) fn read_progress(slot: &SlotWords) -> Progress {
    loop {
        let task = slot[TASK].load(Ordering::Acquire);
        let item = slot[ITEM].load(Ordering::Acquire);
        let started = slot[ITEM_STARTED].load(Ordering::Acquire);
        if slot[TASK].load(Ordering::Acquire) == task && slot[ITEM].load(Ordering::Acquire) == item {
            let item = if task == 0 || item == NONE { None } else { Some(item as u32) };
            return Progress { task, item, item_started_ns: started };
        }
    }
}

/// What the worker in `slot` has counted, as of `now_ns` (monotonic) if it has not ended:
/// the record it runs counts as work up to then.
pub(crate) fn read_stats(slot: &SlotWords, now_ns: u64) -> ExitStats {
    let w = |i: usize| slot[i].load(Ordering::Acquire);
    let started = w(STARTED_AT);
    let end = match w(LEFT_AT) {
        0 => now_ns,
        left => left,
    };
    let mut busy_ns = w(BUSY_NS);
    if w(STATE) == BUSY && w(TASK) != 0 {
        busy_ns += end.saturating_sub(w(RECORD_STARTED));
    }
    ExitStats {
        records: w(RECORDS_DONE),
        items: w(ITEMS_DONE),
        busy_ns,
        init_ns: w(INIT_NS),
        exit_ns: w(EXIT_NS),
        alive_ns: if started == 0 { 0 } else { end.saturating_sub(started) },
    }
}

/// What became of a result given to [`WorkerIo::keep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// It is in the spool.
    Kept,
    /// It does not fit in what is left of the spool.
    Full,
    /// The pool has given up on this worker: stop at once.
    Stopped,
}

/// The worker's end of a backend. The trampolines are generic over it (one per backend), so
/// that the per-item calls compile to a few stores.
pub(crate) trait WorkerIo: Send + 'static {
    /// Waits for the next task record and puts it in `buf`; `false` when the pool is gone.
    fn recv(&mut self, buf: &mut Vec<u8>) -> bool;
    /// Sends one record (the concatenation of `parts`) to the pool; `false` when the pool is
    /// gone or has given up on this worker.
    fn send(&mut self, parts: &[&[u8]]) -> bool;
    /// This worker's slot.
    fn slot(&self) -> &SlotWords;
    /// Marks item `item` of the running record as started (after `started_ns` when timed);
    /// `false` when the pool has given up on this worker (it must stop at once).
    fn begin_item(&mut self, item: u32, started_ns: Option<u64>) -> bool;
    /// Empties the spool for the results of record `task` from item `base` on.
    fn spool_reset(&mut self, task: u64, base: u32);
    /// Encodes `value` as the next result in the spool. A failed or panicking encode leaves
    /// the spool as it was.
    fn keep<R: serde::Serialize>(&mut self, value: &R) -> Result<Keep, crate::error::CodecError>;
    /// Sends the spool's results as one record (header `hdr`, then the item count and the
    /// results), and empties it for items from `next_base` on; `false` as [`send`](Self::send).
    fn spool_send(&mut self, hdr: &[u8], task: u64, next_base: u32) -> bool;
}
