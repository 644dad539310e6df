//! The ring's shutdown and its task accounting (for `JoinableQueue`): a child of `ring`, so
//! it reads the header as the rest of the ring does.

use std::sync::atomic::{Ordering, fence};

use super::{Deadline, Held, RUNNING, Ring, SHUT_DOWN, SHUT_DOWN_NOW, Sink, count};
use crate::sync::RawGuard;
use crate::sys::futex;
use crate::wait::{self, Look, Next, Waiter};

/// `JoinableQueue::join`'s wait: counted in `join_waiters` from its first sleep.
struct Join<'a> {
    ring: &'a Ring,
    registered: bool,
}

impl Waiter for Join<'_> {
    type Output = bool;

    fn look(&mut self) -> Look<bool> {
        if self.ring.unfinished() == 0 { Look::Done(true) } else { Look::NotYet }
    }

    fn prepare(&mut self) -> Next<'_, bool> {
        let t = &self.ring.hdr().tasks.0;
        if !self.registered {
            t.join_waiters.fetch_add(1, Ordering::SeqCst);
            self.registered = true;
        }
        let d = t.done.load(Ordering::SeqCst);
        if self.ring.unfinished() == 0 {
            return Next::Done(true);
        }
        Next::Futex(&t.done, d)
    }

    fn deadline_passed(&mut self) -> bool {
        self.ring.unfinished() == 0
    }
}

impl Drop for Join<'_> {
    fn drop(&mut self) {
        if self.registered {
            self.ring.hdr().tasks.0.join_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Ring {
    // ----- shutdown -----

    pub(super) fn shutdown_state(&self) -> u32 {
        self.hdr().meta.0.shutdown.load(Ordering::Acquire)
    }

    /// Has the queue been shut down (by any process)?
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shutdown_state() != RUNNING
    }

    /// Shuts the queue down for every process (Python's `shutdown(immediate)`): puts fail from
    /// now on; gets take what is left and then fail, or, with `immediate`, what is left is
    /// dropped (and counted as done, for `join`) and gets fail at once. Every waiting put, get
    /// and join is woken. Returns how many messages were dropped.
    pub(crate) fn shutdown(&self, immediate: bool) -> u32 {
        let h = self.hdr();
        let want = if immediate { SHUT_DOWN_NOW } else { SHUT_DOWN };
        h.meta.0.shutdown.fetch_max(want, Ordering::SeqCst);
        let mut dropped = 0;
        if immediate {
            // Drop what is left, under the consumer lock; a stream that is still arriving is
            // ended by its producer, which now fails its next wait for room.
            struct Discard;
            impl Sink for Discard {
                fn begin(&mut self, _: usize) {}
                fn chunk(&mut self, _: &[u8]) {}
            }
            if let Some((guard, _)) = RawGuard::acquire(&h.cons.0.lock, None) {
                let held = Held { stream_id: None, _guard: guard };
                while self.data_ready() && self.pop_locked(&mut Discard) == Ok(true) {
                    dropped += 1;
                }
                drop(held);
            }
            // Dropped messages are done: `join` does not wait for them.
            h.tasks.0.done.fetch_add(dropped, Ordering::SeqCst);
        }
        // Wake everybody, sleeping or about to: each re-checks and finds the shutdown.
        let w = &h.wake.0;
        for seq in [&w.data_seq, &w.space_seq] {
            seq.fetch_add(1, Ordering::SeqCst);
            futex::wake(seq, u32::MAX);
        }
        futex::wake(&h.tasks.0.done, u32::MAX);
        dropped
    }

    // ----- task accounting (JoinableQueue) -----

    /// Marks one task done; `false` if every message put is already done.
    pub(crate) fn task_done(&self) -> bool {
        let h = self.hdr();
        let t = &h.tasks.0;
        let mut d = t.done.load(Ordering::Acquire);
        loop {
            let inn = count(h.tail.0.load(Ordering::Acquire));
            let unfinished = inn.wrapping_sub(d);
            if unfinished == 0 || unfinished > u32::MAX / 2 {
                return false;
            }
            match t.done.compare_exchange(d, d.wrapping_add(1), Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => d = now,
            }
        }
        fence(Ordering::SeqCst);
        if t.join_waiters.load(Ordering::SeqCst) > 0 {
            futex::wake(&t.done, u32::MAX);
        }
        true
    }

    /// Messages put and not yet marked done.
    pub(crate) fn unfinished(&self) -> u32 {
        let h = self.hdr();
        let inn = count(h.tail.0.load(Ordering::Acquire));
        inn.wrapping_sub(h.tasks.0.done.load(Ordering::Acquire))
    }

    /// Waits until every message put has been marked done; `false` on timeout.
    pub(crate) fn join(&self, deadline: Deadline) -> bool {
        self.unfinished() == 0 || wait::run(&wait::RING_JOIN, None, deadline, Join { ring: self, registered: false })
    }
}
