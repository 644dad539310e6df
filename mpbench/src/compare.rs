//! `mpbench compare`: runs this binary and `python/baseline.py` (with every CPython found) group
//! by group in one sitting, then prints each workload beside CPython's number and its bare
//! limit, with the ratios and the goal; writes a chart (SVG) and a markdown table.
//!
//! The groups alternate (multiproc, each CPython, next group ...) so that the two sides of a
//! comparison are measured minutes apart at most; within mpbench, each row and its `raw_*`
//! limit are interleaved round by round. Wake-up latency on small VMs swings several-fold with
//! load, so the ratios are the numbers to read, not the absolute times.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::chart::{self, Bar, ChartRow};
use crate::common::human;
use crate::rows::{self, Goal, Kind, ROWS, Row, SITTINGS};

const USAGE: &str = "usage: mpbench compare [--quick] [--only GROUP,...] [--python PY,...] [--docs]

Runs mpbench and python/baseline.py (every CPython 3.8+ found on PATH and in pyenv, or the
interpreters given with --python) group by group, prints each workload beside CPython and its
bare limit, and writes bench.svg and bench.md under target/mpbench/. With --docs, writes them
to docs/ instead and updates the table in README.md.";

/// The baseline script, in this package.
const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/baseline.py");

/// One side's rows: name -> (value, unit).
type Rows = BTreeMap<String, (f64, String)>;

/// A CPython interpreter and what it measured.
#[derive(Debug)]
struct Python {
    exe: String,
    version: String,
    rows: Rows,
}

#[derive(Debug, Default)]
struct Options {
    quick: bool,
    only: Option<Vec<String>>,
    pythons: Option<Vec<String>>,
    docs: bool,
}

fn parse(argv: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--docs" => o.docs = true,
            "--only" => {
                o.only = Some(it.next().ok_or("--only needs GROUP,...")?.split(',').map(String::from).collect())
            }
            "--python" => {
                o.pythons = Some(it.next().ok_or("--python needs PY,...")?.split(',').map(String::from).collect())
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

pub(crate) fn main(argv: &[String]) -> i32 {
    let opts = match parse(argv) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("mpbench compare: {e}");
            }
            eprintln!("{USAGE}");
            return 2;
        }
    };
    let exe = std::env::current_exe().expect("current_exe");
    let mut pythons: Vec<Python> = match &opts.pythons {
        Some(list) => list.iter().filter_map(|p| probe(p)).collect(),
        None => find_pythons(),
    };
    if pythons.is_empty() {
        eprintln!("mpbench compare: no CPython 3.8+ found (python3 on PATH, or --python PATH)");
    }
    let versions: Vec<&str> = pythons.iter().map(|p| p.version.as_str()).collect();
    eprintln!("CPython: {}", if versions.is_empty() { "none".into() } else { versions.join(", ") });
    let load_before = loadavg();
    let started = SystemTime::now();

    let mut ours = Rows::new();
    let mut failed = false;
    for sitting in SITTINGS {
        let groups: Vec<&str> =
            sitting.split(',').filter(|g| opts.only.as_ref().is_none_or(|o| o.iter().any(|x| x == g))).collect();
        if groups.is_empty() {
            continue;
        }
        let only = groups.join(",");
        let mut args = vec!["--json".to_string(), "--only".into(), only.clone()];
        if opts.quick {
            args.push("--quick".into());
        }
        eprintln!("[{only}] multiproc");
        match run_rows(exe.as_os_str(), &[], &args) {
            Ok(r) => ours.extend(r),
            Err(e) => {
                eprintln!("  mpbench failed: {e}");
                failed = true;
            }
        }
        let mut py_args = vec![BASELINE.to_string(), "--only".into(), only.clone()];
        if opts.quick {
            py_args.push("--quick".into());
        }
        for py in &mut pythons {
            eprintln!("[{only}] CPython {}", py.version);
            match run_rows(py.exe.as_ref(), &[], &py_args) {
                Ok(r) => py.rows.extend(r),
                Err(e) => eprintln!("  CPython {} failed: {e}", py.version),
            }
        }
    }
    let meta = Meta::gather(&opts, &pythons, load_before, started);
    let report = Report::new(&ours, &pythons, opts.only.as_deref());
    println!("{}", meta.line());
    println!();
    println!("{}", report.main_table().to_text());
    println!("\n{}", report.other_table(&ours).to_text());

    let svg = chart::render(
        &report.chart_rows(),
        "multiproc vs CPython multiprocessing, time per operation",
        &meta.svg_lines(),
    );
    let md = report.markdown(&meta, &ours, &pythons);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    let dir = if opts.docs { root.join("docs") } else { target_dir(&exe).join("mpbench") };
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(dir.join("bench.svg"), &svg))
        .and_then(|_| std::fs::write(dir.join("bench.md"), &md))
    {
        eprintln!("mpbench compare: writing {}: {e}", dir.display());
        return 1;
    }
    eprintln!("\nwrote {} and {}", dir.join("bench.svg").display(), dir.join("bench.md").display());
    if opts.docs {
        match update_readme(&root.join("README.md"), &report.readme_block(&meta)) {
            Ok(()) => eprintln!("updated the table in {}", root.join("README.md").display()),
            Err(e) => eprintln!("README.md not updated: {e}"),
        }
    }
    i32::from(failed)
}

