//! Targets as Python users write them (any arity, any return shape), the errors a user meets
//! first, and the public convention on `Process` (`join_timeout`, `try_join`). Every process
//! test runs under every start method, with a watchdog.

mod common;

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use common::{METHODS, Watchdog, each_method};
use multiproc::{FailureKind, Process, ProcessErrorKind, StartMethod, get_context};
use serde::{Deserialize, Serialize};

const LIMIT: Duration = Duration::from_secs(60);

fn zero() -> i32 {
    10
}
fn one(a: u8) -> i32 {
    a as i32
}
fn two(a: u8, b: u16) -> i32 {
    a as i32 + b as i32
}
fn three(a: u8, b: u16, c: u32) -> i32 {
    (a as u32 + b as u32 + c) as i32
}
fn four(a: u8, b: u16, c: u32, d: u64) -> i32 {
    (a as u64 + b as u64 + c as u64 + d) as i32
}
fn five(a: u8, b: u16, c: u32, d: u64, e: String) -> i32 {
    (a as u64 + b as u64 + c as u64 + d) as i32 + e.len() as i32
}
fn six(a: u8, b: u16, c: u32, d: u64, e: String, f: Vec<u8>) -> i32 {
    (a as u64 + b as u64 + c as u64 + d) as i32 + e.len() as i32 + f.iter().map(|&x| x as i32).sum::<i32>()
}
fn seven(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8) -> i32 {
    [a, b, c, d, e, f, g].iter().map(|&x| x as i32).sum()
}

// Each arity from 0 to 7 is called with its arguments spread, the return value is the exit
// code: under every start method.
#[test]
fn every_arity_runs_in_a_child() {
    each_method("arities", LIMIT, |ctx| {
        let m = ctx.get_start_method();
        let cases: Vec<(Process, i32)> = vec![
            (ctx.process(zero, ()), 10),
            (ctx.process(one, 11), 11),
            (ctx.process(two, (5, 7)), 12),
            (ctx.process(three, (1, 2, 10)), 13),
            (ctx.process(four, (1, 2, 3, 8)), 14),
            (ctx.process(five, (1, 2, 3, 4, "abcde".to_string())), 15),
            (ctx.process(six, (1, 2, 3, 4, "ab".to_string(), vec![1, 2, 3])), 18),
            (ctx.process(seven, (1, 2, 3, 4, 5, 1, 1)), 17),
            // One tuple argument: called with the tuple.
            (ctx.process(|(a, b): (i32, i32)| a * b, (3, 6)), 18),
            (ctx.process(|| 19, ()), 19),
        ];
        for (p, _) in &cases {
            p.start().unwrap();
        }
        for (i, (p, want)) in cases.iter().enumerate() {
            assert_eq!(p.join().unwrap(), *want, "[{m}] case {i}");
        }
    });
}

#[derive(Debug)]
struct Oops(u32);

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oops number {}", self.0)
    }
}

fn fails(n: u32) -> Result<(), Oops> {
    Err(Oops(n))
}

fn code_or_fail(n: i32) -> Result<i32, String> {
    if n >= 0 { Ok(n) } else { Err(format!("negative: {n}")) }
}

// Return shapes: () gives 0, an i32 is the code, Ok(()) / Ok(n) give 0 / n, Err(e) gives 1
// with e's text in failure(), and a target that never returns (exit, panic) ends as it ends.
#[test]
fn every_return_shape_gives_python_exit_codes() {
    each_method("return shapes", LIMIT, |ctx| {
        let m = ctx.get_start_method();
        let unit = ctx.process(|| {}, ());
        let code = ctx.process(|n: i32| n, 42);
        let ok = ctx.process(code_or_fail, 5);
        let err = ctx.process(code_or_fail, -3);
        let err_unit = ctx.process(fails, 7);
        let exits = ctx.process(|| multiproc::exit(9), ());
        let panics = ctx.process(|| panic!("on purpose"), ());
        for p in [&unit, &code, &ok, &err, &err_unit, &exits, &panics] {
            p.start().unwrap();
        }
        assert_eq!(unit.join().unwrap(), 0, "[{m}]");
        assert_eq!(code.join().unwrap(), 42, "[{m}]");
        assert_eq!(ok.join().unwrap(), 5, "[{m}]");
        assert_eq!((ok.failure(), unit.failure()), (None, None), "[{m}]");
        assert_eq!(err.join().unwrap(), 1, "[{m}]");
        let f = err.failure().unwrap_or_else(|| panic!("[{m}] no failure report"));
        assert_eq!((f.kind, f.message.as_str()), (FailureKind::Error, "negative: -3"), "[{m}]");
        assert_eq!(err_unit.join().unwrap(), 1, "[{m}]");
        assert_eq!(err_unit.failure().unwrap().message, "oops number 7", "[{m}]");
        assert_eq!(exits.join().unwrap(), 9, "[{m}]");
        assert_eq!(panics.join().unwrap(), 1, "[{m}]");
        assert_eq!(panics.failure().unwrap().kind, FailureKind::Panic, "[{m}]");
    });
}

