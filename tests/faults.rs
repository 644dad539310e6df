//! Fault injection across the built areas: a peer stopped (SIGSTOP/SIGCONT) in the middle of
//! an operation, descriptors exhausted (RLIMIT_NOFILE lowered), a full /dev/shm (a small tmpfs
//! mounted for the test in a mount namespace of its own), and a parent killed with live
//! children. For each: no hang (every test has a watchdog), no item lost or duplicated, and no
//! descriptor, segment, socket directory or zombie left behind (counted before and after).

mod common;

use std::time::{Duration, Instant};

use common::{Leaks, METHODS, Watchdog, each_method, send_signal};
use multiproc::connection::Connection;
use multiproc::sync::{Event, Lock};
use multiproc::{Queue, SharedMemory, StartMethod, get_context};

const LIMIT: Duration = Duration::from_secs(120);

fn hold_until(((lock, held, release),): ((Lock, Event, Event),)) {
    let g = lock.acquire().unwrap();
    held.set();
    release.wait();
    drop(g);
}

// A lock holder stopped: others time out (the owner is alive, so nothing is taken from it);
// resumed, it releases and the lock works.
#[test]
fn a_stopped_lock_holder_is_waited_for_not_robbed() {
    each_method("stopped lock holder", LIMIT, |ctx| {
        let m = ctx.get_start_method();
        let (lock, held, release) = (Lock::new().unwrap(), Event::new().unwrap(), Event::new().unwrap());
        let p = ctx.process(hold_until, ((lock.clone(), held.clone(), release.clone()),));
        p.start().unwrap();
        held.wait();
        let pid = p.pid().unwrap();
        send_signal(pid, libc::SIGSTOP);
        common::wait_until("the holder to stop", || common::proc_state(pid) == 'T');
        let t = Instant::now();
        let r = lock.acquire_timeout(Duration::from_millis(300));
        assert!(r.as_ref().err().is_some_and(|e| e.is_timeout()), "[{m}] {r:?}");
        assert!(t.elapsed() >= Duration::from_millis(300), "[{m}]");
        release.set();
        send_signal(pid, libc::SIGCONT);
        let g = lock.acquire_timeout(Duration::from_secs(30));
        assert!(g.is_ok(), "[{m}] the lock did not come back after SIGCONT");
        drop(g);
        assert_eq!(p.join().unwrap(), 0, "[{m}]");
    });
}

fn send_big((conn, size): (Connection, usize)) {
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    conn.send_bytes(&data).unwrap();
}

// A connection peer stopped in the middle of a 16 MiB message: the receiver waits, and the
// message arrives whole after SIGCONT.
#[test]
fn a_peer_stopped_mid_message_delivers_it_whole() {
    common::warm_up();
    let before = Leaks::snapshot();
    each_method("stopped peer", LIMIT, |ctx| {
        let m = ctx.get_start_method();
        let (ours, theirs) = multiproc::pipe(true).unwrap();
        let size = 16 << 20;
        let p = ctx.process(send_big, (theirs, size));
        p.start().unwrap();
        // Let the message begin: the socket buffer fills and the sender blocks mid-message;
        // stop it there, then read what came and wait for the rest.
        assert!(ours.poll(Some(Duration::from_secs(30))).unwrap(), "[{m}]");
        let pid = p.pid().unwrap();
        send_signal(pid, libc::SIGSTOP);
        common::wait_until("the sender to stop", || common::proc_state(pid) == 'T');
        let reader = std::thread::spawn(move || ours.recv_bytes());
        std::thread::sleep(Duration::from_millis(200));
        assert!(!reader.is_finished(), "[{m}] a stopped sender cannot have finished its message");
        send_signal(pid, libc::SIGCONT);
        let got = reader.join().unwrap().unwrap();
        assert_eq!(got.len(), size, "[{m}]");
        assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "[{m}] torn message");
        assert_eq!(p.join().unwrap(), 0, "[{m}]");
    });
    before.assert_same("stopped peer", 2, Duration::from_secs(10));
}

