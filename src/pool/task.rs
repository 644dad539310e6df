//! What a worker runs: task trampolines (found by their offset from the anchor, as process
//! targets are), the per-record driver that keeps each item's result in the spool, and the
//! soft deadline a task can read.
//!
//! A trampoline is monomorphised per task function and argument type. It decodes the
//! record's `Vec<A>`, then for each item from the record's `start`: marks the item started
//! in the slot, calls the function with a panic caught for this item alone, encodes
//! `Ok(result)` or `Err(failure)` and keeps it in the spool; the record's results go to the
//! pool when the spool is full and when the record ends.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::TaskFailure;
use super::io::{self, WorkerIo};
use super::records::{Event, TaskHeader, varint};
use crate::func::Target;
use crate::sys;

/// One task record on its way through a trampoline: the worker's I/O, the record's bytes and
/// header, and who the worker is. Passed by value and handed back, so that the trampoline's
/// type (`fn(TaskCall) -> TaskCall`) has no lifetime.
pub(crate) struct TaskCall {
    pub(crate) io: Box<dyn WorkerIo>,
    pub(crate) record: Vec<u8>,
    pub(crate) header: TaskHeader,
    pub(crate) worker: u32,
    pub(crate) generation: u32,
    /// Set when the pool gave up on this worker during the record: it must stop.
    pub(crate) stopped: bool,
}

/// The type of every task trampoline.
pub(crate) type Entry = fn(TaskCall) -> TaskCall;

/// The type of every initializer trampoline: runs the initializer with its encoded arguments.
pub(crate) type InitEntry = fn(Vec<u8>) -> Result<(), TaskFailure>;

const NOT_ZERO_SIZED: &str = "a pool task must be a fn item or a closure that captures nothing: pass the data \
     it needs as an argument (`pool.apply(f, data)`)";

/// The offset of the trampoline that runs `F` on items of type `A`.
pub(crate) fn task_entry<F, A, M>() -> i64
where
    F: Target<A, M>,
    F::Output: Serialize,
    A: DeserializeOwned,
{
    const { assert!(std::mem::size_of::<F>() == 0, "{}", NOT_ZERO_SIZED) };
    sys::exe::fn_offset(run_record::<F, A, M> as Entry) as i64
}

/// The offset of the trampoline that runs `F` as an initializer with arguments `A`.
pub(crate) fn init_entry<F, A, M>() -> i64
where
    F: Target<A, M>,
    A: DeserializeOwned,
{
    const { assert!(std::mem::size_of::<F>() == 0, "{}", NOT_ZERO_SIZED) };
    sys::exe::fn_offset(run_init::<F, A, M> as InitEntry) as i64
}

fn run_record<F, A, M>(call: TaskCall) -> TaskCall
where
    F: Target<A, M>,
    F::Output: Serialize,
    A: DeserializeOwned,
{
    let mut run = Run::new(call);
    let (start, count) = (run.call.header.start, run.call.header.count);
    let payload = &run.call.record[super::records::TASK_HDR..];
    let decoded = crate::process::runtime::catch_task(|| crate::codec::decode::<Vec<A>>(payload));
    let items: Vec<A> = match decoded {
        Ok(Ok(v)) => v,
        failed => {
            let f = TaskFailure::Decode(match failed {
                Ok(Err(e)) => e.to_string(),
                Err(p) => format!("the arguments' Deserialize panicked: {}", p.message),
                Ok(Ok(_)) => unreachable!(),
            });
            for i in start..count {
                if !run.begin(i) || !run.end_err(i, &f) {
                    break;
                }
            }
            return run.finish();
        }
    };
    if items.len() != count as usize {
        let f = TaskFailure::Decode(format!("the record holds {} items, its header says {count}", items.len()));
        for i in start..count {
            if !run.begin(i) || !run.end_err(i, &f) {
                break;
            }
        }
        return run.finish();
    }
    let f: F = sys::exe::conjure_fn::<F>();
    for (i, a) in items.into_iter().enumerate().skip(start as usize) {
        let i = i as u32;
        if !run.begin(i) {
            break;
        }
        let out = crate::process::runtime::catch_task(|| f.call(a));
        let kept = match out {
            Ok(v) => run.end_ok(i, &v),
            Err(p) => run.end_err(i, &TaskFailure::panic(p)),
        };
        if !kept {
            break;
        }
    }
    run.finish()
}

