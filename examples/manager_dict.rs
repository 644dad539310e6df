//! Ten worker processes fill one dictionary that lives in a manager's server.
//!
//! Each worker gets a proxy of the dict as its argument and writes its own entry; the
//! parent reads the finished dict back in one round trip with `items()`.

use multiproc::Process;
use multiproc::manager::{DictProxy, Manager};

fn worker((d, key): (DictProxy<u32, String>, u32)) {
    let pid = std::process::id();
    d.set(key, format!("filled by process {pid}")).expect("the manager is running");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let m = Manager::start()?;
    let d = m.dict::<u32, String>()?;
    let workers: Vec<Process> = (0..10).map(|k| Process::new(worker, (d.clone(), k))).collect();
    for w in &workers {
        w.start()?;
    }
    for w in &workers {
        assert_eq!(w.join()?, 0);
    }
    let mut items = d.items()?;
    items.sort();
    for (k, v) in &items {
        println!("{k}: {v}");
    }
    assert_eq!(items.len(), 10);
    Ok(())
}
