//! `Process` behaviours from CPython's `_TestProcess` and `_TestSubclassingProcess`
//! (python_multiprocessing.md §2, items 1-28), each under every start method.

mod common;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use common::{METHODS, Watchdog, each_method, my_zombies, pid_gone, run_helper_test, wait_pid_gone};
use multiproc::handle::Fd;
use multiproc::{
    Process, ProcessErrorKind, Run, StartMethod, active_children, current_process, get_context, parent_process,
};
use serde::{Deserialize, Serialize};

const LIMIT: Duration = Duration::from_secs(60);

/// A pipe whose write end can go to children: (reader, writer).
fn channel() -> (std::fs::File, Fd) {
    let (r, w) = std::io::pipe().unwrap();
    (std::fs::File::from(OwnedFd::from(r)), Fd::from(OwnedFd::from(w)))
}

fn say(fd: &Fd, line: &str) {
    let mut f = std::fs::File::from(fd.as_fd_owned());
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

trait AsFdOwned {
    fn as_fd_owned(&self) -> OwnedFd;
}
impl AsFdOwned for Fd {
    fn as_fd_owned(&self) -> OwnedFd {
        use std::os::fd::AsFd;
        self.as_fd().try_clone_to_owned().unwrap()
    }
}

/// Reads exactly `n` lines. (Not "to end of file": under `Fork`, a child of a concurrently
/// running test inherits every descriptor, so the end of file can come late.)
fn read_lines(r: std::fs::File, n: usize) -> String {
    let mut r = std::io::BufReader::new(r);
    let mut s = String::new();
    for _ in 0..n {
        std::io::BufRead::read_line(&mut r, &mut s).unwrap();
    }
    s
}

fn sleep_secs(s: u64) {
    std::thread::sleep(Duration::from_secs(s));
}

// 1: the current process.
#[test]
fn current_process_in_main() {
    let me = current_process();
    assert!(me.is_alive());
    assert!(!me.is_daemon());
    assert!(!me.authkey().is_empty());
    assert_eq!(me.pid(), std::process::id());
    assert_eq!(me.exitcode(), None);
    assert_eq!(me.name(), "MainProcess");
    assert!(me.identity().is_empty());
}

// 2: set_executable takes a path in any form; a process started afterwards runs (spawn only uses it).
#[test]
fn set_executable_accepts_paths() {
    let _w = Watchdog::new("set_executable", LIMIT);
    for path in [std::env::current_exe().unwrap(), "/proc/self/exe".into()] {
        multiproc::set_executable(path);
        let p = get_context(Some(StartMethod::Spawn)).process(|(): ()| {}, ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    }
}

fn child_report(args: (Fd, Vec<u32>, String)) {
    let (fd, v, s) = args;
    let me = current_process();
    let parent = parent_process().expect("a child has a parent");
    say(
        &fd,
        &format!(
            "args={v:?},{s}|name={}|pid={}|authkey={}|parent={}:{}|alive={}|method={}|daemon={}",
            me.name(),
            me.pid(),
            me.authkey().iter().map(|b| format!("{b:02x}")).collect::<String>(),
            parent.pid(),
            parent.name(),
            parent.is_alive(),
            multiproc::get_start_method(),
            me.is_daemon()
        ),
    );
}

// 3, 5, 7, 8, 9, 193: args arrive exactly; the child sees its name, pid, authkey, parent and
// start method; the life cycle as seen from the parent.
#[test]
fn life_cycle_and_what_the_child_sees() {
    each_method("life cycle", LIMIT, |ctx| {
        let (r, w) = channel();
        let p = ctx.process(child_report, (w, vec![1, 2, 3], "x y".to_string()));
        // 7: before start
        assert!(!p.is_alive());
        assert_eq!(p.exitcode(), None);
        assert_eq!(p.pid(), None);
        assert!(!active_children().iter().any(|c| c.name() == p.name()));
        assert_eq!(p.authkey(), current_process().authkey());
        p.start().unwrap();
        // 8: after start
        assert!(active_children().iter().any(|c| c.pid() == p.pid()) || p.exitcode().is_some());
        let line = read_lines(r, 1);
        // 9: after join
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(p.exitcode(), Some(0));
        assert!(!p.is_alive());
        assert!(!active_children().iter().any(|c| c.pid() == p.pid()));
        let key: String = current_process().authkey().iter().map(|b| format!("{b:02x}")).collect();
        let want = format!(
            "args=[1, 2, 3],x y|name={}|pid={}|authkey={key}|parent={}:MainProcess|alive=true|method={}|daemon=false\n",
            p.name(),
            p.pid().unwrap(),
            std::process::id(),
            ctx.get_start_method()
        );
        assert_eq!(line, want);
    });
}

fn sleeper(secs: u64) {
    sleep_secs(secs);
}

// 8 (is_alive while running), 11: join with a zero timeout returns at once and the child stays alive.
#[test]
fn join_zero_timeout_returns_immediately() {
    each_method("join(0)", LIMIT, |ctx| {
        let p = ctx.process(sleeper, 30);
        p.start().unwrap();
        assert!(p.is_alive());
        let t = Instant::now();
        assert!(p.join_timeout(Duration::ZERO).unwrap_err().is_timeout());
        assert!(p.join_timeout(Duration::from_millis(100)).unwrap_err().is_timeout());
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert!(p.is_alive());
        assert!(active_children().iter().any(|c| c.pid() == p.pid()));
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
    });
}

/// Sets SIGINT to `SIG_DFL` (`true`) or `SIG_IGN` in this process.
fn set_sigint_default(default: bool) {
    // SAFETY: changing a signal's disposition to SIG_DFL/SIG_IGN has no memory-safety
    // preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGINT, if default { libc::SIG_DFL } else { libc::SIG_IGN });
    }
}

/// A sleeper with SIGINT at its default action, whatever it inherited (a test run from a
/// non-interactive shell's background job inherits SIGINT ignored). CPython's test does the
/// same with `signal.signal(SIGINT, SIG_DFL)`.
fn sleeper_with_default_sigint(secs: u64) {
    set_sigint_default(true);
    sleep_secs(secs);
}

// 12, 13, 14: terminate, kill and interrupt give -SIGTERM, -SIGKILL and -SIGINT.
#[test]
fn terminate_kill_interrupt_exit_codes() {
    each_method("signals", LIMIT, |ctx| {
        for (sig, code) in [("term", -15), ("kill", -9), ("int", -2)] {
            let p = ctx.process(sleeper_with_default_sigint, 30);
            p.start().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            match sig {
                "term" => p.terminate().unwrap(),
                "kill" => p.kill().unwrap(),
                _ => p.interrupt().unwrap(),
            }
            let t = Instant::now();
            assert_eq!(p.join().unwrap(), code, "{sig} [{}]", ctx.get_start_method());
            assert!(t.elapsed() < Duration::from_secs(10));
            assert!(format!("{p:?}").contains("stopped"));
        }
    });
}

// 15
#[test]
fn cpu_count_is_positive() {
    assert!(multiproc::cpu_count() >= 1);
    assert!(multiproc::process_cpu_count() >= 1);
}

fn recurse(args: (Fd, Vec<u32>)) {
    let (fd, id) = args;
    say(&fd, &format!("{id:?}"));
    if id.len() < 2 {
        for i in 0..2 {
            let mut sub = id.clone();
            sub.push(i);
            let p = Process::new(recurse, (Fd::from(fd.as_fd_owned()), sub));
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), 0);
        }
    }
}

