//! The rest of CPython's process API: logging carried into children, exit hooks
//! (`util.Finalize`), after-fork hooks, fork-server preloading, renaming the current process,
//! context factories, and behaviours 174, 180, 187, 190, 197, 205 and 218 of CPython's suite.
//! Process tests run under every start method, each with a watchdog.

mod common;

use std::ffi::OsStr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use common::{METHODS, Watchdog, each_method};
use multiproc::logging::{self, Level};
use multiproc::util::{Finalize, is_exiting, register_after_fork};
use multiproc::{Process, StartMethod, get_context};

const LIMIT: Duration = Duration::from_secs(60);

fn child_logs() {
    println!("child level {}", logging::get_logger().level());
    logging::get_logger().info("hello from the child");
}

#[test]
#[ignore = "helper for children_log_at_the_parents_level"]
fn helper_logging() {
    if !common::in_helper() {
        return;
    }
    logging::log_to_stderr(Some(Level::Info));
    for m in METHODS {
        let p = get_context(Some(m)).process(child_logs, ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    }
    logging::get_logger().debug("not printed: below the level");
    // Left running: the exit sequence joins it (and says so), and terminates the daemon.
    let p = Process::builder().name("left-running").target(|| std::thread::sleep(Duration::from_millis(200)), ());
    p.start().unwrap();
    let d = Process::builder().name("a-daemon").daemon(true).target(|| std::thread::sleep(Duration::from_secs(60)), ());
    d.start().unwrap();
}

// Behaviour 172: log_to_stderr's level reaches children under every start method, and the
// library's life-cycle records are printed in CPython's format.
#[test]
fn children_log_at_the_parents_level() {
    let _w = Watchdog::new("logging", LIMIT);
    let (stdout, stderr) = common::helper_output("helper_logging", &[]);
    assert_eq!(stdout.matches("child level INFO").count(), 3, "{stdout}");
    // Three children, one per method, then the two left running at exit (the daemon may be
    // terminated before it gets that far).
    let runs = stderr.matches("] child process calling self.run()").count();
    assert!((4..=5).contains(&runs), "{runs}: {stderr}");
    // The daemon is terminated: it leaves by SIGTERM, without an exit record.
    assert_eq!(stderr.matches("] process exiting with exitcode 0").count(), 4, "{stderr}");
    assert_eq!(stderr.matches("] hello from the child").count(), 3, "{stderr}");
    assert!(stderr.contains("[INFO/Process-1] hello from the child"), "{stderr}");
    assert!(stderr.contains("[INFO/MainProcess] process shutting down"), "{stderr}");
    assert!(stderr.contains("[INFO/MainProcess] calling join() for process left-running"), "{stderr}");
    assert!(stderr.contains("[INFO/MainProcess] calling terminate() for daemon a-daemon"), "{stderr}");
    assert!(!stderr.contains("not printed"), "{stderr}");
}

fn hooks_then(how: u8) -> i32 {
    Finalize::at_exit(|| println!("hook low {}", is_exiting()), -1);
    Finalize::at_exit(|| println!("hook high"), 5);
    let scoped = Finalize::new(|| println!("scoped ran"), None);
    drop(scoped);
    match how {
        0 => 0,
        1 => multiproc::exit(4),
        _ => {
            // Killed: no hook runs.
            let _ = std::io::Write::flush(&mut std::io::stdout());
            unsafe_kill_self()
        }
    }
}

#[allow(unsafe_code)]
fn unsafe_kill_self() -> i32 {
    // SAFETY: raise has no memory-safety preconditions.
    unsafe { libc::raise(libc::SIGKILL) };
    0
}

#[test]
#[ignore = "helper for exit_hooks_run_in_children_at_normal_exit"]
fn helper_exit_hooks() {
    if !common::in_helper() {
        return;
    }
    let me = std::process::id();
    Finalize::at_exit(move || println!("parent hook in {}", std::process::id() == me), 0);
    for m in METHODS {
        for how in 0..3u8 {
            let p = get_context(Some(m)).process(hooks_then, how);
            p.start().unwrap();
            let code = p.join().unwrap();
            println!("{m} {how} -> {code}");
        }
    }
}

// Behaviour 218 (atexit handlers registered in a child run when it exits normally), and
// Finalize's order: priority >= 0 before the rest, highest first; nothing after SIGKILL; a
// forked child does not run its parent's hooks.
#[test]
fn exit_hooks_run_in_children_at_normal_exit() {
    let _w = Watchdog::new("exit hooks", LIMIT);
    let (stdout, _) = common::helper_output("helper_exit_hooks", &[]);
    for m in METHODS {
        assert!(stdout.contains(&format!("{m} 0 -> 0")), "{stdout}");
        assert!(stdout.contains(&format!("{m} 1 -> 4")), "{stdout}");
        assert!(stdout.contains(&format!("{m} 2 -> -9")), "{stdout}");
    }
    // Two normal exits per method run both hooks, high first, with is_exiting set.
    assert_eq!(stdout.matches("hook high\nhook low true\n").count(), 6, "{stdout}");
    assert_eq!(stdout.matches("scoped ran").count(), 9, "{stdout}");
    // The parent's hook ran once, in the parent, at its own exit.
    assert_eq!(stdout.matches("parent hook in").count(), 1, "{stdout}");
    assert!(stdout.contains("parent hook in true"), "{stdout}");
}

/// (pid, runs) of the after-fork hook in this process.
static HOOK_RUNS: AtomicU64 = AtomicU64::new(0);

fn count_hook() {
    let me = std::process::id() as u64;
    let cur = HOOK_RUNS.load(Ordering::Relaxed);
    let runs = if cur >> 32 == me { (cur & 0xffff_ffff) + 1 } else { 1 };
    HOOK_RUNS.store(me << 32 | runs, Ordering::Relaxed);
}

fn hook_runs_here() -> u64 {
    let cur = HOOK_RUNS.load(Ordering::Relaxed);
    if cur >> 32 == std::process::id() as u64 { cur & 0xffff_ffff } else { 0 }
}

fn nested_fork(depth: u32) -> i32 {
    println!("depth {depth}: hook ran {} times", hook_runs_here());
    if depth == 5 {
        return 0;
    }
    let p = get_context(Some(StartMethod::Fork)).process(nested_fork, depth + 1);
    p.start().unwrap();
    p.join().unwrap()
}

#[test]
#[ignore = "helper for after_fork_hooks_run_once_per_forked_child"]
fn helper_after_fork() {
    if !common::in_helper() {
        return;
    }
    register_after_fork(count_hook);
    let p =
        get_context(Some(StartMethod::Spawn)).process(|| println!("spawned: hook ran {} times", hook_runs_here()), ());
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(nested_fork(0), 0);
}

// Behaviour 190: after-fork hooks run once in each forked child, and their list does not grow
// across five generations of nested forks; a spawned child starts afresh.
#[test]
fn after_fork_hooks_run_once_per_forked_child() {
    let _w = Watchdog::new("after-fork hooks", LIMIT);
    let (stdout, _) = common::helper_output("helper_after_fork", &[]);
    assert!(stdout.contains("spawned: hook ran 0 times"), "{stdout}");
    assert!(stdout.contains("depth 0: hook ran 0 times"), "the parent itself ran it:\n{stdout}");
    for d in 1..=5 {
        assert!(stdout.contains(&format!("depth {d}: hook ran 1 times")), "depth {d}:\n{stdout}");
    }
}

/// Set by the preload function in the fork server: its pid and a computed value.
static PRELOADED_BY: AtomicU32 = AtomicU32::new(0);
static PRELOADED: AtomicU64 = AtomicU64::new(0);
static PRELOAD_RUNS: AtomicU32 = AtomicU32::new(0);

fn preload() {
    PRELOADED_BY.store(std::process::id(), Ordering::Relaxed);
    PRELOADED.store((1..=10u64).product(), Ordering::Relaxed);
    PRELOAD_RUNS.fetch_add(1, Ordering::Relaxed);
}

fn report_preload() {
    println!(
        "child {} sees preload by {} value {} runs {}",
        std::process::id(),
        PRELOADED_BY.load(Ordering::Relaxed),
        PRELOADED.load(Ordering::Relaxed),
        PRELOAD_RUNS.load(Ordering::Relaxed)
    );
}

#[test]
#[ignore = "helper for forkserver_preload_runs_once_and_children_see_it"]
fn helper_preload() {
    if !common::in_helper() {
        return;
    }
    multiproc::set_forkserver_preload(&[preload]);
    for _ in 0..3 {
        let p = get_context(Some(StartMethod::ForkServer)).process(report_preload, ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    }
    // Not in this process, nor in spawned children.
    report_preload();
}

// Behaviour 197: set_forkserver_preload runs in the fork server once, before it forks, and
// every fork-server child sees its state.
#[test]
fn forkserver_preload_runs_once_and_children_see_it() {
    let _w = Watchdog::new("preload", LIMIT);
    let (stdout, _) = common::helper_output("helper_preload", &[]);
    let lines: Vec<&str> = stdout.lines().filter_map(|l| l.find("child ").map(|i| &l[i..])).collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    let by: Vec<&str> = lines[..3].iter().map(|l| l.split_whitespace().nth(4).unwrap()).collect();
    assert!(by.iter().all(|b| *b == by[0] && *b != "0"), "one server ran it: {stdout}");
    for l in &lines[..3] {
        let child = l.split_whitespace().nth(1).unwrap();
        assert_ne!(child, by[0], "the preload ran in the server, not in the child: {l}");
        assert!(l.ends_with("value 3628800 runs 1"), "{l}");
    }
    assert!(lines[3].ends_with("by 0 value 0 runs 0"), "the parent does not run it: {}", lines[3]);
}

fn rename_and_log() {
    multiproc::current_process().set_name("renamed-worker");
    logging::get_logger().warning("after the rename");
    println!("name {}", multiproc::current_process().name());
}

#[test]
#[ignore = "helper for a_child_can_rename_itself"]
fn helper_rename() {
    if !common::in_helper() {
        return;
    }
    logging::log_to_stderr(None);
    for m in METHODS {
        let p = get_context(Some(m)).process(rename_and_log, ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert!(p.name().starts_with("Process-"), "the parent's handle keeps its name");
    }
}

#[test]
fn a_child_can_rename_itself() {
    let _w = Watchdog::new("rename", LIMIT);
    let (stdout, stderr) = common::helper_output("helper_rename", &[]);
    assert_eq!(stdout.matches("name renamed-worker").count(), 3, "{stdout}");
    // log_to_stderr(None): the level is unset, so WARNING and above are printed.
    assert_eq!(stderr.matches("[WARNING/renamed-worker] after the rename").count(), 3, "{stderr}");
    assert!(!stderr.contains("child process calling"), "INFO records are below WARNING: {stderr}");
}

static SIGNALS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

#[test]
#[ignore = "helper for join_survives_a_handled_signal"]
#[allow(unsafe_code)]
fn helper_signal_during_join() {
    if !common::in_helper() {
        return;
    }
    // SAFETY: installs a handler that only touches an atomic; no SA_RESTART, so the signal
    // interrupts the blocking calls of join.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    let me = std::process::id() as i32;
    for m in METHODS {
        let p = get_context(Some(m)).process(|| std::thread::sleep(Duration::from_millis(300)), ());
        p.start().unwrap();
        let t = std::thread::spawn(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(40));
                // SAFETY: sends a signal to this very process.
                unsafe { libc::kill(me, libc::SIGUSR1) };
            }
        });
        let code = p.join();
        t.join().unwrap();
        println!("{m}: {code:?}");
    }
    println!("signals {}", SIGNALS.load(Ordering::Relaxed));
}

