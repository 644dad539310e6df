//! Two processes meet at a barrier and print the same timestamp; two others run free.
//!
//! The Python cookbook version: `process1` and `process2` call `synchronizer.wait()` before
//! printing `datetime.now()`, `process3` and `process4` print at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use multiproc::Process;
use multiproc::sync::{Barrier, Lock};

fn now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

fn with_barrier((sync, serializer, name, delay_ms): (Barrier, Lock, String, u64)) {
    std::thread::sleep(Duration::from_millis(delay_ms));
    sync.wait().expect("barrier");
    let t = now();
    let _g = serializer.acquire().expect("lock");
    println!("process {name} ----> {t}");
}

fn without_barrier((serializer, name): (Lock, String)) {
    let t = now();
    let _g = serializer.acquire().expect("lock");
    println!("process {name} ----> {t}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let synchronizer = Barrier::new(2)?;
    let serializer = Lock::new()?;
    let ps = [
        Process::new(with_barrier, (synchronizer.clone(), serializer.clone(), "p1 - test_with_barrier".into(), 300)),
        Process::new(with_barrier, (synchronizer.clone(), serializer.clone(), "p2 - test_with_barrier".into(), 0)),
        Process::new(without_barrier, (serializer.clone(), "p3 - test_without_barrier".to_string())),
        Process::new(without_barrier, (serializer.clone(), "p4 - test_without_barrier".to_string())),
    ];
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        assert_eq!(p.join()?, 0);
    }
    Ok(())
}