// A Run job may return an error the same way.
#[derive(Serialize, Deserialize)]
struct Job {
    fail: bool,
}

impl multiproc::Run for Job {
    type Output = Result<(), String>;
    fn run(self) -> Result<(), String> {
        if self.fail { Err("the job failed".into()) } else { Ok(()) }
    }
}

#[test]
fn run_jobs_return_results() {
    each_method("run results", LIMIT, |ctx| {
        let good = ctx.process_from_run(Job { fail: false });
        let bad = ctx.process_from_run(Job { fail: true });
        good.start().unwrap();
        bad.start().unwrap();
        assert_eq!(good.join().unwrap(), 0);
        assert_eq!(bad.join().unwrap(), 1);
        assert_eq!(bad.failure().unwrap().message, "the job failed");
    });
}

// Serde shapes postcard cannot decode are refused by start() in the parent, with the type and
// the feature named; the child never sees them.
#[derive(Serialize, Deserialize, Debug)]
#[serde(untagged)]
enum Loose {
    Number(u32),
    Text(String),
}

#[derive(Serialize, Deserialize, Debug)]
struct Extra {
    a: u32,
}

#[derive(Serialize, Deserialize, Debug)]
struct Flattened {
    #[serde(flatten)]
    extra: Extra,
}

#[test]
fn arguments_the_codec_cannot_carry_are_refused_at_start() {
    for m in [StartMethod::Spawn, StartMethod::ForkServer] {
        let _w = Watchdog::new("untagged arguments", LIMIT);
        let p = get_context(Some(m)).process(|x: Loose| println!("{x:?}"), Loose::Number(1));
        let e = p.start().unwrap_err();
        assert_eq!(e.kind(), ProcessErrorKind::Encode, "[{m}]");
        let text = e.to_string();
        assert!(text.contains("Loose") && text.contains("untagged"), "[{m}] {text}");
        assert!(!p.is_alive());

        let p = get_context(Some(m)).process(|x: Flattened| println!("{x:?}"), Flattened { extra: Extra { a: 1 } });
        let text = p.start().unwrap_err().to_string();
        assert!(text.contains("Flattened") && text.contains("flatten"), "[{m}] {text}");
    }
    // Under Fork the value is moved, not encoded: it arrives as it is.
    let p = get_context(Some(StartMethod::Fork))
        .process(|x: Loose| assert!(matches!(x, Loose::Text(ref s) if s == "ok")), Loose::Text("ok".into()));
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
}

// What a user sees when calling things in the wrong order.
#[test]
fn messages_before_start_say_what_to_do() {
    let p = Process::new(|| {}, ());
    for (verb, r) in
        [("terminate", p.terminate()), ("kill", p.kill()), ("interrupt", p.interrupt()), ("join", p.join().map(drop))]
    {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ProcessErrorKind::NotStarted);
        assert_eq!(e.to_string(), format!("can only {verb} a started process; call start() first"));
    }
    assert_eq!(p.try_join().unwrap_err().kind(), ProcessErrorKind::NotStarted);
    assert_eq!(p.join_timeout(Duration::MAX).unwrap_err().kind(), ProcessErrorKind::NotStarted);

    multiproc::set_start_method(Some(StartMethod::Spawn), true).unwrap();
    let e = multiproc::set_start_method(Some(StartMethod::Fork), false).unwrap_err();
    assert_eq!(e.to_string(), "context has already been set (to spawn); pass force = true to change it");
    let e = "threads".parse::<StartMethod>().unwrap_err();
    assert!(e.to_string().contains("\"spawn\", \"forkserver\" and \"fork\""), "{e}");

    let started = Process::new(|| {}, ());
    started.start().unwrap();
    started.join().unwrap();
    let e = started.set_daemon(true).unwrap_err();
    assert_eq!(e.kind(), ProcessErrorKind::AlreadyStartedSetting);
}

// join_timeout with the two extreme timeouts, and try_join.
#[test]
fn join_timeout_max_and_zero_and_try_join() {
    each_method("join_timeout", LIMIT, |ctx| {
        let m = ctx.get_start_method();
        let quick = ctx.process(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 50);
        quick.start().unwrap();
        // Duration::MAX waits as long as join (and does not overflow the deadline).
        assert_eq!(quick.join_timeout(Duration::MAX).unwrap(), 0, "[{m}]");
        assert_eq!(quick.try_join().unwrap(), 0, "[{m}]");
        assert_eq!(quick.join_timeout(Duration::ZERO).unwrap(), 0, "[{m}] an ended child answers at once");

        let slow = ctx.process(|| std::thread::sleep(Duration::from_secs(60)), ());
        slow.start().unwrap();
        let t = Instant::now();
        let e = slow.join_timeout(Duration::ZERO).unwrap_err();
        assert!(e.is_timeout() && e.kind() == ProcessErrorKind::Timeout, "[{m}] {e}");
        assert!(e.to_string().contains("still running"), "[{m}] {e}");
        assert!(slow.try_join().unwrap_err().is_would_block(), "[{m}]");
        assert!(t.elapsed() < Duration::from_secs(5), "[{m}] a zero timeout only checks");
        let t = Instant::now();
        assert!(slow.join_timeout(Duration::from_millis(100)).unwrap_err().is_timeout(), "[{m}]");
        assert!(t.elapsed() >= Duration::from_millis(100), "[{m}] returned before the timeout");
        slow.kill().unwrap();
        assert_eq!(slow.join_timeout(Duration::MAX).unwrap(), -9, "[{m}]");
    });
}

