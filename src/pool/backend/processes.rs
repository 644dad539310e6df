//! Worker processes: the default backend.
//!
//! Each worker is a daemon child process (any start method) running the worker loop. It reads
//! task records from a shared-memory ring of its own, writes its slot (a few words in shared
//! memory) and its spool (the results of the running chunk), and pushes event records into
//! one ring that all workers share. A supervisor thread waits on every worker's sentinel (its
//! pidfd, or the fork server's status pipe); when one ends, it reaps it, reads its slot and
//! spool, and pushes the `EXITED` record into the same ring: after everything the worker
//! pushed, since the worker is gone by then.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Backend, SendFail};
use crate::pool::error::{PoolError, PoolErrorKind};
use crate::pool::io::{self, Keep, Progress, SlotWords, WorkerIo, read_progress, read_stats};
use crate::pool::records::{Event, ExitStats, Held, varint};
use crate::pool::worker::{WorkerCfg, worker_loop};
use crate::process::{Process, StartMethod};
use crate::queue::Queue;
use crate::shm::{ShmBox, Spool};
use crate::sys;
use crate::util::lock;

/// Bytes of results a worker keeps before it sends them: small enough to stay in the
/// worker's cache between two sends (a 1 MiB spool made a pool map a third slower).
const SPOOL: usize = 64 << 10;

/// Sizes and settings of a process backend.
#[derive(Debug, Clone)]
pub(crate) struct ProcessesCfg {
    pub(crate) method: Option<StartMethod>,
    /// Every worker's settings but its slot and generation.
    pub(crate) worker: WorkerCfg,
    /// Bytes of each worker's task ring.
    pub(crate) task_ring: usize,
    /// Bytes of the shared event ring.
    pub(crate) event_ring: usize,
}

/// What a worker process is started with.
#[derive(Serialize, Deserialize)]
struct WorkerBoot {
    cfg: WorkerCfg,
    tasks: Queue<Vec<u8>>,
    events: Queue<Vec<u8>>,
    slot: ShmBox<SlotWords>,
    spool: Spool,
}

/// The worker process's main: the worker loop over the rings.
fn worker_main(boot: WorkerBoot) -> i32 {
    let WorkerBoot { cfg, tasks, events, slot, spool } = boot;
    // The first tasks would otherwise take a page fault per page of the rings and spool
    // (measured: the first map after a pool's start ran at half speed).
    tasks.populate();
    events.populate();
    spool.populate();
    worker_loop(ProcessIo { tasks, events, slot, spool }, &cfg)
}

/// A worker process's end of the rings.
pub(crate) struct ProcessIo {
    tasks: Queue<Vec<u8>>,
    events: Queue<Vec<u8>>,
    slot: ShmBox<SlotWords>,
    spool: Spool,
}

impl WorkerIo for ProcessIo {
    fn recv(&mut self, buf: &mut Vec<u8>) -> bool {
        // The pool's death kills this process (parent-death signal): no need to give up.
        loop {
            if self.tasks.pop_record(buf, None) {
                return true;
            }
        }
    }

    fn send(&mut self, parts: &[&[u8]]) -> bool {
        self.events.push_record(parts, None)
    }

    fn slot(&self) -> &SlotWords {
        &self.slot
    }

    #[inline]
    fn begin_item(&mut self, item: u32, started_ns: Option<u64>) -> bool {
        if let Some(t) = started_ns {
            self.slot[io::ITEM_STARTED].store(t, Ordering::Relaxed);
        }
        self.slot[io::ITEM].store(u64::from(item), Ordering::Release);
        true
    }

    fn spool_reset(&mut self, task: u64, base: u32) {
        self.spool.reset(task, u64::from(base));
    }

    #[inline]
    fn keep<R: serde::Serialize>(&mut self, value: &R) -> Result<Keep, crate::error::CodecError> {
        match crate::codec::encode_to_slice(value, self.spool.free_mut())? {
            Some(n) => {
                self.spool.commit(n);
                Ok(Keep::Kept)
            }
            None => Ok(Keep::Full),
        }
    }

    fn spool_send(&mut self, hdr: &[u8], task: u64, next_base: u32) -> bool {
        let (count, bytes) = self.spool.written();
        let mut n = [0u8; 10];
        let n = varint(u64::from(count), &mut n);
        let sent = self.events.push_record(&[hdr, n, bytes], None);
        self.spool.reset(task, u64::from(next_base));
        sent
    }
}

/// A started worker, as the pool's side holds it.
struct Live {
    generation: u32,
    process: Process,
    tasks: Queue<Vec<u8>>,
    slot: ShmBox<SlotWords>,
    spool: Spool,
    /// Its `EXITED` was pushed.
    reported: bool,
    /// The feeder is pushing a record into its task ring (see [`Backend::send`]); shared with
    /// the supervisor, which reads the ring of a dead worker until this is false again, even
    /// after another worker took the slot.
    feeding: Arc<AtomicBool>,
}

