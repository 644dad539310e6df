//! The producer/consumer classes: a producer process appends ten random items and reports the
//! queue size; a consumer process pops them and stops once the queue stays empty.
//!
//! Python subclasses `Process` and overrides `run()`; here each is a serde struct implementing
//! [`Run`]. Run with `cargo run --example queue_producer_consumer`.

use std::time::Duration;

use multiproc::{Process, Queue, Run, current_process};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Producer {
    queue: Queue<u32>,
}

impl Run for Producer {
    type Output = ();
    fn run(self) {
        let mut x = std::process::id() | 1;
        for _ in 0..10 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let item = x % 257; // randint(0, 256)
            self.queue.put(item).expect("put");
            println!("Process Producer : item {item} appended to queue {}", current_process().name());
            std::thread::sleep(Duration::from_millis(100));
            println!("The size of queue is {}", self.queue.qsize());
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Consumer {
    queue: Queue<u32>,
}

impl Run for Consumer {
    type Output = ();
    fn run(self) {
        loop {
            std::thread::sleep(Duration::from_millis(150));
            // Python checks `empty()` and then blocks in `get()`, which races with the
            // producer; waiting a bounded time says the same thing without the race.
            match self.queue.get_timeout(Duration::from_millis(500)) {
                Ok(item) => println!("Process Consumer : item {item} popped from by {}", current_process().name()),
                Err(_) => {
                    println!("the queue is empty");
                    break;
                }
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let queue = Queue::new()?;
    let producer = Process::from_run(Producer { queue: queue.clone() });
    let consumer = Process::from_run(Consumer { queue });
    producer.start()?;
    consumer.start()?;
    producer.join()?;
    consumer.join()?;
    Ok(())
}
