//! Fault tests for shared memory: creators and attachers SIGKILLed at the point that matters,
//! the tracker's cleanup (CPython §2 167, 168, 200, 204, and gh-82300 the right way round),
//! and a Value whose lock holder dies.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{each_method, in_helper, unique_name};
use multiproc::handle::Fd;
use multiproc::{SharedMemory, Value};

const LIMIT: Duration = Duration::from_secs(90);

fn exists(name: &str) -> bool {
    std::fs::metadata(format!("/dev/shm/{name}")).is_ok()
}

/// Polls until `/dev/shm/<name>` is gone; false if it is still there after `limit`.
fn wait_gone(name: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !exists(name) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    !exists(name)
}

fn report(fd: Fd, line: &str) {
    let mut w = std::fs::File::from(fd.into_owned());
    writeln!(w, "{line}").unwrap();
}

fn read_line(r: &mut BufReader<UnixStream>) -> String {
    let mut s = String::new();
    r.read_line(&mut s).unwrap();
    s.trim_end().to_string()
}

/// A one-way channel from a child: our reading end, and its writing end as a passable handle.
fn pipe() -> (BufReader<UnixStream>, Fd) {
    let (r, w) = UnixStream::pair().unwrap();
    (BufReader::new(r), Fd::from(OwnedFd::from(w)))
}

fn create_report_sleep(fd: Fd) {
    let shm = SharedMemory::create(None, 4096).unwrap();
    shm.write_at(0, b"doomed").unwrap();
    report(fd, shm.name().unwrap());
    std::thread::sleep(Duration::from_secs(60));
}

/// 167, 200: the creator of a named segment is SIGKILLed; its tracker unlinks the segment.
/// Under Fork the child inherits this process's tracker connection and must start its own.
#[test]
fn killed_creator_segment_is_unlinked_by_its_tracker() {
    // Make sure this process has a tracker, so a forked child inherits its connection.
    SharedMemory::create(None, 8).unwrap().unlink().unwrap();
    each_method("killed creator", LIMIT, |ctx| {
        let (mut r, w) = pipe();
        let p = ctx.process(create_report_sleep, w);
        p.start().unwrap();
        let name = read_line(&mut r);
        assert!(name.starts_with("psm_"), "{name:?}");
        assert!(exists(&name));
        let seen = SharedMemory::open(&name).unwrap();
        assert_eq!(&seen.to_vec()[..6], b"doomed");
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        assert!(wait_gone(&name, Duration::from_secs(20)), "{name} survived its creator's death");
        // Our mapping stays valid after the unlink.
        assert_eq!(&seen.to_vec()[..6], b"doomed");
    });
}

fn attach_create_report_sleep((shared, name, fd): (SharedMemory, String, Fd)) {
    assert!(!shared.is_owner());
    let by_name = SharedMemory::open(&name).unwrap();
    by_name.write_at(0, b"attacher was here").unwrap();
    let own = SharedMemory::create(None, 64).unwrap();
    report(fd, own.name().unwrap());
    std::thread::sleep(Duration::from_secs(60));
    drop(shared);
}

/// 168 / gh-82300 the right way round: a process that attached to a segment (by name, by
/// handle, by fork inheritance) and created one of its own is SIGKILLed. Its tracker unlinks
/// the segment it created and leaves the one it attached to alone.
#[test]
fn killed_attacher_does_not_unlink_what_it_attached_to() {
    each_method("killed attacher", LIMIT, |ctx| {
        let name = unique_name("mp_fault_attached");
        let shared = SharedMemory::create(Some(&name), 4096).unwrap();
        let (mut r, w) = pipe();
        let p = ctx.process(attach_create_report_sleep, (shared.clone(), name.clone(), w));
        p.start().unwrap();
        let own = read_line(&mut r);
        assert!(exists(&own));
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        // The attacher's tracker has run once its own segment is gone ...
        assert!(wait_gone(&own, Duration::from_secs(20)), "the attacher's own segment leaked");
        // ... and it left ours alone.
        assert!(exists(&name), "an attacher's death unlinked a segment it did not create");
        let again = SharedMemory::open(&name).unwrap();
        assert_eq!(&again.to_vec()[..17], b"attacher was here");
        shared.unlink().unwrap();
    });
}

