//! The behaviours of CPython's `_TestLock`, `_TestSemaphore`, `_TestCondition`, `_TestEvent`
//! and `_TestBarrier` (reference §2, items 46-76), across processes under every start method.

mod common;

use std::time::{Duration, Instant};

use common::{each_method, wait_until};
use multiproc::sync::{AcquireTimeoutError, Lock, RLock, ReleaseError, TryAcquireError};

const LIMIT: Duration = Duration::from_secs(60);

// ---- _TestLock (46-51) ----

/// 46: acquire, acquire(False) on a held lock, release, release of an unlocked lock; locked().
#[test]
fn lock_basics() {
    let lock = Lock::new().unwrap();
    assert!(!lock.is_locked());
    let g = lock.acquire().unwrap();
    assert!(lock.is_locked());
    assert!(matches!(lock.try_acquire(), Err(TryAcquireError::WouldBlock)));
    drop(g);
    assert!(!lock.is_locked());
    assert_eq!(lock.release(), Err(ReleaseError::NotHeld));
    lock.acquire().unwrap().leak();
    assert_eq!(lock.release(), Ok(()));
    assert_eq!(lock.release(), Err(ReleaseError::NotHeld));
    // A timeout on a held lock fails after about the timeout.
    let _g = lock.acquire().unwrap();
    let t = Instant::now();
    assert!(matches!(lock.acquire_timeout(Duration::from_millis(100)), Err(AcquireTimeoutError::Timeout)));
    assert!(t.elapsed() >= Duration::from_millis(100));
}

fn hold_lock_then_release((lock, done): (Lock, Lock)) {
    let g = lock.acquire().unwrap();
    assert!(lock.is_locked() && lock.is_mine(), "locked() is true in the child too");
    // Hold until the parent releases `done`... which it holds until it has seen us.
    let _d = done.acquire().unwrap();
    drop(g);
}

/// 47: when a child holds the lock, `locked()` is true in the parent too; a lock can be
/// released by a process other than the one that acquired it.
#[test]
fn lock_locked_across_processes() {
    each_method("lock_locked_across_processes", LIMIT, |ctx| {
        let lock = Lock::new().unwrap();
        let done = Lock::new().unwrap();
        let d = done.acquire().unwrap();
        let p = ctx.process(hold_lock_then_release, (lock.clone(), done.clone()));
        p.start().unwrap();
        wait_until("the child to take the lock", || lock.is_locked());
        assert_eq!(lock.owner_pid(), p.pid());
        assert!(!lock.is_mine());
        assert!(lock.try_acquire().unwrap_err().is_would_block());
        drop(d);
        assert_eq!(p.join().unwrap(), 0);
        assert!(!lock.is_locked());
    });
}

fn release_someone_elses(lock: Lock) {
    lock.release().unwrap();
}

/// 46 (any process may release a Lock): the parent acquires, a child releases.
#[test]
fn lock_released_by_another_process() {
    each_method("lock_released_by_another_process", LIMIT, |ctx| {
        let lock = Lock::new().unwrap();
        lock.acquire().unwrap().leak();
        let p = ctx.process(release_someone_elses, lock.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert!(!lock.is_locked());
        let _g = lock.try_acquire().unwrap();
    });
}

/// 49: an RLock acquired three times needs three releases; a fourth fails; locked() until
/// the last release.
#[test]
fn rlock_recursion() {
    let r = RLock::new().unwrap();
    for _ in 0..3 {
        r.acquire().unwrap().leak();
    }
    assert_eq!(r.count(), 3);
    for _ in 0..3 {
        assert!(r.is_locked());
        r.release().unwrap();
    }
    assert!(!r.is_locked());
    assert_eq!(r.release(), Err(ReleaseError::NotOwner));
    // Guards nest too.
    let a = r.acquire().unwrap();
    let b = r.try_acquire().unwrap();
    assert_eq!(r.count(), 2);
    drop(b);
    assert!(r.is_locked());
    drop(a);
    assert!(!r.is_locked());
}

fn rlock_child_holds((r, done): (RLock, Lock)) {
    let _a = r.acquire().unwrap();
    let _b = r.acquire().unwrap();
    let _d = done.acquire().unwrap();
}

/// 49/50: an RLock held by another process can't be released or entered here.
#[test]
fn rlock_owned_by_another_process() {
    each_method("rlock_owned_by_another_process", LIMIT, |ctx| {
        let r = RLock::new().unwrap();
        let done = Lock::new().unwrap();
        let d = done.acquire().unwrap();
        let p = ctx.process(rlock_child_holds, (r.clone(), done.clone()));
        p.start().unwrap();
        wait_until("the child to take the rlock", || r.is_locked());
        assert!(!r.is_mine());
        assert_eq!(r.release(), Err(ReleaseError::NotOwner));
        assert!(r.try_acquire().unwrap_err().is_would_block());
        assert_eq!(format!("{r:?}"), format!("RLock(pid {}, nonzero)", p.pid().unwrap()));
        drop(d);
        assert_eq!(p.join().unwrap(), 0);
        let _g = r.acquire_timeout(Duration::from_secs(10)).unwrap();
    });
}

/// 48/50/51: Debug output names the owner, as Python's repr does.
#[test]
fn lock_debug_names_owner() {
    let lock = Lock::new().unwrap();
    assert_eq!(format!("{lock:?}"), "Lock(owner=None)");
    let g = lock.acquire().unwrap();
    assert_eq!(format!("{lock:?}"), "Lock(owner=this thread)");
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(format!("{lock:?}"), "Lock(owner=other thread)"));
    });
    drop(g);
    let r = RLock::new().unwrap();
    assert_eq!(format!("{r:?}"), "RLock(None, 0)");
    let _a = r.acquire().unwrap();
    let _b = r.acquire().unwrap();
    assert_eq!(format!("{r:?}"), "RLock(this thread, 2)");
}