// 16: processes start their own children; messages arrive depth first.
#[test]
fn recursive_children_depth_first() {
    each_method("recursion", LIMIT, |ctx| {
        let (r, w) = channel();
        let p = ctx.process(recurse, (w, Vec::new()));
        p.start().unwrap();
        let got = read_lines(r, 7);
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(got, "[]\n[0]\n[0, 0]\n[0, 1]\n[1]\n[1, 0]\n[1, 1]\n");
    });
}

/// Polls a raw descriptor owned by a live `Process` (its sentinel) for readability.
fn readable_within(fd: i32, d: Duration) -> bool {
    #[allow(unsafe_code)]
    // SAFETY: `fd` is the sentinel of a Process that stays alive and unclosed during the call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let mut pfd = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
    let ts = rustix::time::Timespec::try_from(d).unwrap();
    rustix::event::poll(&mut pfd, Some(&ts)).unwrap() > 0
}

// 17: the sentinel.
#[test]
fn sentinel_becomes_ready_at_exit() {
    each_method("sentinel", LIMIT, |ctx| {
        let p = ctx.process(sleeper, 1);
        assert_eq!(p.sentinel().unwrap_err().kind(), ProcessErrorKind::NotStarted);
        p.start().unwrap();
        let s = p.sentinel().unwrap();
        assert!(s >= 0);
        assert!(!readable_within(s, Duration::from_millis(200)));
        assert!(readable_within(s, Duration::from_secs(20)));
        assert_eq!(p.join().unwrap(), 0);
    });
}

