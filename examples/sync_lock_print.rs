//! A Lock keeps two processes from interleaving their output (PyMOTW's
//! `multiprocessing_lock.py`): one worker writes under the lock, the other without it.

use std::io::Write;

use multiproc::Process;
use multiproc::sync::Lock;

/// Writes two lines in one critical section: with the lock they stay together.
fn worker_with(lock: Lock) {
    let _g = lock.acquire().expect("lock");
    let mut out = std::io::stdout().lock();
    writeln!(out, "Lock acquired via acquire()").unwrap();
    writeln!(out, "  ... and released when the guard drops").unwrap();
}

/// Writes the same without the lock: its lines may land in the middle of the other's.
fn worker_no(lock: Lock) {
    let g = lock.acquire().expect("lock");
    let mut out = std::io::stdout().lock();
    writeln!(out, "Lock acquired directly").unwrap();
    drop(g);
    writeln!(out, "  ... written after release, may interleave").unwrap();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lock = Lock::new()?;
    let w = Process::new(worker_with, lock.clone());
    let nw = Process::new(worker_no, lock.clone());
    w.start()?;
    nw.start()?;
    w.join()?;
    nw.join()?;
    Ok(())
}