/// `target/` from `target/release/mpbench`.
fn target_dir(exe: &Path) -> PathBuf {
    exe.parent().and_then(Path::parent).map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}

// ------------------------------------------------------------------------------ running

/// Runs a command and collects its `{"bench": ...}` lines.
fn run_rows(program: &std::ffi::OsStr, env: &[(&str, &str)], args: &[String]) -> Result<Rows, String> {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("{}: {e}", program.to_string_lossy()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = Rows::new();
    for line in text.lines() {
        let Some(obj) = parse_flat_json(line) else { continue };
        if let (Some(Json::Str(b)), Some(Json::Num(v)), Some(Json::Str(u))) =
            (obj.get("bench"), obj.get("value"), obj.get("unit"))
        {
            rows.insert(b.clone(), (*v, u.clone()));
        }
    }
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!("{} ({})\n{}", out.status, rows.len(), tail.join("\n")));
    }
    Ok(rows)
}

/// Every CPython 3.8+ reachable as `python3`, `python3.N` on PATH, or in pyenv's versions,
/// one per version, oldest first.
fn find_pythons() -> Vec<Python> {
    let mut candidates: Vec<String> = vec!["python3".into()];
    candidates.extend((8..=20).map(|m| format!("python3.{m}")));
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")));
    if let Some(Ok(dir)) = pyenv_root.map(|r| std::fs::read_dir(r.join("versions"))) {
        let mut found: Vec<String> = dir
            .flatten()
            .map(|e| e.path().join("bin/python3"))
            .filter(|p| p.exists())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        found.sort();
        candidates.extend(found);
    }
    let mut pythons: Vec<Python> = Vec::new();
    for c in candidates {
        if let Some(p) = probe(&c)
            && !pythons.iter().any(|q| q.version == p.version)
        {
            pythons.push(p);
        }
    }
    pythons.sort_by_key(|p| version_key(&p.version));
    pythons
}

/// Runs `exe` to learn its version; `None` unless it is CPython 3.8 or newer.
fn probe(exe: &str) -> Option<Python> {
    let out = Command::new(exe)
        .args(["-c", "import platform; print(platform.python_implementation(), platform.python_version())"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (implementation, version) = text.trim().split_once(' ')?;
    (implementation == "CPython" && version_key(version) >= (3, 8, 0)).then(|| Python {
        exe: exe.to_string(),
        version: version.to_string(),
        rows: Rows::new(),
    })
}

fn version_key(v: &str) -> (u32, u32, u32) {
    let mut it =
        v.split('.').map(|p| p.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0), it.next().unwrap_or(0))
}

// ------------------------------------------------------------------------------ a flat JSON object

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Str(String),
    Num(f64),
    Other,
}

