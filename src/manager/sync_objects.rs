//! The server's synchronization objects and queues: locks, semaphores, events, conditions,
//! barriers and queues that live in the server and are waited on by the connection thread
//! that serves the caller.
//!
//! A blocking method waits on its object's condition variable in slices, and between slices
//! asks whether its caller is still there ([`Cx::abandoned`]): a client killed while it
//! waits does not take an item or a lock afterwards. A lock or rlock held through a
//! connection that closes (its process died) is released, so the others go on.

use std::collections::{HashSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::error::ManagerErrorKind as K;
use super::object::{Cx, Object, args, lock, ok};
use super::protocol::{Blob, Fault, Wait, method};

/// How often a waiting method checks that its caller is still connected.
const SLICE: Duration = Duration::from_millis(25);

/// Waits on `cv` until `ready` holds, as `w` allows; `busy` is the kind a `Never` wait fails
/// with.
fn wait_until<'a, T>(
    cv: &Condvar,
    mut g: MutexGuard<'a, T>,
    w: Wait,
    cx: &Cx<'_>,
    busy: K,
    mut ready: impl FnMut(&mut T) -> bool,
) -> Result<MutexGuard<'a, T>, Fault> {
    if ready(&mut g) {
        return Ok(g);
    }
    let deadline = match w {
        Wait::Never => return Err(Fault::new(busy, "it would have to wait")),
        Wait::Forever => None,
        Wait::Micros(us) => Instant::now().checked_add(Duration::from_micros(us)),
    };
    loop {
        if (cx.abandoned)() {
            return Err(Fault::new(K::ServerGone, "the caller went away while it waited"));
        }
        let now = Instant::now();
        let step = match deadline {
            Some(d) if d <= now => return Err(Fault::new(K::Timeout, "the timeout passed first")),
            Some(d) => (d - now).min(SLICE),
            None => SLICE,
        };
        g = cv.wait_timeout(g, step).unwrap_or_else(|e| e.into_inner()).0;
        // A caller that died while it waited must not take the item or the lock it was
        // woken for: its reply could not be delivered.
        if (cx.abandoned)() {
            return Err(Fault::new(K::ServerGone, "the caller went away while it waited"));
        }
        if ready(&mut g) {
            return Ok(g);
        }
    }
}

#[derive(Default)]
struct LockState {
    /// `(owner token, connection)` of the holder.
    owner: Option<(u64, u64)>,
    /// How many times the holder acquired it (an rlock counts).
    count: u32,
}

impl LockState {
    fn free_or_mine(&self, who: u64, recursive: bool) -> bool {
        match self.owner {
            None => true,
            Some((o, _)) => recursive && o == who,
        }
    }

    fn take(&mut self, who: u64, conn: u64) {
        match self.owner {
            Some(_) => self.count += 1,
            None => {
                self.owner = Some((who, conn));
                self.count = 1;
            }
        }
    }

    /// Releases once; `recursive` locks may only be released by their holder.
    fn release(&mut self, who: u64, recursive: bool) -> Result<bool, Fault> {
        match self.owner {
            None => Err(Fault::new(K::NotHeld, "release of a managed lock that is not held")),
            Some((o, _)) if recursive && o != who => {
                Err(Fault::new(K::NotHeld, "release of a managed rlock held by another thread or process"))
            }
            Some(_) => {
                self.count -= 1;
                if self.count == 0 {
                    self.owner = None;
                }
                Ok(self.count == 0)
            }
        }
    }

    fn drop_conn(&mut self, conn: u64) -> bool {
        if matches!(self.owner, Some((_, c)) if c == conn) {
            self.owner = None;
            self.count = 0;
            return true;
        }
        false
    }
}

/// A lock or an rlock.
pub(crate) struct LockObject {
    recursive: bool,
    state: Mutex<LockState>,
    cv: Condvar,
}

impl LockObject {
    pub(crate) fn new(recursive: bool) -> LockObject {
        LockObject { recursive, state: Mutex::default(), cv: Condvar::new() }
    }
}

impl Object for LockObject {
    fn type_name(&self) -> &str {
        if self.recursive { "rlock" } else { "lock" }
    }

    fn call(&self, m: u16, a: &[u8], cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::lock::*;
        let r = self.recursive;
        match m {
            ACQUIRE => {
                let (who, w): (u64, Wait) = args(a)?;
                let g = lock(&self.state);
                let mut g = wait_until(&self.cv, g, w, cx, K::WouldBlock, |s| s.free_or_mine(who, r))?;
                g.take(who, cx.conn);
                ok(&())
            }
            RELEASE => {
                let who: u64 = args(a)?;
                if lock(&self.state).release(who, r)? {
                    self.cv.notify_all();
                }
                ok(&())
            }
            LOCKED => ok(&lock(&self.state).owner.is_some()),
            _ => Err(Fault::new(K::NoSuchMethod, format!("a lock has no method number {m}"))),
        }
    }

    fn connection_closed(&self, conn: u64) {
        if lock(&self.state).drop_conn(conn) {
            self.cv.notify_all();
        }
    }
}