// 18: close.
#[test]
fn close_semantics() {
    each_method("close", LIMIT, |ctx| {
        let p = ctx.process(sleeper, 30);
        p.start().unwrap();
        assert_eq!(p.close().unwrap_err().kind(), ProcessErrorKind::StillRunning);
        p.terminate().unwrap();
        p.join().unwrap();
        p.close().unwrap();
        assert!(!p.is_alive());
        assert_eq!(p.join().unwrap_err().kind(), ProcessErrorKind::Closed);
        assert_eq!(p.terminate().unwrap_err().kind(), ProcessErrorKind::Closed);
        assert_eq!(p.start().unwrap_err().kind(), ProcessErrorKind::Closed);
        assert_eq!(p.sentinel().unwrap_err().kind(), ProcessErrorKind::Closed);
        p.close().unwrap(); // idempotent
        assert!(format!("{p:?}").contains("closed"));
    });
}

// Python: start twice, join before start.
#[test]
fn start_twice_and_join_before_start() {
    each_method("start twice", LIMIT, |ctx| {
        let p = ctx.process(|(): ()| {}, ());
        assert_eq!(p.join().unwrap_err().kind(), ProcessErrorKind::NotStarted);
        assert_eq!(p.terminate().unwrap_err().kind(), ProcessErrorKind::NotStarted);
        p.start().unwrap();
        assert_eq!(p.start().unwrap_err().kind(), ProcessErrorKind::AlreadyStarted);
        assert_eq!(p.set_daemon(true).unwrap_err().kind(), ProcessErrorKind::AlreadyStartedSetting);
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(p.join().unwrap(), 0); // many joins
    });
}

// 19 and the acceptance: 100 short processes exit 0; 100 sleepers terminated give -15;
// no zombie and no orphan remains.
#[test]
fn many_processes_and_no_leftovers() {
    each_method("100 processes", Duration::from_secs(240), |ctx| {
        let ps: Vec<Process> = (0..100).map(|_| ctx.process(|(): ()| {}, ())).collect();
        for p in &ps {
            p.start().unwrap();
        }
        let codes: Vec<i32> = ps.iter().map(|p| p.join().unwrap()).collect();
        assert_eq!(codes, vec![0; 100]);
        let sleepers: Vec<Process> = (0..100).map(|_| ctx.process(sleeper, 60)).collect();
        for p in &sleepers {
            p.start().unwrap();
        }
        for p in &sleepers {
            p.terminate().unwrap();
        }
        let codes: Vec<i32> = sleepers.iter().map(|p| p.join().unwrap()).collect();
        assert_eq!(codes, vec![-15; 100]);
        for p in ps.iter().chain(&sleepers) {
            assert!(wait_pid_gone(p.pid().unwrap(), Duration::from_secs(10)), "pid {} remains", p.pid().unwrap());
        }
        let zombies: Vec<u32> =
            my_zombies().into_iter().filter(|z| ps.iter().chain(&sleepers).any(|p| p.pid() == Some(*z))).collect();
        assert!(zombies.is_empty(), "zombies left: {zombies:?}");
    });
}

fn count_fds(fd: Fd) {
    std::thread::sleep(Duration::from_millis(300));
    let n = std::fs::read_dir("/proc/self/fd").unwrap().count();
    say(&fd, &n.to_string());
}

// 21, 191: under spawn and forkserver, children do not inherit the parent's descriptors, so N
// concurrent children all see the same count.
#[test]
fn spawned_children_do_not_inherit_fds() {
    for m in [StartMethod::Spawn, StartMethod::ForkServer] {
        let _w = Watchdog::new("fd count", LIMIT);
        let (r, w) = channel();
        let _extra: Vec<std::fs::File> = (0..10).map(|_| std::fs::File::open("/dev/null").unwrap()).collect();
        let ps: Vec<Process> =
            (0..4).map(|_| get_context(Some(m)).process(count_fds, Fd::from(w.as_fd_owned()))).collect();
        drop(w);
        for p in &ps {
            p.start().unwrap();
        }
        let got = read_lines(r, 4);
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        let counts: Vec<&str> = got.lines().collect();
        assert_eq!(counts.len(), 4);
        assert!(counts.iter().all(|c| *c == counts[0]), "{m}: {counts:?}");
        let n: usize = counts[0].parse().unwrap();
        assert!(n < 10, "{m}: a child has {n} descriptors open");
    }
}

#[derive(Serialize, Deserialize)]
struct Upper {
    input: Fd,
    output: Fd,
}

impl Run for Upper {
    type Output = ();
    fn run(self) {
        let mut input = std::io::BufReader::new(std::fs::File::from(self.input.into_owned()));
        let mut out = std::fs::File::from(self.output.into_owned());
        // An echo server: one reply per line, until a line says "quit".
        loop {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut input, &mut line).unwrap();
            if line.trim() == "quit" || line.is_empty() {
                break;
            }
            write!(out, "{}", line.to_uppercase()).unwrap();
        }
    }
}

