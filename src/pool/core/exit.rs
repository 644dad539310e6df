//! A worker's exit: what it had finished, the item it held, the records to send again, what
//! its death means for the pool; and starting the workers that replace it.

use std::time::Duration;

use super::{Core, Fails, INIT_FAILURE_LIMIT, Kill, POISON_LIMIT, Phase, Salvaged, State, Status, deliver, run_fails};
use crate::pool::error::{PoolError, PoolErrorKind, describe_exit};
use crate::pool::options::WorkerDeath;
use crate::pool::records::{ExitStats, Form, Held, read_varint};

impl Core {
    pub(super) fn on_exit(
        &self,
        w: usize,
        generation: u32,
        code: i32,
        held: Option<Held>,
        salvage: Option<(u64, u32, &[u8])>,
        stats: Option<ExitStats>,
    ) {
        let mut st = self.state();
        if st.workers[w].generation != generation || st.workers[w].status == Status::Empty {
            return;
        }
        let ws = &mut st.workers[w];
        ws.past = ws.past.add(stats.unwrap_or_default());
        let kill = ws.kill.take();
        let (was_ready, pid) = (ws.ready, ws.pid.take());
        let inflight = std::mem::take(&mut ws.inflight);
        ws.status = Status::Empty;
        ws.ready = false;
        ws.feeding = false;
        let mut delivers = Salvaged::new();
        let mut fails: Fails = Vec::new();
        // The results it had finished but not sent.
        if let Some((task, first, items)) = salvage
            && let Some(rec) = st.records.get_mut(&task)
            && first == rec.next
        {
            let n = read_varint(items).map_or(0, |(n, _)| n as u32);
            rec.next += n;
            delivers.push((rec.job.clone(), rec.base + first as usize, n, items.to_vec()));
        }
        // The item it was running: failed, never run again.
        let mut lost_item = false;
        if let Some(Held { task, item: Some(item) }) = held
            && let Some(rec) = st.records.get_mut(&task)
            && item >= rec.next
        {
            let what = rec.item_name(item);
            let who = match pid {
                Some(p) => format!("{} {w} (pid {p})", self.cfg.noun),
                None => format!("{} {w}", self.cfg.noun),
            };
            let err = match kill {
                Some(Kill::Timeout { task: t, item: i }) if t == task && i == item => PoolError::new(
                    PoolErrorKind::TimedOut,
                    format!(
                        "{what} ran past its hard timeout of {:?}: {who} was killed and replaced; the other tasks \
                         go on",
                        Duration::from_nanos(rec.header.hard_ns)
                    ),
                ),
                Some(Kill::Timeout { .. }) => PoolError::new(
                    PoolErrorKind::WorkerLost,
                    format!("{what} had just started when {who} was killed for the hard timeout of the item before it"),
                ),
                _ => PoolError::new(
                    PoolErrorKind::WorkerLost,
                    format!(
                        "{who} died with {} while running {what}; the pool started another worker and the other \
                         tasks go on",
                        describe_exit(code)
                    ),
                ),
            }
            .with_exitcode(code);
            // Items between the last delivered one and this one cannot have run without
            // their results being kept; were there any, they are lost with it.
            fails.push((rec.job.clone(), rec.base + rec.next as usize..rec.base + item as usize + 1, err));
            rec.next = item + 1;
            lost_item = true;
        }
        // A record that kills its workers before any item runs is not sent again and again.
        if let Some(Held { task, item: None }) = held
            && kill.is_none()
            && let Some(rec) = st.records.get_mut(&task)
            && rec.worker == Some((w, generation))
        {
            rec.deaths += 1;
            if rec.deaths >= POISON_LIMIT {
                let err = PoolError::new(
                    PoolErrorKind::WorkerLost,
                    format!(
                        "{POISON_LIMIT} workers died ({} the last time) while starting {}, before any of its items \
                         ran (decoding its arguments?); it is not sent again",
                        describe_exit(code),
                        rec.item_name(rec.next)
                    ),
                )
                .with_exitcode(code);
                let range = rec.base + rec.next as usize..rec.base + rec.header.count as usize;
                fails.push((rec.job.clone(), range, err));
                rec.next = rec.header.count;
                lost_item = true;
            }
        }
        // Everything else it had: re-sent from the first item not run.
        let mut resend = Vec::new();
        let mine: Vec<u64> = st
            .records
            .iter()
            .filter(|(id, r)| r.worker == Some((w, generation)) || inflight.contains(id))
            .map(|(&id, _)| id)
            .collect();
        let mut order: Vec<u64> = inflight.iter().copied().filter(|t| mine.contains(t)).collect();
        order.extend(mine.iter().copied().filter(|t| !inflight.contains(t)));
        for task in order {
            let Some(rec) = st.records.get_mut(&task) else { continue };
            if rec.next >= rec.header.count {
                let rec = st.records.remove(&task).expect("present");
                if rec.header.hard_ns != 0 {
                    st.timed -= 1;
                    self.sync_flags(&st);
                }
                continue;
            }
            rec.header.start = rec.next;
            rec.worker = None;
            resend.push(task);
        }
        for task in resend.into_iter().rev() {
            st.pending.push_front(task);
        }
        // What the death means for the pool.
        let running = matches!(st.phase, Phase::Running | Phase::Closed);
        let clean = kill.is_none() && code == 0 && !lost_item;
        if running && kill.is_none() && !was_ready {
            st.init_failures += 1;
            let err = st.init_error.take().unwrap_or_else(|| {
                PoolError::new(
                    PoolErrorKind::InitializerFailed,
                    format!("a worker died while starting, with {}", describe_exit(code)),
                )
                .with_exitcode(code)
            });
            if st.init_failures >= INIT_FAILURE_LIMIT {
                let broken = PoolError::new(
                    PoolErrorKind::InitializerFailed,
                    format!(
                        "the pool is broken: {INIT_FAILURE_LIMIT} workers in a row failed to start ({err}); fix the \
                         initializer and make a new pool"
                    ),
                )
                .with_panic_of(&err);
                fails.extend(self.break_pool(&mut st, broken));
            } else {
                st.init_error = Some(err);
            }
        } else if running && !clean && self.cfg.on_death == WorkerDeath::BreakPool && kill.is_none() {
            let who = match pid {
                Some(p) => format!("{} {w} (pid {p})", self.cfg.noun),
                None => format!("{} {w}", self.cfg.noun),
            };
            let broken = PoolError::new(
                PoolErrorKind::Broken,
                format!(
                    "the pool is broken: {who} died with {} (the pool was built with WorkerDeath::BreakPool); make \
                     a new pool",
                    describe_exit(code)
                ),
            )
            .with_exitcode(code);
            fails.extend(self.break_pool(&mut st, broken));
        }
        let starts = self.slots_to_start(&mut st);
        if starts.is_empty() {
            self.dispatch(&mut st);
            self.stop_idle(&mut st);
        }
        drop(st);
        for (job, index, n, items) in delivers {
            deliver(&job, index, n, Form::Values, &items);
        }
        run_fails(fails);
        if !starts.is_empty() {
            self.start_workers(starts);
        }
    }

