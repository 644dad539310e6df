//! Synchronisation: Lock, RLock, Semaphore, Event, Condition and Barrier across processes,
//! and what happens when a lock holder is killed.

use std::time::{Duration, Instant};

use multiproc::Process;
use multiproc::sync::{Barrier, Condition, Event, Lock, RLock, Semaphore};

fn add_under_lock((lock, log, n): (Lock, String, u32)) {
    for _ in 0..n {
        let _g = lock.acquire().expect("lock");
        let v: u32 = std::fs::read_to_string(&log).unwrap().trim().parse().unwrap();
        std::fs::write(&log, (v + 1).to_string()).unwrap();
    }
}

fn hold_forever(lock: Lock) {
    lock.acquire().expect("lock").leak();
    std::thread::sleep(Duration::from_secs(600));
}

fn party((b, e): (Barrier, Event)) {
    let i = b.wait().expect("barrier");
    if i == 0 {
        e.set();
    }
}

fn waiter((c, s): (Condition, Semaphore)) {
    let _g = c.acquire().expect("lock");
    s.release().expect("unbounded");
    c.wait().expect("held");
}

pub(crate) fn tour() -> Result<(), Box<dyn std::error::Error>> {
    // A counter in a file, incremented by 3 processes x 100 under one Lock.
    let lock = Lock::new()?;
    let path = std::env::temp_dir().join(format!("multiproc-tour-{}", std::process::id()));
    std::fs::write(&path, "0")?;
    let log = path.to_string_lossy().into_owned();
    let ps: Vec<Process> = (0..3).map(|_| Process::new(add_under_lock, (lock.clone(), log.clone(), 100))).collect();
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        p.join()?;
    }
    println!("Lock: 3 processes x 100 increments -> {}", std::fs::read_to_string(&path)?);
    std::fs::remove_file(&path)?;

    // An RLock nests.
    let r = RLock::new()?;
    let _a = r.acquire().unwrap();
    let _b = r.acquire().unwrap();
    println!("RLock held twice: {r:?}");
    drop((_a, _b));

    // A holder killed with SIGKILL: CPython would block forever here.
    let p = Process::new(hold_forever, lock.clone());
    p.start()?;
    while !lock.is_locked() {
        std::thread::sleep(Duration::from_millis(1));
    }
    match lock.owner_pid() {
        Some(pid) => println!("Lock held by child pid {pid}; killing it"),
        None => println!("Lock not held yet; killing the child anyway"),
    }
    p.kill()?;
    let t = Instant::now();
    match lock.acquire() {
        Ok(_) => println!("acquired normally (unexpected)"),
        Err(died) => {
            println!("acquire() after {:?}: {died}", t.elapsed());
            died.into_guard().make_consistent();
        }
    }
    p.join()?;

    // A barrier of 3: exactly one party gets index 0.
    let b = Barrier::new(3)?;
    let zero = Event::new()?;
    let ps: Vec<Process> = (0..2).map(|_| Process::new(party, (b.clone(), zero.clone()))).collect();
    for p in &ps {
        p.start()?;
    }
    let mine = b.wait()?;
    for p in &ps {
        p.join()?;
    }
    println!("Barrier(3): parent got index {mine}; some party got 0: {}", mine == 0 || zero.is_set());

    // notify(1) wakes exactly one of two waiting processes.
    let c = Condition::new()?;
    let sleeping = Semaphore::new(0)?;
    let ps: Vec<Process> = (0..2).map(|_| Process::new(waiter, (c.clone(), sleeping.clone()))).collect();
    for p in &ps {
        p.start()?;
    }
    while c.n_waiting() < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    {
        let _g = c.acquire().unwrap();
        c.notify(1)?;
    }
    std::thread::sleep(Duration::from_millis(100));
    let alive = ps.iter().filter(|p| p.is_alive()).count();
    println!("Condition: after notify(1), {alive} of 2 waiters still wait");
    {
        let _g = c.acquire().unwrap();
        c.notify_all()?;
    }
    for p in &ps {
        p.join()?;
    }
    Ok(())
}
