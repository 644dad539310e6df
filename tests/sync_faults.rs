//! Owner death: a process holding a Lock or an RLock is SIGKILLed; the next acquirer learns
//! it within a second instead of blocking forever (CPython blocks forever).

mod common;

use std::time::{Duration, Instant};

use common::{each_method, wait_until};
use multiproc::sync::{AcquireTimeoutError, Lock, RLock, TryAcquireError};

const LIMIT: Duration = Duration::from_secs(60);

fn take_and_hang(lock: Lock) {
    lock.acquire().unwrap().leak();
    std::thread::sleep(Duration::from_secs(600));
}

fn take_rlock_and_hang(r: RLock) {
    r.acquire().unwrap().leak();
    r.acquire().unwrap().leak();
    std::thread::sleep(Duration::from_secs(600));
}

/// A child holds the Lock and is SIGKILLed while the parent is blocked in `acquire`: the
/// parent gets `OwnerDied` within a second of the kill, holding the lock; the flag stays until
/// `make_consistent`.
#[test]
fn lock_owner_killed_while_parent_waits() {
    each_method("lock_owner_killed_while_parent_waits", LIMIT, |ctx| {
        let lock = Lock::new().unwrap();
        let p = ctx.process(take_and_hang, lock.clone());
        p.start().unwrap();
        wait_until("the child to hold the lock", || lock.is_locked());
        let killed_at = std::thread::scope(|s| {
            let killer = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                let t = Instant::now();
                p.kill().unwrap();
                t
            });
            let err = lock.acquire().expect_err("the owner died");
            let got = Instant::now();
            let killed_at = killer.join().unwrap();
            assert!(got >= killed_at);
            assert!(got - killed_at < Duration::from_secs(1), "learned of the death after {:?}", got - killed_at);
            let g = err.into_guard();
            assert!(lock.is_mine());
            drop(g); // released without make_consistent: still marked
            killed_at
        });
        let _ = killed_at;
        assert_eq!(p.join().unwrap(), -9);
        // The next acquirer is told too, and repairs.
        let died = lock.acquire().expect_err("still inconsistent");
        died.guard().make_consistent();
        drop(died);
        let g = lock.acquire().expect("consistent again");
        drop(g);
    });
}

/// The owner is killed before anyone waits: `try_acquire` and `acquire_timeout` report it at
/// once.
#[test]
fn lock_owner_killed_before_acquire() {
    each_method("lock_owner_killed_before_acquire", LIMIT, |ctx| {
        let lock = Lock::new().unwrap();
        let p = ctx.process(take_and_hang, lock.clone());
        p.start().unwrap();
        wait_until("the child to hold the lock", || lock.is_locked());
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        match lock.try_acquire() {
            Err(TryAcquireError::OwnerDied(d)) => d.into_guard().make_consistent(),
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        assert!(!lock.is_locked());
        // Kill another owner; a timed acquire notices well within its timeout.
        let p = ctx.process(take_and_hang, lock.clone());
        p.start().unwrap();
        wait_until("the child to hold the lock", || lock.is_locked());
        p.kill().unwrap();
        let t = Instant::now();
        match lock.acquire_timeout(Duration::from_secs(30)) {
            Err(AcquireTimeoutError::OwnerDied(d)) => d.into_guard().make_consistent(),
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(5));
        p.join().unwrap();
    });
}

/// The same for an RLock held twice by the killed child: the parent owns it with count 1.
#[test]
fn rlock_owner_killed_while_parent_waits() {
    each_method("rlock_owner_killed_while_parent_waits", LIMIT, |ctx| {
        let r = RLock::new().unwrap();
        let p = ctx.process(take_rlock_and_hang, r.clone());
        p.start().unwrap();
        wait_until("the child to hold the rlock", || r.is_locked() && r.count() == 2);
        std::thread::scope(|s| {
            let killer = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                let t = Instant::now();
                p.kill().unwrap();
                t
            });
            let err = r.acquire().expect_err("the owner died");
            let got = Instant::now();
            let killed_at = killer.join().unwrap();
            assert!(got - killed_at < Duration::from_secs(1), "learned of the death after {:?}", got - killed_at);
            let g = err.into_guard();
            g.make_consistent();
            assert!(r.is_mine());
            assert_eq!(r.count(), 1);
            drop(g);
        });
        assert!(!r.is_locked());
        assert_eq!(p.join().unwrap(), -9);
        let _g = r.acquire().expect("consistent");
    });
}

fn notify_then_hang(c: multiproc::sync::Condition) {
    c.acquire().unwrap().leak();
    c.notify_all().unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

/// A Condition's lock: the parent waits, a child takes the lock, notifies and is killed while
/// holding it. The parent's `wait` returns `ConditionError::OwnerDied` with the lock held.
#[test]
fn condition_lock_owner_killed() {
    use multiproc::sync::{Condition, ConditionError};
    each_method("condition_lock_owner_killed", LIMIT, |ctx| {
        let c = Condition::new().unwrap();
        let g = c.acquire().unwrap();
        let p = ctx.process(notify_then_hang, c.clone());
        p.start().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                wait_until("the child to hold the lock", || c.get_lock().is_locked() && !c.get_lock().is_mine());
                std::thread::sleep(Duration::from_millis(100));
                p.kill().unwrap();
            });
            let t = Instant::now();
            assert_eq!(c.wait(), Err(ConditionError::OwnerDied));
            assert!(t.elapsed() < Duration::from_secs(20));
        });
        assert!(c.get_lock().is_mine());
        g.make_consistent();
        drop(g);
        assert!(!c.get_lock().is_locked());
        assert_eq!(p.join().unwrap(), -9);
    });
}
