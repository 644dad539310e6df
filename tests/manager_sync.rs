//! Managed queues, locks, semaphores, events, conditions and barriers: the manager variants
//! of CPython's `_TestQueue`, `_TestLock`, `_TestSemaphore`, `_TestEvent`, `_TestCondition`
//! and `_TestBarrier`, and `TestSyncManagerTypes` (reference §2, items 209-212), across
//! processes under every start method.

mod common;

use std::time::{Duration, Instant};

use common::{each_method, run_child, wait_until};
use multiproc::manager::{
    BarrierProxy, ConditionProxy, EventProxy, JoinableQueueProxy, LockProxy, Manager, QueueProxy, RLockProxy,
    SemaphoreProxy, ValueProxy,
};

const LIMIT: Duration = Duration::from_secs(90);

fn put_three(q: QueueProxy<u32>) {
    for i in 0..3 {
        q.put(i).unwrap();
    }
}

/// 212, _TestQueue: a bounded queue: qsize, full, order, empty; try and timeout forms with
/// their typed errors; items put by a child arrive in order.
#[test]
fn queue_proxy() {
    let m = Manager::start().unwrap();
    each_method("queue_proxy", LIMIT, |ctx| {
        let q = m.queue_bounded::<u32>(2).unwrap();
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert_eq!(q.qsize().unwrap(), 2);
        assert!(q.is_full().unwrap() && !q.is_empty().unwrap());
        assert!(q.try_put(3).unwrap_err().is_full());
        let t = Instant::now();
        assert!(q.put_timeout(3, Duration::from_millis(100)).unwrap_err().is_timeout());
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert_eq!(q.get().unwrap(), 1);
        assert_eq!(q.get().unwrap(), 2);
        assert!(q.is_empty().unwrap());
        assert!(q.try_get().unwrap_err().is_empty());
        let t = Instant::now();
        assert!(q.get_timeout(Duration::from_millis(100)).unwrap_err().is_timeout());
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert!(q.get_timeout(Duration::ZERO).unwrap_err().is_timeout());

        let big = m.queue::<u32>().unwrap();
        let p = ctx.process(put_three, big.clone());
        p.start().unwrap();
        let got: Vec<u32> = (0..3).map(|_| big.get_timeout(Duration::from_secs(30)).unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2]);
        assert_eq!(p.join().unwrap(), 0);
        // A blocked get is woken by a put from another thread.
        let waiter = std::thread::spawn({
            let big = big.clone();
            move || big.get().unwrap()
        });
        std::thread::sleep(Duration::from_millis(50));
        big.put(42).unwrap();
        assert_eq!(waiter.join().unwrap(), 42);
    });
}

fn consume_all(q: JoinableQueueProxy<u32>) {
    for _ in 0..5 {
        q.get().unwrap();
        q.task_done().unwrap();
    }
}

/// _TestJoinableQueue: join returns once every item was marked done by a consumer process;
/// a task_done too many is a `ValueError`.
#[test]
fn joinable_queue_proxy() {
    let m = Manager::start().unwrap();
    each_method("joinable_queue_proxy", LIMIT, |ctx| {
        let q = m.joinable_queue::<u32>().unwrap();
        for i in 0..5 {
            q.put(i).unwrap();
        }
        assert!(q.join_timeout(Duration::from_millis(50)).unwrap_err().is_timeout());
        let p = ctx.process(consume_all, q.clone());
        p.start().unwrap();
        q.join().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert!(q.task_done().unwrap_err().is_value_error());
    });
}

fn hold_then_exit(args: (LockProxy, EventProxy)) {
    let (lock, taken) = args;
    lock.acquire().unwrap().leak();
    taken.set().unwrap();
    // Exits holding the lock.
}

/// 210, _TestLock: acquire, try_acquire on a held lock, release, release of an unlocked
/// lock; any process may release; a lock left held by a child that exited is released by
/// the server (CPython's stays held until someone releases it).
#[test]
fn lock_proxy() {
    let m = Manager::start().unwrap();
    each_method("lock_proxy", LIMIT, |ctx| {
        let l = m.lock().unwrap();
        let g = l.acquire().unwrap();
        assert!(l.is_locked().unwrap());
        assert!(l.try_acquire().unwrap_err().is_would_block());
        let t = Instant::now();
        assert!(l.acquire_timeout(Duration::from_millis(100)).unwrap_err().is_timeout());
        assert!(t.elapsed() >= Duration::from_millis(100));
        drop(g);
        assert!(!l.is_locked().unwrap());
        assert!(l.release().unwrap_err().is_not_held());

        let taken = m.event().unwrap();
        let p = ctx.process(hold_then_exit, (l.clone(), taken.clone()));
        p.start().unwrap();
        taken.wait_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let _g = l.acquire_timeout(Duration::from_secs(30)).expect("the dead holder's lock was released");
    });
}

fn rlock_in_child(r: RLockProxy) {
    let a = r.acquire().unwrap();
    let b = r.acquire().unwrap();
    drop(b);
    drop(a);
}

/// 210, _TestLock (RLock): the holder may acquire again; another holder is refused;
/// releases by a non-holder fail.
#[test]
fn rlock_proxy() {
    let m = Manager::start().unwrap();
    each_method("rlock_proxy", LIMIT, |ctx| {
        let r = m.rlock().unwrap();
        run_child(&ctx, rlock_in_child, r.clone());
        let a = r.acquire().unwrap();
        let b = r.try_acquire().unwrap();
        let other = std::thread::spawn({
            let r = r.clone();
            move || {
                (
                    r.try_acquire().map(|g| g.leak()).unwrap_err().is_would_block(),
                    r.release().unwrap_err().is_not_held(),
                )
            }
        });
        assert_eq!(other.join().unwrap(), (true, true));
        drop(b);
        assert!(r.is_locked().unwrap());
        drop(a);
        assert!(!r.is_locked().unwrap());
    });
}

