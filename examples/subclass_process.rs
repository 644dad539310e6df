//! The "subclass overriding run()" pattern: a job type implementing `Run`, started five times,
//! each printing the name Python would give it (`MyProcess-1` ... `MyProcess-5`).
//!
//! Run: `cargo run --example subclass_process`

use multiproc::{Process, Run};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct MyProcess;

impl Run for MyProcess {
    type Output = ();
    fn run(self) {
        println!("called run method in process: {}", multiproc::current_process().name());
    }
}

fn main() -> Result<(), multiproc::ProcessError> {
    for _ in 0..5 {
        let p = Process::from_run(MyProcess);
        p.start()?;
        p.join()?;
    }
    Ok(())
}
