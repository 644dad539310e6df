//! A remote manager: one process serves a job queue and a results dict on a TCP port
//! (loopback here; bind another address to reach other machines, and keep the authkey
//! secret), and worker processes that know only the address and the key connect to it.

use multiproc::Process;
use multiproc::manager::{DictProxy, Manager, QueueProxy};

const AUTHKEY: &[u8] = b"a secret shared by server and workers";

fn worker(address: String) {
    let m = Manager::connect(address.as_str(), AUTHKEY).expect("connect");
    let jobs = m.lookup::<QueueProxy<Option<u64>>>("jobs").expect("published");
    let results = m.lookup::<DictProxy<u64, u64>>("results").expect("published");
    while let Some(n) = jobs.get().expect("get") {
        results.set(n, n * n).expect("set");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Manager::serve("127.0.0.1:0", AUTHKEY)?;
    let jobs = server.queue::<Option<u64>>()?;
    let results = server.dict::<u64, u64>()?;
    server.publish("jobs", &jobs)?;
    server.publish("results", &results)?;
    let address = server.address().to_string();
    println!("serving on {address}");

    let workers: Vec<Process> = (0..3).map(|_| Process::new(worker, address.clone())).collect();
    for w in &workers {
        w.start()?;
    }
    for n in 0..20 {
        jobs.put(Some(n))?;
    }
    for _ in &workers {
        jobs.put(None)?; // one stop sign per worker
    }
    for w in &workers {
        assert_eq!(w.join()?, 0);
    }
    let mut squares = results.items()?;
    squares.sort();
    println!("{squares:?}");
    assert_eq!(squares.len(), 20);

    let refused = Manager::connect(address.as_str(), b"a guess").unwrap_err();
    println!("a wrong key: {refused}");
    Ok(())
}