/// Parses one flat JSON object (string keys; string, number, or other scalar values), as
/// mpbench and baseline.py print them. `None` for anything else.
fn parse_flat_json(line: &str) -> Option<BTreeMap<String, Json>> {
    let mut s = line.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    let mut map = BTreeMap::new();
    while !s.is_empty() {
        let (key, rest) = json_string(s)?;
        let rest = rest.trim_start().strip_prefix(':')?.trim_start();
        let (value, rest) = if rest.starts_with('"') {
            let (v, r) = json_string(rest)?;
            (Json::Str(v), r)
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let raw = rest[..end].trim();
            (raw.parse().map_or(Json::Other, Json::Num), &rest[end..])
        };
        map.insert(key, value);
        s = rest.trim_start();
        s = s.strip_prefix(',').unwrap_or(s).trim_start();
    }
    Some(map)
}

/// A JSON string at the start of `s`, and the rest after it.
fn json_string(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next().map(|c| c.1)).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?).unwrap_or('?'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

// ------------------------------------------------------------------------------ the machine

/// Where and when the numbers come from.
#[derive(Debug)]
struct Meta {
    date: String,
    cpus: usize,
    cpu_model: String,
    kernel: String,
    rustc: &'static str,
    pythons: Vec<String>,
    quick: bool,
    load_before: String,
    load_after: String,
    minutes: f64,
}

impl Meta {
    fn gather(opts: &Options, pythons: &[Python], load_before: String, started: SystemTime) -> Meta {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let kernel =
            std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| "?".into(), |s| s.trim().into());
        Meta {
            date: utc_date(SystemTime::now()),
            cpus: multiproc::cpu_count(),
            cpu_model,
            kernel,
            rustc: env!("MPBENCH_RUSTC"),
            pythons: pythons.iter().filter(|p| !p.rows.is_empty()).map(|p| p.version.clone()).collect(),
            quick: opts.quick,
            load_before,
            load_after: loadavg(),
            minutes: started.elapsed().map_or(0.0, |d| d.as_secs_f64() / 60.0),
        }
    }

    fn machine(&self) -> String {
        format!("{} CPUs ({}), Linux {}", self.cpus, self.cpu_model, self.kernel)
    }

    fn versions(&self) -> String {
        let py = if self.pythons.is_empty() { "none".into() } else { self.pythons.join(", ") };
        format!("multiproc {}, {}, CPython {py}", env!("CARGO_PKG_VERSION"), self.rustc)
    }

    fn run(&self) -> String {
        format!(
            "{}, {:.1} min, load average {} before, {} after",
            if self.quick { "--quick" } else { "full run" },
            self.minutes,
            self.load_before,
            self.load_after
        )
    }

    fn line(&self) -> String {
        format!("{}; {}; {}; {}", self.date, self.machine(), self.versions(), self.run())
    }

    fn svg_lines(&self) -> Vec<String> {
        vec![format!("{} · {}", self.date, self.machine()), self.versions(), self.run()]
    }
}

/// The 1-minute load average.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

// ------------------------------------------------------------------------------ the report

/// One workload's comparison.
#[derive(Debug)]
struct Line {
    row: &'static Row,
    ours: Option<f64>,
    /// Best CPython value and its version.
    py: Option<(f64, String)>,
    limit: Option<f64>,
    /// How many times faster than CPython (above 1: faster).
    speedup: Option<f64>,
    /// Our cost over the bare limit's (1: at the limit).
    cost: Option<f64>,
    met: Option<bool>,
}

#[derive(Debug)]
struct Report {
    lines: Vec<Line>,
}

/// Seconds per operation of a value in `unit` (per MiB for MB/s).
pub(crate) fn seconds_per_op(value: f64, unit: &str) -> f64 {
    let (head, _) = unit.split_once('/').unwrap_or((unit, ""));
    match head {
        "ns" => value * 1e-9,
        "us" => value * 1e-6,
        "ms" => value * 1e-3,
        "s" => value,
        "MB" => (1 << 20) as f64 / 1e6 / value,
        _ => 1.0 / value,
    }
}

