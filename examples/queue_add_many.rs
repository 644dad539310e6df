//! `addManyPar`: two children each add up half of a million random numbers and put their sum
//! on a shared queue; the parent merges the two results (in whichever order they finish).
//!
//! Run with `cargo run --example queue_add_many`.

use multiproc::{Process, Queue};

/// A small xorshift generator, seeded differently in each child.
fn add_many_numbers((count, seed, q): (u64, u64, Queue<u64>)) {
    let mut x = seed | 1;
    let mut s = 0u64;
    for _ in 0..count {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s += x % 100 + 1; // randint(1, 100)
    }
    q.put(s).expect("put");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total = 1_000_000;
    let q = Queue::new()?;
    let p1 = Process::new(add_many_numbers, (total / 2, 0x9e37_79b9, q.clone()));
    let p2 = Process::new(add_many_numbers, (total / 2, 0x85eb_ca6b, q.clone()));
    p1.start()?;
    p2.start()?;
    let answer_a = q.get()?;
    let answer_b = q.get()?;
    println!("Sum: {}", answer_a + answer_b);
    println!("(partial sums {answer_a} and {answer_b}, about {} expected)", total * 101 / 2);
    p1.join()?;
    p2.join()?;
    Ok(())
}
