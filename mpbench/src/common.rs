//! Argument parsing, JSON rows and interleaved measurement.

use std::time::{Duration, Instant};

/// Command-line options.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) quick: bool,
    only: Option<Vec<String>>,
}

impl Args {
    pub(crate) fn parse() -> Args {
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let quick = argv.iter().any(|a| a == "--quick");
        let only = argv
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| argv.get(i + 1))
            .map(|s| s.split(',').map(str::to_string).collect());
        Args { quick, only }
    }

    /// Is `group` selected?
    pub(crate) fn want(&self, group: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|g| g == group))
    }

    /// Scales an iteration count: a tenth with `--quick` (at least `min`).
    pub(crate) fn n(&self, full: usize, min: usize) -> usize {
        if self.quick { (full / 10).max(min) } else { full }
    }
}

/// Prints one result row.
pub(crate) fn emit(bench: &str, value: f64, unit: &str) {
    println!("{{\"bench\": \"{bench}\", \"value\": {:.3}, \"unit\": \"{unit}\"}}", value);
}

/// Median of a list.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Measures `ours` and `raw` interleaved (A B A B ...), `rounds` pairs of `batch` iterations
/// each; returns (median per-iteration time of ours, median of raw, median of pairwise ratios).
pub(crate) fn interleaved(
    rounds: usize,
    batch: usize,
    mut ours: impl FnMut(usize) -> Duration,
    mut raw: impl FnMut(usize) -> Duration,
) -> (Duration, Duration, f64) {
    let mut o = Vec::new();
    let mut r = Vec::new();
    let mut ratio = Vec::new();
    for _ in 0..rounds {
        let a = ours(batch).as_secs_f64() / batch as f64;
        let b = raw(batch).as_secs_f64() / batch as f64;
        o.push(a);
        r.push(b);
        ratio.push(a / b);
    }
    (Duration::from_secs_f64(median(&mut o)), Duration::from_secs_f64(median(&mut r)), median(&mut ratio))
}

/// Times `f` over `n` iterations.
pub(crate) fn time_n(n: usize, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed()
}
