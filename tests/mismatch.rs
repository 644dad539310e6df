//! A child running a different binary fails clearly (its own test binary: it changes the
//! process-wide executable used by spawn).

mod common;

use std::time::Duration;

use common::Watchdog;
use multiproc::{StartMethod, get_context};

fn other_binary() -> Option<std::path::PathBuf> {
    let me = std::env::current_exe().ok()?;
    let dir = me.parent()?;
    let mine = me.file_name()?.to_string_lossy().to_string();
    let stem = mine.split('-').next()?.to_string();
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
        let n = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        n.starts_with("context-") && !n.contains('.') && n != mine && !n.starts_with(&stem)
    })
}

// A child running a different binary fails clearly instead of jumping into garbage.
#[test]
fn binary_mismatch_is_reported() {
    let _w = Watchdog::new("mismatch", Duration::from_secs(60));
    let Some(other) = other_binary() else {
        panic!("the test binary `context` should be built beside this one");
    };
    let p = get_context(Some(StartMethod::Spawn)).process(|(): ()| {}, ());
    multiproc::set_executable(&other);
    let started = p.start();
    multiproc::set_executable("/proc/self/exe");
    started.unwrap();
    assert_eq!(p.join().unwrap(), 1);
    let f = p.failure().expect("the child reports why");
    assert_eq!(f.kind, multiproc::FailureKind::BinaryMismatch);
    assert!(f.message.contains("different binary"), "{}", f.message);
}
