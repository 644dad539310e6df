//! `mpbench`: multiproc's numbers on the workloads of `shared/bench/python_baseline.py`.
//!
//! Prints one JSON object per line: `{"bench": NAME, "value": X, "unit": U}`. Rows named like
//! CPython's are directly comparable; `raw_*` rows are the bare-syscall limit measured by this
//! same binary, interleaved with the row they bound; `peer_*` rows are other Rust crates on the
//! same workload.
//!
//! Usage: `mpbench [--quick] [--only GROUP,...]` with the groups of `python_baseline.py`
//! (`spawn_fork`, `spawn_forkserver`, `spawn_spawn`, ...).

mod common;
mod lock;
mod pipe;
mod pool;
mod queue;
mod shm;
mod spawn;

use common::Args;

fn main() {
    multiproc::init();
    procspawn::init();
    // A child of the raw spawn benchmark: exit at once, before anything else.
    if std::env::var_os(spawn::RAW_CHILD_ENV).is_some() {
        std::process::exit(0);
    }
    let args = Args::parse();
    println!("{{\"multiproc\": \"{}\", \"cpus\": {}}}", env!("CARGO_PKG_VERSION"), multiproc::cpu_count());
    spawn::run(&args);
    pipe::run(&args);
    lock::run(&args);
    shm::run(&args);
    queue::run(&args);
    pool::run(&args);
}
