//! A bounded soak: queues, locks, processes and the pool (`pool_soak_under_random_kills`) under
//! continuous random SIGKILLs of the worker processes, for `SOAK_SECONDS` (default 30) per
//! part. It prints what happened: items produced and consumed, processes killed, items lost
//! (must be 0), duplicates (0), torn items (0), lock owner deaths recovered, hangs (0; a
//! watchdog aborts the run if anything stops making progress).
//!
//! The tests are `#[ignore]`d by a plain `cargo test` (they take minutes); `scripts/test.sh`
//! runs them with their summaries: `cargo test --test soak -- --ignored --nocapture
//! --test-threads=1` (SOAK_SECONDS=300 for a longer one).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{METHODS, Watchdog};
use multiproc::sync::{AcquireTimeoutError, Lock};
use multiproc::{GetError, Process, Queue, Value, get_context};
use serde::{Deserialize, Serialize};

fn seconds() -> u64 {
    std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(30)
}

/// A tiny xorshift: the soak is random but repeatable from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Serialize, Deserialize)]
struct Item {
    producer: u32,
    /// Which start of the producer put it: a producer killed between `put` and its
    /// acknowledgement puts that seq again after its restart, which is the test's protocol
    /// and not a duplicate of the queue's; the same (producer, life, seq) twice would be.
    life: u32,
    seq: u64,
    sum: u64,
    data: Vec<u8>,
}

fn sum_of(producer: u32, seq: u64, data: &[u8]) -> u64 {
    data.iter().fold((producer as u64) << 40 ^ seq, |h, &b| h.rotate_left(7) ^ b as u64)
}

/// Puts items numbered from where the last incarnation of this producer stopped
/// (`acked`: the last seq whose put returned), of random sizes (some larger than the ring, so
/// they stream), acknowledging each after `put` returns.
fn producer((q, id, life, acked): (Queue<Item>, u32, u32, Value<u64>)) {
    let mut seq = acked.get() + 1;
    let mut rng = Rng(0x9e37_79b9 ^ (id as u64) << 20 ^ seq);
    loop {
        let len = match rng.next() % 10 {
            0 => 200_000 + (rng.next() % 100_000) as usize, // streams through the 64 KiB ring
            1..=3 => (rng.next() % 8192) as usize,
            _ => (rng.next() % 64) as usize,
        };
        let data: Vec<u8> = (0..len).map(|i| (i as u64 ^ seq) as u8).collect();
        q.put(Item { producer: id, life, seq, sum: sum_of(id, seq, &data), data }).unwrap();
        acked.set(seq);
        seq += 1;
    }
}

