//! One meaning of "owner died" for every lock with an owner record: the robust mutex under a
//! `Lock`, the queue ring's producer lock, and the borrow word of a `Value` (over its `RLock`).
//! A child holding one is SIGKILLed while the next taker already waits; the taker is told (it
//! gets the lock, with `OwnerDied` where the API reports it) within a bounded time, under
//! every start method. The detection slice is 100 ms at most; the bound is generous, so that a
//! loaded machine does not fail the test.

mod common;

use std::time::{Duration, Instant};

use common::{each_method, wait_until};
use multiproc::sync::{Event, Lock};
use multiproc::{GetError, Process, PutError, Queue, QueueBuilder, Value};

const LIMIT: Duration = Duration::from_secs(60);
/// How soon after the kill the waiting taker must be told.
const TOLD_WITHIN: Duration = Duration::from_secs(10);

fn hold_lock((lock, held): (Lock, Event)) {
    lock.acquire().unwrap().leak();
    held.set();
    std::thread::sleep(Duration::from_secs(600));
}

fn hold_value((v, held): (Value<[u64; 2]>, Event)) {
    let mut g = v.acquire().unwrap();
    g[0] = 1; // half of an update that keeps g[0] == g[1]
    held.set();
    std::thread::sleep(Duration::from_secs(600));
    g[1] = 1;
}

/// Puts an item four times the ring: nobody reads, so it sleeps in `put`, mid-item, holding
/// the producer lock.
fn hold_producer_lock((q, started): (Queue<Vec<u8>>, Event)) {
    started.set();
    q.put(vec![7u8; 256 << 10]).unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

/// The scheduler state of `pid` ('R', 'S', 'T', ...).
fn proc_state(pid: u32) -> char {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rsplit(')').next().unwrap_or("").trim_start().chars().next().unwrap_or('?')
}

/// Runs `take` in a thread (it must block on the lock `p` holds), kills `p` once the taker had
/// time to fall asleep, and returns `take`'s result with the time from the kill to it.
fn kill_while_waiting<T: Send>(p: &Process, take: impl FnOnce() -> T + Send) -> (T, Duration) {
    std::thread::scope(|s| {
        let taker = s.spawn(move || {
            let r = take();
            (r, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(300)); // the taker spins, then sleeps
        assert!(!taker.is_finished(), "the taker did not wait for the lock");
        let killed = Instant::now();
        p.kill().unwrap();
        let (r, done) = taker.join().unwrap();
        (r, done.saturating_duration_since(killed))
    })
}

#[test]
fn lock_owner_killed_next_taker_told() {
    each_method("lock_owner_killed_next_taker_told", LIMIT, |ctx| {
        let (lock, held) = (Lock::new().unwrap(), Event::new().unwrap());
        let p = ctx.process(hold_lock, (lock.clone(), held.clone()));
        p.start().unwrap();
        held.wait();
        let (died, after) = kill_while_waiting(&p, || lock.acquire().map(drop).is_err());
        assert!(died, "the taker must be told OwnerDied");
        assert!(after < TOLD_WITHIN, "told {after:?} after the kill");
        assert_eq!(p.join().unwrap(), -9);
        let g = lock.acquire().expect_err("inconsistent until repaired").into_guard();
        g.make_consistent();
    });
}

#[test]
fn queue_producer_killed_next_producer_told() {
    each_method("queue_producer_killed_next_producer_told", LIMIT, |ctx| {
        for waiting in [true, false] {
            let q: Queue<Vec<u8>> = QueueBuilder::new().capacity(64 << 10).build().unwrap();
            let started = Event::new().unwrap();
            let p = ctx.process(hold_producer_lock, (q.clone(), started.clone()));
            p.start().unwrap();
            started.wait();
            let pid = p.pid().unwrap();
            // Asleep in put, mid-item, holding the producer lock (the only place it sleeps).
            wait_until("the producer to block in put", || proc_state(pid) == 'S');
            if waiting {
                std::thread::scope(|s| {
                    let taker = s.spawn(|| {
                        let put = q.put_timeout(vec![1, 2, 3], Duration::from_secs(30)).map_err(|e| e.to_string());
                        (put, Instant::now())
                    });
                    std::thread::sleep(Duration::from_millis(300)); // it spins, then sleeps on the lock
                    assert!(!taker.is_finished(), "the second producer did not wait for the lock");
                    let killed = Instant::now();
                    p.kill().unwrap();
                    assert!(common::wait_pid_gone(pid, Duration::from_secs(10)));
                    // The dead producer's fragments fill the ring: consuming frees it (and drops
                    // them), so that the put, once it has the lock, finds room.
                    let got = q.get_timeout(Duration::from_secs(30));
                    let (put, done) = taker.join().unwrap();
                    put.unwrap();
                    let after = done.saturating_duration_since(killed);
                    assert!(after < TOLD_WITHIN, "the next producer got the lock {after:?} after the kill");
                    assert_eq!(got.unwrap(), vec![1, 2, 3], "the half-streamed item is dropped");
                });
            } else {
                p.kill().unwrap();
                assert!(common::wait_pid_gone(pid, Duration::from_secs(10)));
                // The half-streamed item is dropped; then a non-blocking put takes the lock
                // over from the dead producer at once (its one look at the owner).
                assert!(matches!(q.get_timeout(Duration::from_millis(500)), Err(GetError::Timeout)));
                let t = Instant::now();
                match q.try_put(vec![4, 5]) {
                    Ok(()) => {}
                    Err(PutError::Full(_)) => panic!("try_put did not take the lock over from the dead producer"),
                    Err(e) => panic!("{e}"),
                }
                assert!(t.elapsed() < TOLD_WITHIN);
                assert_eq!(q.get().unwrap(), vec![4, 5]);
            }
            assert_eq!(p.join().unwrap(), -9);
            assert_eq!(q.qsize(), 0);
        }
    });
}

#[test]
fn value_holder_killed_next_taker_told() {
    each_method("value_holder_killed_next_taker_told", LIMIT, |ctx| {
        let (v, held) = (Value::new([0u64; 2]).unwrap(), Event::new().unwrap());
        let p = ctx.process(hold_value, (v.clone(), held.clone()));
        p.start().unwrap();
        held.wait();
        // The RLock reports the death; the borrow word, naming the dead process, is taken
        // over by the same rule (a live one would make acquire panic).
        let (seen, after) = kill_while_waiting(&p, || match v.acquire() {
            Err(died) => {
                let mut g = died.into_guard();
                let seen = *g;
                g[1] = g[0]; // repair
                g.make_consistent();
                Some(seen)
            }
            Ok(_) => None,
        });
        assert_eq!(seen, Some([1, 0]), "OwnerDied with the half-done update");
        assert!(after < TOLD_WITHIN, "told {after:?} after the kill");
        assert_eq!(p.join().unwrap(), -9);
        assert_eq!(*v.acquire().expect("consistent again"), [1, 1]);
    });
}
