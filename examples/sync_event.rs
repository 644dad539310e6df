//! Signalling between processes with an Event (PyMOTW's `multiprocessing_event.py`): one
//! process blocks until the event is set, another gives up after a timeout and reports the
//! flag it saw.

use std::time::Duration;

use multiproc::Process;
use multiproc::sync::Event;

fn wait_for_event(e: Event) {
    println!("wait_for_event: starting");
    e.wait();
    println!("wait_for_event: e.is_set()-> {}", e.is_set());
}

fn wait_for_event_timeout((e, t_ms): (Event, u64)) {
    println!("wait_for_event_timeout: starting");
    let set = e.wait_timeout(Duration::from_millis(t_ms)).is_ok();
    println!("wait_for_event_timeout: e.is_set()-> {set}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let e = Event::new()?;
    let w1 = Process::builder().name("block").target(wait_for_event, e.clone());
    w1.start()?;
    let w2 = Process::builder().name("nonblock").target(wait_for_event_timeout, (e.clone(), 200));
    w2.start()?;
    println!("main: waiting before calling Event.set()");
    std::thread::sleep(Duration::from_millis(300));
    e.set();
    println!("main: event is set");
    w1.join()?;
    w2.join()?;
    Ok(())
}