#[test]
#[ignore = "minutes long: scripts/test.sh runs it with --ignored"]
fn queue_soak_under_random_kills() {
    let _serial = common::serial();
    let secs = seconds();
    let _w = Watchdog::new("queue soak", Duration::from_secs(secs * 3 + 120));
    let q: Queue<Item> = Queue::builder().capacity(64 << 10).build().unwrap();
    let producers = 4u32;
    let acked: Vec<Value<u64>> = (0..producers).map(|_| Value::new(0u64).unwrap()).collect();
    let mut lives = vec![0u32; producers as usize];
    let mut start = |id: u32| -> Process {
        let m = METHODS[(id as usize + start_counter()) % METHODS.len()];
        lives[id as usize] += 1;
        let args = (q.clone(), id, lives[id as usize], acked[id as usize].clone());
        let p = get_context(Some(m)).process(producer, args);
        p.start().unwrap();
        p
    };
    let mut running: Vec<Process> = (0..producers).map(&mut start).collect();
    let mut rng = Rng(0xdead_beef);
    // Per producer: the (seq, life) pairs seen.
    let mut seen: HashMap<u32, Vec<(u64, u32)>> = HashMap::new();
    let (mut consumed, mut torn, mut kills, mut stalls) = (0u64, 0u64, 0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut next_kill = Instant::now() + Duration::from_millis(50);
    let mut last_progress = Instant::now();
    while Instant::now() < end {
        match q.get_timeout(Duration::from_millis(50)) {
            Ok(it) => {
                if sum_of(it.producer, it.seq, &it.data) != it.sum {
                    torn += 1;
                }
                seen.entry(it.producer).or_default().push((it.seq, it.life));
                consumed += 1;
                last_progress = Instant::now();
            }
            Err(GetError::Timeout) => stalls += 1,
            Err(e) => panic!("{e}"),
        }
        assert!(last_progress.elapsed() < Duration::from_secs(30), "no item for 30 s: a hang");
        if Instant::now() >= next_kill {
            let i = (rng.next() % producers as u64) as usize;
            running[i].kill().unwrap();
            running[i].join().unwrap();
            kills += 1;
            running[i] = start(i as u32);
            next_kill = Instant::now() + Duration::from_millis(20 + rng.next() % 200);
        }
    }
    for p in &running {
        p.kill().unwrap();
        p.join().unwrap();
    }
    // Drain what was put before the last kills.
    while let Ok(it) = q.get_timeout(Duration::from_millis(500)) {
        if sum_of(it.producer, it.seq, &it.data) != it.sum {
            torn += 1;
        }
        seen.entry(it.producer).or_default().push((it.seq, it.life));
        consumed += 1;
    }
    let (mut lost, mut dups, mut reput) = (0u64, 0u64, 0u64);
    for id in 0..producers {
        let mut s = seen.remove(&id).unwrap_or_default();
        let n = s.len();
        s.sort_unstable();
        s.dedup();
        // The same item (seq and life) twice is the queue's duplicate.
        dups += (n - s.len()) as u64;
        // A seq put by two lives: the earlier was killed between `put` and its acknowledgement,
        // and the later begins with that seq. Anything else is a duplicate too.
        let first_of = |life: u32| s.iter().filter(|&&(_, l)| l == life).map(|&(q, _)| q).min();
        for w in s.windows(2) {
            if w[0].0 == w[1].0 {
                if first_of(w[1].1) == Some(w[1].0) {
                    reput += 1;
                } else {
                    dups += 1;
                }
            }
        }
        // Every acknowledged seq must have arrived; a seq after the last acknowledged one may
        // have arrived too (killed between put and its acknowledgement), or not.
        let last = acked[id as usize].get();
        lost += (1..=last).filter(|&q| s.binary_search_by(|&(x, _)| x.cmp(&q)).is_err()).count() as u64;
    }
    println!(
        "queue soak: {secs} s, {consumed} items consumed, {kills} producers killed, lost {lost}, duplicates {dups}, \
         torn {torn}, hangs 0 ({stalls} empty 50 ms waits; {reput} seqs put again by a producer restarted between \
         put and its acknowledgement)"
    );
    assert_eq!((lost, dups, torn), (0, 0, 0));
    assert!(kills > 10 && consumed > 100, "the soak did too little: {kills} kills, {consumed} items");
}

fn start_counter() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Adds one to both halves of `pair` under `lock`, forever: a kill between the two writes
/// leaves them unequal, which the next holder finds (OwnerDied) and repairs.
fn incrementer((lock, pair, repairs): (Lock, Value<[u64; 2]>, multiproc::RawValue<u64>)) {
    loop {
        let g = match lock.acquire() {
            Ok(g) => g,
            Err(died) => {
                let g = died.into_guard();
                let mut v = pair.get();
                v[1] = v[0];
                pair.set(v);
                repairs.set(repairs.get() + 1); // under the lock
                g.make_consistent();
                g
            }
        };
        let mut v = pair.get();
        v[0] += 1;
        pair.set(v);
        std::hint::spin_loop();
        v[1] += 1;
        pair.set(v);
        drop(g);
    }
}

#[test]
#[ignore = "minutes long: scripts/test.sh runs it with --ignored"]
fn lock_soak_under_random_kills() {
    let _serial = common::serial();
    let secs = seconds();
    let _w = Watchdog::new("lock soak", Duration::from_secs(secs * 3 + 120));
    let lock = Lock::new().unwrap();
    let pair = Value::with_lock([0u64; 2], Lock::new().unwrap()).unwrap();
    let repairs = multiproc::RawValue::new(0u64).unwrap();
    let start = |i: usize| -> Process {
        let m = METHODS[(i + start_counter()) % METHODS.len()];
        let p = get_context(Some(m)).process(incrementer, (lock.clone(), pair.clone(), repairs.clone()));
        p.start().unwrap();
        p
    };
    let mut running: Vec<Process> = (0..3).map(start).collect();
    let mut rng = Rng(0x1234_5678);
    let (mut kills, mut recovered, mut checks) = (0u64, 0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10 + rng.next() % 100));
        let i = (rng.next() % running.len() as u64) as usize;
        running[i].kill().unwrap();
        running[i].join().unwrap();
        kills += 1;
        // Check the invariant under the lock, repairing after a dead owner as the workers do.
        let g = match lock.acquire_timeout(Duration::from_secs(30)) {
            Ok(g) => g,
            Err(AcquireTimeoutError::OwnerDied(died)) => {
                recovered += 1;
                let g = died.into_guard();
                let mut v = pair.get();
                v[1] = v[0];
                pair.set(v);
                g.make_consistent();
                g
            }
            Err(e) => panic!("the lock was not taken within 30 s: {e}"),
        };
        let v = pair.get();
        assert_eq!(v[0], v[1], "the invariant broke outside a dead owner's critical section");
        checks += 1;
        drop(g);
        running[i] = start(i);
    }
    for p in &running {
        p.kill().unwrap();
        p.join().unwrap();
    }
    let total = pair.get()[0];
    let by_workers = repairs.get();
    println!(
        "lock soak: {secs} s, {total} increments, {kills} workers killed, {} owner deaths recovered ({by_workers} by \
         the other workers, {recovered} by the checker), {checks} invariant checks, hangs 0",
        by_workers + recovered
    );
    assert!(kills > 10 && total > 100, "the soak did too little: {kills} kills, {total} increments");
    assert!(by_workers + recovered > 0, "no kill ever landed inside the critical section: the soak tests nothing");
}

