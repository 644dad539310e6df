//! `mpbench`: multiproc's numbers on the workloads of `python/baseline.py` (CPython's
//! `multiprocessing` on the same work), each beside its bare limit.
//!
//! ```text
//! mpbench [--quick] [--only GROUP,...] [--json | --human]   run the benchmarks
//! mpbench --list                                           every row, what it measures, its goal
//! mpbench compare [--quick] [--only GROUP,...] [--python PY,...] [--write]
//!                                                          run both sides, print each ratio
//! ```
//!
//! A run prints one JSON object per line, `{"bench": NAME, "value": X, "unit": U}` (the default
//! when stdout is not a terminal, or with `--json`), or a table (on a terminal, or with
//! `--human`). Rows named like CPython's are directly comparable; `raw_*` rows are the bare
//! limit (syscalls or atomics, no library) measured by this same binary, interleaved with the
//! row they bound, and `ratio_*` rows the median of the pairwise ratios; `peer_*` rows are other
//! Rust crates on the same workload. The groups are those of `python/baseline.py`:
//! `spawn_fork`, `spawn_forkserver`, `spawn_spawn`, `pipe`, `lock`, `event`, `shm`, `queue`
//! (and `peer` for procspawn alone).

mod bare;
mod chart;
mod common;
mod compare;
mod lock;
mod manager;
mod pipe;
mod pool;
mod queue;
mod ring;
mod rows;
mod shm;
mod spawn;

use common::Args;

const USAGE: &str = "usage:
  mpbench [--quick] [--only GROUP,...] [--json | --human]
  mpbench --list
  mpbench compare [--quick] [--only GROUP,...] [--python PY,...] [--write]";

fn main() {
    multiproc::init();
    procspawn::init();
    // A child of the raw spawn benchmark: exit at once, before anything else.
    if std::env::var_os(spawn::RAW_CHILD_ENV).is_some() {
        std::process::exit(0);
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("compare") => std::process::exit(compare::main(&argv[1..])),
        Some("--list" | "list") => list(),
        Some("--help" | "-h" | "help") => println!("{USAGE}"),
        _ => match Args::parse(&argv) {
            Ok(args) => run(&args),
            Err(e) => {
                eprintln!("mpbench: {e}\n{USAGE}");
                std::process::exit(2);
            }
        },
    }
}

fn run(args: &Args) {
    common::header();
    spawn::run(args);
    pipe::run(args);
    lock::run(args);
    shm::run(args);
    queue::run(args);
    pool::run(args);
    manager::run(args);
}

/// Prints every row of the table, by group.
fn list() {
    use rows::{Goal, Kind};
    let mut group = "";
    for r in rows::ROWS {
        if r.group != group {
            group = r.group;
            println!("\n[{group}]");
        }
        let kind = match r.kind {
            Kind::Workload => "",
            Kind::Variant => "variant",
            Kind::Raw => "bare limit",
            Kind::Ratio => "ratio",
            Kind::Peer => "peer crate",
        };
        println!("  {:<44} {:<20} {:<10} {}", r.name, r.unit, kind, r.about);
        let mut refs = Vec::new();
        if let Some(py) = r.cpython {
            refs.push(format!("CPython: {py}"));
        }
        if let Some(l) = r.limit {
            refs.push(format!("limit: {l}"));
        }
        match r.goal {
            Some(Goal::TimesCpython(x)) => refs.push(format!("goal: >= {x}x CPython")),
            Some(Goal::AtMostTimesLimit(x)) => refs.push(format!("goal: <= {x}x the limit")),
            Some(Goal::AtMost(x)) => refs.push(format!("goal: <= {x} {}", r.unit)),
            None => {}
        }
        if !refs.is_empty() {
            println!("  {:<44} {}", "", refs.join("; "));
        }
    }
}