// Behaviour 174: a signal handled by the parent while it is in join does not break the join,
// and the child's exit code is 0.
#[test]
fn join_survives_a_handled_signal() {
    let _w = Watchdog::new("signal during join", LIMIT);
    let (stdout, _) = common::helper_output("helper_signal_during_join", &[]);
    for m in METHODS {
        assert!(stdout.contains(&format!("{m}: Ok(0)")), "{stdout}");
    }
    assert!(stdout.contains("signals 15"), "{stdout}");
}

fn print_env() {
    println!("env {:?}", std::env::var("MULTIPROC_TEST_SETTING").ok());
}

#[test]
#[ignore = "helper for children_inherit_the_environment"]
fn helper_env() {
    if !common::in_helper() {
        return;
    }
    for m in METHODS {
        let p = get_context(Some(m)).process(print_env, ());
        p.start().unwrap();
        p.join().unwrap();
    }
}

// Behaviour 187 in Rust terms: a child gets the parent's environment (here, what the parent
// was started with) and so the runtime configuration it carries (RUST_BACKTRACE, ...).
#[test]
fn children_inherit_the_environment() {
    let _w = Watchdog::new("environment", LIMIT);
    let (stdout, _) = common::helper_output("helper_env", &[("MULTIPROC_TEST_SETTING", OsStr::new("on"))]);
    assert_eq!(stdout.matches("env Some(\"on\")").count(), 3, "{stdout}");
}

