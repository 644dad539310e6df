//! Worker threads: Python's `multiprocessing.pool.ThreadPool`, and the in-process double of
//! the process backend.
//!
//! The records are the same bytes as between processes (the arguments and results go through
//! the codec too), over channels: one per worker for tasks, one shared for events. A thread
//! cannot be killed, so [`Backend::kill`] abandons it: under its spool's lock the thread is
//! marked abandoned, its slot and spool are read, and its `EXITED` is sent at once; the thread
//! finishes the item it runs, sees the mark, and ends without sending anything more.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::{Backend, SendFail};
use crate::pool::error::PoolError;
use crate::pool::io::{self, Keep, Progress, SlotWords, WorkerIo, read_progress, read_stats};
use crate::pool::records::{Event, ExitStats, Held, varint};
use crate::pool::worker::{WorkerCfg, worker_loop};
use crate::sys;
use crate::util::lock;

/// Bytes of results a worker thread keeps before it sends them.
const SPOOL: usize = 64 << 10;

/// The spool of a worker thread, and whether the pool gave up on it.
#[derive(Debug, Default)]
struct ThreadSpool {
    abandoned: bool,
    task: u64,
    base: u32,
    count: u32,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct ThreadShared {
    slot: SlotWords,
    spool: Mutex<ThreadSpool>,
}

impl ThreadShared {
    /// The `EXITED` record of this worker, from its slot and spool.
    fn exited(&self, worker: u32, generation: u32, code: i32, spool: &ThreadSpool) -> Vec<u8> {
        let p = read_progress(&self.slot);
        let held = (p.task != 0).then_some(Held { task: p.task, item: p.item });
        let salvage = (spool.task != 0 && spool.count > 0).then_some((spool.task, spool.base));
        let stats = read_stats(&self.slot, sys::clock::monotonic_ns());
        let mut rec = Event::exited_head(worker, generation, code, held, salvage, stats);
        if salvage.is_some() {
            let mut n = [0u8; 10];
            rec.extend_from_slice(varint(u64::from(spool.count), &mut n));
            rec.extend_from_slice(&spool.bytes);
        }
        rec
    }
}

/// A worker thread's end of the channels.
pub(crate) struct ThreadIo {
    tasks: Receiver<Vec<u8>>,
    events: Sender<Vec<u8>>,
    shared: Arc<ThreadShared>,
    /// A result being encoded, before it goes into the spool under its lock.
    scratch: Vec<u8>,
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

impl WorkerIo for ThreadIo {
    fn recv(&mut self, buf: &mut Vec<u8>) -> bool {
        match self.tasks.recv() {
            Ok(v) => {
                *buf = v;
                true
            }
            Err(_) => false,
        }
    }

    fn send(&mut self, parts: &[&[u8]]) -> bool {
        let sp = lock(&self.shared.spool);
        !sp.abandoned && self.events.send(concat(parts)).is_ok()
    }

    fn slot(&self) -> &SlotWords {
        &self.shared.slot
    }

    fn begin_item(&mut self, item: u32, started_ns: Option<u64>) -> bool {
        let sp = lock(&self.shared.spool);
        if sp.abandoned {
            return false;
        }
        if let Some(t) = started_ns {
            self.shared.slot[io::ITEM_STARTED].store(t, Ordering::Relaxed);
        }
        self.shared.slot[io::ITEM].store(u64::from(item), Ordering::Release);
        true
    }

    fn spool_reset(&mut self, task: u64, base: u32) {
        let mut sp = lock(&self.shared.spool);
        sp.task = task;
        sp.base = base;
        sp.count = 0;
        sp.bytes.clear();
    }

    fn keep<R: serde::Serialize>(&mut self, value: &R) -> Result<Keep, crate::error::CodecError> {
        self.scratch.clear();
        crate::codec::encode_into(value, &mut self.scratch)?;
        let mut sp = lock(&self.shared.spool);
        if sp.abandoned {
            return Ok(Keep::Stopped);
        }
        if sp.count > 0 && sp.bytes.len() + self.scratch.len() > SPOOL {
            return Ok(Keep::Full);
        }
        sp.bytes.extend_from_slice(&self.scratch);
        sp.count += 1;
        Ok(Keep::Kept)
    }

