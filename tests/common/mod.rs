//! Shared test helpers: run a body under every start method, watchdogs, unique names,
//! re-running this test binary as a helper process.
#![allow(dead_code, unreachable_pub)]

use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use multiproc::{Context, StartMethod, get_context};

/// Every start method, in the order tests run them.
pub const METHODS: [StartMethod; 3] = [StartMethod::Spawn, StartMethod::ForkServer, StartMethod::Fork];

/// Aborts the whole test process if not dropped within `limit`: a hang fails the test
/// instead of stalling CI.
pub struct Watchdog {
    done: Arc<AtomicBool>,
}

impl Watchdog {
    pub fn new(what: &str, limit: Duration) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let what = what.to_string();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < limit {
                if d.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("WATCHDOG: {what} did not finish within {limit:?}; aborting the test process");
            std::process::abort();
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// Runs `body` once per start method, each under its own watchdog of `limit`.
pub fn each_method(what: &str, limit: Duration, mut body: impl FnMut(Context)) {
    for m in METHODS {
        let _w = Watchdog::new(&format!("{what} [{m}]"), limit);
        body(get_context(Some(m)));
    }
}

/// Runs `target` with `args` as a child under `ctx` and fails unless it exits with 0.
pub fn run_child<F, A, M>(ctx: &Context, target: F, args: A)
where
    F: multiproc::Target<A, M>,
    F::Output: multiproc::TargetResult,
    A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    M: 'static,
{
    let p = ctx.process(target, args);
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0, "the child failed: {:?}", p.failure());
}

/// A name unique to this process and call, for shared-memory segments and sockets.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Runs the `#[ignore]`d test `name` of this binary in a fresh process and returns its output.
pub fn run_helper_test(name: &str) -> Output {
    run_helper_test_with(name, &[])
}

/// [`run_helper_test`] with extra environment variables for the helper.
pub fn run_helper_test_with(name: &str, env: &[(&str, &std::ffi::OsStr)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"]).env("MULTIPROC_HELPER", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("cannot run the helper test")
}

/// Runs the helper test `name` (see [`run_helper_test_with`]), fails unless it succeeded, and
/// returns its `(stdout, stderr)`.
pub fn helper_output(name: &str, env: &[(&str, &std::ffi::OsStr)]) -> (String, String) {
    let out = run_helper_test_with(name, env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "helper {name} failed ({:?}):\n{stdout}\n{stderr}", out.status);
    (stdout, stderr)
}

/// Is this process the helper started by [`run_helper_test`]?
pub fn in_helper() -> bool {
    std::env::var_os("MULTIPROC_HELPER").is_some()
}

/// Is process `pid` gone (or a zombie that someone else will reap)?
pub fn pid_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => {
            let after = s.rsplit(')').next().unwrap_or("");
            after.trim_start().starts_with('Z') || after.trim_start().starts_with('X')
        }
    }
}

/// Waits up to `limit` for `pid` to be gone.
pub fn wait_pid_gone(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if pid_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    pid_gone(pid)
}

/// `(pid, state letter)` of this process's children, read from /proc.
pub fn my_children() -> Vec<(u32, char)> {
    children_of(std::process::id())
}

/// `(pid, state letter)` of the children of process `me`, read from /proc.
pub fn children_of(me: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let fields: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        if fields.len() > 2 && fields[1].parse::<u32>().ok() == Some(me) {
            out.push((pid, fields[0].chars().next().unwrap_or('?')));
        }
    }
    out
}

/// Pids of this process's children in state Z (zombies).
pub fn my_zombies() -> Vec<u32> {
    my_children().into_iter().filter(|&(_, st)| st == 'Z').map(|(pid, _)| pid).collect()
}

/// Polls `cond` every millisecond for up to 20 s, failing the test on timeout.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Makes what lives as long as the process exist before a [`Leaks::snapshot`]: the fork
/// server, the launcher thread and the report listener of forked children (one child under
/// every start method), the shared heap (a `Value`; pools keep their workers' slots there)
/// and the segments' tracker (a service process started by the first named segment).
pub fn warm_up() {
    for m in METHODS {
        let p = get_context(Some(m)).process(|| {}, ());
        p.start().unwrap();
        p.join().unwrap();
    }
    drop(multiproc::Value::new(0u64).unwrap());
    let first = multiproc::SharedMemory::create(Some(&unique_name("warm-up")), 1).unwrap();
    first.unlink().unwrap();
}

/// What a test must give back: open descriptors, live and zombie children, named segments
/// and listener socket directories. Take one before and one after, then [`Leaks::assert_same`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaks {
    pub fds: usize,
    pub children: usize,
    pub zombies: usize,
    pub segments: std::collections::BTreeSet<String>,
    pub socket_dirs: usize,
}

impl Leaks {
    pub fn snapshot() -> Leaks {
        let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
        let kids = my_children();
        let segments = std::fs::read_dir("/dev/shm")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("psm_") || n.contains(&format!("-{}-", std::process::id())))
                    .collect()
            })
            .unwrap_or_default();
        let socket_dirs = std::fs::read_dir(std::env::temp_dir())
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("multiproc-")).count())
            .unwrap_or(0);
        Leaks {
            fds,
            children: kids.iter().filter(|(_, s)| *s != 'Z').count(),
            zombies: kids.iter().filter(|(_, s)| *s == 'Z').count(),
            segments,
            socket_dirs,
        }
    }

    /// Fails unless `after` (allowed up to `settle` to get there: children take a moment to
    /// be reaped) matches this snapshot. Service processes (the fork server, a tracker) may
    /// outlive a test; pass `extra_children` for those the test started on purpose.
    pub fn assert_same(&self, what: &str, extra_children: usize, settle: Duration) {
        let start = Instant::now();
        loop {
            let now = Leaks::snapshot();
            let ok = now.fds <= self.fds
                && now.zombies <= self.zombies
                && now.children <= self.children + extra_children
                && now.segments.is_subset(&self.segments)
                && now.socket_dirs <= self.socket_dirs;
            if ok {
                return;
            }
            if start.elapsed() > settle {
                panic!("{what}: leaked something:\n  before {self:?}\n  after  {now:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Sends `sig` to `pid` (SIGSTOP, SIGCONT, SIGKILL, ...).
#[allow(unsafe_code)]
pub fn send_signal(pid: u32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    let r = unsafe { libc::kill(pid as i32, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig}): {}", std::io::Error::last_os_error());
}

/// The state letter of process `pid` (`R`, `S`, `T` for stopped, `Z`...).
pub fn proc_state(pid: u32) -> char {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().and_then(|r| r.trim_start().chars().next()))
        .unwrap_or('?')
}

/// Is this process root (some fault tests mount a tmpfs or switch users)?
#[allow(unsafe_code)]
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Holds the tests of one binary that count leaks apart from each other (and from the tests
/// that would be counted): every test of such a binary takes this first.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