/// Starts and joins short children under every start method while random ones are killed:
/// every join returns (0, or -9 for the killed), and nothing is left behind.
#[test]
#[ignore = "minutes long: scripts/test.sh runs it with --ignored"]
fn process_churn_under_random_kills() {
    let _serial = common::serial();
    let secs = seconds().min(20);
    let _w = Watchdog::new("process churn", Duration::from_secs(secs * 4 + 120));
    common::warm_up();
    let before = common::Leaks::snapshot();
    let mut rng = Rng(0xfeed);
    let (mut started, mut killed, mut clean) = (0u64, 0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let batch: Vec<Process> = (0..6)
            .map(|i| {
                let p = get_context(Some(METHODS[i % 3]))
                    .process(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), rng.next() % 30);
                p.start().unwrap();
                p
            })
            .collect();
        started += batch.len() as u64;
        for p in &batch {
            if rng.next().is_multiple_of(3) {
                p.kill().unwrap();
            }
        }
        for p in &batch {
            match p.join().unwrap() {
                0 => clean += 1,
                -9 => killed += 1,
                other => panic!("unexpected exit code {other}"),
            }
        }
    }
    println!("process churn: {secs} s, {started} started, {clean} ended cleanly, {killed} killed, hangs 0");
    assert_eq!(started, clean + killed);
    before.assert_same("process churn", 0, Duration::from_secs(10));
}

/// The pool's task for `pool_soak_under_random_kills`: counts its run in the named segment
/// (one byte per task id, so a task run twice shows) and sleeps a little.
fn counted((segment, id, ms): (String, u32, u64)) -> u32 {
    use std::sync::Mutex;
    use std::sync::atomic::Ordering;
    static OPEN: Mutex<Option<(String, multiproc::SharedMemory)>> = Mutex::new(None);
    let mut open = OPEN.lock().unwrap();
    if open.as_ref().is_none_or(|(name, _)| *name != segment) {
        *open = Some((segment.clone(), multiproc::SharedMemory::open(&segment).unwrap()));
    }
    open.as_ref().unwrap().1.as_atomic_bytes()[id as usize].fetch_add(1, Ordering::SeqCst);
    drop(open);
    std::thread::sleep(Duration::from_micros(ms * 100));
    id
}

