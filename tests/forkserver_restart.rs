//! Killing the fork server (§2 item 24). In its own test binary: killing the shared fork server
//! would fail fork-server children of tests running beside it.

mod common;

use std::time::Duration;

use common::{Watchdog, wait_pid_gone};
use multiproc::{StartMethod, get_context};

const LIMIT: Duration = Duration::from_secs(60);

// 24: killing the fork server does not prevent new processes.
#[test]
fn fork_server_is_restarted_after_being_killed() {
    let _w = Watchdog::new("forkserver restart", LIMIT);
    let ctx = get_context(Some(StartMethod::ForkServer));
    let p = ctx.process(|(): ()| {}, ());
    p.start().unwrap();
    p.join().unwrap();
    let server = fork_server_pid().expect("a fork server runs");
    std::process::Command::new("kill").args(["-9", &server.to_string()]).status().unwrap();
    assert!(wait_pid_gone(server, Duration::from_secs(10)));
    for _ in 0..3 {
        let p = ctx.process(|(): ()| {}, ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    }
    let new_server = fork_server_pid().expect("a new fork server runs");
    assert_ne!(new_server, server);
}

/// Our child whose initial environment marks it as the fork server.
fn fork_server_pid() -> Option<u32> {
    common::my_children().into_iter().filter(|&(_, st)| st != 'Z').map(|(pid, _)| pid).find(|pid| {
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        env.split(|b| *b == 0).any(|v| v == b"MULTIPROC_BOOT=forkserver")
    })
}
