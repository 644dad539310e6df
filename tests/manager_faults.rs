//! Manager faults, with real SIGKILLs: the server killed during client calls (every client
//! errors out within a bounded time, none hangs); a client killed while it waits in the
//! server and while it holds a managed lock; malformed, truncated and oversized requests
//! (each answered or dropped, and the server keeps serving the others).

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{Watchdog, each_method, send_signal, wait_until};
use multiproc::connection::{Address, Client, Connection, answer_challenge, deliver_challenge};
use multiproc::manager::{DictProxy, EventProxy, LockProxy, Manager, ManagerErrorKind, QueueProxy};

const LIMIT: Duration = Duration::from_secs(90);

/// Longest a client may take to see that its server died.
const NOTICE: Duration = Duration::from_secs(20);

fn call_until_error(args: (DictProxy<u32, u32>, QueueProxy<u32>, EventProxy)) {
    let (d, q, started) = args;
    started.set().unwrap();
    let t = std::thread::spawn(move || q.get().unwrap_err());
    let mut i = 0;
    let e = loop {
        if let Err(e) = d.set(i, i) {
            break e;
        }
        i += 1;
    };
    assert!(e.is_server_gone(), "{e:?}");
    let e = t.join().unwrap();
    assert!(e.is_server_gone(), "the blocked get: {e:?}");
}

