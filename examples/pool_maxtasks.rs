//! `maxtasksperchild`: each worker leaves after three tasks and the pool starts another in
//! its place, so twelve tasks on two workers run in at least four different processes.
//!
//! ```python
//! def work(task):
//!     return task, os.getpid()
//!
//! with Pool(2, maxtasksperchild=3) as pool:
//!     for task, pid in pool.imap(work, range(12)):
//!         print(f"task {task} ran in worker {pid}")
//! ```
//!
//! Run with `cargo run --example pool_maxtasks`.

use std::collections::BTreeSet;

use multiproc::pool::{Pool, PoolError};

fn work(task: u32) -> (u32, u32) {
    (task, std::process::id())
}

fn main() -> Result<(), PoolError> {
    let pool = Pool::builder().processes(2).maxtasksperchild(3).build()?;
    println!("workers at the start: {:?}", pool.pids());
    let mut pids = BTreeSet::new();
    // imap sends one task per item (chunksize 1), so every item counts as a task.
    for r in pool.imap(work, 0..12)? {
        let (task, pid) = r?;
        println!("task {task:2} ran in worker {pid}");
        pids.insert(pid);
    }
    println!("{} workers ran the 12 tasks: {pids:?}", pids.len());
    assert!(pids.len() >= 4, "each worker runs at most 3 tasks");
    pool.close();
    pool.join()?;
    Ok(())
}