// ---- stress: N processes x M increments under the Lock ----

fn increment_file((lock, path, m): (Lock, String, u32)) {
    for _ in 0..m {
        let _g = lock.acquire().unwrap();
        // A deliberately non-atomic read-modify-write: only the lock keeps it exact.
        let n: u64 = std::fs::read_to_string(&path).unwrap().trim().parse().unwrap();
        std::thread::yield_now();
        std::fs::write(&path, (n + 1).to_string()).unwrap();
    }
}

#[test]
fn stress_counter_under_lock() {
    const N: u32 = 4;
    const M: u32 = 150;
    each_method("stress_counter_under_lock", LIMIT, |ctx| {
        let dir = std::env::temp_dir().join(common::unique_name("multiproc-sync-stress"));
        std::fs::write(&dir, "0").unwrap();
        let path = dir.to_string_lossy().into_owned();
        let lock = Lock::new().unwrap();
        let ps: Vec<_> = (0..N).map(|_| ctx.process(increment_file, (lock.clone(), path.clone(), M))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        let n: u64 = std::fs::read_to_string(&path).unwrap().trim().parse().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(n, (N * M) as u64);
    });
}

fn increment_shared((lock, counter, m): (Lock, multiproc::RawValue<u64>, u32)) {
    for _ in 0..m {
        let _g = lock.acquire().unwrap();
        // Non-atomic load and store of a shared u64: only the lock keeps the count exact.
        let n = counter.get();
        if n % 64 == 0 {
            std::thread::yield_now();
        }
        counter.set(n + 1);
    }
}

/// The acceptance stress test: N processes x M increments of a counter in shared memory
/// (`RawValue<u64>`, no lock of its own) under one Lock end exactly at N*M.
#[test]
fn stress_shared_counter_under_lock() {
    const N: u32 = 4;
    const M: u32 = 5000;
    each_method("stress_shared_counter_under_lock", LIMIT, |ctx| {
        let lock = Lock::new().unwrap();
        let counter = multiproc::RawValue::new(0u64).unwrap();
        let ps: Vec<_> = (0..N).map(|_| ctx.process(increment_shared, (lock.clone(), counter.clone(), M))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(counter.get(), (N * M) as u64);
        assert!(!lock.is_locked());
    });
}

// ---- _TestSemaphore (52-54) ----

use multiproc::sync::{
    Barrier, BarrierError, BoundedSemaphore, Condition, ConditionError, ConditionTimeoutError, Event, Semaphore,
    Timeout, WouldBlock,
};

/// 52: Semaphore(2): two acquires, a failing try, releases back to 2 and beyond.
#[test]
fn semaphore_counts() {
    let s = Semaphore::new(2).unwrap();
    s.acquire().leak();
    assert_eq!(s.get_value(), 1);
    s.acquire().leak();
    assert_eq!(s.get_value(), 0);
    assert!(s.is_locked());
    assert_eq!(s.try_acquire().unwrap_err(), WouldBlock);
    assert_eq!(s.get_value(), 0);
    for v in 1..=4 {
        s.release().unwrap();
        assert_eq!(s.get_value(), v);
    }
}

/// 53: BoundedSemaphore(2) follows the same sequence up to 2, then refuses.
#[test]
fn bounded_semaphore_refuses_over_release() {
    let s = BoundedSemaphore::new(2).unwrap();
    s.acquire().leak();
    s.acquire().leak();
    assert_eq!(s.try_acquire().unwrap_err(), WouldBlock);
    s.release().unwrap();
    s.release().unwrap();
    assert_eq!(s.get_value(), 2);
    assert_eq!(s.release(), Err(ReleaseError::TooManyReleases));
    assert_eq!(s.get_value(), 2);
}

/// 54: timeouts on Semaphore(0): try fails at once, a timed acquire after about t.
#[test]
fn semaphore_timeouts() {
    let s = Semaphore::new(0).unwrap();
    let t = Instant::now();
    assert_eq!(s.try_acquire().unwrap_err(), WouldBlock);
    assert_eq!(s.acquire_timeout(Duration::ZERO).unwrap_err(), Timeout);
    assert!(t.elapsed() < Duration::from_secs(5)); // at once, not after a timeout
    let t = Instant::now();
    assert_eq!(s.acquire_timeout(Duration::from_millis(100)).unwrap_err(), Timeout);
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert_eq!(s.get_value(), 0);
}

fn take_permits((s, n, out): (Semaphore, u32, Semaphore)) {
    for _ in 0..n {
        s.acquire().leak();
        out.release().unwrap();
    }
}

/// Permits released by the parent wake acquirers sleeping in two children.
#[test]
fn semaphore_across_processes() {
    each_method("semaphore_across_processes", LIMIT, |ctx| {
        let s = Semaphore::new(0).unwrap();
        let taken = Semaphore::new(0).unwrap();
        let ps: Vec<_> = (0..2).map(|_| ctx.process(take_permits, (s.clone(), 3, taken.clone()))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(taken.get_value(), 0);
        for _ in 0..6 {
            s.release().unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(taken.get_value(), 6);
        assert_eq!(s.get_value(), 0);
    });
}

// ---- _TestEvent (63-66) ----

fn set_after_delay(e: Event) {
    std::thread::sleep(Duration::from_millis(100));
    e.set();
}

/// 63-65: unset at first, timed waits fail after t, set makes waits return at once, a child
/// that sets after a delay wakes `wait()`.
#[test]
fn event_behaviour() {
    each_method("event_behaviour", LIMIT, |ctx| {
        let e = Event::new().unwrap();
        assert!(!e.is_set());
        assert_eq!(e.wait_timeout(Duration::ZERO), Err(Timeout));
        let t = Instant::now();
        assert_eq!(e.wait_timeout(Duration::from_millis(100)), Err(Timeout));
        assert!(t.elapsed() >= Duration::from_millis(100));
        e.set();
        assert!(e.is_set());
        e.wait();
        assert_eq!(e.wait_timeout(Duration::from_millis(100)), Ok(()));
        e.clear();
        assert!(!e.is_set());
        let p = ctx.process(set_after_delay, e.clone());
        let t = Instant::now();
        p.start().unwrap();
        e.wait();
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert!(e.is_set());
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(format!("{e:?}"), "Event(set)");
    });
}

fn event_waiter((e, woke): (Event, Semaphore)) {
    e.wait();
    woke.release().unwrap();
}

/// `set` wakes every waiting process.
#[test]
fn event_wakes_all() {
    each_method("event_wakes_all", LIMIT, |ctx| {
        let e = Event::new().unwrap();
        let woke = Semaphore::new(0).unwrap();
        let ps: Vec<_> = (0..3).map(|_| ctx.process(event_waiter, (e.clone(), woke.clone()))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(woke.get_value(), 0);
        e.set();
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(woke.get_value(), 3);
    });
}

// ---- _TestCondition (55-62) ----

/// A waiter: registers `sleeping`, waits (with an optional timeout in ms), records `woken`.
fn cond_waiter((c, sleeping, woken, timeout_ms): (Condition, Semaphore, Semaphore, u64)) {
    let _g = c.acquire().unwrap();
    sleeping.release().unwrap();
    let notified = if timeout_ms == 0 {
        c.wait().unwrap();
        true
    } else {
        match c.wait_timeout(Duration::from_millis(timeout_ms)) {
            Ok(()) => true,
            Err(ConditionTimeoutError::Timeout) => false,
            Err(e) => panic!("{e}"),
        }
    };
    if notified {
        woken.release().unwrap();
    }
}

fn cond_waiter_thread(c: Condition, sleeping: Semaphore, woken: Semaphore) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || cond_waiter((c, sleeping, woken, 0)))
}

fn wait_value(what: &str, s: &Semaphore, v: u32) {
    wait_until(what, || s.get_value() >= v);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(s.get_value(), v, "{what}");
}

/// 55: with one process and one thread waiting, notify() wakes exactly one, a second notify()
/// the other.
#[test]
fn condition_notify_one() {
    each_method("condition_notify_one", LIMIT, |ctx| {
        let c = Condition::new().unwrap();
        let (sleeping, woken) = (Semaphore::new(0).unwrap(), Semaphore::new(0).unwrap());
        let p = ctx.process(cond_waiter, (c.clone(), sleeping.clone(), woken.clone(), 0));
        p.start().unwrap();
        let t = cond_waiter_thread(c.clone(), sleeping.clone(), woken.clone());
        wait_until("two sleepers", || sleeping.get_value() == 2 && c.n_waiting() == 2);
        assert_eq!(woken.get_value(), 0);
        {
            let _g = c.acquire().unwrap();
            c.notify(1).unwrap();
        }
        wait_value("one woken", &woken, 1);
        {
            let _g = c.acquire().unwrap();
            c.notify(1).unwrap();
        }
        wait_value("both woken", &woken, 2);
        assert_eq!(p.join().unwrap(), 0);
        t.join().unwrap();
    });
}

/// 56: notify_all() wakes 3 processes and 3 threads; waiters that timed out before leave the
/// state consistent (no registered waiter left, a later notify wakes nobody spuriously).
#[test]
fn condition_notify_all_after_timeouts() {
    each_method("condition_notify_all_after_timeouts", LIMIT, |ctx| {
        let c = Condition::new().unwrap();
        let (sleeping, woken) = (Semaphore::new(0).unwrap(), Semaphore::new(0).unwrap());
        // Three processes and three threads that time out.
        let ps: Vec<_> =
            (0..3).map(|_| ctx.process(cond_waiter, (c.clone(), sleeping.clone(), woken.clone(), 50))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        let ts: Vec<_> = (0..3)
            .map(|_| {
                let (c, s, w) = (c.clone(), sleeping.clone(), woken.clone());
                std::thread::spawn(move || cond_waiter((c, s, w, 50)))
            })
            .collect();
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(woken.get_value(), 0);
        assert_eq!(c.n_waiting(), 0);
        // Now six waiters without timeout, woken by one notify_all.
        let sleeping = Semaphore::new(0).unwrap();
        let ps: Vec<_> =
            (0..3).map(|_| ctx.process(cond_waiter, (c.clone(), sleeping.clone(), woken.clone(), 0))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        let ts: Vec<_> = (0..3).map(|_| cond_waiter_thread(c.clone(), sleeping.clone(), woken.clone())).collect();
        wait_until("six sleepers", || c.n_waiting() == 6);
        {
            let _g = c.acquire().unwrap();
            c.notify_all().unwrap();
        }
        wait_value("six woken", &woken, 6);
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(c.n_waiting(), 0);
    });
}

/// 57: notify(2) wakes exactly two, notify(4) the remaining four, notify(3) with nobody
/// waiting changes nothing. Also: waiters that time out while others are woken.
#[test]
fn condition_notify_n() {
    each_method("condition_notify_n", LIMIT, |ctx| {
        let c = Condition::new().unwrap();
        let (sleeping, woken) = (Semaphore::new(0).unwrap(), Semaphore::new(0).unwrap());
        let ps: Vec<_> =
            (0..3).map(|_| ctx.process(cond_waiter, (c.clone(), sleeping.clone(), woken.clone(), 0))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        let ts: Vec<_> = (0..3).map(|_| cond_waiter_thread(c.clone(), sleeping.clone(), woken.clone())).collect();
        // Two more that time out while the others are being woken.
        let (timed_sleeping, timed_woken) = (Semaphore::new(0).unwrap(), Semaphore::new(0).unwrap());
        let timed: Vec<_> = (0..2)
            .map(|_| ctx.process(cond_waiter, (c.clone(), timed_sleeping.clone(), timed_woken.clone(), 300)))
            .collect();
        wait_until("six sleepers", || c.n_waiting() == 6);
        for p in &timed {
            p.start().unwrap();
        }
        wait_until("eight sleepers", || c.n_waiting() == 8);
        {
            let _g = c.acquire().unwrap();
            c.notify(2).unwrap();
        }
        wait_until("two woken", || woken.get_value() + timed_woken.get_value() == 2);
        for p in &timed {
            assert_eq!(p.join().unwrap(), 0);
        }
        // The timed waiters either got one of the two notifications or timed out cleanly.
        let woken_total = woken.get_value() + timed_woken.get_value();
        assert_eq!(woken_total, 2);
        assert_eq!(c.n_waiting(), 6 - woken.get_value());
        {
            let _g = c.acquire().unwrap();
            c.notify(4).unwrap();
        }
        wait_until("all six woken", || woken.get_value() == 6);
        {
            let _g = c.acquire().unwrap();
            c.notify(3).unwrap();
        }
        assert_eq!(c.n_waiting(), 0);
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        for t in ts {
            t.join().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(woken.get_value(), 6);
    });
}

/// 58, 61, 62: wait(t) with no notifier returns false after about t; wait(0) returns false;
/// wait and notify without the lock are errors.
#[test]
fn condition_timeouts_and_ownership() {
    let c = Condition::new().unwrap();
    assert_eq!(c.wait(), Err(ConditionError::NotOwner));
    assert_eq!(c.notify(1), Err(ConditionError::NotOwner));
    assert_eq!(c.notify_all(), Err(ConditionError::NotOwner));
    let _g = c.acquire().unwrap();
    assert_eq!(c.wait_timeout(Duration::ZERO), Err(ConditionTimeoutError::Timeout));
    let t = Instant::now();
    assert_eq!(c.wait_timeout(Duration::from_millis(100)), Err(ConditionTimeoutError::Timeout));
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(c.get_lock().is_mine(), "the lock is held again after a timed-out wait");
    // Over a plain Lock too.
    let c = Condition::with_lock(Lock::new().unwrap()).unwrap();
    assert_eq!(c.wait(), Err(ConditionError::NotOwner));
    let _g = c.acquire().unwrap();
    assert_eq!(c.wait_timeout(Duration::from_millis(10)), Err(ConditionTimeoutError::Timeout));
    assert!(c.get_lock().is_mine());
}

fn count_up((c, counter): (Condition<Lock>, Semaphore)) {
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(10));
        let _g = c.acquire().unwrap();
        counter.release().unwrap();
        c.notify(1).unwrap();
    }
}

/// 59, 60: wait_for(pred) returns once a child has made the predicate true (4 increments, each
/// followed by notify); wait_for with a timeout returns false after at least the timeout.
#[test]
fn condition_wait_for() {
    each_method("condition_wait_for", LIMIT, |ctx| {
        let c = Condition::with_lock(Lock::new().unwrap()).unwrap();
        let counter = Semaphore::new(0).unwrap();
        let g = c.acquire().unwrap();
        let p = ctx.process(count_up, (c.clone(), counter.clone()));
        p.start().unwrap();
        c.wait_for(|| counter.get_value() == 4).unwrap();
        assert_eq!(counter.get_value(), 4);
        let t = Instant::now();
        assert_eq!(
            c.wait_for_timeout(Duration::from_millis(100), || counter.get_value() == 5),
            Err(ConditionTimeoutError::Timeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
        drop(g);
        assert_eq!(p.join().unwrap(), 0);
    });
}

fn notify_after_delay(c: Condition) {
    std::thread::sleep(Duration::from_millis(100));
    let _g = c.acquire().unwrap();
    c.notify_all().unwrap();
}

/// 61: wait(60 s) returns true when a child notifies; the RLock is restored to its depth.
#[test]
fn condition_wait_notified_by_child() {
    each_method("condition_wait_notified_by_child", LIMIT, |ctx| {
        let c = Condition::new().unwrap();
        let _a = c.acquire().unwrap();
        let _b = c.acquire().unwrap();
        let p = ctx.process(notify_after_delay, c.clone());
        p.start().unwrap();
        assert_eq!(c.wait_timeout(Duration::from_secs(60)), Ok(()));
        assert_eq!(c.get_lock().count(), 2);
        assert_eq!(p.join().unwrap(), 0);
    });
}

// ---- _TestBarrier (67-76) ----

const PARTIES: u32 = 5;

fn barrier_passes((b, n, out): (Barrier, u32, Semaphore)) {
    for _ in 0..n {
        let i = b.wait().unwrap();
        assert!(i < b.parties());
        if i == 0 {
            out.release().unwrap();
        }
    }
}

fn run_parties(ctx: &multiproc::Context, b: &Barrier, n: u32, zeros: &Semaphore) {
    let ps: Vec<_> = (0..PARTIES - 1).map(|_| ctx.process(barrier_passes, (b.clone(), n, zeros.clone()))).collect();
    for p in &ps {
        p.start().unwrap();
    }
    barrier_passes((b.clone(), n, zeros.clone()));
    for p in &ps {
        assert_eq!(p.join().unwrap(), 0);
    }
}

/// 67, 68: parties == 5; 1 and 10 lockstep passes; exactly one zero index per pass;
/// afterwards n_waiting == 0 and not broken.
#[test]
fn barrier_passes_in_lockstep() {
    each_method("barrier_passes_in_lockstep", LIMIT, |ctx| {
        let b = Barrier::new(PARTIES).unwrap();
        assert_eq!(b.parties(), PARTIES);
        for n in [1, 10] {
            let zeros = Semaphore::new(0).unwrap();
            run_parties(&ctx, &b, n, &zeros);
            assert_eq!(zeros.get_value(), n, "exactly one party gets index 0 per pass");
            assert_eq!(b.n_waiting(), 0);
            assert!(!b.is_broken());
        }
    });
}

static ACTION_RUNS: std::sync::Mutex<Option<Semaphore>> = std::sync::Mutex::new(None);

fn count_action() {
    // The action runs in whichever process completes the generation; each process's
    // `barrier_with_action` installs the counter before waiting.
    ACTION_RUNS.lock().unwrap().as_ref().expect("counter installed").release().unwrap();
}

fn barrier_with_action((b, runs, n): (Barrier, Semaphore, u32)) {
    *ACTION_RUNS.lock().unwrap() = Some(runs);
    for _ in 0..n {
        b.wait().unwrap();
    }
}

/// 69: the action runs exactly once per generation.
#[test]
fn barrier_action_once_per_generation() {
    each_method("barrier_action_once_per_generation", LIMIT, |ctx| {
        let runs = Semaphore::new(0).unwrap();
        let b = Barrier::builder(3).action(count_action).build().unwrap();
        let ps: Vec<_> = (0..2).map(|_| ctx.process(barrier_with_action, (b.clone(), runs.clone(), 4))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        barrier_with_action((b.clone(), runs.clone(), 4));
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(runs.get_value(), 4);
    });
}

fn expect_broken((b, got_broken): (Barrier, Semaphore)) {
    if b.wait() == Err(BarrierError::Broken) {
        got_broken.release().unwrap();
    }
}

/// 70: after abort() the waiting parties get `BarrierError::Broken` and `is_broken()` is true; 72: a reset
/// after the abort makes the barrier reusable.
#[test]
fn barrier_abort_then_reset() {
    each_method("barrier_abort_then_reset", LIMIT, |ctx| {
        let b = Barrier::new(3).unwrap();
        let got = Semaphore::new(0).unwrap();
        let ps: Vec<_> = (0..2).map(|_| ctx.process(expect_broken, (b.clone(), got.clone()))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        wait_until("two waiters", || b.n_waiting() == 2);
        b.abort();
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(got.get_value(), 2);
        assert!(b.is_broken());
        assert_eq!(b.wait(), Err(BarrierError::Broken));
        b.reset();
        assert!(!b.is_broken());
        let zeros = Semaphore::new(0).unwrap();
        let ps: Vec<_> = (0..2).map(|_| ctx.process(barrier_passes, (b.clone(), 2, zeros.clone()))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        barrier_passes((b.clone(), 2, zeros.clone()));
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(zeros.get_value(), 2);
    });
}

/// 71: reset() while N-1 parties wait: each gets `BarrierError::Broken`; afterwards all N pass.
#[test]
fn barrier_reset_while_waiting() {
    each_method("barrier_reset_while_waiting", LIMIT, |ctx| {
        let b = Barrier::new(3).unwrap();
        let got = Semaphore::new(0).unwrap();
        let ps: Vec<_> = (0..2).map(|_| ctx.process(expect_broken, (b.clone(), got.clone()))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        wait_until("two waiters", || b.n_waiting() == 2);
        b.reset();
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(got.get_value(), 2);
        assert!(!b.is_broken());
        let zeros = Semaphore::new(0).unwrap();
        let ps: Vec<_> = (0..2).map(|_| ctx.process(barrier_passes, (b.clone(), 3, zeros.clone()))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        barrier_passes((b.clone(), 3, zeros.clone()));
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(zeros.get_value(), 3);
    });
}

fn late_party((b, late, got): (Barrier, bool, Semaphore)) {
    if late {
        std::thread::sleep(Duration::from_millis(600));
    }
    if b.wait_timeout(Duration::from_millis(300)).is_err() {
        got.release().unwrap();
    }
}

fn default_timeout_party((b, got): (Barrier, Semaphore)) {
    if b.wait().is_err() {
        got.release().unwrap();
    }
}

/// 73: one party is late: every party (all N) gets an error from a timed wait (Python's
/// `BrokenBarrierError`: `Timeout` or `Broken` here).
/// 74: the constructor's timeout applies to wait() without argument.
#[test]
fn barrier_timeouts() {
    each_method("barrier_timeouts", LIMIT, |ctx| {
        let b = Barrier::new(3).unwrap();
        let got = Semaphore::new(0).unwrap();
        let ps: Vec<_> =
            [false, false, true].iter().map(|&late| ctx.process(late_party, (b.clone(), late, got.clone()))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(got.get_value(), 3);
        assert!(b.is_broken());

        let b = Barrier::builder(3).timeout(Duration::from_millis(200)).build().unwrap();
        assert_eq!(b.timeout(), Some(Duration::from_millis(200)));
        let got = Semaphore::new(0).unwrap();
        let ps: Vec<_> = (0..2).map(|_| ctx.process(default_timeout_party, (b.clone(), got.clone()))).collect();
        let t = Instant::now();
        for p in &ps {
            p.start().unwrap();
        }
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert_eq!(got.get_value(), 2);
        assert!(b.is_broken());
    });
}

/// 75: Barrier(1).wait() returns at once, repeatedly; parties 0 is rejected.
#[test]
fn barrier_of_one() {
    let b = Barrier::new(1).unwrap();
    for _ in 0..5 {
        assert_eq!(b.wait(), Ok(0));
    }
    assert!(Barrier::new(0).is_err());
}

fn panicking_action() {
    panic!("action failed");
}

fn wait_with_panicking_action(b: Barrier) {
    let _ = b.wait();
}

/// A panicking action breaks the barrier, and the panic continues in the party that ran it
/// (a child here: a panic inside the test process would race with Fork children, see the note).
#[test]
fn barrier_action_panic_breaks_it() {
    each_method("barrier_action_panic_breaks_it", LIMIT, |ctx| {
        let b = Barrier::builder(1).action(panicking_action).build().unwrap();
        let p = ctx.process(wait_with_panicking_action, b.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 1, "the action's panic reaches the party that ran it");
        assert_eq!(p.failure().unwrap().message, "action failed");
        assert!(b.is_broken());
        assert_eq!(b.wait(), Err(BarrierError::Broken));
    });
}

fn grouped_party((b, lock, log, id, passes): (Barrier, Lock, String, u32, u32)) {
    use std::io::Write;
    for pass in 0..passes {
        {
            let _g = lock.acquire().unwrap();
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            writeln!(f, "{pass} {id}").unwrap();
        }
        b.wait().unwrap();
    }
}

/// 76: many passes with 5 processes and a Lock: the records arrive grouped strictly by pass.
#[test]
fn barrier_groups_by_pass() {
    const PASSES: u32 = 100;
    each_method("barrier_groups_by_pass", LIMIT, |ctx| {
        let b = Barrier::new(PARTIES).unwrap();
        let lock = Lock::new().unwrap();
        let log = std::env::temp_dir().join(common::unique_name("multiproc-barrier-log"));
        std::fs::write(&log, "").unwrap();
        let log = log.to_string_lossy().into_owned();
        let ps: Vec<_> = (1..PARTIES)
            .map(|id| ctx.process(grouped_party, (b.clone(), lock.clone(), log.clone(), id, PASSES)))
            .collect();
        for p in &ps {
            p.start().unwrap();
        }
        grouped_party((b.clone(), lock.clone(), log.clone(), 0, PASSES));
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_file(&log).unwrap();
        let passes: Vec<u32> = text.lines().map(|l| l.split(' ').next().unwrap().parse().unwrap()).collect();
        assert_eq!(passes.len() as u32, PASSES * PARTIES);
        for (i, chunk) in passes.chunks(PARTIES as usize).enumerate() {
            assert!(chunk.iter().all(|&p| p == i as u32), "pass {i} interleaved: {chunk:?}");
        }
    });
}

// ---- every _timeout with Duration::MAX (waits forever, never panics) and Duration::ZERO
// (only checks) ----

/// At most this long for a call that must not wait ("at once", on a busy machine).
const AT_ONCE: Duration = Duration::from_secs(5);
/// How long another thread waits before it completes the call under test.
const LATER: Duration = Duration::from_millis(50);

/// Runs `f` on another thread after [`LATER`], while `body` runs here.
fn later<R>(f: impl FnOnce() + Send, body: impl FnOnce() -> R) -> R {
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(LATER);
            f();
        });
        body()
    })
}

#[test]
fn lock_acquire_timeout_max_and_zero() {
    let _w = common::Watchdog::new("lock_acquire_timeout_max_and_zero", LIMIT);
    let lock = Lock::new().unwrap();
    drop(lock.acquire_timeout(Duration::MAX).unwrap());
    drop(lock.acquire_timeout(Duration::ZERO).unwrap()); // free: zero takes it
    lock.acquire().unwrap().leak();
    let t = Instant::now();
    assert!(matches!(lock.acquire_timeout(Duration::ZERO), Err(AcquireTimeoutError::Timeout)));
    assert!(t.elapsed() < AT_ONCE);
    // Held: MAX sleeps without a deadline until another thread releases it.
    let t = Instant::now();
    let g = later(|| lock.release().unwrap(), || lock.acquire_timeout(Duration::MAX).unwrap());
    assert!(t.elapsed() >= LATER);
    assert!(lock.is_mine());
    drop(g);
    assert!(!lock.is_locked());
}

#[test]
fn rlock_acquire_timeout_max_and_zero() {
    let _w = common::Watchdog::new("rlock_acquire_timeout_max_and_zero", LIMIT);
    let r = RLock::new().unwrap();
    let a = r.acquire_timeout(Duration::MAX).unwrap();
    let b = r.acquire_timeout(Duration::ZERO).unwrap(); // owned here: re-entered at once
    assert_eq!(r.count(), 2);
    drop((b, a));
    // Held by another thread: ZERO only checks, MAX waits until that thread lets go.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = r.acquire().unwrap();
            held_tx.send(()).unwrap();
            std::thread::sleep(LATER);
        });
        held_rx.recv().unwrap();
        let t = Instant::now();
        assert!(r.acquire_timeout(Duration::ZERO).unwrap_err().is_timeout());
        assert!(t.elapsed() < AT_ONCE);
        let g = r.acquire_timeout(Duration::MAX).unwrap();
        assert!(r.is_mine() && r.count() == 1);
        drop(g);
    });
    assert!(!r.is_locked());
}

#[test]
fn semaphore_acquire_timeout_max_and_zero() {
    let _w = common::Watchdog::new("semaphore_acquire_timeout_max_and_zero", LIMIT);
    let s = Semaphore::new(1).unwrap();
    drop(s.acquire_timeout(Duration::MAX).unwrap());
    let p = s.acquire_timeout(Duration::ZERO).unwrap(); // a free permit: zero takes it
    let t = Instant::now();
    assert_eq!(s.acquire_timeout(Duration::ZERO).unwrap_err(), Timeout);
    assert!(t.elapsed() < AT_ONCE);
    p.leak();
    let t = Instant::now();
    let p = later(|| s.release().unwrap(), || s.acquire_timeout(Duration::MAX).unwrap());
    assert!(t.elapsed() >= LATER);
    assert_eq!(s.get_value(), 0);
    drop(p);
    assert_eq!(s.get_value(), 1);
}

#[test]
fn bounded_semaphore_acquire_timeout_max_and_zero() {
    let _w = common::Watchdog::new("bounded_semaphore_acquire_timeout_max_and_zero", LIMIT);
    let s = BoundedSemaphore::new(1).unwrap();
    drop(s.acquire_timeout(Duration::MAX).unwrap());
    s.acquire_timeout(Duration::ZERO).unwrap().leak();
    let t = Instant::now();
    assert_eq!(s.acquire_timeout(Duration::ZERO).unwrap_err(), Timeout);
    assert!(t.elapsed() < AT_ONCE);
    let t = Instant::now();
    let p = later(|| s.release().unwrap(), || s.acquire_timeout(Duration::MAX).unwrap());
    assert!(t.elapsed() >= LATER);
    drop(p);
    assert_eq!(s.get_value(), 1);
    assert_eq!(s.release(), Err(ReleaseError::TooManyReleases));
}

#[test]
fn event_wait_timeout_max_and_zero() {
    let _w = common::Watchdog::new("event_wait_timeout_max_and_zero", LIMIT);
    let e = Event::new().unwrap();
    let t = Instant::now();
    assert_eq!(e.wait_timeout(Duration::ZERO), Err(Timeout));
    assert!(t.elapsed() < AT_ONCE);
    let t = Instant::now();
    assert_eq!(later(|| e.set(), || e.wait_timeout(Duration::MAX)), Ok(()));
    assert!(t.elapsed() >= LATER);
    assert_eq!(e.wait_timeout(Duration::MAX), Ok(()));
    assert_eq!(e.wait_timeout(Duration::ZERO), Ok(()));
}

fn set_event_later(e: Event) {
    std::thread::sleep(LATER);
    e.set();
}

/// `wait_timeout(Duration::MAX)` sleeps on the shared futex until a child sets the event.
#[test]
fn event_wait_timeout_max_set_by_child() {
    each_method("event_wait_timeout_max_set_by_child", LIMIT, |ctx| {
        let e = Event::new().unwrap();
        let p = ctx.process(set_event_later, e.clone());
        p.start().unwrap();
        assert_eq!(e.wait_timeout(Duration::MAX), Ok(()));
        assert!(e.is_set());
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn condition_acquire_timeout_max_and_zero() {
    let _w = common::Watchdog::new("condition_acquire_timeout_max_and_zero", LIMIT);
    let c = Condition::with_lock(Lock::new().unwrap()).unwrap();
    drop(c.acquire_timeout(Duration::MAX).unwrap());
    let g = c.acquire_timeout(Duration::ZERO).unwrap(); // free: zero takes it
    let t = Instant::now();
    assert!(c.acquire_timeout(Duration::ZERO).unwrap_err().is_timeout());
    assert!(c.try_acquire().unwrap_err().is_would_block());
    assert!(t.elapsed() < AT_ONCE);
    g.leak();
    let t = Instant::now();
    let g = later(|| c.get_lock().release().unwrap(), || c.acquire_timeout(Duration::MAX).unwrap());
    assert!(t.elapsed() >= LATER);
    assert!(c.get_lock().is_mine());
    drop(g);
    assert!(!c.get_lock().is_locked());
}

#[test]
fn condition_wait_timeout_max_and_zero() {
    let _w = common::Watchdog::new("condition_wait_timeout_max_and_zero", LIMIT);
    let c = Condition::new().unwrap();
    assert_eq!(c.wait_timeout(Duration::MAX), Err(ConditionTimeoutError::NotOwner));
    let g = c.acquire().unwrap();
    let t = Instant::now();
    assert_eq!(c.wait_timeout(Duration::ZERO), Err(ConditionTimeoutError::Timeout));
    assert!(t.elapsed() < AT_ONCE);
    assert!(c.get_lock().is_mine() && c.get_lock().count() == 1, "a zero wait takes the lock back");
    assert_eq!(c.n_waiting(), 0);
    // MAX: the notifier can take the lock only once this wait has registered and released it.
    let notify = || {
        let _g = c.acquire().unwrap();
        c.notify(1).unwrap();
    };
    let t = Instant::now();
    assert_eq!(later(notify, || c.wait_timeout(Duration::MAX)), Ok(()));
    assert!(t.elapsed() >= LATER);
    assert!(c.get_lock().is_mine());
    drop(g);
}

#[test]
fn condition_wait_for_timeout_max_and_zero() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let _w = common::Watchdog::new("condition_wait_for_timeout_max_and_zero", LIMIT);
    let c = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let ready = AtomicBool::new(false);
    let is_ready = || ready.load(Ordering::SeqCst);
    let g = c.acquire().unwrap();
    let t = Instant::now();
    assert_eq!(c.wait_for_timeout(Duration::ZERO, is_ready), Err(ConditionTimeoutError::Timeout));
    assert!(t.elapsed() < AT_ONCE);
    assert!(c.get_lock().is_mine());
    let make_ready = || {
        let _g = c.acquire().unwrap();
        ready.store(true, Ordering::SeqCst);
        c.notify_all().unwrap();
    };
    let t = Instant::now();
    assert_eq!(later(make_ready, || c.wait_for_timeout(Duration::MAX, is_ready)), Ok(()));
    assert!(t.elapsed() >= LATER);
    assert_eq!(c.wait_for_timeout(Duration::ZERO, is_ready), Ok(())); // true: only checked
    assert_eq!(c.wait_for_timeout(Duration::MAX, is_ready), Ok(()));
    drop(g);
}

#[test]
fn barrier_wait_timeout_max_and_zero() {
    let _w = common::Watchdog::new("barrier_wait_timeout_max_and_zero", LIMIT);
    let one = Barrier::new(1).unwrap();
    assert_eq!(one.wait_timeout(Duration::ZERO), Ok(0)); // the last to arrive passes
    assert_eq!(one.wait_timeout(Duration::MAX), Ok(0));
    // A zero timeout that would have to wait fails at once and breaks the barrier.
    let b = Barrier::new(2).unwrap();
    let t = Instant::now();
    assert_eq!(b.wait_timeout(Duration::ZERO), Err(BarrierError::Timeout));
    assert!(t.elapsed() < AT_ONCE);
    assert!(b.is_broken());
    assert_eq!(b.wait_timeout(Duration::MAX), Err(BarrierError::Broken));
    b.reset();
    // MAX waits without a deadline for the other party.
    let t = Instant::now();
    let mut other = None;
    let mine = later(|| other = Some(b.wait_timeout(Duration::MAX)), || b.wait_timeout(Duration::MAX));
    assert!(t.elapsed() >= LATER);
    let mut idx = [mine.unwrap(), other.unwrap().unwrap()];
    idx.sort();
    assert_eq!(idx, [0, 1]);
    assert!(!b.is_broken());
    // A default timeout of Duration::MAX is none: wait() waits forever.
    let b = Barrier::builder(2).timeout(Duration::MAX).build().unwrap();
    assert_eq!(b.timeout(), None);
    let mut other = None;
    let mine = later(|| other = Some(b.wait()), || b.wait());
    let mut idx = [mine.unwrap(), other.unwrap().unwrap()];
    idx.sort();
    assert_eq!(idx, [0, 1]);
}
