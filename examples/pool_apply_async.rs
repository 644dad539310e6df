//! `apply_async` with a callback: the callback receives each result in the pool's result
//! thread as it arrives, while the main thread goes on; `get` waits for one result.
//!
//! ```python
//! results = []
//! with Pool(4) as pool:
//!     for x in range(10):
//!         pool.apply_async(slow_square, (x,), callback=results.append)
//!     r = pool.apply_async(slow_square, (20,))
//!     print(r.get(timeout=10))
//!     pool.close()
//!     pool.join()
//! print(sorted(results))
//! ```
//!
//! Run with `cargo run --example pool_apply_async`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use multiproc::pool::{Pool, PoolError};

fn slow_square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(20 * (x % 3)));
    x * x
}

fn main() -> Result<(), PoolError> {
    let pool = Pool::new(4)?;
    let results = Arc::new(Mutex::new(Vec::new()));
    for x in 0..10 {
        let results = results.clone();
        // The result is not kept: the callback still runs when the task ends.
        pool.apply_async(slow_square, x)?.callback(move |v| {
            println!("callback got {v}");
            results.lock().unwrap().push(*v);
        });
    }
    let r = pool.apply_async(slow_square, 20)?;
    println!("get: {}", r.get_timeout(Duration::from_secs(10))?);

    // A failing task calls its error callback instead.
    pool.apply_async(|x: u64| -> u64 { panic!("no square for {x}") }, 7)?
        .error_callback(|e| println!("error callback got: {e}"));

    pool.close();
    pool.join()?;
    let mut got = results.lock().unwrap().clone();
    got.sort();
    println!("all results: {got:?}");
    assert_eq!(got, (0..10).map(|x| x * x).collect::<Vec<u64>>());
    Ok(())
}
