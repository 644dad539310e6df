//! `ProcessPoolExecutor`: futures collected as they finish, a cancelled future, a worker that
//! dies costing only its own future, and `map` in input order.
//!
//! ```python
//! with ProcessPoolExecutor(max_workers=3) as ex:
//!     futures = [ex.submit(slow_square, x) for x in range(8)]
//!     for f in as_completed(futures):
//!         print(f.result())
//!     print(list(ex.map(slow_square, range(10), chunksize=4)))
//! ```
//!
//! Run with `cargo run --example executor`.

use std::time::Duration;

use multiproc::pool::{PoolError, ProcessPoolExecutor, ReturnWhen, as_completed, wait};

fn slow_square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(10 * (8 - x % 8)));
    x * x
}

fn dies() -> u64 {
    std::process::abort()
}

fn main() -> Result<(), PoolError> {
    let ex = ProcessPoolExecutor::new(3)?;

    let futures: Vec<_> = (0..8).map(|x| ex.submit(slow_square, x)).collect::<Result<_, _>>()?;
    for f in as_completed(&futures) {
        println!("as completed: {}", f?.result()?);
    }

    // A future still waiting in the executor's queue can be cancelled.
    let busy: Vec<_> =
        (0..4).map(|_| ex.submit(std::thread::sleep, Duration::from_millis(100))).collect::<Result<_, _>>()?;
    let late = ex.submit(slow_square, 99)?;
    println!("cancelled while pending: {}", late.cancel());
    assert!(late.result().unwrap_err().is_cancelled());
    let (done, not_done) = wait(&busy, ReturnWhen::AllCompleted);
    println!("waited: {} done, {} not done", done.len(), not_done.len());

    // A worker that dies fails its own future; the executor goes on.
    let lost = ex.submit(dies, ())?;
    let err = lost.result().unwrap_err();
    println!("lost worker: {err}");
    assert!(err.is_worker_lost());

    let squares: Vec<u64> = ex.map(slow_square, 0..10, 4)?.collect::<Result<_, _>>()?;
    println!("map: {squares:?}");
    assert_eq!(squares, (0..10).map(|x| x * x).collect::<Vec<u64>>());
    Ok(()) // dropping the executor waits for its workers (shutdown(wait=True))
}
