//! What a worker runs: task trampolines (found by their offset from the anchor, as process
//! targets are), the per-record driver that keeps each item's result in the spool, and the
//! soft deadline a task can read.
//!
//! Results go back as plain values (`Form::Values`) while the items succeed; a failed item
//! goes alone, tagged, after the values before it, so that the common case decodes as a plain
//! `Vec<R>`.
//!
//! A trampoline is monomorphised per task function and argument type. It decodes the
//! record's `Vec<A>`, then for each item from the record's `start`: marks the item started
//! in the slot, calls the function with a panic caught for this item alone, encodes
//! `Ok(result)` or `Err(failure)` and keeps it in the spool; the record's results go to the
//! pool when the spool is full and when the record ends.

use std::any::TypeId;
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::TaskFailure;
use super::io::{self, Keep, WorkerIo};
use super::records::{Event, Form, TaskHeader, varint};
use crate::func::Target;
use crate::process::runtime::TaskScope;
use crate::sys;

/// One task record on its way through a trampoline: the worker's I/O, the record's bytes and
/// header, and who the worker is. Passed by value and handed back, so that the trampoline's
/// type (`fn(TaskCall<Io>) -> TaskCall<Io>`) has no lifetime.
pub(crate) struct TaskCall<Io> {
    pub(crate) io: Io,
    pub(crate) record: Vec<u8>,
    pub(crate) header: TaskHeader,
    pub(crate) worker: u32,
    pub(crate) generation: u32,
    /// Set when the pool gave up on this worker during the record: it must stop.
    pub(crate) stopped: bool,
}

/// The type of every task trampoline of a backend whose workers use `Io`.
pub(crate) type Entry<Io> = fn(TaskCall<Io>) -> TaskCall<Io>;

/// The type of every initializer trampoline: runs the initializer with its encoded arguments.
pub(crate) type InitEntry = fn(Vec<u8>) -> Result<(), TaskFailure>;

/// The type of every exit trampoline: runs the exit function with its encoded arguments and
/// returns its encoded result.
pub(crate) type ExitEntry = fn(Vec<u8>) -> Result<Vec<u8>, TaskFailure>;

/// The type an exit function returns, to check `Pool::exit_results` against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExitType {
    pub(crate) id: TypeId,
    pub(crate) name: &'static str,
}

impl ExitType {
    pub(crate) fn of<R: 'static>() -> ExitType {
        ExitType { id: TypeId::of::<R>(), name: std::any::type_name::<R>() }
    }
}

const NOT_ZERO_SIZED: &str = "a pool task must be a fn item or a closure that captures nothing: pass the data \
     it needs as an argument (`pool.apply(f, data)`)";

