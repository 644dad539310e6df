//! The behaviours of CPython's `_TestLock`, `_TestSemaphore`, `_TestCondition`, `_TestEvent`
//! and `_TestBarrier` (reference §2, items 46-76), across processes under every start method.

mod common;

use std::time::{Duration, Instant};

use common::each_method;
use multiproc::sync::{AcquireTimeoutError, Lock, RLock, ReleaseError, TryAcquireError};

const LIMIT: Duration = Duration::from_secs(60);

/// Polls `cond` every millisecond for up to 20 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---- _TestLock (46-51) ----

/// 46: acquire, acquire(False) on a held lock, release, release of an unlocked lock; locked().
#[test]
fn lock_basics() {
    let lock = Lock::new().unwrap();
    assert!(!lock.locked());
    let g = lock.acquire().unwrap();
    assert!(lock.locked());
    assert!(matches!(lock.try_acquire(), Err(TryAcquireError::WouldBlock)));
    drop(g);
    assert!(!lock.locked());
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
        wait_until("the child to take the lock", || lock.locked());
        assert_eq!(lock.owner_pid(), p.pid());
        assert!(!lock.is_mine());
        assert!(lock.try_acquire().unwrap_err().is_would_block());
        drop(d);
        assert_eq!(p.join().unwrap(), 0);
        assert!(!lock.locked());
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
        assert!(!lock.locked());
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
        assert!(r.locked());
        r.release().unwrap();
    }
    assert!(!r.locked());
    assert_eq!(r.release(), Err(ReleaseError::NotOwner));
    // Guards nest too.
    let a = r.acquire().unwrap();
    let b = r.try_acquire().unwrap();
    assert_eq!(r.count(), 2);
    drop(b);
    assert!(r.locked());
    drop(a);
    assert!(!r.locked());
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
        wait_until("the child to take the rlock", || r.locked());
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