/// A semaphore, bounded or not.
pub(crate) struct SemaphoreObject {
    bound: Option<u64>,
    value: Mutex<u64>,
    cv: Condvar,
}

impl SemaphoreObject {
    pub(crate) fn new(value: u64, bound: Option<u64>) -> SemaphoreObject {
        SemaphoreObject { bound, value: Mutex::new(value), cv: Condvar::new() }
    }
}

impl Object for SemaphoreObject {
    fn type_name(&self) -> &str {
        if self.bound.is_some() { "bounded_semaphore" } else { "semaphore" }
    }

    fn call(&self, m: u16, a: &[u8], cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::lock::*;
        match m {
            ACQUIRE => {
                let (_, w): (u64, Wait) = args(a)?;
                let g = lock(&self.value);
                let mut g = wait_until(&self.cv, g, w, cx, K::WouldBlock, |v| *v > 0)?;
                *g -= 1;
                ok(&())
            }
            RELEASE => {
                let mut v = lock(&self.value);
                if self.bound.is_some_and(|b| *v >= b) {
                    return Err(Fault::new(K::ValueError, "a bounded semaphore was released too many times"));
                }
                *v += 1;
                self.cv.notify_one();
                ok(&())
            }
            VALUE => ok(&*lock(&self.value)),
            LOCKED => ok(&(*lock(&self.value) == 0)),
            _ => Err(Fault::new(K::NoSuchMethod, format!("a semaphore has no method number {m}"))),
        }
    }
}

/// An event.
#[derive(Default)]
pub(crate) struct EventObject {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Object for EventObject {
    fn type_name(&self) -> &str {
        "event"
    }

    fn call(&self, m: u16, a: &[u8], cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::event::*;
        match m {
            SET => {
                *lock(&self.flag) = true;
                self.cv.notify_all();
                ok(&())
            }
            CLEAR => {
                *lock(&self.flag) = false;
                ok(&())
            }
            IS_SET => ok(&*lock(&self.flag)),
            WAIT => {
                let w: Wait = args(a)?;
                drop(wait_until(&self.cv, lock(&self.flag), w, cx, K::Timeout, |f| *f)?);
                ok(&())
            }
            _ => Err(Fault::new(K::NoSuchMethod, format!("an event has no method number {m}"))),
        }
    }
}

#[derive(Default)]
struct CondState {
    lock: LockState,
    next_ticket: u64,
    waiting: VecDeque<u64>,
    notified: HashSet<u64>,
}

/// A condition variable with its own (recursive) lock.
#[derive(Default)]
pub(crate) struct ConditionObject {
    state: Mutex<CondState>,
    cv: Condvar,
}

impl Object for ConditionObject {
    fn type_name(&self) -> &str {
        "condition"
    }

    fn call(&self, m: u16, a: &[u8], cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::lock::*;
        match m {
            ACQUIRE => {
                let (who, w): (u64, Wait) = args(a)?;
                let g = lock(&self.state);
                let mut g = wait_until(&self.cv, g, w, cx, K::WouldBlock, |s| s.lock.free_or_mine(who, true))?;
                g.lock.take(who, cx.conn);
                ok(&())
            }
            RELEASE => {
                let who: u64 = args(a)?;
                if lock(&self.state).lock.release(who, true)? {
                    self.cv.notify_all();
                }
                ok(&())
            }
            LOCKED => ok(&lock(&self.state).lock.owner.is_some()),
            WAIT => {
                let (who, w): (u64, Wait) = args(a)?;
                let mut g = lock(&self.state);
                if !matches!(g.lock.owner, Some((o, _)) if o == who) {
                    return Err(Fault::new(
                        K::NotHeld,
                        "wait on a managed condition whose lock the caller does not hold",
                    ));
                }
                let count = g.lock.count;
                g.lock.owner = None;
                g.lock.count = 0;
                let ticket = g.next_ticket;
                g.next_ticket += 1;
                g.waiting.push_back(ticket);
                self.cv.notify_all();
                let woke = wait_until(&self.cv, g, w, cx, K::Timeout, |s| s.notified.contains(&ticket));
                let (mut g, outcome) = match woke {
                    Ok(g) => (g, Ok(())),
                    Err(f) if f.kind == K::ServerGone => return Err(f),
                    Err(f) => (lock(&self.state), Err(f)),
                };
                g.notified.remove(&ticket);
                g.waiting.retain(|t| *t != ticket);
                // Whatever happened, the caller holds the lock again when wait returns.
                let mut g = wait_until(&self.cv, g, Wait::Forever, cx, K::WouldBlock, |s| s.lock.owner.is_none())?;
                g.lock.owner = Some((who, cx.conn));
                g.lock.count = count;
                outcome.and_then(|()| ok(&()))
            }
            NOTIFY => {
                let (who, n): (u64, u64) = args(a)?;
                let mut g = lock(&self.state);
                if !matches!(g.lock.owner, Some((o, _)) if o == who) {
                    return Err(Fault::new(
                        K::NotHeld,
                        "notify on a managed condition whose lock the caller does not hold",
                    ));
                }
                for _ in 0..n {
                    let Some(t) = g.waiting.pop_front() else { break };
                    g.notified.insert(t);
                }
                self.cv.notify_all();
                ok(&())
            }
            _ => Err(Fault::new(K::NoSuchMethod, format!("a condition has no method number {m}"))),
        }
    }