/// The offset of the trampoline that runs `F` on items of type `A` in a worker using `Io`.
pub(crate) fn task_entry<F, A, M, Io>() -> i64
where
    F: Target<A, M>,
    F::Output: Serialize,
    A: DeserializeOwned,
    Io: WorkerIo,
{
    const { assert!(std::mem::size_of::<F>() == 0, "{}", NOT_ZERO_SIZED) };
    sys::exe::fn_offset(run_record::<F, A, M, Io> as Entry<Io>) as i64
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

fn run_record<F, A, M, Io>(call: TaskCall<Io>) -> TaskCall<Io>
where
    F: Target<A, M>,
    F::Output: Serialize,
    A: DeserializeOwned,
    Io: WorkerIo,
{
    let scope = TaskScope::enter();
    let mut run = Run::new(call);
    let (start, count) = (run.call.header.start, run.call.header.count);
    let payload = &run.call.record[super::records::TASK_HDR..];
    let decoded = scope.catch(|| crate::codec::decode::<Vec<A>>(payload));
    let items: Vec<A> = match decoded {
        Ok(Ok(v)) => v,
        failed => {
            let f = TaskFailure::Decode(match failed {
                Ok(Err(e)) => e.to_string(),
                Err(p) => format!("the arguments' Deserialize panicked: {}", p.message),
                Ok(Ok(_)) => unreachable!(),
            });
            run.fail_rest(start, &f);
            return run.finish();
        }
    };
    if items.len() != count as usize {
        let f = TaskFailure::Decode(format!("the record holds {} items, its header says {count}", items.len()));
        run.fail_rest(start, &f);
        return run.finish();
    }
    let f: F = sys::exe::conjure_fn::<F>();
    for (i, a) in items.into_iter().enumerate().skip(start as usize) {
        let i = i as u32;
        if !run.begin(i) {
            break;
        }
        let out = scope.catch(|| f.call(a));
        let kept = match out {
            Ok(v) => run.end_ok(&scope, i, &v),
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
struct Run<Io> {
    call: TaskCall<Io>,
    /// The item whose result is first in the spool.
    base: u32,
    /// Results in the spool.
    kept: u32,
    scratch: Vec<u8>,
    record_started: u64,
}

impl<Io: WorkerIo> Run<Io> {
    fn new(mut call: TaskCall<Io>) -> Run<Io> {
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
    #[inline]
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

    /// Item `i` returned `value`: encodes it into the spool, after sending the spool if it
    /// is full, or sends it alone when it is larger than the whole spool.
    #[inline]
    fn end_ok<R: Serialize>(&mut self, scope: &TaskScope, i: u32, value: &R) -> bool {
        let io = &mut self.call.io;
        match scope.catch(|| io.keep(value)) {
            Ok(Ok(Keep::Kept)) => {
                self.kept += 1;
                true
            }
            Ok(Ok(Keep::Stopped)) => {
                self.call.stopped = true;
                false
            }
            Ok(Ok(Keep::Full)) => self.end_full(scope, i, value),
            Ok(Err(e)) => self.end_err(i, &TaskFailure::ResultEncode(e.to_string())),
            Err(p) => {
                self.end_err(i, &TaskFailure::ResultEncode(format!("the result's Serialize panicked: {}", p.message)))
            }
        }
    }

    #[cold]
    fn end_full<R: Serialize>(&mut self, scope: &TaskScope, i: u32, value: &R) -> bool {
        if self.kept > 0 {
            if !self.flush(i, 0) {
                return false;
            }
            let io = &mut self.call.io;
            if let Ok(Ok(Keep::Kept)) = scope.catch(|| io.keep(value)) {
                self.kept = 1;
                return true;
            }
        }
        self.scratch.clear();
        let scratch = &mut self.scratch;
        match scope.catch(|| crate::codec::encode_into(value, scratch)) {
            Ok(Ok(())) => {
                let value = std::mem::take(&mut self.scratch);
                let sent = self.send_alone(i, Form::Values, 1, &[&value], i + 1);
                self.scratch = value;
                sent
            }
            Ok(Err(e)) => self.end_err(i, &TaskFailure::ResultEncode(e.to_string())),
            Err(p) => {
                self.end_err(i, &TaskFailure::ResultEncode(format!("the result's Serialize panicked: {}", p.message)))
            }
        }
    }

    fn result_header(&self, first: u32, busy_ns: u64, form: Form) -> [u8; super::records::EVENT_HDR] {
        let c = &self.call;
        Event::result_header(c.worker, c.generation, c.header.id, first, busy_ns, form)
    }

    /// Sends the values in the spool (items `base..next`), and starts it again at `next`.
    fn flush(&mut self, next: u32, busy_ns: u64) -> bool {
        let hdr = self.result_header(self.base, busy_ns, Form::Values);
        if !self.call.io.spool_send(&hdr, self.call.header.id, next) {
            self.call.stopped = true;
            return false;
        }
        self.base = next;
        self.kept = 0;
        true
    }

    /// Sends one record of its own (after what the spool holds), then starts the spool at
    /// item `next`.
    fn send_alone(&mut self, first: u32, form: Form, n: u32, body: &[&[u8]], next: u32) -> bool {
        if self.kept > 0 && !self.flush(first, 0) {
            return false;
        }
        let hdr = self.result_header(first, 0, form);
        let mut count = [0u8; 10];
        let count = varint(u64::from(n), &mut count);
        let mut parts: Vec<&[u8]> = vec![&hdr, count];
        parts.extend_from_slice(body);
        if !self.call.io.send(&parts) {
            self.call.stopped = true;
            return false;
        }
        // A death before this reset finds the spool empty where the record began: the pool,
        // which has the record first, knows it arrived.
        self.call.io.spool_reset(self.call.header.id, next);
        self.base = next;
        true
    }

    /// Item `i` failed: its failure goes alone, tagged, after the values before it.
    fn end_err(&mut self, i: u32, f: &TaskFailure) -> bool {
        let mut body = vec![1u8]; // Err
        crate::codec::encode_into(f, &mut body).expect("a failure record always encodes");
        self.send_alone(i, Form::Tagged, 1, &[&body], i + 1)
    }

    /// Items `from..count` all fail with `f` (their arguments cannot be decoded).
    fn fail_rest(&mut self, from: u32, f: &TaskFailure) {
        let count = self.call.header.count;
        if from < count {
            let body = crate::codec::encode(f).expect("a failure record always encodes");
            self.send_alone(from, Form::Failed, count - from, &[&body], count);
        }
    }

    fn finish(mut self) -> TaskCall<Io> {
        let now = sys::clock::monotonic_ns();
        let busy = now.saturating_sub(self.record_started);
        // Counted before the last results go, so that whoever has them sees the counts; the
        // time sending them counts from `now` (see `io::read_stats`).
        let items = u64::from(self.call.header.count - self.call.header.start);
        let slot = self.call.io.slot();
        slot[io::RECORD_STARTED].store(now, Ordering::Relaxed);
        slot[io::RECORDS_DONE].fetch_add(1, Ordering::Relaxed);
        slot[io::ITEMS_DONE].fetch_add(items, Ordering::Relaxed);
        slot[io::BUSY_NS].fetch_add(busy, Ordering::Relaxed);
        if !self.call.stopped && self.kept > 0 {
            self.flush(self.call.header.count, busy.max(1));
        }
        SOFT.with(|s| s.set(None));
        if self.scratch.capacity() <= 1 << 20 {
            SCRATCH.set(std::mem::take(&mut self.scratch));
        }
        let slot = self.call.io.slot();
        slot[io::TASK].store(0, Ordering::Release);
        slot[io::ITEM].store(io::NONE, Ordering::Release);
        slot[io::STATE].store(io::IDLE, Ordering::Relaxed);
        self.call
    }
}
