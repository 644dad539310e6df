//! The backend contract: what the pool asks of whatever runs its workers, and one file per
//! implementation.
//!
//! | file | workers | task path | event path | a worker's death |
//! |---|---|---|---|---|
//! | `processes.rs` | child processes (any start method) | one shared-memory ring per worker | one shared-memory ring for all; a supervisor thread injects `EXITED` | pidfd (the process sentinel) |
//! | `threads.rs` | threads of this process (Python's `ThreadPool`) | one channel per worker | one channel | a thread cannot die; `kill` abandons it |
//!
//! A Redis backend (streams, consumer groups) is meant to be the third: the contract speaks of
//! records (bytes in the format of `records.rs`) and of workers by slot and generation, never
//! of descriptors, pids or shared memory. The conformance suite is `tests/pool.rs`: every
//! behaviour there runs against `Pool` (processes, under each start method) and `ThreadPool`.

pub(crate) mod processes;
pub(crate) mod threads;

use std::time::Instant;

use super::error::PoolError;
use super::io::Progress;
use super::records::ExitStats;

/// Why a record was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendFail {
    /// No room now (try again after the worker made progress).
    Full,
    /// That worker generation has ended (its `EXITED` is on its way, or was delivered).
    Gone,
}

/// What runs the pool's workers and carries its records.
///
/// Workers live in slots `0..n`; each start of a worker in a slot is a new *generation*.
/// Records are byte strings in the formats of `records.rs`.
///
/// # Invariants
///
/// Every implementation keeps these; the pool's state machine (`core/`) relies on nothing
/// else.
///
/// 1. **Addressing, delivery at most once.** A task record sent with `try_send` or `send` to
///    `(worker, generation)` reaches that worker generation once, or never (when it ends
///    first). It never reaches another worker and is never delivered twice. The backend
///    never re-sends anything on its own: the pool re-sends a record, with `start` past the
///    items that ran, only after the `EXITED` of the worker that had it.
/// 2. **Events in order, death last.** Every record a worker sends reaches
///    [`recv`](Backend::recv) in the order it was sent, and before that worker's `EXITED`.
///    Each started generation yields exactly one `EXITED` (a failed [`start`](Backend::start)
///    yields none).
/// 3. **Death names the task.** `EXITED` carries what the worker's slot said at its end: the
///    task and the item it was running (none when it was between records or between items),
///    what it counted (records, items, time working, in start-up and exit, alive), and, as
///    salvage, the encoded results of the items of that record it had finished but not
///    sent. So a worker's death costs at most the one item it was running, and no item
///    that ran is run again.
/// 4. **Tasks queued to a dead worker** are simply not delivered: the pool still holds every
///    record it sent, and re-sends those the dead worker had not started.
/// 5. **Back-pressure.** `try_send` never waits longer than a short spin (records up to
///    [`max_try_send`](Backend::max_try_send) bytes); longer records go through
///    [`send`](Backend::send), which waits for room as long as the worker reads, and returns
///    (`Gone`) when the worker ends, however far the record got. Workers wait for room in the
///    event path; the pool's collector never waits on a worker.
/// 6. **Kill.** [`kill`](Backend::kill) stops the worker's user code at once when the
///    backend can (SIGKILL), or abandons it (a thread finishes its item unseen, its later
///    records are dropped); an `EXITED` follows either way.
/// 7. **One consumer.** Only the pool's collector thread calls `recv`.
pub(crate) trait Backend: Send + Sync {
    /// Starts a worker in slot `worker` as generation `generation`; returns its pid, if it
    /// has one. The worker may take records at once; it reads them after its initializer.
    fn start(&self, worker: usize, generation: u32) -> Result<Option<u32>, PoolError>;

    /// Sends a task record (the concatenation of `parts`) without waiting for room.
    fn try_send(&self, worker: usize, generation: u32, parts: &[&[u8]]) -> Result<(), SendFail>;

    /// The longest record `try_send` takes.
    fn max_try_send(&self) -> usize;

    /// Sends a task record, waiting for room while that worker generation lives (see
    /// invariant 5).
    fn send(&self, worker: usize, generation: u32, parts: &[&[u8]]) -> Result<(), SendFail>;

    /// Waits until `deadline` for the next event record and puts it in `buf`.
    fn recv(&self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> bool;

    /// Makes the collector's `recv` return soon (with a `WAKE` record).
    fn wake(&self);

    /// What the worker in `worker` runs now (its slot), by any thread at any time.
    fn progress(&self, worker: usize) -> Progress;

    /// What the worker in `worker` has counted so far (its slot), by any thread at any
    /// time; its `EXITED` carries the final count.
    fn stats(&self, worker: usize) -> ExitStats;

    /// Ends that worker generation (see invariant 6). Does nothing if it already ended.
    fn kill(&self, worker: usize, generation: u32);

    /// Stops the backend's own threads, once every worker has exited.
    fn shutdown(&self);
}
