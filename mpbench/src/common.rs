//! Argument parsing, output (JSON lines or a table) and interleaved measurement.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::rows;

/// Command-line options of a benchmark run.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) quick: bool,
    only: Option<Vec<String>>,
}

/// How rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// `{"bench": NAME, "value": X, "unit": U}`, one per line.
    Json,
    /// An aligned table with human units and each row's description.
    Human,
}

static OUTPUT: OnceLock<Output> = OnceLock::new();

impl Args {
    /// Parses `[--quick] [--only GROUP,...] [--json | --human]`; the output defaults to a table
    /// on a terminal and JSON lines otherwise.
    pub(crate) fn parse(argv: &[String]) -> Result<Args, String> {
        let mut quick = false;
        let mut only = None;
        let mut output = None;
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => quick = true,
                "--only" => {
                    let v = it.next().ok_or("--only needs GROUP,...")?;
                    only = Some(v.split(',').map(str::to_string).collect());
                }
                "--json" => output = Some(Output::Json),
                "--human" => output = Some(Output::Human),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let output = output.unwrap_or(if std::io::stdout().is_terminal() { Output::Human } else { Output::Json });
        let _ = OUTPUT.set(output);
        Ok(Args { quick, only })
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

fn output() -> Output {
    *OUTPUT.get().unwrap_or(&Output::Json)
}

/// Prints the first line: which build this is and on how many CPUs.
pub(crate) fn header() {
    let cpus = multiproc::cpu_count();
    match output() {
        Output::Json => println!("{{\"multiproc\": \"{}\", \"cpus\": {cpus}}}", env!("CARGO_PKG_VERSION")),
        Output::Human => {
            println!("multiproc {} on {cpus} CPUs", env!("CARGO_PKG_VERSION"));
            println!("{:<44} {:>20}  what", "row", "value");
        }
    }
}

/// Prints one result row.
pub(crate) fn emit(bench: &str, value: f64, unit: &str) {
    let row = rows::find(bench);
    if row.is_none_or(|r| r.unit != unit) {
        eprintln!("mpbench: row {bench} ({unit}) differs from its entry in rows.rs");
    }
    match output() {
        Output::Json => println!("{{\"bench\": \"{bench}\", \"value\": {value:.3}, \"unit\": \"{unit}\"}}"),
        Output::Human => {
            println!("{bench:<44} {:>20}  {}", human(value, unit), row.map_or("", |r| r.about));
        }
    }
}

/// `value` in `unit` with three significant digits and a scaled unit: `1.23 ms`, `4.5 M/s`.
pub(crate) fn human(value: f64, unit: &str) -> String {
    if !value.is_finite() {
        return "-".into();
    }
    if unit == "x" {
        return format!("{}x", sig3(value));
    }
    let (head, tail) = unit.split_once('/').unwrap_or((unit, ""));
    let time = |secs: f64| {
        let (v, u) = match secs.abs() {
            s if s >= 1.0 => (secs, "s"),
            s if s >= 1e-3 => (secs * 1e3, "ms"),
            s if s >= 1e-6 => (secs * 1e6, "us"),
            _ => (secs * 1e9, "ns"),
        };
        format!("{} {u}", sig3(v))
    };
    match head {
        "ns" => time(value * 1e-9),
        "us" => time(value * 1e-6),
        "ms" => time(value * 1e-3),
        "s" => time(value),
        "MB" if value >= 1000.0 => format!("{} GB/s", sig3(value / 1000.0)),
        "MB" => format!("{} MB/s", sig3(value)),
        _ if tail == "s" => {
            let (v, p) = match value.abs() {
                v if v >= 1e9 => (value / 1e9, "G "),
                v if v >= 1e6 => (value / 1e6, "M "),
                v if v >= 1e3 => (value / 1e3, "k "),
                _ => (value, ""),
            };
            format!("{} {p}{head}/s", sig3(v))
        }
        _ => format!("{} {unit}", sig3(value)),
    }
}

/// Three significant digits, without trailing zeros after the point.
fn sig3(v: f64) -> String {
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// Median of a list.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Measures `ours` and `raw` interleaved (A B A B ...), `rounds` pairs of `batch` iterations
/// each; returns (median seconds per iteration of ours, median of raw, median of pairwise
/// ratios).
pub(crate) fn interleaved(
    rounds: usize,
    batch: usize,
    mut ours: impl FnMut(usize) -> Duration,
    mut raw: impl FnMut(usize) -> Duration,
) -> (f64, f64, f64) {
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
    (median(&mut o), median(&mut r), median(&mut ratio))
}

/// Times `f` over `n` iterations.
pub(crate) fn time_n(n: usize, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed()
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_units() {
        assert_eq!(human(258.2, "us/process"), "258 us");
        assert_eq!(human(1011.9, "us/process"), "1.01 ms");
        assert_eq!(human(17.2, "ns/acquire+release"), "17.2 ns");
        assert_eq!(human(5_043_977.0, "msgs/s"), "5.04 M msgs/s");
        assert_eq!(human(15007.6, "MB/s"), "15 GB/s");
        assert_eq!(human(390.8, "MB/s"), "391 MB/s");
        assert_eq!(human(1.271, "x"), "1.27x");
    }
}
