//! Killing the fork server (§2 item 24), and the life of its spare (the child it forks ahead
//! of need). In its own test binary: killing the shared fork server would fail fork-server
//! children of tests running beside it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Watchdog, children_of, in_helper, wait_pid_gone, wait_until};
use multiproc::{StartMethod, get_context};

const LIMIT: Duration = Duration::from_secs(60);

/// The tests here kill the process's one fork server or its spare: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn start_one() {
    let p = get_context(Some(StartMethod::ForkServer)).process(|(): ()| {}, ());
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
}

/// The live children of the fork server: its spare.
fn spares(server: u32) -> Vec<u32> {
    children_of(server).into_iter().filter(|&(_, st)| st != 'Z').map(|(pid, _)| pid).collect()
}

fn kill9(pid: u32) {
    Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
}

// 24: killing the fork server does not prevent new processes; its spare dies with it.
#[test]
fn fork_server_is_restarted_after_being_killed() {
    let _s = serial();
    let _w = Watchdog::new("forkserver restart", LIMIT);
    start_one();
    let server = fork_server_pid().expect("a fork server runs");
    wait_until("a spare", || spares(server).len() == 1);
    let spare = spares(server)[0];
    kill9(server);
    assert!(wait_pid_gone(server, Duration::from_secs(10)));
    assert!(wait_pid_gone(spare, Duration::from_secs(10)), "the spare outlived the server");
    for _ in 0..3 {
        start_one();
    }
    let new_server = fork_server_pid().expect("a new fork server runs");
    assert_ne!(new_server, server);
}

// A spare killed while it waits is replaced, and starts go on.
#[test]
fn a_killed_spare_is_replaced() {
    let _s = serial();
    let _w = Watchdog::new("spare killed", LIMIT);
    start_one();
    let server = fork_server_pid().expect("a fork server runs");
    wait_until("a spare", || spares(server).len() == 1);
    let spare = spares(server)[0];
    kill9(spare);
    assert!(wait_pid_gone(spare, Duration::from_secs(10)));
    wait_until("a new spare", || spares(server).iter().any(|&p| p != spare));
    for _ in 0..3 {
        start_one();
    }
    assert_eq!(fork_server_pid(), Some(server), "the server itself was not replaced");
}

#[test]
#[ignore = "helper for server_and_spare_leave_with_their_parent"]
fn helper_fork_server_parent() {
    if !in_helper() {
        return;
    }
    start_one();
    let server = fork_server_pid().expect("a fork server runs");
    wait_until("a spare", || spares(server).len() == 1);
    println!("PIDS {server} {}", spares(server)[0]);
    std::io::stdout().flush().unwrap();
    // Wait for the test to close stdin (then leave normally) or kill this process.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

// The fork server and its spare leave when the process that started them ends, normally or
// by SIGKILL: nothing is left behind.
#[test]
fn server_and_spare_leave_with_their_parent() {
    let _w = Watchdog::new("server leaves with parent", LIMIT);
    for kill in [false, true] {
        let mut helper = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "helper_fork_server_parent", "--ignored", "--nocapture", "--test-threads=1"])
            .env("MULTIPROC_HELPER", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(helper.stdout.take().unwrap());
        let mut line = String::new();
        let pids = loop {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "the helper ended without its pids");
            // (The harness prints "test <name> ... " before the test's own output.)
            if let Some(at) = line.find("PIDS ") {
                break line[at + 5..].split_whitespace().map(|p| p.parse::<u32>().unwrap()).collect::<Vec<_>>();
            }
        };
        if kill {
            helper.kill().unwrap();
        } else {
            drop(helper.stdin.take());
        }
        helper.wait().unwrap();
        for pid in pids {
            assert!(wait_pid_gone(pid, Duration::from_secs(10)), "process {pid} outlived its parent (kill: {kill})");
        }
    }
}

/// Our child whose initial environment marks it as the fork server.
fn fork_server_pid() -> Option<u32> {
    common::my_children().into_iter().filter(|&(_, st)| st != 'Z').map(|(pid, _)| pid).find(|pid| {
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        env.split(|b| *b == 0).any(|v| v == b"MULTIPROC_BOOT=forkserver")
    })
}