// The parent, seen from a child: join_timeout with both extremes.
fn watch_parent(hold: multiproc::sync::Event) -> i32 {
    let parent = multiproc::parent_process().expect("a child has a parent");
    let zero = parent.join_timeout(Duration::ZERO).unwrap_err().is_timeout();
    // Duration::MAX waits for the parent (which outlives this child): still waiting, no
    // overflow panic, a while later.
    let forever = std::thread::spawn(|| multiproc::parent_process().unwrap().join_timeout(Duration::MAX).is_ok());
    std::thread::sleep(Duration::from_millis(30));
    let waiting = !forever.is_finished();
    hold.set();
    // The parent lives on until it has seen our exit code: a short wait times out.
    let short = parent.join_timeout(Duration::from_millis(20)).unwrap_err().is_timeout();
    if zero && short && waiting { 0 } else { 1 }
}

#[test]
fn parent_join_timeout_in_a_child() {
    each_method("parent join_timeout", LIMIT, |ctx| {
        let ev = multiproc::sync::Event::new().unwrap();
        let p = ctx.process(watch_parent, ev.clone());
        p.start().unwrap();
        ev.wait();
        assert_eq!(p.join().unwrap(), 0, "[{}]", ctx.get_start_method());
    });
}

// Panic reports follow RUST_BACKTRACE, and name the thread that panicked.
#[test]
#[ignore = "helper for panic_reports_follow_rust_backtrace"]
fn helper_panic_reports() {
    if !common::in_helper() {
        return;
    }
    for m in METHODS {
        let ctx = get_context(Some(m));
        let main = ctx.process(|| panic!("deliberate"), ());
        let unnamed =
            ctx.process(|| std::thread::spawn(|| panic!("in a thread")).join().map_err(|_| "joined a panic"), ());
        let named = ctx.process(
            || {
                std::thread::Builder::new().name("worker-7".into()).spawn(|| panic!("named")).unwrap().join().is_ok()
                    as i32
            },
            (),
        );
        for p in [&main, &unnamed, &named] {
            p.start().unwrap();
            p.join().unwrap();
        }
        let f = main.failure().unwrap();
        println!("{m}: main thread={:?} backtrace={}", f.thread, f.backtrace.is_some());
        let f = unnamed.failure().unwrap();
        println!("{m}: unnamed thread={:?} kind={:?}", f.thread, f.kind);
        println!("{m}: named ended {}", named.exitcode().unwrap());
    }
}

#[test]
fn panic_reports_follow_rust_backtrace() {
    let _w = Watchdog::new("panic reports", LIMIT);
    let (stdout, stderr) = common::helper_output(
        "helper_panic_reports",
        &[("RUST_BACKTRACE", OsStr::new("0")), ("RUST_LIB_BACKTRACE", OsStr::new("0"))],
    );
    for m in METHODS {
        assert!(stdout.contains(&format!("{m}: main thread=Some(\"main\") backtrace=false")), "[{m}] {stdout}");
        // The unnamed thread's panic is caught by join; the target returns Err, reported as such.
        assert!(stdout.contains(&format!("{m}: unnamed thread=None kind=Error")), "[{m}] {stdout}");
        assert!(stdout.contains(&format!("{m}: named ended 0")), "[{m}] {stdout}");
    }
    assert!(stderr.contains("thread '<unnamed>' panicked"), "{stderr}");
    assert!(stderr.contains("thread 'worker-7' panicked"), "{stderr}");
    assert!(!stderr.contains("stack backtrace:"), "a backtrace was printed with RUST_BACKTRACE=0:\n{stderr}");
    assert!(stderr.contains("note: run with `RUST_BACKTRACE=1`"), "{stderr}");

    let (stdout, stderr) = common::helper_output(
        "helper_panic_reports",
        &[("RUST_BACKTRACE", OsStr::new("1")), ("RUST_LIB_BACKTRACE", OsStr::new("1"))],
    );
    for m in METHODS {
        assert!(stdout.contains(&format!("{m}: main thread=Some(\"main\") backtrace=true")), "[{m}] {stdout}");
    }
    assert!(stderr.contains("stack backtrace:"), "{stderr}");
}
