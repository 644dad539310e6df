//! A tour of multiproc: every capability demonstrated, with output.
//!
//! Run with `cargo run --release --example tour`. Each section lives in its own file beside
//! this one and prints what it shows.

mod connection;
mod manager;
mod pool;
mod processes;
mod queue;
mod shm;
mod sync;

fn section(title: &str) {
    println!("\n=== {title} ===");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    section("Processes, start methods and exit codes");
    processes::tour()?;
    section("Pipes and connections: Pipe, Listener/Client with authkey, wait");
    connection::tour()?;
    section("Synchronisation: locks, events, conditions, barriers");
    sync::tour()?;
    section("Shared memory: Value, Array, SharedMemory, ShareableList");
    shm::tour()?;
    section("Queues");
    queue::tour()?;
    section("Pools: map, callbacks, a killed worker, timeouts, worker state, insights");
    pool::tour()?;
    section("Managers: shared dict, list, namespace, locks, custom types, remote clients");
    manager::tour()?;
    println!("\ntour finished");
    Ok(())
}
