//! Process start+join under each start method, against bare fork+wait and spawn+exec+wait,
//! and procspawn on the same workload.

use std::process::Command;

use multiproc::{StartMethod, get_context};

use crate::common::{Args, emit, interleaved, time_n};

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

/// `posix_spawn` of this binary, which exits first thing in `main`, + wait: the floor of a
/// spawn start method that re-executes the binary.
fn raw_spawn_exec_wait() {
    let st = Command::new("/proc/self/exe").env(RAW_CHILD_ENV, "1").status().expect("spawn");
    assert!(st.success());
}

pub(crate) fn run(args: &Args) {
    let rounds = if args.quick { 5 } else { 15 };
    for (group, m) in [
        ("spawn_fork", StartMethod::Fork),
        ("spawn_forkserver", StartMethod::ForkServer),
        ("spawn_spawn", StartMethod::Spawn),
    ] {
        if !args.want(group) {
            continue;
        }
        start_join(m); // warm up (starts the fork server)
        let batch = if m == StartMethod::Spawn { 4 } else { 10 };
        let (ours, raw, ratio) = if m == StartMethod::Spawn {
            interleaved(rounds, batch, |n| time_n(n, || start_join(m)), |n| time_n(n, raw_spawn_exec_wait))
        } else {
            interleaved(rounds, batch, |n| time_n(n, || start_join(m)), |n| time_n(n, raw_fork_wait))
        };
        emit(&format!("process_start_join_{}", m.as_str()), ours.as_secs_f64() * 1e6, "us/process");
        let raw_name = if m == StartMethod::Spawn { "raw_spawn_exec_wait" } else { "raw_fork_wait" };
        emit(raw_name, raw.as_secs_f64() * 1e6, "us/process");
        emit(&format!("ratio_process_start_join_{}_vs_raw", m.as_str()), ratio, "x");
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
