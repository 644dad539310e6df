//! Security checks: what another user of the machine can and cannot reach, and how listeners
//! start. The checks that need a second user run a helper of this binary as `nobody`
//! (needs root; elsewhere they say so and check only the modes).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use common::Watchdog;
use multiproc::SharedMemory;
use multiproc::connection::{Client, Family, Listener};

const LIMIT: Duration = Duration::from_secs(60);

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn named_segments_and_socket_files_are_owner_only() {
    let _w = Watchdog::new("modes", LIMIT);
    let name = common::unique_name("sec");
    let shm = SharedMemory::create(Some(&name), 4096).unwrap();
    assert_eq!(mode(&std::path::Path::new("/dev/shm").join(&name)), 0o600);
    shm.unlink().unwrap();

    // Without an address: a socket in a private directory.
    let l = Listener::builder().authkey(b"k").bind().unwrap();
    let multiproc::connection::Address::Unix(p) = l.address().clone() else { panic!("{:?}", l.address()) };
    assert_eq!(mode(p.parent().unwrap()), 0o700);
    drop(l);
    // At a given path, whatever the umask.
    let path = std::env::temp_dir().join(common::unique_name("sec.sock"));
    // SAFETY: umask only sets this process's file-creation mask.
    #[allow(unsafe_code)]
    let old = unsafe { libc::umask(0) };
    let l = Listener::bind(path.as_path(), Some(b"k")).unwrap();
    #[allow(unsafe_code)]
    // SAFETY: as above.
    unsafe {
        libc::umask(old)
    };
    assert_eq!(mode(&path), 0o600);
    drop(l);
    assert!(!path.exists(), "the socket file is removed on close");
}

#[test]
fn tcp_listeners_need_an_authkey_and_bind_loopback() {
    let e = Listener::bind("127.0.0.1:0", None).unwrap_err();
    assert!(e.to_string().contains("needs an authkey"), "{e}");
    let e = Listener::builder().family(Family::Tcp).bind().unwrap_err();
    assert!(e.to_string().contains("needs an authkey"), "{e}");
    let l = Listener::builder().family(Family::Tcp).authkey(b"k").bind().unwrap();
    match l.address() {
        multiproc::connection::Address::Tcp(a) => assert!(a.ip().is_loopback(), "{a}"),
        other => panic!("{other:?}"),
    }
}

// The HMAC check: an answer of the right length that differs only in its last byte fails (the
// comparison is the MAC's own constant-time verify, `Mac::verify_slice`).
#[test]
fn a_nearly_right_answer_is_refused() {
    use std::thread;
    let mut l = Listener::builder().authkey(b"right key").report_failed_handshakes(true).bind().unwrap();
    let addr = l.address().clone();
    let t = thread::spawn(move || Client::connect(&addr, Some(b"right kez")).map(drop));
    let e = l.accept_timeout(Duration::from_secs(30)).unwrap_err();
    assert!(e.is_authentication(), "{e}");
    let e = t.join().unwrap().unwrap_err();
    assert!(e.is_authentication(), "{e}");
    assert_eq!(l.handshake_stats().failed, 1);
}

#[test]
#[ignore = "helper for another_user_cannot_open_our_segments_or_sockets"]
fn helper_as_nobody() {
    if !common::in_helper() {
        return;
    }
    let name = std::env::var("SEC_SHM").unwrap();
    match SharedMemory::open(&name) {
        Err(e) => println!("shm: {:?}", e.kind()),
        Ok(_) => println!("shm: OPENED"),
    }
    let path = std::env::var("SEC_SOCK").unwrap();
    match Client::connect(path.as_str(), Some(b"k")) {
        Err(e) => println!("sock: {e}"),
        Ok(_) => println!("sock: CONNECTED"),
    }
}

#[test]
fn another_user_cannot_open_our_segments_or_sockets() {
    let _w = Watchdog::new("other user", LIMIT);
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot run a helper as another user; the mode checks above cover this");
        return;
    }
    let name = common::unique_name("sec-other");
    let shm = SharedMemory::create(Some(&name), 4096).unwrap();
    let path = std::env::temp_dir().join(common::unique_name("sec-other.sock"));
    let mut l = Listener::bind(path.as_path(), Some(b"k")).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_as_nobody", "--ignored", "--nocapture", "--test-threads=1"])
        .env("MULTIPROC_HELPER", "1")
        .env("SEC_SHM", &name)
        .env("SEC_SOCK", &path)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("shm: PermissionDenied"), "{stdout}");
    assert!(stdout.contains("sock: ") && stdout.contains("ermission denied"), "{stdout}");
    assert!(l.try_accept().is_err(), "nobody got through");
    shm.unlink().unwrap();
}