// 26: the "subclass overriding run()" pattern as an echo server that uppercases.
#[test]
fn run_trait_echo_server() {
    each_method("Run", LIMIT, |ctx| {
        let (in_r, in_w) = std::io::pipe().unwrap();
        let (out_r, out_w) = channel();
        let p = ctx.process_from_run(Upper { input: Fd::from(OwnedFd::from(in_r)), output: out_w });
        assert!(p.name().starts_with("Upper-"), "{}", p.name());
        p.start().unwrap();
        let mut w = std::fs::File::from(OwnedFd::from(in_w));
        w.write_all(b"hello\nworld\nquit\n").unwrap();
        assert_eq!(read_lines(out_r, 2), "HELLO\nWORLD\n");
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[derive(Serialize, Deserialize)]
struct Fails;
impl Run for Fails {
    type Output = Result<(), String>;
    fn run(self) -> Result<(), String> {
        Err("no luck".into())
    }
}

fn exit_with(code: i32) {
    multiproc::exit(code)
}

fn std_exit_with(code: i32) {
    std::process::exit(code)
}

// 28: exit codes from exit(n), std::process::exit(n), returning Err, and a panic (27).
#[test]
fn exit_codes() {
    each_method("exit codes", LIMIT, |ctx| {
        for code in [0, 1, 8, 100] {
            let p = ctx.process(exit_with, code);
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), code);
            let p = ctx.process(std_exit_with, code);
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), code);
        }
        let p = ctx.process_from_run(Fails);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 1);
        let p = ctx.process(|msg: String| panic!("{msg}"), "child failed on purpose".to_string());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 1);
        let f = p.failure().expect("a panicking child reports");
        assert_eq!(f.kind, multiproc::FailureKind::Panic);
        assert_eq!(f.message, "child failed on purpose");
        assert!(f.location.unwrap().contains("tests/process.rs"));
        // Whether a backtrace comes along follows RUST_BACKTRACE (tests/targets.rs checks both).
    });
}

#[test]
#[ignore = "helper for panic_output_goes_to_child_stderr"]
fn helper_panicking_child() {
    if !common::in_helper() {
        return;
    }
    for m in METHODS {
        let p = get_context(Some(m)).process(|(): ()| panic!("visible panic message"), ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 1);
    }
}

// 27: the panic message and a backtrace go to the child's stderr.
#[test]
fn panic_output_goes_to_child_stderr() {
    let _w = Watchdog::new("panic output", LIMIT);
    let out = common::run_helper_test_with(
        "helper_panicking_child",
        &[("RUST_BACKTRACE", std::ffi::OsStr::new("1")), ("RUST_LIB_BACKTRACE", std::ffi::OsStr::new("1"))],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "helper failed: {err}");
    assert_eq!(err.matches("visible panic message").count(), 3, "{err}");
    assert_eq!(err.matches("stack backtrace:").count(), 3, "{err}");
    assert!(err.contains("Process Process-"), "{err}");
}

fn panic_with_len(n: usize) {
    panic!("{}", "x".repeat(n))
}

fn fail_numbered(i: u32) {
    panic!("failure of child {i}")
}

fn thread_panics_then_exit_0(_: ()) {
    let r = std::thread::spawn(|| panic!("a thread of the child panicked")).join();
    assert!(r.is_err());
}

#[test]
#[ignore = "helper for failure_reports_are_bounded_and_reach_the_right_process"]
fn helper_failure_reports() {
    if !common::in_helper() {
        return;
    }
    for m in METHODS {
        let ctx = get_context(Some(m));
        // A 4 MiB panic message: the child must not wait for the parent to read its report
        // before it can exit (it used to, and join hung).
        let p = ctx.process(panic_with_len, 4 << 20);
        p.start().unwrap();
        assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), 1, "[{m}] a huge panic blocked the child");
        let f = p.failure().expect("the report of a huge panic");
        assert!(f.message.starts_with("xxxx"), "[{m}]");
        assert!(f.message.len() < 64 * 1024, "[{m}] {} bytes", f.message.len());
        assert!(f.message.ends_with("more bytes on the child's stderr)"), "[{m}]");

        // A report sent by a child that then exits 0 is not read, and does not confuse later ones.
        let p = ctx.process(thread_panics_then_exit_0, ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert!(p.failure().is_none(), "[{m}]");

        // Many children failing at once: each report reaches its own process.
        let ps: Vec<Process> = (0..12).map(|i| ctx.process(fail_numbered, i)).collect();
        for p in &ps {
            p.start().unwrap();
        }
        for (i, p) in ps.iter().enumerate().rev() {
            assert_eq!(p.join().unwrap(), 1);
            assert_eq!(p.failure().expect("a report").message, format!("failure of child {i}"), "[{m}]");
        }
        println!("reports ok [{m}]");
    }
}

