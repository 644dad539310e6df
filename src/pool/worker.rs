//! The worker loop, the same for every backend: run the initializer, say `READY`, then take
//! task records one at a time until `STOP`, the task limit, the memory limit, or the pool's
//! end.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::error::TaskFailure;
use super::io::{self, WorkerIo};
use super::records::{Event, Leave, STOP, TaskHeader};
use super::task::{Entry, ExitEntry, InitEntry, TaskCall};
use crate::sys;

/// The initializer a worker runs first: its trampoline's offset and its encoded arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InitSpec {
    pub(crate) entry: i64,
    pub(crate) args: Vec<u8>,
}

/// What a worker needs to know besides its I/O.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkerCfg {
    pub(crate) worker: u32,
    pub(crate) generation: u32,
    pub(crate) init: Option<InitSpec>,
    /// The function that builds the worker's state, run after the initializer.
    pub(crate) state: Option<InitSpec>,
    /// The worker-exit function, run as the worker leaves cleanly; its value goes to the pool.
    pub(crate) exit: Option<InitSpec>,
    /// CPU sets to pin to: worker `w` takes set `w % len` (none when empty).
    pub(crate) pinning: Vec<Vec<usize>>,
    /// Leave after this many records (Python's `maxtasksperchild`).
    pub(crate) maxtasks: Option<u64>,
    /// Leave after a record that leaves the resident set above this many bytes.
    pub(crate) max_memory: Option<u64>,
}

/// Exit code of a worker whose initializer failed.
pub(crate) const INIT_FAILED_CODE: i32 = 1;

/// Runs a worker until it leaves; returns its exit code (0 when it left cleanly).
pub(crate) fn worker_loop<Io: WorkerIo>(mut io: Io, cfg: &WorkerCfg) -> i32 {
    let (w, g) = (cfg.worker, cfg.generation);
    let pid = sys::liveness::my_pid();
    let born = sys::clock::monotonic_ns();
    io.slot()[io::STARTED_AT].store(born, Ordering::Relaxed);
    io.slot()[io::PID].store(u64::from(pid), Ordering::Relaxed);
    io.slot()[io::STATE].store(io::STARTING, Ordering::Relaxed);
    let started = pin(cfg).and_then(|()| {
        cfg.init.iter().chain(&cfg.state).try_for_each(|init| {
            match sys::exe::fn_at::<InitEntry>(init.entry as isize, sys::exe::identity()) {
                Ok(run) => run(init.args.clone()),
                Err(e) => Err(TaskFailure::Decode(e.to_string())),
            }
        })
    });
    io.slot()[io::INIT_NS].store(sys::clock::monotonic_ns().saturating_sub(born), Ordering::Relaxed);
    if let Err(f) = started {
        let body = crate::codec::encode(&f).unwrap_or_default();
        io.send(&[&Event::init_failed_header(w, g), &body]);
        return end(&io, INIT_FAILED_CODE);
    }
    if !io.send(&[&Event::ready_header(w, g, pid)]) {
        return end(&io, 0);
    }
    let (mut io, clean) = serve(io, cfg);
    if clean && let Some(exit) = &cfg.exit {
        let t = sys::clock::monotonic_ns();
        let outcome = match sys::exe::fn_at::<ExitEntry>(exit.entry as isize, sys::exe::identity()) {
            Ok(run) => run(exit.args.clone()),
            Err(e) => Err(TaskFailure::Decode(e.to_string())),
        };
        io.slot()[io::EXIT_NS].store(sys::clock::monotonic_ns().saturating_sub(t), Ordering::Relaxed);
        let (ok, body) = match outcome {
            Ok(value) => (true, value),
            Err(f) => (false, crate::codec::encode(&f).unwrap_or_default()),
        };
        io.send(&[&Event::exit_value_header(w, g, ok), &body]);
    }
    end(&io, 0)
}

/// Pins the worker to its CPU set, if the pool has CPU pinning.
fn pin(cfg: &WorkerCfg) -> Result<(), TaskFailure> {
    if cfg.pinning.is_empty() {
        return Ok(());
    }
    let cpus = &cfg.pinning[cfg.worker as usize % cfg.pinning.len()];
    sys::proc::pin_to_cpus(cpus).map_err(|e| TaskFailure::Panic {
        message: format!("cannot pin worker {} to CPUs {cpus:?}: {e}", cfg.worker),
        location: None,
        backtrace: None,
    })
}

/// The worker's end: drops its state, notes the time in its slot, returns `code`.
fn end<Io: WorkerIo>(io: &Io, code: i32) -> i32 {
    super::state::drop_state();
    io.slot()[io::LEFT_AT].store(sys::clock::monotonic_ns(), Ordering::Release);
    code
}

/// Takes task records until the worker leaves; returns its I/O, and whether it leaves
/// cleanly (`STOP`, its task or memory limit) rather than because the pool is gone or gave
/// up on it.
fn serve<Io: WorkerIo>(mut io: Io, cfg: &WorkerCfg) -> (Io, bool) {
    let (w, g) = (cfg.worker, cfg.generation);
    let mut buf = Vec::new();
    let mut done = 0u64;
    loop {
        io.slot()[io::STATE].store(io::IDLE, Ordering::Relaxed);
        if !io.recv(&mut buf) {
            return (io, false);
        }
        let Some((header, _)) = TaskHeader::parse(&buf) else { continue };
        if header.kind == STOP {
            return (io, true);
        }
        // The offset came from the pool, which runs this very binary (checked when this
        // worker started).
        let entry = match sys::exe::fn_at::<Entry<Io>>(header.entry as isize, sys::exe::identity()) {
            Ok(e) => e,
            Err(_) => continue,
        };
        let call = TaskCall { io, record: std::mem::take(&mut buf), header, worker: w, generation: g, stopped: false };
        let call = entry(call);
        io = call.io;
        buf = call.record;
        if call.stopped {
            return (io, false);
        }
        done += 1;
        if cfg.maxtasks.is_some_and(|m| done >= m) {
            io.send(&[&Event::leaving_header(w, g, Leave::MaxTasks)]);
            return (io, true);
        }
        if let Some(limit) = cfg.max_memory
            && sys::proc::rss_bytes().is_ok_and(|rss| rss > limit)
        {
            io.send(&[&Event::leaving_header(w, g, Leave::Memory)]);
            return (io, true);
        }
        if buf.capacity() > 8 << 20 {
            buf = Vec::new(); // do not keep a huge record's buffer
        }
    }
}
