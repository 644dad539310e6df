//! A Condition runs the second stage of a job in parallel, only after the first stage is done
//! (PyMOTW's `multiprocessing_condition.py`).

use std::time::Duration;

use multiproc::Process;
use multiproc::sync::{Condition, Event};

fn stage_1((cond, done): (Condition, Event)) {
    let me = multiproc::current_process();
    println!("{} starting stage_1", me.name());
    std::thread::sleep(Duration::from_millis(200));
    let _g = cond.acquire().expect("lock");
    println!("{} done and ready for stage 2", me.name());
    done.set();
    cond.notify_all().expect("held");
}

fn stage_2((cond, done): (Condition, Event)) {
    let me = multiproc::current_process();
    let _g = cond.acquire().expect("lock");
    println!("{} starting stage_2", me.name());
    // wait_for re-checks the flag, so a notification sent before we waited is not missed.
    cond.wait_for(|| done.is_set()).expect("held");
    println!("{} running stage_2", me.name());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cond = Condition::new()?;
    let done = Event::new()?;
    let s1 = Process::builder().name("s1").target(stage_1, (cond.clone(), done.clone()));
    let s2: Vec<Process> = (1..=2)
        .map(|i| Process::builder().name(format!("stage_2[{i}]")).target(stage_2, (cond.clone(), done.clone())))
        .collect();
    for p in &s2 {
        p.start()?;
        std::thread::sleep(Duration::from_millis(50));
    }
    s1.start()?;
    s1.join()?;
    for p in &s2 {
        p.join()?;
    }
    Ok(())
}