/// `cost of a / cost of b` for two values in `unit`.
fn cost_ratio(a: f64, b: f64, unit: &str) -> f64 {
    seconds_per_op(a, unit) / seconds_per_op(b, unit)
}

impl Report {
    /// The workloads of the groups in `only` (all without it).
    fn new(ours: &Rows, pythons: &[Python], only: Option<&[String]>) -> Report {
        let lines = ROWS
            .iter()
            .filter(|r| r.kind == Kind::Workload && only.is_none_or(|o| o.iter().any(|g| g == r.group)))
            .map(|row| {
                let ours_v = ours.get(row.name).map(|v| v.0);
                let py = row.cpython.and_then(|name| {
                    pythons
                        .iter()
                        .filter_map(|p| p.rows.get(name).map(|v| (v.0, p.version.clone())))
                        .min_by(|a, b| cost_ratio(a.0, b.0, row.unit).total_cmp(&1.0))
                });
                let limit = row.limit.and_then(|l| ours.get(l)).map(|v| v.0);
                let speedup = ours_v.zip(py.as_ref()).map(|(o, p)| cost_ratio(p.0, o, row.unit));
                let cost = row
                    .ratio
                    .and_then(|r| ours.get(r))
                    .map(|v| v.0)
                    .or_else(|| ours_v.zip(limit).map(|(o, l)| cost_ratio(o, l, row.unit)));
                let met = match row.goal {
                    Some(Goal::TimesCpython(x)) => speedup.map(|s| s >= x),
                    Some(Goal::AtMostTimesLimit(x)) => cost.map(|c| c <= x),
                    Some(Goal::AtMost(x)) => ours_v.map(|v| v <= x),
                    None => None,
                };
                Line { row, ours: ours_v, py, limit, speedup, cost, met }
            })
            .collect();
        Report { lines }
    }

    fn main_table(&self) -> Table {
        let mut t = Table::new(&[
            "workload",
            "multiproc",
            "CPython (best)",
            "vs CPython",
            "bare limit",
            "multiproc / limit",
            "goal",
        ]);
        for l in &self.lines {
            let u = l.row.unit;
            t.push(vec![
                l.row.name.to_string(),
                l.ours.map_or_else(|| "no multiproc row yet".into(), |v| human(v, u)),
                l.py.as_ref().map_or_else(|| "-".into(), |(v, ver)| format!("{} ({ver})", human(*v, u))),
                l.speedup.map_or_else(String::new, faster),
                l.limit.map_or_else(String::new, |v| human(v, u)),
                l.cost.map_or_else(String::new, |c| format!("{}x", sig(c))),
                goal_text(l),
            ]);
        }
        t
    }

    /// Rows that are not workloads (variants, peers, limits, ratios), with their values.
    fn other_table(&self, ours: &Rows) -> Table {
        let mut t = Table::new(&["other row", "value", "what"]);
        for r in ROWS.iter().filter(|r| r.kind == Kind::Variant || r.kind == Kind::Peer) {
            if let Some((v, u)) = ours.get(r.name) {
                t.push(vec![r.name.into(), human(*v, u), r.about.into()]);
            }
        }
        for (name, (v, u)) in ours.iter().filter(|(n, _)| rows::find(n).is_none()) {
            t.push(vec![name.clone(), human(*v, u), "(not in rows.rs)".into()]);
        }
        t
    }

