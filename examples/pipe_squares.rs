//! The squares pipeline with two pipes: one process produces the numbers 0 to 9 on a first
//! pipe, a second squares them onto a second pipe, and the parent prints until the pipeline
//! runs dry (end of file), then "End".
//!
//! Python: `multiprocessing.Pipe(True)` twice, `create_items`/`multiply_items`, `EOFError`.
//! Run with `cargo run --example pipe_squares`.

use multiproc::connection::Connection;
use multiproc::{Process, pipe};

/// Sends 0..10 down the first pipe, then closes it (dropping it is the close).
fn create_items(output: Connection) {
    for item in 0..10u64 {
        output.send(&item).unwrap();
    }
}

/// Squares every number from the first pipe onto the second until the producer is done.
fn multiply_items((input, output): (Connection, Connection)) {
    loop {
        match input.recv::<u64>() {
            Ok(item) => output.send(&(item * item)).unwrap(),
            Err(e) if e.is_eof() => break,
            Err(e) => panic!("{e}"),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First pipe: numbers from 0 to 9.
    let (numbers_out, numbers_in) = pipe(true)?;
    let producer = Process::new(create_items, numbers_out);
    producer.start()?;
    // Second pipe: their squares.
    let (squares_out, squares_in) = pipe(true)?;
    let squarer = Process::new(multiply_items, (numbers_in, squares_out));
    squarer.start()?;
    // The children own their ends now; the parent only reads the last one.
    loop {
        match squares_in.recv::<u64>() {
            Ok(square) => println!("{square}"),
            Err(e) if e.is_eof() => {
                println!("End");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    producer.join()?;
    squarer.join()?;
    Ok(())
}
