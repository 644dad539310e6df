//! `sendName` / `greet`: a child blocks in `get` until the parent puts a name.
//!
//! Run with `cargo run --example queue_send_name`.

use std::time::Duration;

use multiproc::{Process, Queue};

fn greet(q: Queue<String>) {
    println!("(child process) Waiting for name...");
    let name = q.get().expect("get");
    println!("(child process) Well, hi {name}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::new()?;
    let p1 = Process::new(greet, q.clone());
    p1.start()?;
    std::thread::sleep(Duration::from_secs(1)); // the child waits meanwhile
    println!("(parent process) Ok, I'll send the name");
    q.put("Jimmy".to_string()).map_err(|e| e.to_string())?;
    p1.join()?;
    Ok(())
}