    /// The empty slots that need a worker: all of them while running, and enough to finish
    /// the remaining tasks after `close`. Marks them as being started.
    pub(super) fn slots_to_start(&self, st: &mut State) -> Vec<(usize, u32)> {
        let wanted = match st.phase {
            Phase::Running => true,
            Phase::Closed => !st.records.is_empty(),
            _ => false,
        };
        if !wanted {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (w, ws) in st.workers.iter_mut().enumerate() {
            if ws.status == Status::Empty {
                ws.generation += 1;
                ws.status = Status::Spawning;
                ws.sent = 0;
                ws.kill = None;
                out.push((w, ws.generation));
                if matches!(st.phase, Phase::Closed) {
                    break; // one is enough to finish the leftovers
                }
            }
        }
        out
    }

    /// Starts workers (without the lock: a start takes a while), then records the outcome.
    pub(super) fn start_workers(&self, mut starts: Vec<(usize, u32)>) {
        while let Some((w, generation)) = starts.pop() {
            let r = self.backend.start(w, generation);
            let mut st = self.state();
            let mut fails = Fails::new();
            match r {
                Ok(pid) => {
                    let ws = &mut st.workers[w];
                    if ws.generation == generation && ws.status == Status::Spawning {
                        ws.status = Status::Live;
                        ws.starts += 1;
                        ws.pid = pid;
                        ws.ready = false;
                    }
                    if !matches!(st.phase, Phase::Running | Phase::Closed) {
                        st.workers[w].kill = Some(Kill::Pool);
                        self.backend.kill(w, generation);
                    }
                }
                Err(e) => {
                    st.workers[w].status = Status::Empty;
                    st.init_failures += 1;
                    if st.init_failures >= INIT_FAILURE_LIMIT {
                        let broken = PoolError::new(
                            e.kind(),
                            format!("the pool is broken: {INIT_FAILURE_LIMIT} workers in a row failed to start ({e})"),
                        );
                        fails.extend(self.break_pool(&mut st, broken));
                    } else {
                        starts.extend(self.slots_to_start(&mut st));
                    }
                }
            }
            if starts.is_empty() {
                self.dispatch(&mut st);
                self.stop_idle(&mut st);
            }
            drop(st);
            run_fails(fails);
        }
    }
}