/// The helper: creates four segments, unlinks one, persists one, leaks two, and exits.
#[test]
#[ignore]
fn helper_leaks_two_segments() {
    if !in_helper() {
        return;
    }
    let leaked: Vec<SharedMemory> = (0..2).map(|_| SharedMemory::create(None, 64).unwrap()).collect();
    let unlinked = SharedMemory::create(None, 64).unwrap();
    unlinked.unlink().unwrap();
    let kept = SharedMemory::create(None, 64).unwrap();
    kept.persist().unwrap();
    assert!(kept.is_owner(), "persist keeps the handle, only the tracker forgets");
    for s in &leaked {
        println!("LEAKED {}", s.name().unwrap());
    }
    println!("UNLINKED {}", unlinked.name().unwrap());
    println!("KEPT {}", kept.name().unwrap());
}

/// 167, 204: at the creator's normal exit the tracker unlinks what was leaked and warns like
/// CPython ("There appear to be 2 leaked shared_memory objects"); unlinked and persisted
/// segments are not reported, and the persisted one survives.
#[test]
fn tracker_cleans_up_leaks_at_exit_and_warns() {
    let _w = common::Watchdog::new("tracker at exit", LIMIT);
    // `output()` returns once the tracker, which inherited the helper's stdout and stderr,
    // has exited too.
    let (stdout, stderr) = common::helper_output("helper_leaks_two_segments", &[]);
    let names = |tag: &str| -> Vec<String> {
        stdout.lines().filter_map(|l| l.find(tag).map(|i| l[i + tag.len()..].trim().to_string())).collect()
    };
    let leaked = names("LEAKED ");
    let kept = names("KEPT ");
    assert_eq!((leaked.len(), kept.len(), names("UNLINKED ").len()), (2, 1, 1), "{stdout}");
    assert!(stderr.contains("There appear to be 2 leaked shared_memory objects"), "{stderr}");
    for n in &leaked {
        assert!(wait_gone(n, Duration::from_secs(10)), "{n} leaked");
        assert!(stderr.contains(n.as_str()));
    }
    assert!(exists(&kept[0]), "a persisted segment was unlinked");
    SharedMemory::open(&kept[0]).unwrap().unlink().unwrap();
}

fn hold_and_die((v, fd): (Value<[u64; 2]>, Fd)) {
    let mut g = v.acquire().unwrap();
    g[0] = 1; // half of an update that keeps g[0] == g[1]
    report(fd, "locked");
    std::thread::sleep(Duration::from_secs(60));
    g[1] = 1;
}

/// A process dies while holding a Value's lock: the next `acquire()` gets `OwnerDied` with the
/// guard (the half-done update visible) instead of hanging, as CPython does (pain point 5).
#[test]
fn value_lock_holder_killed_gives_owner_died() {
    each_method("value owner died", LIMIT, |ctx| {
        let v = Value::new([0u64; 2]).unwrap();
        let (mut r, w) = pipe();
        let p = ctx.process(hold_and_die, (v.clone(), w));
        p.start().unwrap();
        assert_eq!(read_line(&mut r), "locked");
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        let died = v.acquire().expect_err("the holder died: OwnerDied expected");
        let mut g = died.into_guard();
        assert_eq!(*g, [1, 0]);
        g[1] = g[0]; // repair
        g.make_consistent();
        drop(g);
        assert_eq!(*v.acquire().expect("consistent again"), [1, 1]);
    });
}

/// Pids of this process's live children, read from /proc.
fn live_children() -> Vec<u32> {
    common::my_children().into_iter().filter(|&(_, st)| st != 'Z').map(|(pid, _)| pid).collect()
}

