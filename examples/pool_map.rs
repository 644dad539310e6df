//! Python's first pool example: square 0..99 in a pool of worker processes with `map`.
//!
//! ```python
//! with Pool(4) as p:
//!     print(p.map(square, range(100)))
//! ```
//!
//! Run with `cargo run --example pool_map`.

use multiproc::pool::Pool;

fn square(x: u64) -> u64 {
    x * x
}

fn main() -> Result<(), multiproc::pool::PoolError> {
    let pool = Pool::new(4)?;
    let squares = pool.map(square, 0..100)?;
    println!("{squares:?}");
    assert_eq!(squares.len(), 100);
    assert_eq!(squares[99], 99 * 99);
    pool.close();
    pool.join()?;
    Ok(())
}
