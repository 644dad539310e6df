//! The pool's state machine: task records and where they are, workers and their windows,
//! the collector thread that handles every event, the feeder thread for records too long to
//! send without waiting, timeouts, close, terminate and join. `README.md` one level up draws
//! it. This file has the state, submitting, dispatching and the collector's loop; `exit.rs` a
//! worker's exit and its replacement, `timeouts.rs` the hard timeouts, `end.rs` close,
//! terminate and join.
//!
//! Locks: `state` is the only lock of this file. Backend calls made under it never wait for
//! a worker (`try_send`, `progress`, `kill`); `send` (which waits) runs in the feeder thread
//! and `start` (which starts a process) in the collector, both without it. Jobs are called
//! (results decoded, callbacks run) without it.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::backend::{Backend, SendFail};
use super::error::{PoolError, PoolErrorKind, TaskFailure, item_name};
use super::job::{Job, set_in_collector};
use super::options::WorkerDeath;
use super::records::{Event, ExitStats, Form, TASK, TASK_HDR, TaskHeader, read_varint};
use crate::util::lock;

mod end;
mod exit;
mod timeouts;

/// Start-up failures in a row (initializer panics, workers dying before `READY`, workers
/// that cannot be started) that break the pool instead of starting yet another worker.
pub(crate) const INIT_FAILURE_LIMIT: u32 = 3;

/// Workers a record may kill before its first item runs, before its items fail.
const POISON_LIMIT: u32 = 2;

/// How often the collector looks at the slots while records with a hard timeout are out.
const TICK: Duration = Duration::from_millis(5);

/// How much work, in time, a worker is given ahead: the window of records in flight per
/// worker is this over the average record's run time, within [`MIN_WINDOW`, `MAX_WINDOW`].
const AHEAD_NS: f64 = 1_000_000.0;
const MIN_WINDOW: usize = 2;
const MAX_WINDOW: usize = 64;

/// What the workers are: which trampolines the records name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workers {
    Processes,
    Threads,
}

/// The pool-wide settings the state machine uses.
#[derive(Debug, Clone)]
pub(crate) struct CoreCfg {
    pub(crate) workers: Workers,
    pub(crate) processes: usize,
    pub(crate) maxtasks: Option<u64>,
    pub(crate) on_death: WorkerDeath,
    /// "worker process" or "worker thread", for messages.
    pub(crate) noun: &'static str,
    /// What the worker-exit function returns, if there is one.
    pub(crate) exit_type: Option<super::task::ExitType>,
    /// Show a progress bar on `map` and `imap` unless a call says otherwise.
    pub(crate) progress: bool,
}

/// A task record the pool holds until all its items are delivered or failed.
struct Record {
    job: Arc<dyn Job>,
    /// The job index of the record's item 0.
    base: usize,
    header: TaskHeader,
    payload: Arc<Vec<u8>>,
    /// Items before this one are delivered (or failed).
    next: u32,
    /// The worker (slot, generation) it was sent to; `None` while pending.
    worker: Option<(usize, u32)>,
    /// The job has this one item only (for messages).
    single: bool,
    /// Workers that died holding this record before running any of its items (decoding its
    /// arguments?): after [`POISON_LIMIT`], its items fail instead of killing more workers.
    deaths: u32,
}