fn sem_in_child(s: SemaphoreProxy) {
    s.acquire().unwrap().leak();
}

/// 210, _TestSemaphore: values count down and up; a bounded semaphore refuses a release
/// past its bound; a child's acquire is seen by the parent.
#[test]
fn semaphore_proxies() {
    let m = Manager::start().unwrap();
    each_method("semaphore_proxies", LIMIT, |ctx| {
        let s = m.semaphore(2).unwrap();
        let p = ctx.process(sem_in_child, s.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(s.get_value().unwrap(), 1);
        let g = s.acquire().unwrap();
        assert!(s.try_acquire().unwrap_err().is_would_block());
        assert!(s.is_locked().unwrap());
        drop(g);
        s.release().unwrap();
        s.release().unwrap();
        assert_eq!(s.get_value().unwrap(), 3, "a plain semaphore has no bound");
        let b = m.bounded_semaphore(1).unwrap();
        let g = b.acquire().unwrap();
        assert_eq!(b.get_value().unwrap(), 0);
        drop(g);
        assert!(b.release().unwrap_err().is_value_error());
    });
}

fn set_event_later(e: EventProxy) {
    std::thread::sleep(Duration::from_millis(100));
    e.set().unwrap();
}

fn wait_event_in_child(e: EventProxy) {
    e.wait().unwrap();
    assert!(e.is_set().unwrap());
    e.clear().unwrap();
    assert!(e.wait_timeout(Duration::from_millis(1)).unwrap_err().is_timeout());
}

/// 209, _TestEvent: wait times out after about the timeout while unset; a set by another
/// process wakes the waiter; set and clear are seen across processes.
#[test]
fn event_proxy() {
    let m = Manager::start().unwrap();
    each_method("event_proxy", LIMIT, |ctx| {
        let e = m.event().unwrap();
        assert!(!e.is_set().unwrap());
        let t = Instant::now();
        assert!(e.wait_timeout(Duration::from_millis(100)).unwrap_err().is_timeout());
        assert!(t.elapsed() >= Duration::from_millis(100));
        let p = ctx.process(set_event_later, e.clone());
        p.start().unwrap();
        e.wait_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let p = ctx.process(wait_event_in_child, e.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert!(!e.is_set().unwrap());
    });
}

fn wait_for_flag(args: (ConditionProxy, ValueProxy<bool>, EventProxy)) {
    let (c, flag, waiting) = args;
    let _g = c.acquire().unwrap();
    waiting.set().unwrap();
    c.wait_for(|| flag.get().unwrap()).unwrap();
    assert!(c.is_locked().unwrap(), "wait returns with the lock held");
}

/// 210, _TestCondition: a waiter in another process is woken by notify after the
/// predicate became true; wait without the lock is refused; wait_timeout times out.
#[test]
fn condition_proxy() {
    let m = Manager::start().unwrap();
    each_method("condition_proxy", LIMIT, |ctx| {
        let c = m.condition().unwrap();
        assert!(c.wait().unwrap_err().is_not_held());
        assert!(c.notify(1).unwrap_err().is_not_held());
        {
            let _g = c.acquire().unwrap();
            let t = Instant::now();
            assert!(c.wait_timeout(Duration::from_millis(100)).unwrap_err().is_timeout());
            assert!(t.elapsed() >= Duration::from_millis(100));
            assert!(c.is_locked().unwrap());
        }
        let flag = m.value(false).unwrap();
        let waiting = m.event().unwrap();
        let p = ctx.process(wait_for_flag, (c.clone(), flag.clone(), waiting.clone()));
        p.start().unwrap();
        waiting.wait_timeout(Duration::from_secs(30)).unwrap();
        {
            let _g = c.acquire().unwrap();
            flag.set(true).unwrap();
            c.notify_all().unwrap();
        }
        assert_eq!(p.join().unwrap(), 0);
    });
}

fn wait_at_barrier(b: BarrierProxy) {
    b.wait().unwrap();
}

/// 211, _TestBarrier: parties, n_waiting; a barrier passes when every party waits (two
/// children and the parent); a timeout breaks it; abort breaks it; reset mends it.
#[test]
fn barrier_proxy() {
    let m = Manager::start().unwrap();
    each_method("barrier_proxy", LIMIT, |ctx| {
        let b = m.barrier(3).unwrap();
        assert_eq!(b.parties().unwrap(), 3);
        let ps: Vec<_> = (0..2).map(|_| ctx.process(wait_at_barrier, b.clone())).collect();
        for p in &ps {
            p.start().unwrap();
        }
        wait_until("two waiters", || b.n_waiting().unwrap() == 2);
        let index = b.wait().unwrap();
        assert_eq!(index, 2);
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert!(b.wait_timeout(Duration::from_millis(50)).unwrap_err().is_timeout());
        assert!(b.is_broken().unwrap());
        assert!(b.wait().unwrap_err().is_broken_barrier());
        b.reset().unwrap();
        assert!(!b.is_broken().unwrap());
        b.abort().unwrap();
        assert!(b.wait().unwrap_err().is_broken_barrier());
        assert!(m.barrier(0).unwrap_err().is_value_error());
    });
}