    fn chart_rows(&self) -> Vec<ChartRow> {
        self.lines
            .iter()
            .map(|l| {
                let u = l.row.unit;
                let bar = |v: f64, note: String| Bar {
                    seconds: seconds_per_op(v, u),
                    label: format!("{}{note}", human(v, u)),
                };
                ChartRow {
                    name: l.row.name.to_string(),
                    per: per_op(u),
                    ours: l.ours.map(|v| {
                        let mut notes = Vec::new();
                        if let Some(s) = l.speedup {
                            notes.push(format!("{} than CPython", faster(s)));
                        }
                        if let Some(c) = l.cost {
                            notes.push(format!("{}x limit", sig(c)));
                        }
                        bar(v, if notes.is_empty() { String::new() } else { format!("  ({})", notes.join(", ")) })
                    }),
                    python: l.py.as_ref().map(|(v, ver)| bar(*v, format!("  ({ver})"))),
                    limit: l.limit.map(|v| bar(v, String::new())),
                }
            })
            .collect()
    }

    fn markdown(&self, meta: &Meta, ours: &Rows, pythons: &[Python]) -> String {
        let mut s = String::new();
        s += "# mpbench: multiproc against CPython's multiprocessing\n\n";
        s += "Generated by `cargo run --release -p mpbench -- compare --docs`; do not edit by hand.\n\n";
        s += &format!(
            "- date: {}\n- machine: {}\n- versions: {}\n- run: {}\n\n",
            meta.date,
            meta.machine(),
            meta.versions(),
            meta.run()
        );
        s += "![multiproc, CPython and the bare limit per workload](bench.svg)\n\n";
        s += "\"vs CPython\": multiproc against the best CPython version on the same workload. ";
        s += "\"multiproc / limit\": multiproc's time per operation over the bare limit's (the same work with bare syscalls or atomics, \
              measured by the same binary, interleaved round by round: median of the per-round ratios).\n\n";
        s += &self.main_table().to_markdown();
        s += "\n## Every CPython version\n\n";
        let mut header = vec!["workload".to_string()];
        header.extend(pythons.iter().filter(|p| !p.rows.is_empty()).map(|p| format!("CPython {}", p.version)));
        let mut t = Table { header, rows: Vec::new() };
        let mut names: Vec<&str> = Vec::new();
        for r in ROWS.iter().filter_map(|r| r.cpython) {
            if !names.contains(&r) {
                names.push(r);
            }
        }
        for name in names {
            let mut cells = vec![name.to_string()];
            for p in pythons.iter().filter(|p| !p.rows.is_empty()) {
                cells.push(p.rows.get(name).map_or_else(|| "-".into(), |(v, u)| human(*v, u)));
            }
            t.push(cells);
        }
        s += &t.to_markdown();
        s += "\n## Other rows\n\n";
        s += &self.other_table(ours).to_markdown();
        s += "\n## What each row measures\n\n";
        s += "| row | unit | what |\n|---|---|---|\n";
        for r in ROWS {
            s += &format!("| `{}` | {} | {} |\n", r.name, r.unit, r.about);
        }
        s
    }

    /// The block of README.md between the markers: the chart, where it comes from, the table.
    fn readme_block(&self, meta: &Meta) -> String {
        let mut s = String::new();
        s += "![multiproc, CPython and the bare limit per workload, log scale](docs/bench.svg)\n\n";
        s += &format!(
            "{}; {}; {}; {}. Every row's description, each CPython version and the other rows: \
             [docs/bench.md](docs/bench.md).\n\n",
            meta.date,
            meta.machine(),
            meta.versions(),
            meta.run()
        );
        s += &self.main_table().to_markdown();
        s += "\n<details><summary>What each workload measures</summary>\n\n";
        for l in &self.lines {
            let limit =
                l.row.limit.and_then(rows::find).map_or(String::new(), |r| format!("; bare limit: {}", r.about));
            s += &format!("- `{}`: {}{limit}.\n", l.row.name, l.row.about);
        }
        s += "\n</details>\n";
        s
    }
}

fn goal_text(l: &Line) -> String {
    let goal = match l.row.goal {
        Some(Goal::TimesCpython(x)) => format!(">= {x}x CPython"),
        Some(Goal::AtMostTimesLimit(x)) => format!("<= {x}x limit"),
        Some(Goal::AtMost(x)) => format!("<= {x} {}", l.row.unit.split('/').next().unwrap_or("")),
        None => return String::new(),
    };
    match l.met {
        Some(true) => format!("{goal}: met"),
        Some(false) => format!("{goal}: NOT met"),
        None => goal,
    }
}

