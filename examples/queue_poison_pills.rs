//! Workers consume tasks from a [`JoinableQueue`] and put results on a second queue; one
//! "poison pill" per worker stops them; the parent `join`s the task queue before reading the
//! results (PyMOTW's `multiprocessing_producer_consumer.py`).
//!
//! Run with `cargo run --example queue_poison_pills`.

use std::time::Duration;

use multiproc::{JoinableQueue, Process, Queue, current_process};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
struct Task {
    a: u64,
    b: u64,
}

impl Task {
    fn call(&self) -> String {
        std::thread::sleep(Duration::from_millis(100)); // pretend to take time
        format!("{} * {} = {}", self.a, self.b, self.a * self.b)
    }
}

/// `None` is the poison pill.
fn consumer((tasks, results): (JoinableQueue<Option<Task>>, Queue<String>)) {
    let me = current_process().name().to_string();
    loop {
        match tasks.get().expect("get") {
            None => {
                println!("{me}: Exiting");
                tasks.task_done().expect("task_done");
                break;
            }
            Some(task) => {
                println!("{me}: {task:?}");
                results.put(task.call()).expect("put");
                tasks.task_done().expect("task_done");
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tasks = JoinableQueue::new()?;
    let results = Queue::new()?;
    let n_consumers = multiproc::cpu_count() * 2;
    println!("Creating {n_consumers} consumers");
    let consumers: Vec<Process> =
        (0..n_consumers).map(|_| Process::new(consumer, (tasks.clone(), results.clone()))).collect();
    for c in &consumers {
        c.start()?;
    }
    let num_jobs = 10;
    for i in 0..num_jobs {
        tasks.put(Some(Task { a: i, b: i })).map_err(|e| e.to_string())?;
    }
    for _ in 0..n_consumers {
        tasks.put(None).map_err(|e| e.to_string())?;
    }
    tasks.join(); // every task, pills included, is done
    for _ in 0..num_jobs {
        println!("Result: {}", results.get()?);
    }
    for c in &consumers {
        c.join()?;
    }
    Ok(())
}
