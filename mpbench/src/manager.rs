//! Managed dict throughput, the workload of `python_baseline.py`'s manager group: a dict
//! on a manager server, then
//!
//! - `manager_dict_setget` (ops/s): 10,000 `d[i] = i`, then 10,000 `d[i]`, one round trip
//!   each, counted as 20,000 operations;
//! - `manager_dict_batch` (ops/s): the same sets and gets, 1,000 per round trip
//!   (`set_many`, `get_many`).
//!
//! Manager start is excluded, as in Python. Each row is the median of 5 rounds (1 with
//! `--quick`), each on a fresh dict.

use std::time::Instant;

use multiproc::manager::Manager;

use crate::common::{Args, emit, median};

/// Operations per round trip in the batched row.
const BATCH: u64 = 1000;

fn setget_rate(m: &Manager, n: u64) -> f64 {
    let d = m.dict::<u64, u64>().expect("dict");
    let t = Instant::now();
    for i in 0..n {
        d.set(i, i).expect("set");
    }
    for i in 0..n {
        assert_eq!(d.get(&i).expect("get"), i);
    }
    let dt = t.elapsed().as_secs_f64();
    m.release(&d).expect("release");
    2.0 * n as f64 / dt
}

fn batch_rate(m: &Manager, n: u64) -> f64 {
    let d = m.dict::<u64, u64>().expect("dict");
    let t = Instant::now();
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        d.set_many((start..end).map(|i| (i, i))).expect("set_many");
        start = end;
    }
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        let keys: Vec<u64> = (start..end).collect();
        let got = d.get_many(&keys).expect("get_many");
        assert!(got.iter().zip(start..end).all(|(v, i)| *v == Some(i)));
        start = end;
    }
    let dt = t.elapsed().as_secs_f64();
    m.release(&d).expect("release");
    2.0 * n as f64 / dt
}

fn rounds(args: &Args, mut f: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..if args.quick { 1 } else { 5 }).map(|_| f()).collect();
    median(&mut v)
}

/// The `manager` group.
pub(crate) fn run(args: &Args) {
    if !args.want("manager") {
        return;
    }
    let n = args.n(10_000, 1_000) as u64;
    let m = Manager::start().expect("manager");
    setget_rate(&m, 100);
    emit("manager_dict_setget", rounds(args, || setget_rate(&m, n)), "ops/s");
    emit("manager_dict_batch", rounds(args, || batch_rate(&m, n)), "ops/s");
}