fn run_init<F, A, M>(args: Vec<u8>) -> Result<(), TaskFailure>
where
    F: Target<A, M>,
    A: DeserializeOwned,
{
    let a: A =
        crate::codec::decode(&args).map_err(|e| TaskFailure::Decode(format!("the initializer's arguments: {e}")))?;
    let f: F = sys::exe::conjure_fn::<F>();
    crate::process::runtime::catch_task(move || drop(f.call(a))).map_err(TaskFailure::panic)
}

thread_local! {
    /// The soft deadline of the item running on this thread.
    static SOFT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Encoded results, reused from item to item.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Has the soft timeout of the task running on this thread passed?
///
/// A task with a soft timeout ([`TaskOptions::soft_timeout`](super::TaskOptions::soft_timeout)
/// or the pool's [`PoolBuilder::soft_timeout`](super::PoolBuilder::soft_timeout)) is not
/// stopped when it passes: it asks this, and may clean up and return early (billiard's
/// `SoftTimeLimitExceeded`, made cooperative). `false` outside a pool task and for a task
/// without a soft timeout.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use multiproc::pool::{soft_timeout_passed, Pool, TaskOptions};
///
/// fn search(limit: u64) -> u64 {
///     let mut best = 0;
///     for x in 0..limit {
///         if soft_timeout_passed() {
///             break; // out of time: return the best so far
///         }
///         best = best.max(x % 1000);
///     }
///     best
/// }
///
/// let pool = Pool::new(2)?;
/// let opts = TaskOptions::new().soft_timeout(Duration::from_millis(50));
/// let best = pool.apply_with(search, u64::MAX, &opts)?;
/// assert!(best < 1000);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub fn soft_timeout_passed() -> bool {
    SOFT.with(|s| s.get()).is_some_and(|d| Instant::now() >= d)
}

/// The soft deadline of the task running on this thread, if it has one: the time its soft
/// timeout passes (see [`soft_timeout_passed`]).
///
/// # Examples
/// ```no_run
/// use std::time::{Duration, Instant};
/// use multiproc::pool::{soft_deadline, Pool, TaskOptions};
///
/// let pool = Pool::new(1)?;
/// let opts = TaskOptions::new().soft_timeout(Duration::from_secs(5));
/// let left = pool.apply_with(|| soft_deadline().map(|d| d.saturating_duration_since(Instant::now())), (), &opts)?;
/// assert!(left.unwrap() <= Duration::from_secs(5));
/// assert_eq!(soft_deadline(), None); // not in a task here
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub fn soft_deadline() -> Option<Instant> {
    SOFT.with(|s| s.get())
}

/// Drives one record: slot updates, the soft deadline, and the spool.
struct Run {
    call: TaskCall,
    /// The item whose result is first in the spool.
    base: u32,
    /// Results in the spool.
    kept: u32,
    scratch: Vec<u8>,
    record_started: u64,
}

impl Run {
    fn new(mut call: TaskCall) -> Run {
        let now = sys::clock::monotonic_ns();
        let (id, start) = (call.header.id, call.header.start);
        {
            let slot = call.io.slot();
            slot[io::ITEM].store(io::NONE, Ordering::Release);
            slot[io::RECORD_STARTED].store(now, Ordering::Relaxed);
            slot[io::TASK].store(id, Ordering::Release);
            slot[io::STATE].store(io::BUSY, Ordering::Relaxed);
        }
        call.io.spool_reset(id, start);
        Run { call, base: start, kept: 0, scratch: SCRATCH.take(), record_started: now }
    }

