//! Process start+join under each start method, against bare fork+wait and spawn+exec+wait,
//! and procspawn on the same workload.

use std::process::Command;

use multiproc::{StartMethod, get_context};

use crate::common::{Args, emit, interleaved, median, time_n};

/// Set in the environment of the raw spawn benchmark's children: exit at once.
pub(crate) const RAW_CHILD_ENV: &str = "MPBENCH_RAW_CHILD";

fn noop(_: ()) {}

fn start_join(m: StartMethod) {
    let p = get_context(Some(m)).process(noop, ());
    p.start().expect("start");
    assert_eq!(p.join().expect("join"), 0);
}

/// `fork()` + `_exit(0)` + `waitpid`: what any fork-based start costs at least.
fn raw_fork_wait() {
    // SAFETY: the child calls only the async-signal-safe `_exit`.
    #[allow(unsafe_code)]
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        let mut st = 0;
        libc::waitpid(pid, &mut st, 0);
    }
}

/// Minor page faults of this process and its reaped children so far.
fn minor_faults() -> i64 {
    let mut total = 0;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: getrusage writes one rusage into the zeroed value it is given.
        #[allow(unsafe_code)]
        let ru = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut ru);
            ru
        };
        total += ru.ru_minflt;
    }
    total
}

/// `posix_spawn` of this binary, which exits first thing in `main`, + wait: the floor of a
/// spawn start method that re-executes the binary.
fn raw_spawn_exec_wait() {
    let st = Command::new("/proc/self/exe").env(RAW_CHILD_ENV, "1").status().expect("spawn");
    assert!(st.success());
}

pub(crate) fn run(args: &Args) {
    let rounds = if args.quick { 5 } else { 15 };
    // Fork and fork server against one series of bare fork+wait, interleaved round by round
    // (fork, fork server, raw, fork, ...), so that the single `raw_fork_wait` row is the
    // reference of both and every ratio compares measurements taken moments apart.
    let forks: Vec<StartMethod> = [("spawn_fork", StartMethod::Fork), ("spawn_forkserver", StartMethod::ForkServer)]
        .into_iter()
        .filter(|(g, _)| args.want(g))
        .map(|(_, m)| m)
        .collect();
    if !forks.is_empty() {
        for &m in &forks {
            start_join(m); // warm up (starts the fork server)
        }
        let batch = 10;
        let mut ours: Vec<Vec<f64>> = vec![Vec::new(); forks.len()];
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); forks.len()];
        let mut raw = Vec::new();
        for _ in 0..rounds {
            let per: Vec<f64> =
                forks.iter().map(|&m| time_n(batch, || start_join(m)).as_secs_f64() / batch as f64).collect();
            let r = time_n(batch, raw_fork_wait).as_secs_f64() / batch as f64;
            for (i, t) in per.into_iter().enumerate() {
                ours[i].push(t);
                ratios[i].push(t / r);
            }
            raw.push(r);
        }
        for (i, &m) in forks.iter().enumerate() {
            emit(&format!("process_start_join_{}", m.as_str()), median(&mut ours[i]) * 1e6, "us/process");
            emit(&format!("ratio_process_start_join_{}_vs_raw", m.as_str()), median(&mut ratios[i]), "x");
        }
        emit("raw_fork_wait", median(&mut raw) * 1e6, "us/process");
    }
    if args.want("spawn_fork") {
        // Copy-on-write faults are counted, not timed: the same on a busy machine as on an
        // idle one.
        let n = args.n(500, 100);
        let before = minor_faults();
        for _ in 0..n {
            start_join(StartMethod::Fork);
        }
        let after = minor_faults();
        emit("fork_page_faults", (after - before) as f64 / n as f64, "faults/process");
    }
    if args.want("spawn_spawn") {
        let m = StartMethod::Spawn;
        start_join(m);
        let (ours, raw, ratio) =
            interleaved(rounds, 4, |n| time_n(n, || start_join(m)), |n| time_n(n, raw_spawn_exec_wait));
        emit("process_start_join_spawn", ours * 1e6, "us/process");
        emit("raw_spawn_exec_wait", raw * 1e6, "us/process");
        emit("ratio_process_start_join_spawn_vs_raw", ratio, "x");
    }
    if args.want("spawn_spawn") || args.want("peer") {
        let n = args.n(50, 5);
        let h = procspawn::spawn((), |()| ());
        h.join().expect("procspawn warm-up");
        let d = time_n(n, || {
            procspawn::spawn((), |()| ()).join().expect("procspawn join");
        });
        emit("peer_procspawn_spawn_join", d.as_secs_f64() * 1e6 / n as f64, "us/process");
    }
}