// 27 (the parent side): failure reports are bounded, never block a child's exit, and reach
// the right `Process` when many fail together.
#[test]
fn failure_reports_are_bounded_and_reach_the_right_process() {
    let _w = Watchdog::new("failure reports", Duration::from_secs(180));
    let out = run_helper_test("helper_failure_reports");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helper failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
            .chars()
            .rev()
            .take(4000)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    );
    assert_eq!(stdout.matches("reports ok").count(), 3, "{stdout}");
}

fn daemon_flag(fd: Fd) {
    let p = Process::new(|(): ()| {}, ());
    let started = p.start();
    say(
        &fd,
        &format!(
            "{}|{}",
            p.is_daemon(),
            started.map_err(|e| e.kind() == ProcessErrorKind::DaemonChildren).unwrap_err()
        ),
    );
}

// 4: daemon defaults to the creator's flag; a daemon may not start children.
#[test]
fn daemon_flag_inherited_and_no_grandchildren() {
    each_method("daemon", LIMIT, |ctx| {
        let p = ctx.process(|(): ()| {}, ());
        assert!(!p.is_daemon());
        let (r, w) = channel();
        let d = Process::builder().daemon(true).start_method(ctx.get_start_method()).target(daemon_flag, w);
        assert!(d.is_daemon());
        d.start().unwrap();
        assert_eq!(read_lines(r, 1), "true|true\n");
        assert_eq!(d.join().unwrap(), 0);
    });
}

fn middle(fd: Fd) {
    let g = Process::new(sleeper, 60);
    g.start().unwrap();
    say(&fd, &g.pid().unwrap().to_string());
    sleep_secs(60);
}

// 6 (adapted): children die with their parent. A grandchild whose parent is SIGKILLed does not
// survive as an orphan (Python would leave it running).
#[test]
fn grandchild_dies_with_killed_parent() {
    each_method("orphans", LIMIT, |ctx| {
        let (r, w) = channel();
        let p = ctx.process(middle, w);
        p.start().unwrap();
        let mut line = String::new();
        let mut r = std::io::BufReader::new(r);
        std::io::BufRead::read_line(&mut r, &mut line).unwrap();
        let grandchild: u32 = line.trim().parse().unwrap();
        assert!(!pid_gone(grandchild));
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        assert!(wait_pid_gone(grandchild, Duration::from_secs(10)), "grandchild {grandchild} outlived its parent");
    });
}

fn write_file_later(path: String) {
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(path, "done").unwrap();
}

#[test]
#[ignore = "helper for exit_joins_children_and_terminates_daemons"]
fn helper_leaves_children_running() {
    if !common::in_helper() {
        return;
    }
    let dir = std::env::var("MULTIPROC_TEST_DIR").unwrap();
    for (i, m) in METHODS.into_iter().enumerate() {
        let p = get_context(Some(m)).process(write_file_later, format!("{dir}/done-{i}"));
        p.start().unwrap();
        let d = Process::builder().daemon(true).start_method(m).target(sleeper, 60);
        d.start().unwrap();
        println!("daemon-pid {}", d.pid().unwrap());
    }
    // Returning ends the process: the at-exit hook joins the writers and terminates daemons.
}

// At exit, non-daemon children are joined and daemon children terminated (§1.2 `daemon`).
#[test]
fn exit_joins_children_and_terminates_daemons() {
    let _w = Watchdog::new("exit hook", LIMIT);
    let dir = std::env::temp_dir().join(common::unique_name("mp-exit"));
    std::fs::create_dir_all(&dir).unwrap();
    let (stdout, _) =
        common::helper_output("helper_leaves_children_running", &[("MULTIPROC_TEST_DIR", dir.as_os_str())]);
    for i in 0..3 {
        assert_eq!(std::fs::read_to_string(dir.join(format!("done-{i}"))).unwrap(), "done");
    }
    let words: Vec<&str> = stdout.split_whitespace().collect();
    let pids: Vec<u32> = words.windows(2).filter(|w| w[0] == "daemon-pid").map(|w| w[1].parse().unwrap()).collect();
    assert_eq!(pids.len(), 3);
    for pid in pids {
        assert!(wait_pid_gone(pid, Duration::from_secs(10)), "daemon {pid} survived its parent's exit");
    }
    let _ = std::fs::remove_dir_all(dir);
}

// Closures: capturing closures run under fork only.
#[test]
fn closures_need_fork() {
    let _w = Watchdog::new("closures", LIMIT);
    let (r, w) = channel();
    let data = vec![1u8, 2, 3];
    let p = Process::with_closure(move || say(&w, &format!("{data:?}")));
    assert_eq!(p.start_method(), StartMethod::Fork);
    assert_eq!(p.set_start_method(StartMethod::Spawn).unwrap_err().kind(), ProcessErrorKind::ClosureNeedsFork);
    p.start().unwrap();
    assert_eq!(read_lines(r, 1), "[1, 2, 3]\n");
    assert_eq!(p.join().unwrap(), 0);
}