#[allow(unsafe_code)]
fn blocked_signals() -> Vec<i32> {
    // SAFETY: reads the calling thread's signal mask into a zeroed set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
        (1..32).filter(|&s| libc::sigismember(&set, s) == 1).collect()
    }
}

// Behaviour 205: starting the shared-memory tracker (a service process) leaves the caller's
// blocked-signal mask as it was.
#[test]
#[allow(unsafe_code)]
fn starting_the_tracker_keeps_the_signal_mask() {
    let _w = Watchdog::new("signal mask", LIMIT);
    std::thread::spawn(|| {
        // SAFETY: blocks SIGUSR2 in this thread only.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        let before = blocked_signals();
        let name = common::unique_name("mask");
        let seg = multiproc::SharedMemory::create(Some(&name), 64).unwrap();
        assert_eq!(blocked_signals(), before);
        assert!(before.contains(&libc::SIGUSR2));
        seg.unlink().unwrap();
    })
    .join()
    .unwrap();
}

// Context factories: code written against a context carries over, under every method.
fn use_factories((q, lock, v): (multiproc::Queue<u32>, multiproc::Lock, multiproc::Value<u64>)) {
    let _g = lock.acquire().unwrap();
    *v.acquire().unwrap() += 1;
    q.put(7).unwrap();
}