    fn spool_send(&mut self, hdr: &[u8], task: u64, next_base: u32) -> bool {
        let mut sp = lock(&self.shared.spool);
        if sp.abandoned {
            return false;
        }
        let mut n = [0u8; 10];
        let rec = concat(&[hdr, varint(u64::from(sp.count), &mut n), &sp.bytes]);
        let sent = self.events.send(rec).is_ok();
        sp.task = task;
        sp.base = next_base;
        sp.count = 0;
        sp.bytes.clear();
        sent
    }
}

struct ThreadLive {
    generation: u32,
    tasks: Option<Sender<Vec<u8>>>,
    shared: Arc<ThreadShared>,
    handle: Option<JoinHandle<()>>,
}

/// The thread backend.
pub(crate) struct Threads {
    worker: WorkerCfg,
    slots: Vec<Mutex<Option<ThreadLive>>>,
    events_tx: Sender<Vec<u8>>,
    events_rx: Receiver<Vec<u8>>,
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Threads").field("workers", &self.slots.len()).finish()
    }
}

impl Threads {
    /// A backend for `n` worker threads.
    pub(crate) fn new(n: usize, worker: WorkerCfg) -> Threads {
        let (events_tx, events_rx) = crossbeam_channel::unbounded();
        Threads { worker, slots: (0..n).map(|_| Mutex::new(None)).collect(), events_tx, events_rx }
    }
}

impl Backend for Threads {
    fn start(&self, worker: usize, generation: u32) -> Result<Option<u32>, PoolError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(ThreadShared { slot: io::new_slot(), spool: Mutex::new(ThreadSpool::default()) });
        let mut cfg = self.worker.clone();
        cfg.worker = worker as u32;
        cfg.generation = generation;
        let io = ThreadIo { tasks: rx, events: self.events_tx.clone(), shared: shared.clone(), scratch: Vec::new() };
        let (events, s) = (self.events_tx.clone(), shared.clone());
        let handle = std::thread::Builder::new()
            .name(format!("multiproc-pool-worker-{worker}"))
            .spawn(move || {
                let code =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker_loop(io, &cfg))).unwrap_or(1);
                let mut sp = lock(&s.spool);
                if !sp.abandoned {
                    sp.abandoned = true;
                    let _ = events.send(s.exited(cfg.worker, cfg.generation, code, &sp));
                }
            })
            .map_err(|e| PoolError::os("cannot start a pool worker thread", e))?;
        *lock(&self.slots[worker]) = Some(ThreadLive { generation, tasks: Some(tx), shared, handle: Some(handle) });
        Ok(None)
    }

    fn try_send(&self, worker: usize, generation: u32, parts: &[&[u8]]) -> Result<(), SendFail> {
        let g = lock(&self.slots[worker]);
        match g.as_ref() {
            Some(l) if l.generation == generation => match &l.tasks {
                Some(tx) => tx.send(concat(parts)).map_err(|_| SendFail::Gone),
                None => Err(SendFail::Gone),
            },
            _ => Err(SendFail::Gone),
        }
    }

    fn max_try_send(&self) -> usize {
        usize::MAX
    }

    fn send(&self, worker: usize, generation: u32, parts: &[&[u8]]) -> Result<(), SendFail> {
        self.try_send(worker, generation, parts)
    }

    fn recv(&self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> bool {
        let r = match deadline {
            None => self.events_rx.recv().ok(),
            Some(d) => self.events_rx.recv_deadline(d).ok(),
        };
        match r {
            Some(v) => {
                *buf = v;
                true
            }
            None => false,
        }
    }

    fn wake(&self) {
        let _ = self.events_tx.send(Event::wake_header().to_vec());
    }

    fn progress(&self, worker: usize) -> Progress {
        match lock(&self.slots[worker]).as_ref() {
            Some(l) => read_progress(&l.shared.slot),
            None => Progress::default(),
        }
    }

    fn stats(&self, worker: usize) -> ExitStats {
        match lock(&self.slots[worker]).as_ref() {
            Some(l) => read_stats(&l.shared.slot, sys::clock::monotonic_ns()),
            None => ExitStats::default(),
        }
    }

    fn kill(&self, worker: usize, generation: u32) {
        let mut g = lock(&self.slots[worker]);
        let Some(l) = g.as_mut().filter(|l| l.generation == generation) else { return };
        {
            let mut sp = lock(&l.shared.spool);
            if !sp.abandoned {
                sp.abandoned = true;
                // The code a SIGKILLed process would have: the thread is given up on.
                let _ = self.events_tx.send(l.shared.exited(worker as u32, generation, -9, &sp));
            }
        }
        // Its next `recv` ends the thread; it is not waited for.
        l.tasks = None;
        l.handle = None;
    }

    fn shutdown(&self) {
        for slot in &self.slots {
            let handle = lock(slot).as_mut().and_then(|l| {
                l.tasks = None;
                l.handle.take()
            });
            // Threads that left are joined; one still running an abandoned task is not.
            if let Some(h) = handle
                && h.is_finished()
            {
                let _ = h.join();
            }
        }
    }
}