fn print_names(fd: Fd) {
    let a = Process::new(|(): ()| {}, ());
    let b = Process::new(|(): ()| {}, ());
    say(&fd, &format!("{} {} {}", current_process().name(), a.name(), b.name()));
}

// Python's default names: Process-N in the main process, Process-N:M in a child.
#[test]
fn default_names_follow_python() {
    each_method("names", LIMIT, |ctx| {
        let (r, w) = channel();
        let p = ctx.process(print_names, w);
        let name = p.name();
        let n = name.strip_prefix("Process-").unwrap();
        p.start().unwrap();
        assert_eq!(read_lines(r, 1), format!("{name} Process-{n}:1 Process-{n}:2\n"));
        p.join().unwrap();
        p.set_name("renamed");
        assert_eq!(p.name(), "renamed");
    });
}

// 10 (in spirit): the child is a different process with its own main thread.
#[test]
fn child_runs_in_another_process() {
    each_method("other process", LIMIT, |ctx| {
        let (r, w) = channel();
        let p = ctx.process(|fd: Fd| say(&fd, &std::process::id().to_string()), w);
        p.start().unwrap();
        let pid: u32 = read_lines(r, 1).trim().parse().unwrap();
        assert_eq!(Some(pid), p.pid());
        assert_ne!(pid, std::process::id());
        p.join().unwrap();
    });
}

fn bare_fork_then_hang(_: ()) {
    #[allow(unsafe_code)]
    // SAFETY: the descendant only closes descriptors, sleeps and leaves with `_exit`, all
    // async-signal-safe.
    unsafe {
        if libc::fork() == 0 {
            // Keep the inherited report socket, not the test's stdout and stderr.
            libc::close(1);
            libc::close(2);
            libc::sleep(5);
            libc::_exit(0);
        }
    }
    sleep_secs(60);
}

// A fork-server child is awaited on its report socket; a descendant made by a bare fork()
// inherits that socket. Killing the child must still end join() at once, not when the
// descendant goes.
#[test]
fn fork_server_child_killed_while_a_bare_fork_descendant_lives() {
    let _w = Watchdog::new("bare fork descendant", LIMIT);
    let p = get_context(Some(StartMethod::ForkServer)).process(bare_fork_then_hang, ());
    p.start().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    p.kill().unwrap();
    let t = Instant::now();
    assert_eq!(p.join().unwrap(), -9);
    assert!(t.elapsed() < Duration::from_secs(3), "join took {:?}", t.elapsed());
}

fn chatty(lines: u32) {
    for i in 0..lines {
        println!("stdout line {i} of a child whose parent has no stdio");
        eprintln!("stderr line {i}");
    }
    // A grandchild from here too: it must find working stdio (or none) as well.
    let p = Process::new(|(): ()| println!("grandchild"), ());
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
}

fn breaks_own_stdio(_: ()) {
    // SAFETY: closing the standard descriptors of this process only; nothing else holds them.
    #[allow(unsafe_code)]
    unsafe {
        libc::close(0);
        libc::close(1);
        libc::close(2);
    }
    println!("printing to a closed stdout is not an error in Rust");
    eprintln!("nor to a closed stderr");
    let p = Process::new(|(): ()| println!("grandchild of a child without stdio"), ());
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
}

#[test]
#[ignore = "helper for children_work_without_the_parents_stdio"]
fn helper_closed_stdio() {
    if !common::in_helper() {
        return;
    }
    let report = std::env::var("MULTIPROC_REPORT").unwrap();
    let mut out = std::fs::File::create(report).unwrap();
    // SAFETY: closing this helper process's own standard descriptors; the test harness of this
    // process prints nothing more (its output goes to the report file).
    #[allow(unsafe_code)]
    unsafe {
        libc::close(0);
        libc::close(1);
        libc::close(2);
    }
    for m in METHODS {
        let ctx = get_context(Some(m));
        let a = ctx.process(chatty, 3);
        let code_a = a.start().map(|()| a.join());
        let b = ctx.process(breaks_own_stdio, ());
        let code_b = b.start().map(|()| b.join());
        writeln!(out, "{m}: {code_a:?} {code_b:?}").unwrap();
    }
}