/// A pool under random SIGKILLs of its workers, under every start method: `apply_async`
/// batches and chunked `imap`s run while a thread kills a random worker every 20-150 ms.
/// Every task ends (its result, or `WorkerLost` for the one a killed worker was running), no
/// task runs twice, no result is wrong, and the pool ends with all its workers.
#[test]
#[ignore = "minutes long: scripts/test.sh runs it with --ignored"]
fn pool_soak_under_random_kills() {
    use multiproc::pool::{Pool, PoolError, TaskOptions};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let _serial = common::serial();
    let secs = seconds().min(24);
    let _w = Watchdog::new("pool soak", Duration::from_secs(secs * 4 + 180));
    common::warm_up();
    let before = common::Leaks::snapshot();
    const IDS: usize = 1 << 20;
    for (round, m) in METHODS.into_iter().enumerate() {
        let name = common::unique_name("soakpool");
        let seg = multiproc::SharedMemory::create(Some(&name), IDS).unwrap();
        let pool = Pool::builder().processes(3).start_method(m).build().unwrap();
        let stop = AtomicBool::new(false);
        let kills = AtomicU64::new(0);
        let (mut ok, mut failed, mut next_id) = (0u64, 0u64, 0u32);
        let end = Instant::now() + Duration::from_secs(secs / 3);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut rng = Rng(0x5eed ^ round as u64);
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20 + rng.next() % 130));
                    let pids = pool.pids();
                    if pids.is_empty() {
                        continue;
                    }
                    let victim = pids[(rng.next() % pids.len() as u64) as usize];
                    if !common::pid_gone(victim) {
                        common::send_signal(victim, libc::SIGKILL);
                        kills.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let mut rng = Rng(0xbadc0de ^ round as u64);
            let mut check = |id: u32, r: Result<u32, PoolError>| match r {
                Ok(got) => {
                    assert_eq!(got, id, "[{m}] a wrong result");
                    ok += 1;
                }
                Err(e) => {
                    assert!(e.is_worker_lost() && e.exitcode() == Some(-9), "[{m}] {e:?}");
                    failed += 1;
                }
            };
            while Instant::now() < end {
                let batch: Vec<_> = (0..200)
                    .map(|k| {
                        let id = next_id + k;
                        (id, pool.apply_async(counted, (name.clone(), id, rng.next() % 20)).unwrap())
                    })
                    .collect();
                for (id, r) in batch {
                    check(id, r.get_timeout(Duration::from_secs(60)));
                }
                next_id += 200;
                let items: Vec<_> = (next_id..next_id + 600).map(|id| (name.clone(), id, rng.next() % 10)).collect();
                let results = pool.imap_with(counted, items, &TaskOptions::new().chunksize(25)).unwrap();
                for (k, r) in results.enumerate() {
                    check(next_id + k as u32, r);
                }
                next_id += 600;
                assert!((next_id as usize) < IDS, "the soak ran past its id space");
            }
            stop.store(true, Ordering::Relaxed);
        });
        let kills = kills.load(Ordering::Relaxed);
        let runs = seg.as_atomic_bytes();
        let twice = (0..next_id as usize).filter(|&i| runs[i].load(Ordering::SeqCst) > 1).count();
        let never_ok = (0..next_id as usize).filter(|&i| runs[i].load(Ordering::SeqCst) == 0).count() as u64;
        common::wait_until("the killed workers to be replaced", || pool.pids().len() == 3);
        assert_eq!(pool.apply(counted, (name.clone(), next_id, 0)).unwrap(), next_id);
        // Tasks neither answered nor failed.
        let lost = (next_id as u64).saturating_sub(ok + failed);
        println!(
            "pool soak [{m}]: {} s, {} tasks, {ok} results, {failed} WorkerLost, {kills} workers killed, \
             ran twice {twice}, lost {lost}, hangs 0",
            secs / 3,
            next_id
        );
        assert_eq!(ok + failed, next_id as u64, "[{m}] every task ends");
        assert_eq!(twice, 0, "[{m}] a task ran twice");
        assert!(failed <= kills, "[{m}] {failed} tasks failed for {kills} kills");
        // A task that failed may or may not have begun before its worker died.
        assert!(never_ok <= failed, "[{m}] {never_ok} tasks never ran but only {failed} failed");
        assert!(kills > 5 && ok > 1000, "[{m}] the soak did too little: {kills} kills, {ok} results");
        pool.terminate();
        drop(pool);
        seg.unlink().unwrap();
    }
    before.assert_same("pool soak", 0, Duration::from_secs(10));
}
