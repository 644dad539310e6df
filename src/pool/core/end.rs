//! The end of a pool: failing everything (terminate, a broken pool), close, terminate, join.

use std::time::{Duration, Instant};

use super::{Core, Fails, Kill, Phase, State, Status, run_fails};
use crate::pool::error::{PoolError, PoolErrorKind};
use crate::pool::job::in_collector;
use crate::util::lock;

impl Core {
    /// Fails every unfinished item with `err`, drops the pending records and kills every
    /// worker; returns the failures to run once the lock is released.
    pub(super) fn fail_everything(&self, st: &mut State, err: &PoolError) -> Fails {
        let mut fails = Fails::new();
        for (_, rec) in st.records.drain() {
            if rec.next < rec.header.count {
                let range = rec.base + rec.next as usize..rec.base + rec.header.count as usize;
                fails.push((rec.job, range, err.clone()));
            }
        }
        st.pending.clear();
        st.timed = 0;
        self.sync_flags(st);
        for w in 0..st.workers.len() {
            let ws = &mut st.workers[w];
            ws.inflight.clear();
            if ws.status != Status::Empty {
                ws.kill = Some(Kill::Pool);
                if ws.status != Status::Spawning {
                    self.backend.kill(w, ws.generation);
                }
            }
        }
        fails
    }

    pub(super) fn break_pool(&self, st: &mut State, err: PoolError) -> Fails {
        st.phase = Phase::Broken(err.clone());
        self.sync_flags(st);
        self.fail_everything(st, &err)
    }

    /// Python's `close()`: no new tasks; the workers leave when the queued ones are done.
    pub(crate) fn close(&self) {
        let mut st = self.state();
        if matches!(st.phase, Phase::Running) {
            st.phase = Phase::Closed;
            self.sync_flags(&st);
            self.stop_idle(&mut st);
        }
        drop(st);
        self.backend.wake();
    }

    /// Python's `terminate()`: every unfinished task fails with `Terminated`, and the workers
    /// are killed at once.
    pub(crate) fn terminate(&self) {
        let mut st = self.state();
        if matches!(st.phase, Phase::Terminated) {
            return;
        }
        let err = PoolError::new(
            PoolErrorKind::Terminated,
            "the pool was terminated (or dropped) before the task finished; close() and join() the pool to wait \
             for its tasks",
        );
        let fails = if matches!(st.phase, Phase::Broken(_)) {
            Fails::new()
        } else {
            st.phase = Phase::Terminated;
            self.sync_flags(&st);
            self.fail_everything(&mut st, &err)
        };
        drop(st);
        run_fails(fails);
        self.backend.wake();
    }

    /// Waits until the pool has finished: every task done and every worker gone (Python's
    /// `join()`).
    pub(crate) fn join(&self, deadline: Option<Instant>, timeout: Option<Duration>) -> Result<(), PoolError> {
        let mut st = self.state();
        if matches!(st.phase, Phase::Running) {
            return Err(PoolError::new(
                PoolErrorKind::StillRunning,
                "the pool is still running: call close() (to let its tasks finish) or terminate() before join()",
            ));
        }
        if !st.finished && in_collector() {
            return Err(PoolError::in_callback());
        }
        while !st.finished {
            st = match deadline {
                None => self.done.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(PoolError::new(
                            PoolErrorKind::Timeout,
                            format!(
                                "the pool has not finished after {:?}: its tasks are still running",
                                timeout.unwrap_or_default()
                            ),
                        ));
                    }
                    self.done.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
        drop(st);
        let threads = std::mem::take(&mut *lock(&self.threads));
        let me = std::thread::current().id();
        for h in threads {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
        Ok(())
    }
}