// 23: a child works (exit code 0) when the parent's stdin, stdout and stderr are closed, and
// when the child closes its own; so do its children.
#[test]
fn children_work_without_the_parents_stdio() {
    let _w = Watchdog::new("closed stdio", LIMIT);
    let report = std::env::temp_dir().join(common::unique_name("multiproc-stdio-report"));
    let out = common::run_helper_test_with("helper_closed_stdio", &[("MULTIPROC_REPORT", report.as_os_str())]);
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    assert!(out.status.success(), "helper failed ({:?}); its report:\n{text}", out.status);
    for m in METHODS {
        assert!(text.contains(&format!("{m}: Ok(Ok(0)) Ok(Ok(0))")), "[{m}] report:\n{text}");
    }
}

static TRACKED_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[derive(Serialize, Deserialize)]
struct Tracked(u32);

impl Drop for Tracked {
    fn drop(&mut self) {
        TRACKED_DROPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Holds its argument until the parent says go: the parent looks while the child runs,
/// however slow the machine.
fn takes_tracked((t, go): (Tracked, multiproc::Event)) {
    assert_eq!(t.0, 20);
    assert!(go.wait_timeout(Duration::from_secs(50)).is_ok());
}

// 20: after start the process object keeps neither its target nor its arguments alive (the
// parent's copies are dropped by `start`, not at join or when the `Process` goes).
#[test]
fn start_drops_the_parents_copy_of_target_and_args() {
    use std::sync::atomic::Ordering::SeqCst;
    each_method("start drops the target", LIMIT, |ctx| {
        let go = multiproc::Event::new().unwrap();
        let p = ctx.process(takes_tracked, (Tracked(20), go.clone()));
        let before = TRACKED_DROPS.load(SeqCst);
        p.start().unwrap();
        assert!(p.is_alive());
        assert!(TRACKED_DROPS.load(SeqCst) > before, "[{}] the arguments outlived start()", ctx.get_start_method());
        go.set();
        assert_eq!(p.join().unwrap(), 0);
    });
    let _w = Watchdog::new("start drops the closure", LIMIT);
    let shared = std::sync::Arc::new(5u32);
    let captured = shared.clone();
    let go = multiproc::Event::new().unwrap();
    let child_go = go.clone();
    let p = Process::with_closure(move || {
        assert_eq!(*captured, 5);
        assert!(child_go.wait_timeout(Duration::from_secs(50)).is_ok());
    });
    assert_eq!(std::sync::Arc::strong_count(&shared), 2);
    p.start().unwrap();
    assert!(p.is_alive());
    assert_eq!(std::sync::Arc::strong_count(&shared), 1, "the closure outlived start()");
    go.set();
    assert_eq!(p.join().unwrap(), 0);
}

fn segfaults(_: ()) {
    // SAFETY: none: this writes through a null pointer on purpose, to crash the child as a
    // faulty C library would.
    #[allow(unsafe_code)]
    unsafe {
        std::ptr::null_mut::<u64>().write_volatile(1);
    }
}

fn aborts(_: ()) {
    std::process::abort();
}

#[allow(unconditional_recursion)]
fn overflows_the_stack(depth: u64) {
    let big = [depth; 512];
    overflows_the_stack(std::hint::black_box(big)[0] + 1);
}

// Crash isolation: a segfault, an abort and a stack overflow kill one child with Python's
// -N exit codes; the parent and a sibling started before the crash go on.
#[test]
fn crashes_kill_only_the_child() {
    each_method("crashes", LIMIT, |ctx| {
        let m = ctx.get_start_method();
        let sibling = ctx.process(sleep_secs, 60);
        sibling.start().unwrap();
        let p = ctx.process(segfaults, ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), -libc::SIGSEGV, "[{m}] segfault");
        assert!(p.failure().is_none(), "[{m}] a signal death sends no report");
        let p = ctx.process(aborts, ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), -libc::SIGABRT, "[{m}] abort");
        // A stack overflow is SIGSEGV, or SIGABRT where Rust's runtime handler is installed
        // (a forked child inherits it from the parent's `main`; a spawned child runs before
        // `main` and has none).
        let p = ctx.process(overflows_the_stack, 0);
        p.start().unwrap();
        let code = p.join().unwrap();
        assert!([-libc::SIGSEGV, -libc::SIGABRT].contains(&code), "[{m}] stack overflow gave {code}");
        assert!(sibling.is_alive(), "[{m}] a sibling died with a crashing child");
        sibling.terminate().unwrap();
        assert_eq!(sibling.join().unwrap(), -15, "[{m}]");
        // The start method still works after the crashes.
        let p = ctx.process(|(): ()| {}, ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0, "[{m}]");
    });
}

// Killable work: a runaway child is stopped by a hard timeout (join_timeout, then kill).
#[test]
fn hard_timeout_kills_runaway_work() {
    each_method("hard timeout", LIMIT, |ctx| {
        let p = ctx.process(
            |(): ()| loop {
                std::hint::spin_loop()
            },
            (),
        );
        p.start().unwrap();
        let t = Instant::now();
        assert!(p.join_timeout(Duration::from_millis(200)).unwrap_err().is_timeout());
        assert!(t.elapsed() >= Duration::from_millis(200));
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -libc::SIGKILL);
    });
}