    fn connection_closed(&self, conn: u64) {
        if lock(&self.state).lock.drop_conn(conn) {
            self.cv.notify_all();
        }
    }
}

struct BarrierState {
    count: u64,
    generation: u64,
    broken: bool,
    /// A generation whose waiters were sent away by a reset.
    reset_gen: Option<u64>,
}

/// A barrier.
pub(crate) struct BarrierObject {
    parties: u64,
    state: Mutex<BarrierState>,
    cv: Condvar,
}

impl BarrierObject {
    pub(crate) fn new(parties: u64) -> BarrierObject {
        let state = BarrierState { count: 0, generation: 0, broken: false, reset_gen: None };
        BarrierObject { parties, state: Mutex::new(state), cv: Condvar::new() }
    }
}

fn broken() -> Fault {
    Fault::new(K::BrokenBarrier, "the managed barrier is broken (aborted, reset, or a waiter timed out); reset it")
}

impl Object for BarrierObject {
    fn type_name(&self) -> &str {
        "barrier"
    }

    fn call(&self, m: u16, a: &[u8], cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::barrier::*;
        match m {
            WAIT => {
                let w: Wait = args(a)?;
                let mut g = lock(&self.state);
                if g.broken {
                    return Err(broken());
                }
                let index = g.count;
                g.count += 1;
                if g.count == self.parties {
                    g.count = 0;
                    g.generation += 1;
                    self.cv.notify_all();
                    return ok(&index);
                }
                let gen_ = g.generation;
                match wait_until(&self.cv, g, w, cx, K::Timeout, |s| s.broken || s.generation != gen_) {
                    Ok(g) if g.generation != gen_ && g.reset_gen != Some(gen_) => ok(&index),
                    Ok(_) => Err(broken()),
                    Err(f) => {
                        let mut g = lock(&self.state);
                        if g.generation == gen_ {
                            g.broken = true;
                            self.cv.notify_all();
                        }
                        Err(f)
                    }
                }
            }
            RESET => {
                let mut g = lock(&self.state);
                if g.count > 0 {
                    g.reset_gen = Some(g.generation);
                    g.generation += 1;
                }
                g.count = 0;
                g.broken = false;
                self.cv.notify_all();
                ok(&())
            }
            ABORT => {
                lock(&self.state).broken = true;
                self.cv.notify_all();
                ok(&())
            }
            PARTIES => ok(&self.parties),
            N_WAITING => ok(&lock(&self.state).count),
            BROKEN => ok(&lock(&self.state).broken),
            _ => Err(Fault::new(K::NoSuchMethod, format!("a barrier has no method number {m}"))),
        }
    }
}

struct QueueState {
    items: VecDeque<Vec<u8>>,
    unfinished: u64,
}

/// A queue (joinable or not).
pub(crate) struct QueueObject {
    maxsize: u64,
    joinable: bool,
    state: Mutex<QueueState>,
    cv: Condvar,
}

impl QueueObject {
    pub(crate) fn new(maxsize: u64, joinable: bool) -> QueueObject {
        let state = QueueState { items: VecDeque::new(), unfinished: 0 };
        QueueObject { maxsize, joinable, state: Mutex::new(state), cv: Condvar::new() }
    }
}

impl Object for QueueObject {
    fn type_name(&self) -> &str {
        if self.joinable { "joinable_queue" } else { "queue" }
    }

    fn call(&self, m: u16, a: &[u8], cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        use method::queue::*;
        let max = self.maxsize;
        match m {
            PUT => {
                let (item, w): (Blob, Wait) = args(a)?;
                let g = lock(&self.state);
                let mut g = wait_until(&self.cv, g, w, cx, K::Full, |s| max == 0 || (s.items.len() as u64) < max)?;
                g.items.push_back(item.0);
                g.unfinished += 1;
                self.cv.notify_all();
                ok(&())
            }
            GET => {
                let w: Wait = args(a)?;
                let g = lock(&self.state);
                let mut g = wait_until(&self.cv, g, w, cx, K::Empty, |s| !s.items.is_empty())?;
                let item = g.items.pop_front().expect("waited for an item");
                self.cv.notify_all();
                Ok(item)
            }
            QSIZE => ok(&(lock(&self.state).items.len() as u64)),
            MAXSIZE => ok(&max),
            TASK_DONE if self.joinable => {
                let mut g = lock(&self.state);
                if g.unfinished == 0 {
                    return Err(Fault::new(K::ValueError, "task_done called more times than there were items"));
                }
                g.unfinished -= 1;
                self.cv.notify_all();
                ok(&())
            }
            JOIN if self.joinable => {
                let w: Wait = args(a)?;
                drop(wait_until(&self.cv, lock(&self.state), w, cx, K::Timeout, |s| s.unfinished == 0)?);
                ok(&())
            }
            _ => Err(Fault::new(K::NoSuchMethod, format!("a {} has no method number {m}", self.type_name()))),
        }
    }
}