    /// Item `i` starts; `false`: stop.
    fn begin(&mut self, i: u32) -> bool {
        let h = &self.call.header;
        let started = if h.is_timed() {
            let now = sys::clock::monotonic_ns();
            if h.soft_ns != 0 {
                SOFT.with(|s| s.set(Instant::now().checked_add(Duration::from_nanos(h.soft_ns))));
            }
            Some(now)
        } else {
            None
        };
        if !self.call.io.begin_item(i, started) {
            self.call.stopped = true;
            return false;
        }
        true
    }

    fn end_ok<R: Serialize>(&mut self, i: u32, value: &R) -> bool {
        self.scratch.clear();
        self.scratch.push(0); // Ok
        let scratch = &mut self.scratch;
        let encoded = match crate::process::runtime::catch_task(|| crate::codec::encode_into(value, scratch)) {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(p) => Err(format!("the result's Serialize panicked: {}", p.message)),
        };
        if let Err(why) = encoded {
            self.scratch.clear();
            self.scratch.push(1); // Err
            let f = TaskFailure::ResultEncode(why);
            crate::codec::encode_into(&f, &mut self.scratch).expect("a failure record always encodes");
        }
        self.keep(i)
    }

    fn end_err(&mut self, i: u32, f: &TaskFailure) -> bool {
        self.scratch.clear();
        self.scratch.push(1); // Err
        crate::codec::encode_into(f, &mut self.scratch).expect("a failure record always encodes");
        self.keep(i)
    }

    fn result_header(&self, first: u32, busy_ns: u64) -> [u8; super::records::EVENT_HDR] {
        let c = &self.call;
        Event::result_header(c.worker, c.generation, c.header.id, first, busy_ns)
    }

    /// Keeps the result of item `i` (in `scratch`): in the spool, after sending the spool if
    /// it is full, or alone when it is larger than the whole spool.
    fn keep(&mut self, i: u32) -> bool {
        let id = self.call.header.id;
        if self.call.io.spool_append(&self.scratch) {
            self.kept += 1;
            return true;
        }
        if self.kept > 0 {
            let hdr = self.result_header(self.base, 0);
            if !self.call.io.spool_send(&hdr, id, i) {
                self.call.stopped = true;
                return false;
            }
            self.base = i;
            self.kept = 0;
            if self.call.io.spool_append(&self.scratch) {
                self.kept = 1;
                return true;
            }
        }
        // Larger than the spool: on its own. A death before the spool moves past it finds
        // the spool empty at `i`, and the pool, having this record first, knows it arrived.
        let hdr = self.result_header(i, 0);
        let mut n = [0u8; 10];
        let n = varint(1, &mut n);
        if !self.call.io.send(&[&hdr, n, &self.scratch]) {
            self.call.stopped = true;
            return false;
        }
        self.call.io.spool_reset(id, i + 1);
        self.base = i + 1;
        true
    }

    fn finish(mut self) -> TaskCall {
        let now = sys::clock::monotonic_ns();
        let busy = now.saturating_sub(self.record_started);
        if !self.call.stopped && self.kept > 0 {
            let hdr = self.result_header(self.base, busy.max(1));
            let (id, next) = (self.call.header.id, self.call.header.count);
            if !self.call.io.spool_send(&hdr, id, next) {
                self.call.stopped = true;
            }
        }
        SOFT.with(|s| s.set(None));
        if self.scratch.capacity() <= 1 << 20 {
            SCRATCH.set(std::mem::take(&mut self.scratch));
        }
        let items = u64::from(self.call.header.count - self.call.header.start);
        let slot = self.call.io.slot();
        slot[io::TASK].store(0, Ordering::Release);
        slot[io::ITEM].store(io::NONE, Ordering::Release);
        slot[io::RECORDS_DONE].fetch_add(1, Ordering::Relaxed);
        slot[io::ITEMS_DONE].fetch_add(items, Ordering::Relaxed);
        slot[io::BUSY_NS].fetch_add(busy, Ordering::Relaxed);
        slot[io::STATE].store(io::IDLE, Ordering::Relaxed);
        self.call
    }
}
