//! `sendName2` / `greet2`: the parent sends five names one at a time, the child greets each.
//!
//! Run with `cargo run --example queue_five_names`.

use std::time::Duration;

use multiproc::{Process, Queue};

const NAMES: [&str; 5] = ["Jimmy", "Ada", "Grace", "Linus", "Guido"];

fn greet2(q: Queue<String>) {
    for _ in 0..NAMES.len() {
        println!("(child process) Waiting for name...");
        let name = q.get().expect("get");
        println!("(child process) Well, hi {name}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::new()?;
    let p = Process::new(greet2, q.clone());
    p.start()?;
    for name in NAMES {
        std::thread::sleep(Duration::from_millis(200));
        println!("(parent process) Ok, I'll send the name {name}");
        q.put(name.to_string()).map_err(|e| e.to_string())?;
    }
    p.join()?;
    Ok(())
}
