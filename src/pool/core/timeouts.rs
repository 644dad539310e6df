//! Hard timeouts: which workers run a timed item, when the next one falls due, and killing
//! the workers past it.

use std::time::{Duration, Instant};

use super::{Core, Kill, State, Status, TICK};
use crate::sys;

impl Core {
    /// For each worker running a timed item: `(worker, generation, task, item, due_ns)`.
    pub(super) fn timed_items(&self, st: &State) -> Vec<(usize, u32, u64, u32, u64)> {
        let mut out = Vec::new();
        for (w, ws) in st.workers.iter().enumerate() {
            if ws.inflight.is_empty() || ws.kill.is_some() || ws.status == Status::Empty {
                continue;
            }
            let p = self.backend.progress(w);
            let Some(item) = p.item else { continue };
            if let Some(rec) = st.records.get(&p.task)
                && rec.header.hard_ns != 0
                && item >= rec.next
                && rec.worker == Some((w, ws.generation))
            {
                out.push((w, ws.generation, p.task, item, p.item_started_ns.saturating_add(rec.header.hard_ns)));
            }
        }
        out
    }

    pub(super) fn timer_deadline(&self) -> Option<Instant> {
        let st = self.state();
        if st.timed == 0 {
            return None;
        }
        let (now, now_ns) = (Instant::now(), sys::clock::monotonic_ns());
        let mut next = now + TICK;
        for (.., due) in self.timed_items(&st) {
            next = next.min(now + Duration::from_nanos(due.saturating_sub(now_ns)));
        }
        Some(next)
    }

    pub(super) fn check_timeouts(&self) {
        let mut st = self.state();
        if st.timed == 0 {
            return;
        }
        let now_ns = sys::clock::monotonic_ns();
        for (w, generation, task, item, due) in self.timed_items(&st) {
            if now_ns >= due {
                st.workers[w].kill = Some(Kill::Timeout { task, item });
                self.backend.kill(w, generation);
            }
        }
    }
}
