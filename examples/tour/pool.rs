//! The pool: map, apply_async with a callback, a worker SIGKILLed in the middle of a map, a
//! hard timeout, per-worker state and the workers' insights, under every start method.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use multiproc::StartMethod;
use multiproc::pool::{Pool, TaskOptions};

fn square(x: u64) -> u64 {
    x * x
}

/// Item 500 kills its own worker, as the OOM killer would.
fn die_at_500(x: u32) -> u32 {
    if x == 500 {
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
    x
}

fn spin_forever() -> u64 {
    loop {
        std::hint::spin_loop();
    }
}

/// A worker's state: built once per worker (a model to load, a connection to open).
struct Table(Vec<u64>);

fn load_table(n: u64) -> Table {
    Table((0..n).map(square).collect())
}

fn lookup(table: &mut Table, i: usize) -> u64 {
    table.0[i]
}

pub(crate) fn tour() -> Result<(), Box<dyn std::error::Error>> {
    for m in [StartMethod::Spawn, StartMethod::ForkServer, StartMethod::Fork] {
        println!("{m}:");
        let t = Instant::now();
        let pool = Pool::builder().processes(2).start_method(m).build()?;
        let squares = pool.map(square, 0..100)?;
        println!("  map(square, 0..100): sum {} (expected 328350)", squares.iter().sum::<u64>());

        let (tx, rx) = mpsc::channel();
        pool.apply_async(square, 12)?.callback(move |v| tx.send(*v).expect("the tour waits"));
        println!("  apply_async(square, 12) with a callback: the callback got {}", rx.recv()?);

        let outcomes: Vec<_> = pool.imap_with(die_at_500, 0..1000, &TaskOptions::new().chunksize(10))?.collect();
        let lost: Vec<_> = outcomes.iter().filter_map(|r| r.as_ref().err()).collect();
        println!(
            "  a worker SIGKILLed at item 500 of 1000: {} results, {} lost: {}",
            outcomes.len() - lost.len(),
            lost.len(),
            lost.first().map(|e| e.to_string()).unwrap_or_default()
        );

        let opts = TaskOptions::new().timeout(Duration::from_millis(200));
        let slow = pool.apply_with(spin_forever, (), &opts).unwrap_err();
        println!("  a task past its hard timeout: {slow}");
        println!("  and the pool goes on: apply(square, 7) = {}", pool.apply(square, 7)?);
        pool.close();
        pool.join()?;
        println!("  insights after join:");
        for line in pool.insights().to_string().lines() {
            println!("    {line}");
        }
        println!("  ({:?} for this start method)", t.elapsed());
    }

    println!("\nPer-worker state: each worker builds its table once, every task looks it up:");
    let pool =
        Pool::builder().processes(2).worker_state(load_table, 1000).worker_exit(|t: &mut Table| t.0.len()).build()?;
    println!("  map(lookup, [3, 30, 300]) = {:?}", pool.map(lookup, [3, 30, 300])?);
    pool.close();
    pool.join()?;
    println!("  the workers' exit functions returned {:?}", pool.exit_results::<usize>()?);
    Ok(())
}