/// The server SIGKILLed while a child and threads here call it (a tight loop of sets, and
/// gets blocked in the server): every one fails with `ServerGone` within a bounded time.
#[test]
fn server_killed_during_calls() {
    each_method("server_killed_during_calls", LIMIT, |ctx| {
        let m = Manager::start().unwrap();
        let d = m.dict::<u32, u32>().unwrap();
        let q = m.queue::<u32>().unwrap();
        let started = m.event().unwrap();
        let p = ctx.process(call_until_error, (d.clone(), q.clone(), started.clone()));
        p.start().unwrap();
        started.wait_timeout(Duration::from_secs(30)).unwrap();
        let local: Vec<_> = (0..3)
            .map(|k| {
                let (d, q) = (d.clone(), q.clone());
                std::thread::spawn(move || {
                    if k == 0 {
                        return q.get().unwrap_err();
                    }
                    loop {
                        if let Err(e) = d.set(k, k) {
                            return e;
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let killed = Instant::now();
        send_signal(m.server_pid().unwrap(), libc::SIGKILL);
        for t in local {
            let e = t.join().unwrap();
            assert!(e.is_server_gone(), "{e:?}");
        }
        assert_eq!(p.join_timeout(NOTICE).unwrap(), 0, "the child saw the server die");
        assert!(killed.elapsed() < NOTICE);
        // A call after the death fails at once too.
        assert!(d.len().unwrap_err().is_server_gone());
        drop(m); // reaps the killed server
    });
}

fn wait_for_item(args: (QueueProxy<u32>, EventProxy)) {
    let (q, started) = args;
    started.set().unwrap();
    let _ = q.get();
    unreachable!("killed while it waited");
}

/// A client SIGKILLed while its get waits in the server: the item put afterwards is not
/// taken by the dead client's server thread, it goes to a live one.
#[test]
fn client_killed_while_waiting_in_the_server() {
    let m = Manager::start().unwrap();
    each_method("client_killed_while_waiting_in_the_server", LIMIT, |ctx| {
        let q = m.queue::<u32>().unwrap();
        let started = m.event().unwrap();
        let p = ctx.process(wait_for_item, (q.clone(), started.clone()));
        p.start().unwrap();
        started.wait_timeout(Duration::from_secs(30)).unwrap();
        std::thread::sleep(Duration::from_millis(50)); // let its get reach the server
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -libc::SIGKILL);
        q.put(7).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), 7);
    });
}

fn hold_lock_forever(args: (LockProxy, EventProxy)) {
    let (lock, held) = args;
    let _g = lock.acquire().unwrap();
    held.set().unwrap();
    std::thread::sleep(Duration::from_secs(3600));
}

/// A client SIGKILLed while it holds a managed lock: the server releases it, and a waiter
/// blocked on it (and later callers) get it within a bounded time. (CPython's managed lock
/// stays locked forever.)
#[test]
fn client_killed_holding_a_lock() {
    let m = Manager::start().unwrap();
    each_method("client_killed_holding_a_lock", LIMIT, |ctx| {
        let lock = m.lock().unwrap();
        let held = m.event().unwrap();
        let p = ctx.process(hold_lock_forever, (lock.clone(), held.clone()));
        p.start().unwrap();
        held.wait_timeout(Duration::from_secs(30)).unwrap();
        assert!(lock.try_acquire().unwrap_err().is_would_block());
        let waiter = std::thread::spawn({
            let lock = lock.clone();
            move || lock.acquire_timeout(Duration::from_secs(30)).map(|g| g.leak()).is_ok()
        });
        std::thread::sleep(Duration::from_millis(50));
        send_signal(p.pid().unwrap(), libc::SIGKILL);
        assert_eq!(p.join().unwrap(), -libc::SIGKILL);
        assert!(waiter.join().unwrap(), "the waiter got the dead holder's lock");
        lock.release().unwrap();
        let _g = lock.try_acquire().unwrap();
    });
}

/// A raw authenticated Unix-socket connection to a manager, for sending bytes that no proxy
/// would.
fn raw_stream(m: &Manager) -> (UnixStream, Connection) {
    let stream = match m.address() {
        Address::Unix(path) => UnixStream::connect(path).unwrap(),
        other => panic!("expected a Unix socket, got {other}"),
    };
    let conn = Connection::from_fd(stream.try_clone().unwrap().into(), true, true);
    let key = multiproc::current_process().authkey().to_vec();
    answer_challenge(&conn, &key).unwrap();
    deliver_challenge(&conn, &key).unwrap();
    (stream, conn)
}

/// The hello a client sends first: variant 0, magic, version (postcard varints).
fn hello() -> (u32, u32, u16) {
    (0, 0x4d50_4d47, 1)
}

/// A hello with this magic and version, encoded as the client would.
fn postcard_hello(magic: u32, version: u16) -> Vec<u8> {
    let (a, b) = multiproc::pipe(true).unwrap();
    a.send(&(0u32, magic, version)).unwrap();
    b.recv_bytes().unwrap()
}

/// Reads a fault reply: `(variant, kind, message)`.
fn fault(conn: &Connection) -> (u32, u32, String) {
    conn.recv_timeout::<(u32, u32, String)>(Duration::from_secs(30)).unwrap()
}

/// Malformed, truncated and oversized requests: each gets a fault (or its connection is
/// dropped), and the server keeps serving the others all along.
#[test]
fn bad_requests_leave_the_server_serving() {
    let _w = Watchdog::new("bad_requests_leave_the_server_serving", LIMIT);
    let m = Manager::builder().max_message(1 << 16).start().unwrap();
    let d = m.dict::<u32, u32>().unwrap();
    d.set(1, 1).unwrap();

    // Garbage after a good hello: a Protocol fault, and the connection stays usable.
    let (_s, conn) = raw_stream(&m);
    conn.send(&hello()).unwrap();
    let welcome = conn.recv_bytes_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(welcome[0], 0, "a welcome");
    conn.send_bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]).unwrap();
    let (variant, _, msg) = fault(&conn);
    assert_eq!(variant, 4, "a fault reply");
    assert!(msg.contains("not this protocol"), "{msg}");
    conn.send_bytes(&[]).unwrap();
    assert_eq!(fault(&conn).0, 4);
    conn.send(&hello()).unwrap();
    assert_eq!(conn.recv_bytes_timeout(Duration::from_secs(30)).unwrap()[0], 0, "still served");

    // A first request that is not a hello, and a hello of another version: refused, closed.
    let count_request = vec![6u8]; // a well-formed request, but not a hello
    let other_version = postcard_hello(0x4d50_4d47, 999);
    let other_magic = postcard_hello(1234, 1);
    for first in [count_request, other_version, other_magic] {
        let (_s, conn) = raw_stream(&m);
        conn.send_bytes(&first).unwrap();
        let (variant, _, msg) = fault(&conn);
        assert_eq!(variant, 4, "{msg}");
        assert!(conn.recv_bytes_timeout(Duration::from_secs(30)).unwrap_err().is_eof());
    }

    // Oversized: a header announcing 1 GiB is answered TooLarge before anything is read.
    let (mut s, conn) = raw_stream(&m);
    conn.send(&hello()).unwrap();
    conn.recv_bytes_timeout(Duration::from_secs(30)).unwrap();
    s.write_all(&(1i32 << 30).to_be_bytes()).unwrap();
    let (variant, kind, msg) = fault(&conn);
    assert_eq!(variant, 4);
    assert!(msg.contains("over this manager's limit"), "{msg} (kind {kind})");

    // Truncated: a header for 100 bytes, 10 of them, then the client goes away.
    let (mut s, conn) = raw_stream(&m);
    conn.send(&hello()).unwrap();
    conn.recv_bytes_timeout(Duration::from_secs(30)).unwrap();
    s.write_all(&100i32.to_be_bytes()).unwrap();
    s.write_all(&[1; 10]).unwrap();
    drop((s, conn));

    // A client that never finishes its handshake holds up no one.
    let stalled = match m.address() {
        Address::Unix(path) => UnixStream::connect(path).unwrap(),
        _ => unreachable!(),
    };

    // A wrong authkey is refused.
    let e = Client::connect(m.address().clone(), Some(b"not the key")).unwrap_err();
    assert!(e.is_authentication(), "{e:?}");

    // Through all of it, the proxy is served.
    assert_eq!(d.get(&1).unwrap(), 1);
    d.set(2, 2).unwrap();
    assert_eq!(d.len().unwrap(), 2);
    drop(stalled);
    wait_until("the server to keep answering", || d.len().is_ok());
    assert_eq!(m.number_of_objects().unwrap(), 1);
    assert_eq!(d.get(&3).unwrap_err().kind(), ManagerErrorKind::KeyError);
}

/// A server SIGKILLed leaves its socket path behind; shutting the manager down clears it,
/// so a new manager starts on the same path at once.
#[test]
fn restart_after_the_server_was_killed() {
    let _w = Watchdog::new("restart_after_the_server_was_killed", LIMIT);
    let path = std::env::temp_dir().join(common::unique_name("multiproc-mgr-killed"));
    let m = Manager::builder().address(path.as_path()).start().unwrap();
    let d = m.dict::<u8, u8>().unwrap();
    send_signal(m.server_pid().unwrap(), libc::SIGKILL);
    assert!(d.len().unwrap_err().is_server_gone());
    m.shutdown().unwrap();
    assert!(!path.exists(), "the stale socket was removed");
    let t = Instant::now();
    let m2 = Manager::builder().address(path.as_path()).start().unwrap();
    assert!(t.elapsed() < Duration::from_secs(4), "no wait for the old address");
    assert!(m2.dict::<u8, u8>().unwrap().is_empty().unwrap());
    let e = d.len().unwrap_err();
    assert!(e.is_server_restarted(), "{e:?}");
}

/// A request over the server's limit (learned at the hello) is refused as TooLarge, and the
/// client's next call works.
#[test]
fn a_request_over_the_servers_limit_does_not_spoil_the_next_call() {
    let _w = Watchdog::new("a_request_over_the_servers_limit_does_not_spoil_the_next_call", LIMIT);
    let name = common::unique_name("\0multiproc-mgr-limit");
    let small = Manager::builder().address(name.as_str()).max_message(1024).start().unwrap();
    let key = multiproc::current_process().authkey().to_vec();
    let client = Manager::connect(name.as_str(), &key).unwrap();
    let l = client.lookup::<multiproc::manager::ListProxy<u8>>("none").unwrap_err();
    assert!(l.is_key_error());
    let list = small.list::<u8>().unwrap();
    small.publish("l", &list).unwrap();
    let theirs = client.lookup::<multiproc::manager::ListProxy<u8>>("l").unwrap();
    let e = theirs.extend(vec![1u8; 4000]).unwrap_err();
    assert_eq!(e.kind(), ManagerErrorKind::TooLarge, "{e}");
    theirs.append(1).unwrap();
    assert_eq!(list.len().unwrap(), 1);
}