/// The helper: ignores SIGTERM sent to its tracker, then SIGKILLs it and creates again.
#[test]
#[ignore]
fn helper_kills_its_tracker() {
    if !in_helper() {
        return;
    }
    let first = SharedMemory::create(None, 64).unwrap();
    let kids = live_children();
    assert_eq!(kids.len(), 1, "expected exactly the tracker as a child: {kids:?}");
    let tracker = kids[0].to_string();
    // The tracker ignores SIGTERM once it runs its main loop; a moment after its spawn it may
    // still be starting (more so on a loaded machine): wait until /proc shows SIGTERM ignored.
    common::wait_until("the tracker to ignore SIGTERM", || {
        let status = std::fs::read_to_string(format!("/proc/{tracker}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & (1 << (15 - 1)) != 0)
    });
    assert!(std::process::Command::new("kill").args(["-TERM", &tracker]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(200));
    assert!(!common::pid_gone(kids[0]), "the tracker died of SIGTERM");
    assert!(std::process::Command::new("kill").args(["-KILL", &tracker]).status().unwrap().success());
    assert!(common::wait_pid_gone(kids[0], Duration::from_secs(10)));
    let second = SharedMemory::create(None, 64).unwrap();
    println!("FIRST {}", first.name().unwrap());
    println!("SECOND {}", second.name().unwrap());
}

/// 201 (and better): the tracker ignores SIGTERM; after SIGKILL the next create warns once
/// ("died unexpectedly, relaunching") and the new tracker is told every name still owned, so
/// both leaked segments are cleaned up at exit (CPython's new tracker forgets the first).
#[test]
fn a_killed_tracker_is_relaunched_and_told_everything_again() {
    let _w = common::Watchdog::new("tracker relaunch", LIMIT);
    let (stdout, stderr) = common::helper_output("helper_kills_its_tracker", &[]);
    assert_eq!(stderr.matches("died unexpectedly, relaunching").count(), 1, "{stderr}");
    assert!(stderr.contains("There appear to be 2 leaked shared_memory objects"), "{stderr}");
    for tag in ["FIRST ", "SECOND "] {
        let name = stdout.lines().find_map(|l| l.find(tag).map(|i| l[i + tag.len()..].trim().to_string())).unwrap();
        assert!(wait_gone(&name, Duration::from_secs(10)), "{name} leaked");
    }
}

fn create_and_persist(name: String) {
    let shm = SharedMemory::create(Some(&name), 64).unwrap();
    shm.write_at(0, b"second").unwrap();
    shm.persist().unwrap();
}

/// The helper: owns a segment that someone else unlinks; another process then creates a new
/// segment under the same name.
#[test]
#[ignore]
fn helper_name_reused_by_another_process() {
    if !in_helper() {
        return;
    }
    let name = unique_name("mp_fault_reused");
    let _ours = SharedMemory::create(Some(&name), 64).unwrap();
    SharedMemory::open(&name).unwrap().unlink().unwrap(); // an explicit unlink by a non-owner handle
    let p = multiproc::Process::new(create_and_persist, name.clone());
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    println!("NAME {name}");
}

/// The tracker unlinks by name *and* inode: when our segment was unlinked by someone else and
/// the name reused by another process, the newcomer's segment is left alone.
#[test]
fn the_tracker_does_not_unlink_a_reused_name() {
    let _w = common::Watchdog::new("reused name", LIMIT);
    let (stdout, stderr) = common::helper_output("helper_name_reused_by_another_process", &[]);
    let name = stdout.lines().find_map(|l| l.find("NAME ").map(|i| l[i + 5..].trim().to_string())).unwrap();
    assert!(stderr.contains("not unlinking"), "{stderr}");
    assert!(exists(&name), "the tracker unlinked another process's segment");
    let theirs = SharedMemory::open(&name).unwrap();
    assert_eq!(&theirs.to_vec()[..6], b"second");
    theirs.unlink().unwrap();
}

fn churn((prefix, n, mut fd): (String, u32, Option<Fd>)) {
    let victim = fd.is_some();
    for i in 0..n {
        let name = format!("{prefix}_{}_{i}", std::process::id());
        let shm = SharedMemory::create(Some(&name), 4096).unwrap();
        shm.write_at(0, name.as_bytes()).unwrap();
        if i % 2 == 0 {
            shm.unlink().unwrap(); // half are unlinked, half left to the tracker
        }
        if i == 100
            && let Some(fd) = fd.take()
        {
            report(fd, "halfway");
        }
    }
    if victim {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn left_with_prefix(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Stress: three processes create and unlink named segments concurrently, leaving half for
/// their trackers; one of them is SIGKILLed in the middle of its loop (anywhere between
/// creating, registering, naming, unlinking). Nothing with their prefix is left.
#[test]
fn concurrent_creators_one_killed_leave_nothing_behind() {
    each_method("creator churn", LIMIT, |ctx| {
        let prefix = unique_name("mp_churn");
        let n = 200;
        let (mut r, w) = pipe();
        // The victim would go on for long: the kill lands in the middle of its loop.
        let victim = ctx.process(churn, (prefix.clone(), 20 * n, Some(w)));
        let others: Vec<_> = (0..2).map(|_| ctx.process(churn, (prefix.clone(), n, None))).collect();
        victim.start().unwrap();
        for p in &others {
            p.start().unwrap();
        }
        assert_eq!(read_line(&mut r), "halfway");
        victim.kill().unwrap();
        assert_eq!(victim.join().unwrap(), -9);
        for p in &others {
            assert_eq!(p.join().unwrap(), 0);
        }
        let start = Instant::now();
        while !left_with_prefix(&prefix).is_empty() && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(left_with_prefix(&prefix), Vec::<String>::new());
    });
}