impl Record {
    fn item_name(&self, item: u32) -> String {
        item_name(self.base + item as usize, self.single)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// No worker in the slot.
    Empty,
    /// Being started by the collector (not yet known to the backend).
    Spawning,
    /// Started; takes records.
    Live,
    /// Said it leaves (task or memory limit): takes no more records.
    Leaving,
    /// Was sent `STOP`.
    Stopping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// Killed for the hard timeout of this item.
    Timeout { task: u64, item: u32 },
    /// Killed by terminate or a broken pool.
    Pool,
}

struct Worker {
    generation: u32,
    status: Status,
    pid: Option<u32>,
    /// Said `READY` (its initializer ran).
    ready: bool,
    /// Records sent to this generation and not finished, in order.
    inflight: Vec<u64>,
    /// Records sent to this generation in all.
    sent: u64,
    /// The feeder is sending it a record.
    feeding: bool,
    kill: Option<Kill>,
    /// What the slot's workers that have exited counted, and how many were started.
    past: ExitStats,
    starts: u32,
}

impl Worker {
    fn takes_records(&self) -> bool {
        matches!(self.status, Status::Live) && self.kill.is_none()
    }
}

#[derive(Clone)]
enum Phase {
    Running,
    Closed,
    Terminated,
    Broken(PoolError),
}

struct State {
    phase: Phase,
    next_id: u64,
    records: HashMap<u64, Record>,
    pending: VecDeque<u64>,
    workers: Vec<Worker>,
    /// Start-up failures in a row, and the last one's error.
    init_failures: u32,
    init_error: Option<PoolError>,
    /// Average run time of a record (ns), 0 before the first.
    ema_ns: f64,
    /// Records with a hard timeout not yet finished.
    timed: usize,
    /// Where the next search for a worker starts (spreads ties).
    rr: usize,
    /// The collector has ended: nothing is left.
    finished: bool,
    /// What the workers' exit functions returned: `(worker, generation, value or failure)`.
    exit_values: Vec<(u32, u32, Result<Vec<u8>, TaskFailure>)>,
}

impl State {
    fn window(&self) -> usize {
        if self.ema_ns <= 0.0 {
            return MIN_WINDOW;
        }
        ((AHEAD_NS / self.ema_ns).ceil() as usize).clamp(MIN_WINDOW, MAX_WINDOW)
    }

    fn is_done(&self) -> bool {
        !matches!(self.phase, Phase::Running)
            && self.records.is_empty()
            && self.workers.iter().all(|w| w.status == Status::Empty)
    }

