//! Every `_timeout` of the pool with `Duration::ZERO` (only checks: a timeout when the answer
//! is not there, the answer when it is) and `Duration::MAX` (waits as long as it takes, never
//! overflows), over worker processes under every start method and over threads.

mod common;

use std::time::{Duration, Instant};

use common::{Watchdog, each_method};
use multiproc::pool::{Pool, ThreadPool};

const LIMIT: Duration = Duration::from_secs(90);

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn check(pool: &Pool) {
    // AsyncResult::get_timeout and wait_timeout.
    let r = pool.apply_async(nap, 300).unwrap();
    let t = Instant::now();
    let e = r.get_timeout(Duration::ZERO).unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(r.wait_timeout(Duration::ZERO).is_err());
    assert!(t.elapsed() < Duration::from_millis(250), "ZERO waited {:?}", t.elapsed());
    assert_eq!(r.get_timeout(Duration::MAX).unwrap(), 300);
    assert!(t.elapsed() >= Duration::from_millis(250), "{:?}", t.elapsed());
    r.wait_timeout(Duration::ZERO).unwrap();
    r.wait_timeout(Duration::MAX).unwrap();

    let r = pool.apply_async(nap, 200).unwrap();
    r.wait_timeout(Duration::MAX).unwrap();
    assert!(r.ready());
    assert_eq!(r.get_timeout(Duration::ZERO).unwrap(), 200, "a zero timeout takes what is there");

    // IMap::next_timeout.
    let mut it = pool.imap(nap, [300u64, 0]).unwrap();
    assert!(it.next_timeout(Duration::ZERO).unwrap().unwrap_err().is_timeout());
    assert_eq!(it.next_timeout(Duration::MAX).unwrap().unwrap(), 300);
    assert_eq!(it.next_timeout(Duration::MAX).unwrap().unwrap(), 0);
    assert!(it.next_timeout(Duration::MAX).is_none());
    assert!(it.next_timeout(Duration::ZERO).is_none());

    // Pool::join_timeout.
    pool.apply_async(nap, 300).unwrap();
    pool.close();
    let t = Instant::now();
    assert!(pool.join_timeout(Duration::ZERO).unwrap_err().is_timeout());
    pool.join_timeout(Duration::MAX).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(200), "{:?}", t.elapsed());
    pool.join_timeout(Duration::ZERO).unwrap();
}

#[test]
fn pool_timeouts_zero_and_max() {
    each_method("pool timeouts", LIMIT, |ctx| {
        let pool = ctx.pool(2).unwrap();
        check(&pool);
    });
}

#[test]
fn thread_pool_timeouts_zero_and_max() {
    let _w = Watchdog::new("thread pool timeouts", LIMIT);
    check(&ThreadPool::new(2).unwrap().into_pool());
}