#[test]
fn context_factories_make_working_objects() {
    each_method("context factories", LIMIT, |ctx| {
        let q = ctx.queue::<u32>(4).unwrap();
        let lock = ctx.lock().unwrap();
        let v = ctx.value(0u64).unwrap();
        let p = ctx.process(use_factories, (q.clone(), lock.clone(), v.clone()));
        p.start().unwrap();
        assert_eq!(q.get().unwrap(), 7);
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(v.get(), 1);
        let (a, b) = ctx.pipe(false).unwrap();
        b.send(&1u8).unwrap();
        assert_eq!(a.recv::<u8>().unwrap(), 1);
        assert_eq!(ctx.semaphore(2).unwrap().get_value(), 2);
        assert_eq!(ctx.barrier(3).unwrap().parties(), 3);
        assert_eq!(ctx.array(&[1u8, 2]).unwrap().to_vec(), [1, 2]);
        assert!(!ctx.event().unwrap().is_set());
    });
    let p = Process::new(|| {}, ());
    assert_eq!(p.ident(), None);
    assert_eq!(multiproc::get_executable(), std::path::PathBuf::from("/proc/self/exe"));
}

fn square(x: u64) -> u64 {
    x * x
}

fn grandchild(q: multiproc::Queue<String>) {
    q.put("grandchild".to_string()).unwrap();
}

// 180: a child builds what a parent builds (a queue, a child of its own, a pool), and its
// stdin is /dev/null (a child reading stdin gets EOF, not the parent's terminal).
fn child_builds_everything(out: multiproc::Queue<String>) -> i32 {
    let stdin = std::fs::read_link("/proc/self/fd/0").unwrap();
    out.put(format!("stdin {}", stdin.display())).unwrap();
    let q: multiproc::Queue<String> = multiproc::Queue::new().unwrap();
    let p = Process::new(grandchild, q.clone());
    p.start().unwrap();
    out.put(q.get_timeout(Duration::from_secs(20)).unwrap()).unwrap();
    assert_eq!(p.join().unwrap(), 0);
    let pool = multiproc::Pool::new(2).unwrap();
    let sum: u64 = pool.map(square, 0..1000u64).unwrap().into_iter().sum();
    out.put(format!("pool {sum}")).unwrap();
    pool.close();
    pool.join().unwrap();
    0
}

#[test]
fn a_child_builds_queues_children_and_pools() {
    each_method("a child builds queues, children and pools", LIMIT, |ctx| {
        let out: multiproc::Queue<String> = multiproc::Queue::new().unwrap();
        let p = ctx.process(child_builds_everything, out.clone());
        p.start().unwrap();
        let got: Vec<String> = (0..3).map(|_| out.get_timeout(Duration::from_secs(30)).unwrap()).collect();
        assert_eq!(got, ["stdin /dev/null", "grandchild", "pool 332833500"]);
        assert_eq!(p.join().unwrap(), 0);
    });
}

// Behaviour 198 turned around: CPython refuses a fork-context queue in a spawn child (its
// semaphores were made for fork). Here objects belong to no start method: made through one
// context, they work in children of every other.
#[test]
fn objects_of_one_context_work_in_children_of_every_other() {
    for made in METHODS {
        let ctx = get_context(Some(made));
        let (q, lock, v) = (ctx.queue::<u32>(4).unwrap(), ctx.lock().unwrap(), ctx.value(0u64).unwrap());
        for run in METHODS {
            let _w = Watchdog::new(&format!("made by {made}, used by {run}"), LIMIT);
            let p = get_context(Some(run)).process(use_factories, (q.clone(), lock.clone(), v.clone()));
            p.start().unwrap();
            assert_eq!(q.get().unwrap(), 7, "[{made} -> {run}]");
            assert_eq!(p.join().unwrap(), 0, "[{made} -> {run}]");
        }
        assert_eq!(v.get(), 3, "[{made}]");
    }
}