/// "per process", "per message", "per MiB" ...
fn per_op(unit: &str) -> String {
    let (head, tail) = unit.split_once('/').unwrap_or((unit, ""));
    match (head, tail) {
        ("MB", "s") => "per MiB".into(),
        ("ns" | "us" | "ms" | "s", what) => format!("per {}", what.replace("roundtrip", "round trip")),
        ("msgs", "s") => "per message".into(),
        (what, "s") => format!("per {}", what.strip_suffix('s').unwrap_or(what)),
        _ => String::new(),
    }
}

/// "8.6x faster" or "1.4x slower", for a speed-up.
fn faster(speedup: f64) -> String {
    if speedup >= 1.0 { format!("{}x faster", sig(speedup)) } else { format!("{}x slower", sig(1.0 / speedup)) }
}

/// Three significant digits for a ratio.
fn sig(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A table printed as aligned text or as markdown.
#[derive(Debug)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    fn to_text(&self) -> String {
        let n = self.header.len();
        let width: Vec<usize> = (0..n)
            .map(|i| {
                self.rows
                    .iter()
                    .chain([&self.header])
                    .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |r: &Vec<String>| {
            let cells: Vec<String> =
                (0..n).map(|i| format!("{:<w$}", r.get(i).map_or("", String::as_str), w = width[i])).collect();
            cells.join("  ").trim_end().to_string()
        };
        let mut out = vec![line(&self.header)];
        out.extend(self.rows.iter().map(line));
        out.join("\n")
    }

    fn to_markdown(&self) -> String {
        let mut s = format!("| {} |\n", self.header.join(" | "));
        s += &format!("|{}\n", "---|".repeat(self.header.len()));
        for r in &self.rows {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| if i == 0 { format!("`{c}`") } else { c.replace('|', "\\|") })
                .collect();
            s += &format!("| {} |\n", cells.join(" | "));
        }
        s
    }
}

const BEGIN: &str = "<!-- mpbench compare: begin -->";
const END: &str = "<!-- mpbench compare: end -->";

/// Replaces the text between the markers in the README.
fn update_readme(path: &Path, block: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!("no {BEGIN} ... {END} markers"));
    };
    if e < b {
        return Err("markers out of order".into());
    }
    let new = format!("{}{BEGIN}\n{block}{}", &text[..b], &text[e..]);
    std::fs::write(path, new).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_json() {
        let m = parse_flat_json(r#"{"bench": "queue_64B", "value": 55924.952, "unit": "msgs/s"}"#).unwrap();
        assert_eq!(m["bench"], Json::Str("queue_64B".into()));
        assert_eq!(m["value"], Json::Num(55924.952));
        let m = parse_flat_json(r#"{"python": "3.11.7", "executable": "/a\"b", "cpus": 2, "x": null}"#).unwrap();
        assert_eq!(m["executable"], Json::Str("/a\"b".into()));
        assert_eq!(m["cpus"], Json::Num(2.0));
        assert_eq!(m["x"], Json::Other);
        assert!(parse_flat_json("warning: not json").is_none());
    }

    #[test]
    fn dates_and_units() {
        assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(UNIX_EPOCH + std::time::Duration::from_secs(1_709_210_096)), "2024-02-29 12:34 UTC");
        assert_eq!(per_op("us/roundtrip"), "per round trip");
        assert_eq!(faster(8.6), "8.60x faster");
        assert_eq!(faster(0.5), "2.00x slower");
        assert_eq!(per_op("msgs/s"), "per message");
        assert_eq!(per_op("increments/s"), "per increment");
        assert_eq!(per_op("MB/s"), "per MiB");
        assert!((cost_ratio(100.0, 200.0, "MB/s") - 2.0).abs() < 1e-12);
        assert!((cost_ratio(100.0, 200.0, "us/process") - 0.5).abs() < 1e-12);
    }
}