/// What the supervisor thread shares with the pool's side.
struct Shared {
    events: Queue<Vec<u8>>,
    slots: Vec<Mutex<Option<Live>>>,
    wake_r: OwnedFd,
    wake_w: OwnedFd,
    quit: AtomicBool,
}

impl Shared {
    fn wake_supervisor(&self) {
        let _ = sys::fd::write_all(self.wake_w.as_fd(), &[1]);
    }
}

/// The process backend.
pub(crate) struct Processes {
    cfg: ProcessesCfg,
    shared: Arc<Shared>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    /// Numbers worker names, as Python does (`SpawnPoolWorker-3`).
    started: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Processes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processes").field("workers", &self.shared.slots.len()).finish()
    }
}

impl Processes {
    /// A backend for `n` workers; starts the supervisor thread.
    pub(crate) fn new(n: usize, cfg: ProcessesCfg) -> Result<Processes, PoolError> {
        let events = Queue::<Vec<u8>>::builder()
            .capacity(cfg.event_ring)
            .build()
            .map_err(|e| PoolError::os("cannot make the pool's result ring", e))?;
        events.populate(); // this side reads the event ring
        let (wake_r, wake_w) = sys::socket::pipe().map_err(|e| PoolError::os("cannot make a pipe", e))?;
        let shared = Arc::new(Shared {
            events,
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
            wake_r,
            wake_w,
            quit: AtomicBool::new(false),
        });
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("multiproc-pool-supervisor".into())
            .spawn(move || supervise(&s))
            .map_err(|e| PoolError::os("cannot start the pool's supervisor thread", e))?;
        Ok(Processes {
            cfg,
            shared,
            supervisor: Mutex::new(Some(handle)),
            started: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The spool holds what one event record carries whole, and at most [`SPOOL`].
    fn spool_capacity(&self) -> usize {
        (self.shared.events.max_whole_record() - 2 * crate::pool::records::EVENT_HDR).min(SPOOL)
    }
}

/// The supervisor: waits on the wake pipe and every worker's sentinel; reports each exit.
fn supervise(shared: &Shared) {
    let mut drain = [0u8; 64];
    loop {
        if shared.quit.load(Ordering::Acquire) {
            return;
        }
        let mut fds = vec![shared.wake_r.as_raw_fd()];
        let mut who = Vec::new();
        for (w, slot) in shared.slots.iter().enumerate() {
            if let Some(l) = lock(slot).as_ref()
                && !l.reported
                && let Ok(fd) = l.process.sentinel()
            {
                fds.push(fd);
                who.push((w, l.generation));
            }
        }
        let ready = match sys::net::poll_raw(&fds, None) {
            Ok(r) => r,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        for i in ready {
            if i == 0 {
                let _ = sys::net::read(shared.wake_r.as_fd(), &mut drain);
            } else {
                let (w, generation) = who[i - 1];
                report_exit(shared, w, generation);
            }
        }
    }
}

/// Reaps the worker in slot `w`, reads its slot and spool, and pushes its `EXITED`.
fn report_exit(shared: &Shared, w: usize, generation: u32) {
    // Taken now: once the `EXITED` is out, the collector may put another worker in the slot.
    let (process, tasks, feeding) = {
        let mut g = lock(&shared.slots[w]);
        match g.as_mut() {
            Some(l) if l.generation == generation && !l.reported => {
                l.reported = true;
                (l.process.clone(), l.tasks.clone(), l.feeding.clone())
            }
            _ => return,
        }
    };
    // The sentinel said it ended: this does not wait (a fork-server child's status may take
    // a moment to be relayed).
    let code = process.join().unwrap_or(-1);
    let (progress, snapshot, stats) = {
        let g = lock(&shared.slots[w]);
        match g.as_ref() {
            Some(l) if l.generation == generation => {
                (read_progress(&l.slot), l.spool.snapshot(), read_stats(&l.slot, sys::clock::monotonic_ns()))
            }
            _ => return,
        }
    };
    let held = (progress.task != 0).then_some(Held { task: progress.task, item: progress.item });
    let mut payload = Vec::new();
    let salvage = match snapshot {
        Some(s) if s.tag != 0 && s.count > 0 => {
            let mut n = [0u8; 10];
            payload.extend_from_slice(varint(u64::from(s.count), &mut n));
            payload.extend_from_slice(&s.bytes);
            Some((s.tag, s.base as u32))
        }
        _ => None,
    };
    let head = Event::exited_head(w as u32, generation, code, held, salvage, stats);
    // No lock is held here: the collector may be waiting for one while this waits for room.
    shared.events.push_record(&[&head, &payload], None);
    // The feeder may be stuck pushing a long record into the dead worker's ring: read it
    // away until the feeder lets go.
    let mut sink = Vec::new();
    while feeding.load(Ordering::Acquire) {
        tasks.pop_record(&mut sink, crate::deadline::after(Duration::from_millis(10)));
    }
}

impl Backend for Processes {
    fn start(&self, worker: usize, generation: u32) -> Result<Option<u32>, PoolError> {
        let os = |what: &str, e: std::io::Error| PoolError::os(&format!("cannot start a pool worker: {what}"), e);
        let tasks =
            Queue::<Vec<u8>>::builder().capacity(self.cfg.task_ring).build().map_err(|e| os("its task ring", e))?;
        let slot = ShmBox::new("multiproc-pool-slot", io::new_slot()).map_err(|e| os("its slot", e))?;
        let spool = Spool::new(self.spool_capacity()).map_err(|e| os("its spool", e))?;
        tasks.populate(); // this side writes the task ring
        let mut cfg = self.cfg.worker.clone();
        cfg.worker = worker as u32;
        cfg.generation = generation;
        let boot = WorkerBoot {
            cfg,
            tasks: tasks.clone(),
            events: self.shared.events.clone(),
            slot: slot.clone(),
            spool: spool.clone(),
        };
        let n = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let method = self.cfg.method.unwrap_or_else(crate::process::get_start_method);
        let prefix = match method {
            StartMethod::Spawn => "Spawn",
            StartMethod::ForkServer => "ForkServer",
            StartMethod::Fork => "Fork",
        };
        let process = Process::builder()
            .name(format!("{prefix}PoolWorker-{n}"))
            .daemon(true)
            .start_method(method)
            .target(worker_main, boot);
        process.start().map_err(|e| {
            PoolError::new(PoolErrorKind::Os, format!("cannot start a pool worker: {e}")).with_source(e)
        })?;
        let pid = process.pid();
        *lock(&self.shared.slots[worker]) = Some(Live {
            generation,
            process,
            tasks,
            slot,
            spool,
            reported: false,
            feeding: Arc::new(AtomicBool::new(false)),
        });
        self.shared.wake_supervisor();
        Ok(pid)
    }

    fn try_send(&self, worker: usize, generation: u32, parts: &[&[u8]]) -> Result<(), SendFail> {
        let g = lock(&self.shared.slots[worker]);
        match g.as_ref() {
            Some(l) if l.generation == generation && !l.reported => {
                if l.tasks.push_record(parts, Some(Instant::now())) { Ok(()) } else { Err(SendFail::Full) }
            }
            _ => Err(SendFail::Gone),
        }
    }

    fn max_try_send(&self) -> usize {
        // Every task ring has the same capacity.
        self.cfg.task_ring / 4 - 64
    }

    fn send(&self, worker: usize, generation: u32, parts: &[&[u8]]) -> Result<(), SendFail> {
        let (tasks, feeding) = {
            let g = lock(&self.shared.slots[worker]);
            match g.as_ref() {
                Some(l) if l.generation == generation && !l.reported => {
                    l.feeding.store(true, Ordering::Release);
                    (l.tasks.clone(), l.feeding.clone())
                }
                _ => return Err(SendFail::Gone),
            }
        };
        // Waits as long as the worker reads (it may still be in its initializer). If it dies,
        // the supervisor reads the ring until this push is done (see `report_exit`).
        tasks.push_record(parts, None);
        feeding.store(false, Ordering::Release);
        match lock(&self.shared.slots[worker]).as_ref() {
            Some(l) if l.generation == generation && !l.reported => Ok(()),
            _ => Err(SendFail::Gone),
        }
    }

    fn recv(&self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> bool {
        self.shared.events.pop_record(buf, deadline)
    }

    fn wake(&self) {
        self.shared.events.push_record(&[&Event::wake_header()], None);
    }

    fn progress(&self, worker: usize) -> Progress {
        match lock(&self.shared.slots[worker]).as_ref() {
            Some(l) => read_progress(&l.slot),
            None => Progress::default(),
        }
    }

    fn stats(&self, worker: usize) -> ExitStats {
        match lock(&self.shared.slots[worker]).as_ref() {
            Some(l) => read_stats(&l.slot, sys::clock::monotonic_ns()),
            None => ExitStats::default(),
        }
    }

    fn kill(&self, worker: usize, generation: u32) {
        if let Some(l) = lock(&self.shared.slots[worker]).as_ref()
            && l.generation == generation
            && !l.reported
        {
            let _ = l.process.kill();
        }
    }

    fn shutdown(&self) {
        self.shared.quit.store(true, Ordering::Release);
        self.shared.wake_supervisor();
        if let Some(h) = lock(&self.supervisor).take() {
            let _ = h.join();
        }
        // Normally every worker has exited by now; after a failed start, end the others.
        for slot in &self.shared.slots {
            let process = lock(slot).as_ref().filter(|l| !l.reported).map(|l| l.process.clone());
            if let Some(p) = process {
                let _ = p.kill();
                let _ = p.join_timeout(Duration::from_secs(5));
            }
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.shutdown();
    }
}