#[test]
#[ignore = "helper for children_inherit_an_ignored_sigint"]
fn helper_sigint_ignored() {
    if !common::in_helper() {
        return;
    }
    set_sigint_default(false);
    for m in METHODS {
        let ctx = get_context(Some(m));
        let p = ctx.process(sleeper, 30);
        p.start().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        p.interrupt().unwrap();
        let ignored = p.join_timeout(Duration::from_millis(500)).unwrap_err().is_timeout();
        p.kill().unwrap();
        let code = p.join().unwrap();
        println!("{m}: ignored {ignored}, then {code}");
    }
}

// Signal dispositions are inherited alike under every start method: a parent that ignores
// SIGINT has children that ignore it too (the fork server restores what it inherited).
#[test]
fn children_inherit_an_ignored_sigint() {
    let _w = Watchdog::new("ignored SIGINT", LIMIT);
    let (stdout, _) = common::helper_output("helper_sigint_ignored", &[]);
    for m in METHODS {
        assert!(stdout.contains(&format!("{m}: ignored true, then -9")), "[{m}] {stdout}");
    }
}

#[test]
#[ignore = "helper for an_ignored_sigchld_is_a_clear_error"]
fn helper_sigchld_ignored() {
    if !common::in_helper() {
        return;
    }
    // SAFETY: setting SIGCHLD to SIG_IGN has no memory-safety preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
    }
    for m in METHODS {
        let p = get_context(Some(m)).process(exit_with, 3);
        p.start().unwrap();
        match p.join() {
            Ok(code) => println!("{m}: code {code}"),
            Err(e) => println!("{m}: error {e}"),
        }
        assert!(!p.is_alive(), "[{m}]");
    }
}

// With SIGCHLD ignored the kernel discards the exit status of direct children: join says so
// and what to do, instead of hanging or inventing a code (CPython's join returns with an
// exitcode of None). The fork server's children are not this process's children: their codes
// still arrive.
#[test]
fn an_ignored_sigchld_is_a_clear_error() {
    let _w = Watchdog::new("ignored SIGCHLD", LIMIT);
    let (stdout, _) = common::helper_output("helper_sigchld_ignored", &[]);
    for m in [StartMethod::Spawn, StartMethod::Fork] {
        assert!(
            stdout.contains(&format!(
                "{m}: error collecting the exit status: the child's exit status is gone: SIGCHLD is ignored"
            )),
            "[{m}] {stdout}"
        );
    }
    assert!(stdout.contains("forkserver: code 3"), "{stdout}");
}

fn exit_after(args: (u64, i32)) {
    std::thread::sleep(Duration::from_millis(args.0));
    multiproc::exit(args.1);
}

// Starts, joins and signals from several threads at once, mixing the start methods: every
// child gets its own exit code, nothing hangs. A child started by a thread that then ends
// lives on (the parent-death signal follows the creating thread; starts from other threads go
// through the launcher).
#[test]
fn concurrent_starts_from_many_threads() {
    let _w = Watchdog::new("concurrent starts", Duration::from_secs(180));
    let workers: Vec<_> = (0..4u32)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..30u32 {
                    let m = METHODS[((t + i) % 3) as usize];
                    let ctx = get_context(Some(m));
                    match i % 3 {
                        0 => {
                            let code = ((t * 31 + i) % 100) as i32;
                            let p = ctx.process(exit_after, (0, code));
                            p.start().unwrap();
                            assert_eq!(p.join().unwrap(), code, "[{m}] thread {t} round {i}");
                        }
                        1 => {
                            let p = ctx.process(sleeper, 30);
                            p.start().unwrap();
                            p.terminate().unwrap();
                            assert_eq!(p.join().unwrap(), -15, "[{m}] thread {t} round {i}");
                        }
                        _ => {
                            let p = ctx.process(sleeper, 30);
                            p.start().unwrap();
                            assert!(p.join_timeout(Duration::ZERO).unwrap_err().is_timeout());
                            p.kill().unwrap();
                            assert_eq!(p.join().unwrap(), -9, "[{m}] thread {t} round {i}");
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // Children outlive the short-lived threads that started them.
    for m in METHODS {
        let p = std::thread::spawn(move || {
            let p = get_context(Some(m)).process(exit_after, (300, 7));
            p.start().unwrap();
            p
        })
        .join()
        .unwrap();
        assert_eq!(p.join().unwrap(), 7, "[{m}] a child died with the thread that started it");
    }
}
