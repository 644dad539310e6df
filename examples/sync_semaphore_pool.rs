//! A Semaphore lets at most three of ten workers use a resource at once (PyMOTW's
//! `multiprocessing_semaphore.py` with its `ActivePool`).
//!
//! Python keeps the names of the active workers in a Manager list; here the pool is a Lock
//! plus a counter (a Semaphore used as a shared count), which is enough to show that no more
//! than three run concurrently.

use std::time::Duration;

use multiproc::Process;
use multiproc::sync::{Lock, Semaphore};
use serde::{Deserialize, Serialize};

/// Tracks how many workers are inside the limited section.
#[derive(Clone, Serialize, Deserialize)]
struct ActivePool {
    lock: Lock,
    active: Semaphore,
}

impl ActivePool {
    fn new() -> std::io::Result<ActivePool> {
        Ok(ActivePool { lock: Lock::new()?, active: Semaphore::new(0)? })
    }

    fn make_active(&self, name: &str) {
        let _g = self.lock.acquire().expect("lock");
        self.active.release().expect("unbounded");
        println!("{name} active; now running: {}", self.active.get_value());
    }

    fn make_inactive(&self, name: &str) {
        let _g = self.lock.acquire().expect("lock");
        self.active.acquire().leak();
        println!("{name} done;   now running: {}", self.active.get_value());
    }
}

fn worker((s, pool): (Semaphore, ActivePool)) {
    let name = multiproc::current_process().name().to_string();
    println!("{name} waiting to join the pool");
    let _permit = s.acquire();
    pool.make_active(&name);
    assert!(pool.active.get_value() <= 3, "the semaphore admits three at a time");
    std::thread::sleep(Duration::from_millis(100));
    pool.make_inactive(&name);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = ActivePool::new()?;
    let s = Semaphore::new(3)?;
    let jobs: Vec<Process> =
        (0..10).map(|i| Process::builder().name(i.to_string()).target(worker, (s.clone(), pool.clone()))).collect();
    for j in &jobs {
        j.start()?;
    }
    for j in &jobs {
        assert_eq!(j.join()?, 0);
    }
    Ok(())
}
