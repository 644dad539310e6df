//! A managed list of records: workers append the records they make, the parent sorts and
//! prints them, then a second round of workers updates records in place by index.

use multiproc::Process;
use multiproc::manager::{ListProxy, Manager};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Record {
    id: u32,
    name: String,
    score: u32,
}

fn produce((records, id): (ListProxy<Record>, u32)) {
    let r = Record { id, name: format!("record-{id}"), score: id * 10 };
    records.append(r).expect("append");
}

fn bump((records, index): (ListProxy<Record>, i64)) {
    // Fetch, change, store back: the fetched record is a copy, so the change must be
    // written back with `set` to reach the server.
    let mut r = records.get(index).expect("get");
    r.score += 1;
    records.set(index, r).expect("set");
}

/// Runs `f` once per argument, each in its own process, and waits for them all.
fn run_all<F, A, M>(f: F, args: impl IntoIterator<Item = A>) -> Result<(), Box<dyn std::error::Error>>
where
    F: multiproc::Target<A, M> + Copy,
    F::Output: multiproc::TargetResult,
    A: Serialize + serde::de::DeserializeOwned + Send + 'static,
    M: 'static,
{
    let ps: Vec<Process> = args.into_iter().map(|a| Process::new(f, a)).collect();
    for p in &ps {
        p.start()?;
    }
    for p in &ps {
        assert_eq!(p.join()?, 0);
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let m = Manager::start()?;
    let records = m.list::<Record>()?;
    run_all(produce, (0..6).map(|id| (records.clone(), id)))?;
    records.sort()?;
    run_all(bump, (0..6).map(|i| (records.clone(), i)))?;
    for r in records.to_vec()? {
        println!("{r:?}");
        assert_eq!(r.score, r.id * 10 + 1);
    }
    Ok(())
}