    fn refusal(&self) -> Option<PoolError> {
        match &self.phase {
            Phase::Running => None,
            Phase::Broken(e) => Some(e.clone()),
            _ => Some(PoolError::not_running()),
        }
    }
}

/// A task record to add: `count` items of `job` (its items `base..base + count`), whose
/// arguments are `payload` (an encoded `Vec<A>`), run by the trampoline at `entry`, with
/// `(soft, hard)` timeouts; `single` when the job has this one item.
pub(crate) struct NewTask {
    pub(crate) job: Arc<dyn Job>,
    pub(crate) base: usize,
    pub(crate) count: u32,
    pub(crate) entry: i64,
    pub(crate) payload: Vec<u8>,
    pub(crate) timeouts: (Option<Duration>, Option<Duration>),
    pub(crate) single: bool,
}

/// Results of a dead worker's chunk, to deliver: `(job, index, count, values)`.
type Salvaged = Vec<(Arc<dyn Job>, usize, u32, Vec<u8>)>;

/// A record for the feeder thread.
enum Feed {
    Send { worker: usize, generation: u32, header: [u8; TASK_HDR], payload: Arc<Vec<u8>> },
    Quit,
}

/// Items to fail, collected under the lock and failed after it.
type Fails = Vec<(Arc<dyn Job>, Range<usize>, PoolError)>;

/// The shared core of a pool: the backend and the state machine.
pub(crate) struct Core {
    backend: Box<dyn Backend>,
    pub(crate) cfg: CoreCfg,
    state: Mutex<State>,
    done: Condvar,
    feeder: crossbeam_channel::Sender<Feed>,
    feeder_rx: crossbeam_channel::Receiver<Feed>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Copies of `state.timed != 0` and of `state.phase` being `Running`, read by the
    /// collector after every event without taking the lock.
    any_timed: AtomicBool,
    running: AtomicBool,
}

impl Core {
    /// Starts every worker, then the collector and feeder threads. On a failure, the
    /// workers started so far are stopped.
    pub(crate) fn start(backend: Box<dyn Backend>, cfg: CoreCfg) -> Result<Arc<Core>, PoolError> {
        let n = cfg.processes;
        let mut workers = Vec::with_capacity(n);
        for w in 0..n {
            match backend.start(w, 1) {
                Ok(pid) => workers.push(Worker {
                    generation: 1,
                    status: Status::Live,
                    pid,
                    ready: false,
                    inflight: Vec::new(),
                    sent: 0,
                    feeding: false,
                    kill: None,
                    past: ExitStats::default(),
                    starts: 1,
                }),
                Err(e) => {
                    for k in 0..w {
                        backend.kill(k, 1);
                    }
                    backend.shutdown();
                    return Err(e);
                }
            }
        }
        let (feeder, feeder_rx) = crossbeam_channel::unbounded();
        let core = Arc::new(Core {
            backend,
            cfg,
            state: Mutex::new(State {
                phase: Phase::Running,
                next_id: 1,
                records: HashMap::new(),
                pending: VecDeque::new(),
                workers,
                init_failures: 0,
                init_error: None,
                ema_ns: 0.0,
                timed: 0,
                rr: 0,
                finished: false,
                exit_values: Vec::new(),
            }),
            done: Condvar::new(),
            feeder,
            feeder_rx,
            threads: Mutex::new(Vec::new()),
            any_timed: AtomicBool::new(false),
            running: AtomicBool::new(true),
        });
        let c = core.clone();
        let collector = std::thread::Builder::new()
            .name("multiproc-pool-results".into())
            .spawn(move || c.collect())
            .map_err(|e| PoolError::os("cannot start the pool's result thread", e));
        let c = core.clone();
        let feeder = std::thread::Builder::new()
            .name("multiproc-pool-feeder".into())
            .spawn(move || c.feed())
            .map_err(|e| PoolError::os("cannot start the pool's feeder thread", e));
        let mut threads = lock(&core.threads);
        for t in [collector, feeder] {
            match t {
                Ok(h) => threads.push(h),
                Err(e) => {
                    drop(threads);
                    core.terminate();
                    return Err(e);
                }
            }
        }
        drop(threads);
        Ok(core)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Updates the collector's lock-free copies after `timed` or `phase` changed.
    fn sync_flags(&self, st: &State) {
        self.any_timed.store(st.timed != 0, Ordering::Release);
        self.running.store(matches!(st.phase, Phase::Running), Ordering::Release);
    }

    // ----- submitting -----

    /// Adds a task record (see [`NewTask`]).
    pub(crate) fn submit(&self, task: NewTask) -> Result<(), PoolError> {
        let NewTask { job, base, count, entry, payload, timeouts, single } = task;
        let ns = |d: Option<Duration>| d.map(|d| d.as_nanos().clamp(1, u64::MAX as u128) as u64).unwrap_or(0);
        let (soft_ns, hard_ns) = (ns(timeouts.0), ns(timeouts.1));
        let mut st = self.state();
        if let Some(e) = st.refusal() {
            return Err(e);
        }
        let id = st.next_id;
        st.next_id += 1;
        let header = TaskHeader { kind: TASK, id, entry, start: 0, count, soft_ns, hard_ns };
        let rec = Record { job, base, header, payload: Arc::new(payload), next: 0, worker: None, single, deaths: 0 };
        st.records.insert(id, rec);
        let first_timed = hard_ns != 0 && st.timed == 0;
        if hard_ns != 0 {
            st.timed += 1;
            self.sync_flags(&st);
        }
        st.pending.push_back(id);
        self.dispatch(&mut st);
        drop(st);
        if first_timed {
            self.backend.wake(); // the collector starts ticking
        }
        Ok(())
    }

    /// Sends pending records to workers with room in their windows.
    fn dispatch(&self, st: &mut State) {
        if !matches!(st.phase, Phase::Running | Phase::Closed) {
            return;
        }
        let n = st.workers.len();
        // Workers found full or gone in this round (a bitmask up to 128 workers).
        let mut skip_small = 0u128;
        let mut skip_big = if n > 128 { vec![false; n] } else { Vec::new() };
        let window = st.window();
        let max_try = self.backend.max_try_send();
        while let Some(&task) = st.pending.front() {
            let Some(rec) = st.records.get(&task) else {
                st.pending.pop_front();
                continue;
            };
            let big = TASK_HDR + rec.payload.len() > max_try;
            let mut best: Option<(usize, usize)> = None;
            for k in 0..n {
                let w = (st.rr + k) % n;
                let ws = &st.workers[w];
                let skipped = if n > 128 { skip_big[w] } else { skip_small & (1 << w) != 0 };
                if skipped || !ws.takes_records() || ws.feeding || self.cfg.maxtasks.is_some_and(|m| ws.sent >= m) {
                    continue;
                }
                let load = ws.inflight.len();
                if load >= window || (big && load > 0) {
                    continue;
                }
                if best.is_none_or(|(_, l)| load < l) {
                    best = Some((w, load));
                }
            }
            let Some((w, _)) = best else { break };
            let generation = st.workers[w].generation;
            let rec = st.records.get_mut(&task).expect("looked up above");
            let header = rec.header.to_bytes();
            if big {
                rec.worker = Some((w, generation));
                let payload = rec.payload.clone();
                let _ = self.feeder.send(Feed::Send { worker: w, generation, header, payload });
                st.workers[w].feeding = true;
            } else {
                match self.backend.try_send(w, generation, &[&header, &rec.payload]) {
                    Ok(()) => rec.worker = Some((w, generation)),
                    Err(SendFail::Full) | Err(SendFail::Gone) => {
                        if n > 128 {
                            skip_big[w] = true;
                        } else {
                            skip_small |= 1 << w;
                        }
                        continue;
                    }
                }
            }
            let ws = &mut st.workers[w];
            ws.inflight.push(task);
            ws.sent += 1;
            st.pending.pop_front();
            st.rr = (w + 1) % n;
        }
    }

    /// After `close`: sends `STOP` to every worker with nothing left to do.
    fn stop_idle(&self, st: &mut State) {
        if !matches!(st.phase, Phase::Closed) || !st.pending.is_empty() {
            return;
        }
        let stop = TaskHeader::stop().to_bytes();
        for w in 0..st.workers.len() {
            let ws = &st.workers[w];
            if ws.takes_records() && ws.inflight.is_empty() && !ws.feeding {
                let generation = ws.generation;
                if self.backend.try_send(w, generation, &[&stop]).is_ok() {
                    st.workers[w].status = Status::Stopping;
                }
            }
        }
    }

    // ----- the collector -----

    fn collect(self: Arc<Self>) {
        set_in_collector();
        let mut buf = Vec::with_capacity(4096);
        loop {
            let timed = self.any_timed.load(Ordering::Acquire);
            let deadline = if timed { self.timer_deadline() } else { None };
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if self.backend.recv(&mut buf, deadline) {
                    self.on_event(&buf);
                }
                if timed {
                    self.check_timeouts();
                }
            }));
            if let Err(payload) = handled {
                self.collector_failed(payload.as_ref());
            }
            if self.running.load(Ordering::Acquire) {
                continue;
            }
            let mut st = self.state();
            if st.is_done() {
                st.finished = true;
                drop(st);
                self.done.notify_all();
                break;
            }
        }
        let _ = self.feeder.send(Feed::Quit);
        self.backend.shutdown();
    }

    /// The collector itself panicked (a bug): nothing would deliver results any more, so the
    /// pool breaks and every waiter gets an error that says so.
    #[cold]
    fn collector_failed(&self, payload: &(dyn std::any::Any + Send)) {
        let why = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let err = PoolError::new(
            PoolErrorKind::Broken,
            format!(
                "the pool is broken: its result thread failed ({why}); this is a bug in multiproc, please report it"
            ),
        );
        let mut st = self.state();
        let fails = if matches!(st.phase, Phase::Running | Phase::Closed) {
            self.break_pool(&mut st, err)
        } else {
            Fails::new()
        };
        drop(st);
        run_fails(fails);
    }

    fn on_event(&self, buf: &[u8]) {
        let Some(ev) = Event::parse(buf) else { return };
        match ev {
            Event::Result { worker, generation, task, first, busy_ns, form, items } => {
                self.on_result(worker as usize, generation, task, first, busy_ns, form, items)
            }
            Event::Ready { worker, generation, pid } => {
                let mut st = self.state();
                let ws = &mut st.workers[worker as usize];
                if ws.generation == generation && ws.status != Status::Empty {
                    ws.ready = true;
                    let _ = pid; // known from the start already (a thread has none of its own)
                    st.init_failures = 0;
                    st.init_error = None;
                }
            }
            Event::InitFailed { failure, .. } => {
                let err = match crate::codec::decode::<TaskFailure>(failure) {
                    Ok(f) => PoolError::from_failure(f, "the pool's initializer"),
                    Err(e) => PoolError::new(PoolErrorKind::Decode, format!("the initializer failed: {e}")),
                };
                self.state().init_error = Some(err);
            }
            Event::Leaving { worker, generation, .. } => {
                let mut st = self.state();
                let ws = &mut st.workers[worker as usize];
                if ws.generation == generation && matches!(ws.status, Status::Live | Status::Stopping) {
                    ws.status = Status::Leaving;
                }
            }
            Event::Exited { worker, generation, code, held, salvage, stats } => {
                self.on_exit(worker as usize, generation, code, held, salvage, stats)
            }
            Event::ExitValue { worker, generation, value } => {
                let value = value.map(<[u8]>::to_vec).map_err(|failure| {
                    crate::codec::decode::<TaskFailure>(failure)
                        .unwrap_or_else(|e| TaskFailure::Decode(format!("the worker-exit function's failure: {e}")))
                });
                self.state().exit_values.push((worker, generation, value));
            }
            Event::Wake => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_result(&self, w: usize, generation: u32, task: u64, first: u32, busy_ns: u64, form: Form, items: &[u8]) {
        let n = read_varint(items).map_or(0, |(n, _)| n as u32);
        let mut st = self.state();
        let Some(rec) = st.records.get_mut(&task) else { return };
        if first != rec.next {
            return; // a copy of what was delivered (salvage raced a send); never ahead
        }
        rec.next = first + n;
        let (job, index) = (rec.job.clone(), rec.base + first as usize);
        let failed = (form == Form::Failed).then(|| {
            let what =
                if rec.single { "the task".to_string() } else { format!("items {index}..{}", index + n as usize) };
            match crate::codec::decode::<(u64, TaskFailure)>(items) {
                Ok((_, f)) => PoolError::from_failure(f, &what),
                Err(e) => PoolError::new(PoolErrorKind::Decode, format!("{what} failed, and so did decoding why: {e}")),
            }
        });
        if rec.next >= rec.header.count {
            let rec = st.records.remove(&task).expect("present");
            if rec.header.hard_ns != 0 {
                st.timed -= 1;
                self.sync_flags(&st);
            }
            let ws = &mut st.workers[w];
            if ws.generation == generation {
                ws.inflight.retain(|&t| t != task);
            }
            if busy_ns > 0 {
                let b = busy_ns as f64;
                st.ema_ns = if st.ema_ns == 0.0 { b } else { 0.8 * st.ema_ns + 0.2 * b };
            }
            self.dispatch(&mut st);
            self.stop_idle(&mut st);
        }
        drop(st);
        match failed {
            Some(err) => run_fails(vec![(job, index..index + n as usize, err)]),
            None => deliver(&job, index, n, form, items),
        }
    }

    // ----- the feeder -----

    fn feed(self: Arc<Self>) {
        while let Ok(job) = self.feeder_rx.recv() {
            let Feed::Send { worker, generation, header, payload } = job else { break };
            let _ = self.backend.send(worker, generation, &[&header, &payload]);
            let mut st = self.state();
            let ws = &mut st.workers[worker];
            if ws.generation == generation {
                ws.feeding = false;
            }
            self.dispatch(&mut st);
            self.stop_idle(&mut st);
        }
    }

    // ----- questions -----

    pub(crate) fn is_running(&self) -> bool {
        matches!(self.state().phase, Phase::Running)
    }

    pub(crate) fn broken(&self) -> Option<PoolError> {
        match &self.state().phase {
            Phase::Broken(e) => Some(e.clone()),
            _ => None,
        }
    }

    pub(crate) fn refusal(&self) -> Option<PoolError> {
        self.state().refusal()
    }

    /// What the workers' exit functions returned so far, by slot and generation.
    pub(crate) fn exit_values(&self) -> Vec<Result<Vec<u8>, TaskFailure>> {
        let mut v = self.state().exit_values.clone();
        v.sort_by_key(|(w, g, _)| (*w, *g));
        v.into_iter().map(|(_, _, value)| value).collect()
    }

    /// Per slot: what its workers counted (those gone and the one there now), and how many
    /// were started.
    pub(crate) fn stats(&self) -> Vec<(ExitStats, u32)> {
        let st = self.state();
        let mut out = Vec::with_capacity(st.workers.len());
        for (w, ws) in st.workers.iter().enumerate() {
            let live = matches!(ws.status, Status::Live | Status::Stopping | Status::Leaving);
            let now = if live { self.backend.stats(w) } else { ExitStats::default() };
            out.push((ws.past.add(now), ws.starts));
        }
        out
    }

    /// The pids of the live workers (processes only).
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.state().workers.iter().filter(|w| w.status != Status::Empty).filter_map(|w| w.pid).collect()
    }
}

/// Hands a job its results; a panic while decoding them (a `Deserialize` impl that panics)
/// fails those items instead of stopping the collector.
fn deliver(job: &Arc<dyn Job>, index: usize, n: u32, form: Form, items: &[u8]) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.deliver(index, form, items)));
    if r.is_err() {
        let err = PoolError::new(PoolErrorKind::Decode, "decoding the task's result panicked");
        job.fail(index..index + n as usize, &err);
    }
}

fn run_fails(fails: Fails) {
    for (job, range, err) in fails {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.fail(range, &err)));
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.backend.shutdown();
    }
}
