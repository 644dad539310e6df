//! An active-process list guarded by a semaphore: ten workers, at most three inside the
//! limited section at once; the names of those inside are kept in a managed list, changed
//! under a managed lock, so the parent can print who ran together.

use std::time::Duration;

use multiproc::Process;
use multiproc::manager::{ListProxy, LockProxy, Manager, SemaphoreProxy};

fn worker((slots, lock, active, seen): (SemaphoreProxy, LockProxy, ListProxy<String>, ListProxy<usize>)) {
    let name = multiproc::current_process().name().to_string();
    let _slot = slots.acquire().expect("semaphore");
    {
        let _g = lock.acquire().expect("lock");
        active.append(name.clone()).expect("append");
        let now = active.to_vec().expect("to_vec");
        println!("{name} joins; now active: {now:?}");
        seen.append(now.len()).expect("append");
    }
    std::thread::sleep(Duration::from_millis(50));
    let _g = lock.acquire().expect("lock");
    active.remove(&name).expect("was active");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let m = Manager::start()?;
    let slots = m.semaphore(3)?;
    let lock = m.lock()?;
    let active = m.list::<String>()?;
    let seen = m.list::<usize>()?;
    let workers: Vec<Process> = (0..10)
        .map(|i| {
            let args = (slots.clone(), lock.clone(), active.clone(), seen.clone());
            Process::builder().name(format!("worker-{i}")).target(worker, args)
        })
        .collect();
    for w in &workers {
        w.start()?;
    }
    for w in &workers {
        assert_eq!(w.join()?, 0);
    }
    let most = seen.to_vec()?.into_iter().max().unwrap_or(0);
    println!("at most {most} active at once");
    assert!(most <= 3);
    assert!(active.is_empty()?);
    Ok(())
}