#[allow(unsafe_code)]
fn set_nofile(soft: u64) {
    // SAFETY: reads and sets this process's descriptor limit; no pointers kept.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = soft.min(r.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
#[ignore = "helper for exhausted_descriptors_give_errors_and_recover"]
fn helper_exhausted_descriptors() {
    if !common::in_helper() {
        return;
    }
    for m in METHODS {
        let ctx = get_context(Some(m));
        // Warm up what lives for the whole process (the fork server, the launcher) first.
        let p = ctx.process(|| {}, ());
        p.start().unwrap();
        p.join().unwrap();
        drop(p);
        let base = open_fds();
        set_nofile(base as u64 + 10);
        let mut kept = Vec::new();
        let (mut ok, mut failed) = (0, 0);
        for i in 0..40 {
            let r: Result<(), String> = (|| {
                let q = ctx.queue::<u32>(0).map_err(|e| e.to_string())?;
                let (a, b) = ctx.pipe(true).map_err(|e| e.to_string())?;
                let p = ctx.process(|x: u32| assert!(x < 100), i);
                p.start().map_err(|e| e.to_string())?;
                kept.push((q, a, b, p));
                Ok(())
            })();
            match r {
                Ok(()) => ok += 1,
                Err(e) => {
                    failed += 1;
                    if failed == 1 {
                        println!("{m}: first error: {e}");
                    }
                }
            }
        }
        for (_, _, _, p) in &kept {
            assert_eq!(p.join().unwrap(), 0);
        }
        drop(kept);
        set_nofile(4096);
        let after = open_fds();
        let p = ctx.process(|| {}, ());
        p.start().unwrap();
        let code = p.join().unwrap();
        println!("{m}: ok {ok} failed {failed}, fds {base} -> {after}, then a start gives {code}");
    }
}

// Descriptors exhausted: starts, pipes and queues fail with an error saying so (no panic, no
// hang), everything made before still works, and once objects are dropped the descriptors
// are all back and starting works again.
#[test]
fn exhausted_descriptors_give_errors_and_recover() {
    let _w = Watchdog::new("exhausted descriptors", LIMIT);
    let (stdout, _) = common::helper_output("helper_exhausted_descriptors", &[]);
    for m in METHODS {
        let at = |key: String| -> &str {
            let l = stdout.lines().find(|l| l.contains(&key)).unwrap_or_else(|| panic!("no {key:?} in {stdout}"));
            &l[l.find(&key).unwrap()..]
        };
        let line = at(format!("{m}: ok "));
        let n = |key: &str| -> usize {
            let v = line.split(key).nth(1).and_then(|s| s.split_whitespace().next()).unwrap_or("");
            v.trim_end_matches(',').parse().unwrap_or_else(|_| panic!("[{m}] {key:?} in {line}"))
        };
        assert!(n("failed ") > 0, "[{m}] the limit was never reached: {line}");
        let (base, after) = (n("fds "), n("-> "));
        assert!(after <= base, "[{m}] descriptors leaked: {line}");
        assert!(line.ends_with("a start gives 0"), "[{m}] {line}");
        let err = at(format!("{m}: first error"));
        assert!(err.contains("Too many open files") || err.contains("os error 24"), "[{m}] {err}");
    }
}

#[test]
#[ignore = "helper for a_full_dev_shm_is_an_error_at_create"]
#[allow(unsafe_code)]
fn helper_full_dev_shm() {
    if !common::in_helper() {
        return;
    }
    // SAFETY: unshare and mount with valid C strings; this helper process is the only user of
    // its new mount namespace.
    unsafe {
        assert_eq!(libc::unshare(libc::CLONE_NEWNS), 0, "unshare: {}", std::io::Error::last_os_error());
        let none = c"none";
        assert_eq!(
            libc::mount(
                none.as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null()
            ),
            0
        );
        let r =
            libc::mount(c"tmpfs".as_ptr(), c"/dev/shm".as_ptr(), c"tmpfs".as_ptr(), 0, c"size=256k".as_ptr().cast());
        assert_eq!(r, 0, "mount: {}", std::io::Error::last_os_error());
    }
    let names: Vec<String> = (0..4).map(|i| format!("full-{}-{i}", std::process::id())).collect();
    match SharedMemory::create(Some(&names[0]), 1 << 20) {
        Err(e) => println!("1 MiB: {:?}: {e}", e.kind()),
        Ok(_) => println!("1 MiB: CREATED"),
    }
    let a = SharedMemory::create(Some(&names[1]), 100 << 10).unwrap();
    let b = SharedMemory::create(Some(&names[2]), 100 << 10).unwrap();
    a.write_at(0, &[1u8; 100 << 10]).unwrap();
    b.write_at(0, &[2u8; 100 << 10]).unwrap();
    match SharedMemory::create(Some(&names[3]), 100 << 10) {
        Err(e) => println!("third: {:?}", e.kind()),
        Ok(_) => println!("third: CREATED"),
    }
    let left: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    println!("left: {}", left.len());
    a.unlink().unwrap();
    b.unlink().unwrap();
    // Queues and small objects live in memfds, not /dev/shm: unaffected.
    let q: Queue<u8> = Queue::new().unwrap();
    q.put(1).unwrap();
    println!("queue: {}", q.get().unwrap());
}

// A full /dev/shm: creating a segment that does not fit fails at once with StorageFull (CPython
// creates it sparse and its writer dies of SIGBUS later), leaves no name behind, and what fit
// is whole and writable.
#[test]
fn a_full_dev_shm_is_an_error_at_create() {
    let _w = Watchdog::new("full /dev/shm", LIMIT);
    if !common::is_root() {
        eprintln!("not root: cannot mount a small tmpfs over /dev/shm for this test");
        return;
    }
    let (stdout, _) = common::helper_output("helper_full_dev_shm", &[]);
    assert!(stdout.contains("1 MiB: StorageFull: no space in /dev/shm"), "{stdout}");
    assert!(stdout.contains("third: StorageFull"), "{stdout}");
    assert!(stdout.contains("left: 2"), "only the two that fit: {stdout}");
    assert!(stdout.contains("queue: 1"), "{stdout}");
}

#[test]
#[ignore = "helper for a_killed_parent_takes_its_children_along"]
fn helper_parent_with_children() {
    if !common::in_helper() {
        return;
    }
    let mut pids = Vec::new();
    for m in METHODS {
        for _ in 0..3 {
            let p = get_context(Some(m)).process(|| std::thread::sleep(Duration::from_secs(120)), ());
            p.start().unwrap();
            pids.push(p.pid().unwrap());
            std::mem::forget(p);
        }
    }
    println!("pids {}", pids.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
    std::thread::sleep(Duration::from_secs(120));
}

// A parent SIGKILLed with live children under every start method: all of them die with it.
#[test]
fn a_killed_parent_takes_its_children_along() {
    let _w = Watchdog::new("killed parent", LIMIT);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_parent_with_children", "--ignored", "--nocapture", "--test-threads=1"])
        .env("MULTIPROC_HELPER", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0, "the helper ended early");
        if let Some(rest) = line.trim().split("pids ").nth(1) {
            line = rest.to_string();
            break;
        }
    }
    let pids: Vec<u32> = line.split(',').map(|p| p.parse().unwrap()).collect();
    assert_eq!(pids.len(), 9);
    send_signal(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    for pid in pids {
        assert!(common::wait_pid_gone(pid, Duration::from_secs(30)), "child {pid} outlived its killed parent");
    }
}

// Under Fork the child's queue handle was inherited, not sent: the same checks as above hold
// for a producer that got its queue by inheritance.
#[test]
fn inherited_queue_producer_stopped_and_resumed() {
    let _w = Watchdog::new("inherited queue", LIMIT);
    let q: Queue<u64> = Queue::new().unwrap();
    let q2 = q.clone();
    let p = multiproc::Process::with_closure(move || {
        for i in 0..1000u64 {
            q2.put(i).unwrap();
        }
    });
    p.start().unwrap();
    assert_eq!(p.start_method(), StartMethod::Fork);
    let pid = p.pid().unwrap();
    send_signal(pid, libc::SIGSTOP);
    send_signal(pid, libc::SIGCONT);
    for i in 0..1000u64 {
        assert_eq!(q.get().unwrap(), i);
    }
    assert_eq!(p.join().unwrap(), 0);
}
