//! Pipes, connections, listeners and `wait`: the behaviours of CPython's `_TestConnection`,
//! `_TestListener`, `_TestListenerClient`, `_TestPoll`, `_TestPicklingConnections`, `TestWait`,
//! `OtherTest`/`ChallengeResponseTest` and `TestInvalidFamily` (numbers of
//! `shared/reference/python_multiprocessing.md` §2 in each test's comment), plus bad-input
//! tests against an authenticated listener.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{Watchdog, each_method, unique_name};
use hmac::{Hmac, Mac};
use multiproc::connection::{
    Address, Client, Connection, ConnectionError, Digest, Family, Listener, ToAddress, Waitable, answer_challenge,
    deliver_challenge, wait,
};
use multiproc::handle::Fd;
use multiproc::pipe;

const LIMIT: Duration = Duration::from_secs(60);

// Under `Fork` the child inherits the parent's end too (as in CPython), so closing the
// parent's end is not an end-of-file there: the loops stop on an explicit message.
fn echo_bytes(conn: Connection) {
    while let Ok(m) = conn.recv_bytes() {
        if m == b"STOP" {
            return;
        }
        conn.send_bytes(&m).unwrap();
    }
}

fn echo_values(conn: Connection) {
    while let Ok(v) = conn.recv::<(String, Vec<u32>)>() {
        if v.0.is_empty() {
            return;
        }
        conn.send(&v).unwrap();
    }
}

/// 127: fileno is a descriptor; objects and bytes round-trip through a child (every method).
#[test]
fn round_trips_through_a_child() {
    each_method("round trip", LIMIT, |ctx| {
        let (a, b) = pipe(true).unwrap();
        assert!(a.fileno().unwrap() >= 0);
        let p = ctx.process(echo_values, b);
        p.start().unwrap();
        let v = ("hello".to_string(), vec![1, 2, 3]);
        a.send(&v).unwrap();
        assert_eq!(a.recv::<(String, Vec<u32>)>().unwrap(), v);
        a.send(&(String::new(), Vec::<u32>::new())).unwrap();
        assert_eq!(p.join().unwrap(), 0);

        let (a, b) = pipe(true).unwrap();
        let p = ctx.process(echo_bytes, b);
        p.start().unwrap();
        for msg in [&b"abc"[..], b"", &[0u8; 100_000]] {
            a.send_bytes(msg).unwrap();
            assert_eq!(a.recv_bytes().unwrap(), msg);
        }
        // 130: a 16 MiB message.
        let big: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
        a.send_bytes(&big).unwrap();
        assert_eq!(a.recv_bytes().unwrap(), big);
        a.send_bytes(b"STOP").unwrap();
        assert_eq!(p.join().unwrap(), 0);
    });
}

/// 128: recv_bytes_into fills the buffer at an offset and returns the count; a buffer that
/// is too small gives BufferTooShort with the whole message.
#[test]
fn recv_bytes_into_offsets_and_too_short() {
    let (a, b) = pipe(true).unwrap();
    let msg: Vec<u8> = (0u8..40).collect();
    let mut buf = [0u8; 40];
    a.send_bytes(&msg).unwrap();
    assert_eq!(b.recv_bytes_into(&mut buf, 0).unwrap(), 40);
    assert_eq!(&buf[..], &msg[..]);

    let mut buf = [0u8; 52];
    a.send_bytes(&msg).unwrap();
    assert_eq!(b.recv_bytes_into(&mut buf, 12).unwrap(), 40);
    assert_eq!(&buf[12..], &msg[..]);
    assert_eq!(&buf[..12], &[0u8; 12]);

    let mut small = [0u8; 8];
    a.send_bytes(&msg).unwrap();
    match b.recv_bytes_into(&mut small, 0) {
        Err(ConnectionError::BufferTooShort(m)) => assert_eq!(m, msg),
        other => panic!("expected BufferTooShort, got {other:?}"),
    }
    // The connection is still in step.
    a.send_bytes(b"next").unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"next");
    assert!(matches!(b.recv_bytes_into(&mut small, 9), Err(ConnectionError::InvalidArgument(_))));
}

/// 129: poll returns false at once without data, false after its timeout, true at once when
/// data is pending.
#[test]
fn poll_timing() {
    let (a, b) = pipe(true).unwrap();
    let t = Instant::now();
    assert!(!b.poll(Some(Duration::ZERO)).unwrap());
    assert!(t.elapsed() < Duration::from_secs(5)); // at once
    let t = Instant::now();
    assert!(!b.poll(Some(Duration::from_millis(200))).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(200));
    a.send_bytes(b"x").unwrap();
    let t = Instant::now();
    assert!(b.poll(Some(Duration::from_secs(10))).unwrap());
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(b.poll(None).unwrap());
}

/// 131: after the peer closes, readable/writable stay true and receiving fails with EOF.
#[test]
fn eof_after_peer_closes() {
    let (a, mut b) = pipe(true).unwrap();
    a.send_bytes(b"last").unwrap();
    b.close();
    drop(a);
    let (a, b2) = pipe(true).unwrap();
    a.send(&7u8).unwrap();
    drop(a);
    assert!(b2.readable() && b2.writable());
    assert_eq!(b2.recv::<u8>().unwrap(), 7);
    assert!(b2.recv::<u8>().unwrap_err().is_eof());
    assert!(b2.recv_bytes().unwrap_err().is_eof());
    assert!(b2.poll(Some(Duration::ZERO)).unwrap(), "EOF is readable");
    assert!(b.closed());
}

/// 132: one-way pipes have the right flags; the wrong direction is an error.
#[test]
fn one_way_pipe_directions() {
    let (r, w) = pipe(false).unwrap();
    assert!(r.readable() && !r.writable());
    assert!(w.writable() && !w.readable());
    assert!(matches!(r.send(&1u8), Err(ConnectionError::ReadOnly)));
    assert!(matches!(r.send_bytes(b"x"), Err(ConnectionError::ReadOnly)));
    assert!(matches!(w.recv::<u8>(), Err(ConnectionError::WriteOnly)));
    assert!(matches!(w.recv_bytes(), Err(ConnectionError::WriteOnly)));
    assert!(matches!(w.poll(Some(Duration::ZERO)), Err(ConnectionError::WriteOnly)));
    w.send_bytes(b"one way").unwrap();
    assert_eq!(r.recv_bytes().unwrap(), b"one way");
}

fn send_after_parent_closed(conn: Connection) {
    std::thread::sleep(Duration::from_millis(50));
    conn.send(&"still works").unwrap();
}

/// 133: the parent may close its copy of the child's end right after start.
#[test]
fn parent_closes_child_end_after_start() {
    each_method("close after start", LIMIT, |ctx| {
        let (a, b) = pipe(true).unwrap();
        let p = ctx.process(send_after_parent_closed, b.try_clone().unwrap());
        p.start().unwrap();
        drop(b);
        assert_eq!(a.recv::<String>().unwrap(), "still works");
        assert_eq!(p.join().unwrap(), 0);
    });
}

/// 134: send_bytes with offset and size, with CPython's bound checks.
#[test]
fn send_bytes_offsets() {
    let (a, b) = pipe(true).unwrap();
    let msg = b"abcdefghijklmnopqrstuvwxyz";
    a.send_bytes_range(msg, 5, None).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), &msg[5..]);
    a.send_bytes_range(msg, 7, Some(8)).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), &msg[7..15]);
    a.send_bytes_range(msg, 26, None).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"");
    a.send_bytes_range(msg, 26, Some(0)).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"");
    for (off, size) in [(27, None), (22, Some(5)), (26, Some(1)), (0, Some(usize::MAX))] {
        assert!(
            matches!(a.send_bytes_range(msg, off, size), Err(ConnectionError::InvalidArgument(_))),
            "offset {off} size {size:?}"
        );
    }
    assert!(!b.poll(Some(Duration::ZERO)).unwrap(), "a rejected send sends nothing");
}

fn write_through_fds(fds: Vec<Fd>) {
    for (i, fd) in fds.into_iter().enumerate() {
        let mut f = std::fs::File::from(fd.into_owned());
        write!(f, "fd #{i}").unwrap();
    }
}

/// 135: descriptors travel inside messages, including descriptor numbers >= 256; a message
/// without the descriptor it names is an error.
#[test]
fn fd_passing_including_high_numbers() {
    let (a, b) = pipe(true).unwrap();
    // Push descriptor numbers past 256.
    let _filler: Vec<std::fs::File> = (0..300).map(|_| std::fs::File::open("/dev/null").unwrap()).collect();
    let (mut r, w) = std::io::pipe().unwrap();
    let w: OwnedFd = w.into();
    assert!(w.as_raw_fd() >= 256);
    a.send(&vec![Fd::from(w)]).unwrap();
    let got: Vec<Fd> = b.recv().unwrap();
    write_through_fds(got);
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "fd #0");

    // Bytes that name a descriptor that did not come with them.
    a.send(&0u32).unwrap();
    assert!(matches!(b.recv::<Fd>(), Err(ConnectionError::Codec(_))));
}

/// 136: closing both ends; closed is true and using them is an error; close is idempotent.
#[test]
fn close_both_ends() {
    let (mut a, mut b) = pipe(true).unwrap();
    a.close();
    b.close();
    b.close();
    assert!(a.closed() && b.closed());
    assert!(matches!(a.recv::<u8>(), Err(ConnectionError::Closed)));
    assert!(matches!(b.send_bytes(b"x"), Err(ConnectionError::Closed)));
    assert!(matches!(a.fileno(), Err(ConnectionError::Closed)));
}

fn unix_path() -> String {
    std::env::temp_dir().join(unique_name("mp-conn-test")).to_string_lossy().into_owned()
}

fn abstract_name() -> String {
    format!("\0{}", unique_name("mp-conn-test"))
}

/// 137: binding an address already in use is an OS error, for every family.
#[test]
fn bind_in_use_fails_for_every_family() {
    let path = unix_path();
    let l1 = Listener::bind(path.as_str(), None).unwrap();
    assert!(matches!(Listener::bind(path.as_str(), None), Err(ConnectionError::Io(_))));
    drop(l1);
    assert!(!std::path::Path::new(&path).exists(), "the socket file is removed on close");

    let name = abstract_name();
    let _l2 = Listener::bind(name.as_str(), None).unwrap();
    assert!(matches!(Listener::bind(name.as_str(), None), Err(ConnectionError::Io(_))));

    let l3 = Listener::bind("127.0.0.1:0", Some(b"k")).unwrap();
    let addr = l3.address().clone();
    assert!(matches!(Listener::bind(&addr, Some(b"k")), Err(ConnectionError::Io(_))));
}

/// 138, 139, 140: accept after close is an error; the empty authkey works; abstract names work.
#[test]
fn listener_close_empty_key_abstract() {
    for addr in [abstract_name(), unix_path(), "127.0.0.1:0".to_string()] {
        let mut l = Listener::bind(addr.as_str(), Some(b"")).unwrap();
        let a = l.address().clone();
        let t = std::thread::spawn(move || {
            let c = Client::connect(&a, Some(b"")).unwrap();
            c.send(&"empty key").unwrap();
            c.recv::<u8>().unwrap()
        });
        let c = l.accept().unwrap();
        assert_eq!(c.recv::<String>().unwrap(), "empty key");
        c.send(&9u8).unwrap();
        assert_eq!(t.join().unwrap(), 9);
        if addr.starts_with("127.") {
            assert!(matches!(l.last_accepted(), Some(Address::Tcp(_))));
        }
        l.close();
        l.close();
        assert!(matches!(l.accept(), Err(ConnectionError::Closed)));
    }
    // A Unix listener with no address binds in a private directory.
    let l = Listener::builder().family(Family::Unix).bind().unwrap();
    let Address::Unix(p) = l.address().clone() else { panic!("not a unix address") };
    let dir = p.parent().unwrap().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    drop(l);
    assert!(!dir.exists());
}

/// TCP listeners need an authkey and bind loopback by default.
#[test]
fn tcp_requires_authkey_and_binds_loopback() {
    assert!(matches!(Listener::bind("127.0.0.1:0", None), Err(ConnectionError::InvalidArgument(_))));
    assert!(matches!(Listener::builder().family(Family::Tcp).bind(), Err(ConnectionError::InvalidArgument(_))));
    let l = Listener::builder().family(Family::Tcp).authkey(b"k").bind().unwrap();
    match l.address() {
        Address::Tcp(a) => assert!(a.ip().is_loopback()),
        other => panic!("{other:?}"),
    }
}

fn client_sends(args: (Address, Vec<u8>)) {
    let c = Client::connect(&args.0, Some(&args.1)).unwrap();
    c.send(&format!("hello from {}", std::process::id())).unwrap();
}

/// 141: for every family, a Client in a child process sends to the Listener in the parent.
#[test]
fn client_in_child_for_every_family() {
    each_method("client in child", LIMIT, |ctx| {
        for addr in [abstract_name(), unix_path(), "127.0.0.1:0".to_string()] {
            let mut l = Listener::bind(addr.as_str(), Some(b"family key")).unwrap();
            let p = ctx.process(client_sends, (l.address().clone(), b"family key".to_vec()));
            p.start().unwrap();
            let c = l.accept().unwrap();
            assert!(c.recv::<String>().unwrap().starts_with("hello from "));
            assert_eq!(p.join().unwrap(), 0);
        }
    });
}

/// 142, 143: data written by a client that closed before accept is delivered; poll on the
/// client side sees the server's message.
#[test]
fn early_client_data_and_client_poll() {
    let mut l = Listener::bind(abstract_name().as_str(), None).unwrap();
    let c = Client::connect(l.address(), None).unwrap();
    c.send_bytes(b"before accept").unwrap();
    drop(c);
    let s = l.accept().unwrap();
    assert_eq!(s.recv_bytes().unwrap(), b"before accept");
    assert!(s.recv_bytes().unwrap_err().is_eof());

    let c = Client::connect(l.address(), None).unwrap();
    let s = l.accept().unwrap();
    assert!(!c.poll(Some(Duration::ZERO)).unwrap());
    s.send_bytes(b"to client").unwrap();
    assert!(c.poll(Some(Duration::from_secs(1))).unwrap());
    assert_eq!(c.recv_bytes().unwrap(), b"to client");
}

/// 144, 145, 147: an empty message is pollable and poll does not consume it; sequences with
/// empty messages arrive in order; messages are never merged.
#[test]
fn poll_and_message_boundaries() {
    let (a, b) = pipe(true).unwrap();
    a.send_bytes(b"").unwrap();
    for _ in 0..3 {
        assert!(b.poll(Some(Duration::ZERO)).unwrap());
    }
    assert_eq!(b.recv_bytes().unwrap(), b"");
    let seq: [&[u8]; 6] = [b"", b"a", b"", b"bc", b"", b""];
    for m in seq {
        a.send_bytes(m).unwrap();
    }
    for m in seq {
        assert_eq!(b.recv_bytes().unwrap(), m);
    }
    for m in [&b"a"[..], b"b", b"cd"] {
        a.send_bytes(m).unwrap();
    }
    for m in [&b"a"[..], b"b", b"cd"] {
        assert!(b.poll(Some(Duration::ZERO)).unwrap());
        assert_eq!(b.recv_bytes().unwrap(), m);
    }
    assert!(!b.poll(Some(Duration::ZERO)).unwrap());
}

fn poll_then_recv(conn: Connection) {
    let mut got = Vec::new();
    for _ in 0..3 {
        assert!(conn.poll(Some(Duration::from_secs(20))).unwrap());
        got.push(conn.recv_bytes().unwrap().len());
    }
    conn.send(&got).unwrap();
}

/// 146: poll in another process does not consume part of a message; boundaries hold even
/// when a message arrives in pieces.
#[test]
fn poll_in_child_keeps_boundaries() {
    each_method("poll in child", LIMIT, |ctx| {
        let (a, b) = pipe(true).unwrap();
        let p = ctx.process(poll_then_recv, b);
        p.start().unwrap();
        a.send_bytes(&[1u8; 10]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        a.send_bytes(&vec![2u8; 3 << 20]).unwrap();
        a.send_bytes(b"").unwrap();
        assert_eq!(a.recv::<Vec<usize>>().unwrap(), vec![10, 3 << 20, 0]);
        assert_eq!(p.join().unwrap(), 0);
    });
}

fn use_passed_connections(conn: Connection) {
    // Accepted connections (one per family) arrive over `conn`; answer through each.
    for _ in 0..3 {
        let accepted: Connection = conn.recv().unwrap();
        let m = accepted.recv_bytes().unwrap();
        accepted.send_bytes(&[&b"child got "[..], &m].concat()).unwrap();
    }
    // A plain socket as an Fd.
    let s: Fd = conn.recv().unwrap();
    let mut s = UnixStream::from(s.into_owned());
    s.write_all(b"raw socket from child").unwrap();
}

/// 148: connections accepted from a Listener (every family) and plain sockets are sent to a
/// child over a Connection and used there.
#[test]
fn accepted_connections_sent_to_child() {
    each_method("pickling connections", LIMIT, |ctx| {
        let (a, b) = pipe(true).unwrap();
        let p = ctx.process(use_passed_connections, b);
        p.start().unwrap();
        for addr in [abstract_name(), unix_path(), "127.0.0.1:0".to_string()] {
            let mut l = Listener::bind(addr.as_str(), Some(b"k")).unwrap();
            let target = l.address().clone();
            let t = std::thread::spawn(move || {
                let c = Client::connect(&target, Some(b"k")).unwrap();
                c.send_bytes(b"ping").unwrap();
                c.recv_bytes().unwrap()
            });
            let accepted = l.accept().unwrap();
            a.send(&accepted).unwrap();
            drop(accepted);
            assert_eq!(t.join().unwrap(), b"child got ping");
        }
        let (mine, theirs) = UnixStream::pair().unwrap();
        a.send(&Fd::from(OwnedFd::from(theirs))).unwrap();
        let mut got = String::new();
        (&mine).read_to_string(&mut got).unwrap();
        assert_eq!(got, "raw socket from child");
        assert_eq!(p.join().unwrap(), 0);
    });
}

fn check_modes(args: (Connection, Connection)) {
    let (r, w) = args;
    assert!(r.readable() && !r.writable());
    assert!(matches!(r.send_bytes(b"x"), Err(ConnectionError::ReadOnly)));
    assert!(matches!(w.recv_bytes(), Err(ConnectionError::WriteOnly)));
    w.send(&"modes ok").unwrap();
}

/// 149: one-way pipe ends sent to a child keep their access mode.
#[test]
fn one_way_ends_keep_their_mode_in_a_child() {
    each_method("one-way ends in child", LIMIT, |ctx| {
        let (r, w) = pipe(false).unwrap();
        let (r2, w2) = pipe(false).unwrap();
        let p = ctx.process(check_modes, (r2, w));
        p.start().unwrap();
        assert_eq!(r.recv::<String>().unwrap(), "modes ok");
        assert_eq!(p.join().unwrap(), 0);
        drop(w2);
    });
}

fn hmac_of<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// 176: a bogus response to deliver_challenge and a bogus welcome to answer_challenge are
/// authentication errors.
#[test]
fn bogus_handshake_messages() {
    let (a, b) = pipe(true).unwrap();
    let t = std::thread::spawn(move || {
        let challenge = b.recv_bytes().unwrap();
        assert!(challenge.starts_with(b"#CHALLENGE#{sha256}"));
        b.send_bytes(b"{sha256}not the right digest at all, nope").unwrap();
        b.recv_bytes().unwrap()
    });
    assert!(deliver_challenge(&a, b"key").unwrap_err().is_authentication());
    assert_eq!(t.join().unwrap(), b"#FAILURE#");

    let (a, b) = pipe(true).unwrap();
    let t = std::thread::spawn(move || {
        b.send_bytes(b"#CHALLENGE#{sha256}0123456789012345678901234567890123456789").unwrap();
        let _ = b.recv_bytes().unwrap();
        b.send_bytes(b"#BOGUS#").unwrap();
    });
    assert!(answer_challenge(&a, b"key").unwrap_err().is_authentication());
    t.join().unwrap();

    let (a, b) = pipe(true).unwrap();
    b.send_bytes(b"not a challenge at all, no").unwrap();
    assert!(answer_challenge(&a, b"key").unwrap_err().is_authentication());
}

/// 177: responses to a legacy 20-byte challenge and to `{md5}`/`{sha256}` challenges verify
/// and carry the challenge's prefix.
#[test]
fn challenge_responses_for_each_digest() {
    let key = b"shared";
    for (challenge, want_prefix) in [
        (b"01234567890123456789".to_vec(), &b""[..]),
        ([&b"{md5}"[..], &[7u8; 40]].concat(), b"{md5}"),
        ([&b"{sha256}"[..], &[9u8; 40]].concat(), b"{sha256}"),
    ] {
        let (a, b) = pipe(true).unwrap();
        let t = std::thread::spawn(move || answer_challenge(&b, b"shared"));
        a.send_bytes(&[&b"#CHALLENGE#"[..], &challenge].concat()).unwrap();
        let response = a.recv_bytes().unwrap();
        assert!(response.starts_with(want_prefix));
        let tag = &response[want_prefix.len()..];
        let expect = if want_prefix == b"{sha256}" {
            hmac_of::<Hmac<sha2::Sha256>>(key, &challenge)
        } else {
            hmac_of::<Hmac<md5::Md5>>(key, &challenge)
        };
        assert_eq!(tag, &expect[..]);
        a.send_bytes(b"#WELCOME#").unwrap();
        t.join().unwrap().unwrap();
    }
}

/// Mutual authentication with different keys fails on both sides: the client gets an error
/// that blames the key; the listener closes the client and counts it (or, when asked,
/// returns the error from accept, with the peer as last_accepted).
#[test]
fn wrong_key_fails_on_both_sides() {
    let _w = Watchdog::new("wrong key", LIMIT);
    let mut l = Listener::bind(abstract_name().as_str(), Some(b"right")).unwrap();
    let addr = l.address().clone();
    let t = std::thread::spawn(move || Client::connect(&addr, Some(b"wrong")));
    serve_until_finished(&mut l, &t);
    let err = t.join().unwrap().unwrap_err();
    assert!(err.is_authentication(), "{err}");
    let text = err.to_string();
    assert!(text.contains("digest sent was rejected") && text.contains("different authkeys"), "{text}");
    let stats = l.handshake_stats();
    assert_eq!((stats.failed, stats.completed, stats.in_flight), (1, 0, 0), "{stats:?}");

    let mut l =
        Listener::builder().address("127.0.0.1:0").authkey(b"right").report_failed_handshakes(true).bind().unwrap();
    let addr = l.address().clone();
    let t = std::thread::spawn(move || Client::connect(&addr, Some(b"wrong")));
    let err = l.accept().unwrap_err();
    match &err {
        ConnectionError::Authentication(e) => assert!(e.is_key_mismatch(), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("digest received was wrong") && err.to_string().contains("different authkeys"));
    let client_port = match l.last_accepted() {
        Some(Address::Tcp(a)) => a.port(),
        other => panic!("last_accepted should name the failed peer: {other:?}"),
    };
    assert_ne!(client_port, 0);
    assert!(t.join().unwrap().unwrap_err().is_authentication());
}

fn writer_child(args: (Connection, u64, u32)) {
    let (w, seed, n) = args;
    let mut x = seed;
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis((x >> 60) * 2));
        w.send(&(seed, i)).unwrap();
    }
}

/// 181: wait over readers of 4 children: every message is delivered, EOF detected.
#[test]
fn wait_over_children() {
    each_method("wait over children", LIMIT, |ctx| {
        let mut readers = Vec::new();
        let mut procs = Vec::new();
        for seed in 0..4u64 {
            let (r, w) = pipe(false).unwrap();
            let p = ctx.process(writer_child, (w, seed, 10));
            p.start().unwrap();
            readers.push(r);
            procs.push(p);
        }
        let mut got = Vec::new();
        while !readers.is_empty() {
            for i in wait(&readers, None).unwrap().into_iter().rev() {
                match readers[i].recv::<(u64, u32)>() {
                    Ok(m) => got.push(m),
                    Err(e) if e.is_eof() => {
                        readers.remove(i);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        got.sort();
        let expect: Vec<(u64, u32)> = (0..4).flat_map(|s| (0..10).map(move |i| (s, i))).collect();
        assert_eq!(got, expect);
        for p in procs {
            assert_eq!(p.join().unwrap(), 0);
        }
    });
}

/// 182: wait works on plain sockets.
#[test]
fn wait_on_plain_sockets() {
    let (a, b) = UnixStream::pair().unwrap();
    let (c, mut d) = UnixStream::pair().unwrap();
    assert!(wait(&[&a, &c], Some(Duration::ZERO)).unwrap().is_empty());
    d.write_all(b"x").unwrap();
    assert_eq!(wait(&[&a, &c], Some(Duration::from_secs(5))).unwrap(), vec![1]);
    drop(b);
    assert_eq!(wait(&[&a, &c], Some(Duration::from_secs(5))).unwrap(), vec![0, 1]);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (acc, _) = l.accept().unwrap();
    assert!(wait(&[&acc], Some(Duration::ZERO)).unwrap().is_empty());

    // A Listener is ready when a client waits to be accepted.
    let mut ml = Listener::bind(abstract_name().as_str(), None).unwrap();
    assert!(wait(&[&ml], Some(Duration::ZERO)).unwrap().is_empty());
    let _c = Client::connect(ml.address(), None).unwrap();
    assert_eq!(wait(&[&ml], Some(Duration::from_secs(5))).unwrap(), vec![0]);
    ml.accept().unwrap();
    ml.close();
    assert_eq!(wait(&[&ml], Some(Duration::ZERO)).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

/// 183, 185: wait times out after (at least) its timeout, returns what is ready, and a zero
/// timeout checks once.
#[test]
fn wait_timeouts() {
    let (a, b) = pipe(true).unwrap();
    let (c, _d) = pipe(true).unwrap();
    let t = Instant::now();
    assert!(wait(&[&a, &c], Some(Duration::from_millis(300))).unwrap().is_empty());
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    assert!(wait(&[&a], Some(Duration::ZERO)).unwrap().is_empty());
    assert!(t.elapsed() < Duration::from_secs(5)); // at once
    b.send_bytes(b"x").unwrap();
    assert_eq!(wait(&[&a, &c], Some(Duration::from_secs(20))).unwrap(), vec![0]);
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// 184: wait over a connection and a process sentinel returns the sentinel when the child
/// exits, then every ready object.
#[test]
fn wait_with_sentinel() {
    each_method("wait with sentinel", LIMIT, |ctx| {
        let (a, b) = pipe(true).unwrap();
        let p = ctx.process(sleep_ms, 300);
        let t = Instant::now();
        p.start().unwrap();
        let s = p.sentinel().unwrap();
        let objs: [&dyn Waitable; 2] = [&a, &s];
        assert_eq!(wait(&objs, Some(Duration::from_secs(20))).unwrap(), vec![1]);
        assert!(t.elapsed() >= Duration::from_millis(300));
        b.send_bytes(b"x").unwrap();
        let t = Instant::now();
        assert_eq!(wait(&objs, Some(Duration::from_secs(20))).unwrap(), vec![0, 1]);
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(p.join().unwrap(), 0);
    });
}

/// 186: a Windows pipe address is rejected on this platform.
#[test]
fn invalid_family() {
    assert!(matches!(r"\\.\test".to_address(), Err(ConnectionError::InvalidArgument(_))));
    assert!(matches!(Listener::bind(r"\\.\test", None), Err(ConnectionError::InvalidArgument(_))));
    assert!(matches!(Client::connect(r"\\.\pipe\x", None), Err(ConnectionError::InvalidArgument(_))));
}

/// A length prefix of 2^40 on an established connection is refused before allocating, and
/// the per-connection limit is configurable.
#[test]
fn length_limits() {
    let (a, mut b) = pipe(true).unwrap();
    let (s1, mut s2) = UnixStream::pair().unwrap();
    let c = Connection::from_fd(s1.into(), true, true);
    let mut huge = (-1i32).to_be_bytes().to_vec();
    huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
    s2.write_all(&huge).unwrap();
    assert!(matches!(c.recv_bytes(), Err(ConnectionError::BadMessageLength { len, .. }) if len == 1 << 40));
    assert!(!c.readable());
    b.set_max_message(10);
    a.send_bytes(&[0; 11]).unwrap();
    assert!(matches!(b.recv_bytes(), Err(ConnectionError::BadMessageLength { len: 11, max: 10 })));
}

/// Timeouts and try_ forms of the receive calls.
#[test]
fn receive_timeouts() {
    let (a, b) = pipe(true).unwrap();
    let t = Instant::now();
    assert!(b.recv_timeout::<u8>(Duration::from_millis(100)).unwrap_err().is_timeout());
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(b.try_recv_bytes().unwrap_err().is_would_block());
    assert!(b.try_recv::<u8>().unwrap_err().is_would_block());
    a.send(&3u8).unwrap();
    assert_eq!(b.try_recv::<u8>().unwrap(), 3);
    assert!(b.readable(), "a clean timeout leaves the connection usable");
}

extern "C" fn note_signal(_: libc::c_int) {}

/// Sends SIGUSR1 (whose handler does not restart system calls) to `thread` every few
/// milliseconds until `stop` is set.
fn pester(
    thread: libc::pthread_t,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            // SAFETY: `thread` is alive until `stop` is set (the caller joins this thread first).
            #[allow(unsafe_code)]
            unsafe {
                libc::pthread_kill(thread, libc::SIGUSR1);
            }
            n += 1;
            std::thread::sleep(Duration::from_millis(3));
        }
        n
    })
}

/// 192: recv, send of more than a pipe buffer, and Listener::accept survive signals whose
/// handler does not restart system calls (EINTR is retried).
#[test]
fn eintr_is_retried() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let _w = Watchdog::new("eintr", LIMIT);
    // SAFETY: installs a handler that does nothing, without SA_RESTART, for SIGUSR1, which
    // nothing else in this test binary uses.
    #[allow(unsafe_code)]
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = note_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    // SAFETY: pthread_self has no preconditions.
    #[allow(unsafe_code)]
    let me = unsafe { libc::pthread_self() };

    // recv while signals arrive, then the data.
    let (a, b) = pipe(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let p = pester(me, stop.clone());
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        a.send(&"after signals").unwrap();
        a
    });
    assert_eq!(b.recv::<String>().unwrap(), "after signals");
    let a = feeder.join().unwrap();

    // send of 4 MiB (far more than the socket buffer) to a slow reader.
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        b.recv_bytes().unwrap().len()
    });
    a.send_bytes(&vec![1u8; 4 << 20]).unwrap();
    assert_eq!(reader.join().unwrap(), 4 << 20);

    // accept while signals arrive.
    let mut l = Listener::bind(abstract_name().as_str(), Some(b"k")).unwrap();
    let addr = l.address().clone();
    let c = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        Client::connect(&addr, Some(b"k")).unwrap().send_bytes(b"hi").unwrap();
    });
    assert_eq!(l.accept().unwrap().recv_bytes().unwrap(), b"hi");
    c.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    assert!(p.join().unwrap() > 10, "the signals were sent");
}

/// A forked child that drops its copy of a Listener does not remove the parent's socket file.
#[test]
fn forked_child_dropping_listener_keeps_the_address() {
    use std::sync::{Arc, Mutex};
    let _w = Watchdog::new("forked listener drop", LIMIT);
    let path = unix_path();
    let shared = Arc::new(Mutex::new(Some(Listener::bind(path.as_str(), None).unwrap())));
    let in_child = shared.clone();
    let p = multiproc::Process::with_closure(move || {
        let l = in_child.lock().unwrap().take();
        drop(l);
    });
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert!(std::path::Path::new(&path).exists(), "the child removed the parent's socket file");
    let mut l = shared.lock().unwrap().take().unwrap();
    let t = std::thread::spawn(move || Client::connect(path.as_str(), None).unwrap().send_bytes(b"ok").unwrap());
    assert_eq!(l.accept().unwrap().recv_bytes().unwrap(), b"ok");
    t.join().unwrap();
}

/// Addresses as Rust and Python users write them: `"localhost:port"` and `("localhost", port)`
/// are TCP (resolved), a path of the same shape written with a `/` is a Unix socket.
#[test]
fn host_names_resolve_to_tcp() {
    let _w = Watchdog::new("host names", LIMIT);
    let mut l = Listener::bind("localhost:0", Some(b"k")).unwrap();
    let Address::Tcp(a) = l.address().clone() else { panic!("not TCP: {:?}", l.address()) };
    assert!(a.ip().is_loopback());
    let t = std::thread::spawn(move || {
        let c = Client::connect(("localhost", a.port()), Some(b"k")).unwrap();
        c.send(&7u32).unwrap();
        let c = Client::connect(format!("localhost:{}", a.port()).as_str(), Some(b"k")).unwrap();
        c.send(&8u32).unwrap();
    });
    assert_eq!(l.accept().unwrap().recv::<u32>().unwrap(), 7);
    assert_eq!(l.accept().unwrap().recv::<u32>().unwrap(), 8);
    t.join().unwrap();
    assert!(matches!("./localhost:0".to_address().unwrap(), Address::Unix(_)));
    assert!(matches!(("no-such-host.invalid", 1).to_address(), Err(ConnectionError::InvalidArgument(_))));
}

/// The listen backlog bounds how many clients wait for `accept`: with a backlog of 1 the
/// kernel refuses a non-blocking connect after a couple of waiting clients (128 by default).
#[test]
fn backlog_bounds_waiting_clients() {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let _w = Watchdog::new("backlog", LIMIT);
    let count_accepted_connects = |l: &Listener| {
        let Address::Abstract(name) = l.address().clone() else { panic!() };
        let addr = SocketAddrUnix::new_abstract_name(&name).unwrap();
        let mut socks = Vec::new();
        for _ in 0..300 {
            let s =
                rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::NONBLOCK, None).unwrap();
            if rustix::net::connect(&s, &addr).is_err() {
                break;
            }
            socks.push(s);
        }
        socks.len()
    };
    let small = Listener::builder().address(abstract_name().as_str()).backlog(1).bind().unwrap();
    let default = Listener::builder().address(abstract_name().as_str()).bind().unwrap();
    let (n_small, n_default) = (count_accepted_connects(&small), count_accepted_connects(&default));
    assert!((1..=3).contains(&n_small), "backlog 1 let {n_small} clients wait");
    assert!(n_default >= 100, "the default backlog let only {n_default} clients wait");
}

/// Drives the listener's handshakes (accepting no client: each must fail) until the client
/// thread `t` has finished.
fn serve_until_finished<T>(l: &mut Listener, t: &std::thread::JoinHandle<T>) {
    while !t.is_finished() {
        match l.accept_timeout(Duration::from_millis(20)) {
            Err(e) if e.is_timeout() => {}
            other => panic!("no client should authenticate: {other:?}"),
        }
    }
}

/// Runs `f` on a thread and returns what it returned, for a client that must connect while
/// this thread accepts.
fn in_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
    std::thread::spawn(f)
}

/// Every public `_timeout` (and timeout-taking) call of the connection layer with
/// `Duration::MAX` (waits as long as it takes: never panics, completes) and `Duration::ZERO`
/// (only checks).
#[test]
fn timeouts_at_the_extremes() {
    let _w = Watchdog::new("extreme timeouts", LIMIT);
    let (a, b) = pipe(true).unwrap();
    let (r, w) = pipe(false).unwrap();

    // Connection::recv_bytes_timeout, recv_timeout, poll; on a socketpair and a pipe.
    assert!(b.recv_bytes_timeout(Duration::ZERO).unwrap_err().is_timeout());
    assert!(r.recv_bytes_timeout(Duration::ZERO).unwrap_err().is_timeout());
    assert!(b.recv_timeout::<u8>(Duration::ZERO).unwrap_err().is_timeout());
    assert!(!b.poll(Some(Duration::ZERO)).unwrap());
    assert!(wait(&[&b], Some(Duration::ZERO)).unwrap().is_empty());
    a.send_bytes(b"max").unwrap();
    w.send_bytes(b"pipe max").unwrap();
    assert!(b.poll(Some(Duration::MAX)).unwrap());
    assert_eq!(wait(&[&b], Some(Duration::MAX)).unwrap(), vec![0]);
    assert_eq!(b.recv_bytes_timeout(Duration::MAX).unwrap(), b"max");
    assert_eq!(r.recv_bytes_timeout(Duration::MAX).unwrap(), b"pipe max");
    a.send(&7u16).unwrap();
    assert_eq!(b.recv_timeout::<u16>(Duration::MAX).unwrap(), 7);
    a.send(&8u16).unwrap();
    assert!(b.poll(Some(Duration::from_secs(10))).unwrap());
    assert_eq!(b.recv_timeout::<u16>(Duration::ZERO).unwrap(), 8, "a zero timeout takes what is there");
    // A message sent later arrives under Duration::MAX.
    let late = in_thread(move || {
        std::thread::sleep(Duration::from_millis(50));
        a.send_bytes(b"later").unwrap();
        a
    });
    assert_eq!(b.recv_bytes_timeout(Duration::MAX).unwrap(), b"later");
    drop(late.join().unwrap());
    assert!(b.readable());

    // Listener::accept_timeout, with and without an authkey.
    let mut plain = Listener::bind(abstract_name().as_str(), None).unwrap();
    assert!(plain.accept_timeout(Duration::ZERO).unwrap_err().is_timeout());
    let _c = Client::connect(plain.address(), None).unwrap();
    plain.accept_timeout(Duration::ZERO).expect("a client waiting in the backlog is taken at once");
    let addr = plain.address().clone();
    let t = in_thread(move || Client::connect(&addr, None).map(|_| ()));
    plain.accept_timeout(Duration::MAX).unwrap();
    t.join().unwrap().unwrap();
    for addr in ["127.0.0.1:0".to_string(), abstract_name()] {
        let mut l = Listener::bind(addr.as_str(), Some(b"k")).unwrap();
        assert!(l.accept_timeout(Duration::ZERO).unwrap_err().is_timeout());
        let a = l.address().clone();
        let t = in_thread(move || Client::connect(&a, Some(b"k")).map(|_| ()));
        l.accept_timeout(Duration::MAX).unwrap();
        t.join().unwrap().unwrap();
    }

    // ListenerBuilder::handshake_timeout and ClientBuilder::handshake_timeout /
    // connect_timeout with Duration::MAX complete; handshake timeouts of zero fail as timeouts.
    let mut l = Listener::builder()
        .address(abstract_name().as_str())
        .authkey(b"k")
        .handshake_timeout(Duration::MAX)
        .bind()
        .unwrap();
    let a = l.address().clone();
    let t = in_thread(move || {
        Client::builder(&a)
            .authkey(b"k")
            .handshake_timeout(Duration::MAX)
            .connect_timeout(Duration::MAX)
            .connect()
            .map(|_| ())
    });
    l.accept().unwrap();
    t.join().unwrap().unwrap();
    // A listener nobody accepts on never sends its challenge: a zero client handshake timeout fails at once.
    let idle = Listener::bind(abstract_name().as_str(), Some(b"k")).unwrap();
    let err = Client::builder(idle.address()).authkey(b"k").handshake_timeout(Duration::ZERO).connect().unwrap_err();
    assert!(matches!(err, ConnectionError::HandshakeTimeout { timeout: Duration::ZERO }), "{err:?}");
    assert!(err.is_timeout() && !err.is_authentication());
    // A listener whose handshake timeout is zero fails every client, and counts it as timed out.
    let mut l = Listener::builder()
        .address(abstract_name().as_str())
        .authkey(b"k")
        .handshake_timeout(Duration::ZERO)
        .bind()
        .unwrap();
    let a = l.address().clone();
    let t = in_thread(move || Client::connect(&a, Some(b"k")));
    serve_until_finished(&mut l, &t);
    let err = t.join().unwrap().unwrap_err();
    assert!(err.is_authentication(), "{err}");
    assert_eq!(l.handshake_stats().timed_out, 1);
    // A zero connect timeout to a Unix listener with room in its backlog connects at once.
    let _c = Client::builder(plain.address()).connect_timeout(Duration::ZERO).connect().unwrap();
    plain.accept().unwrap();
}

/// try_recv never waits for a message to begin (WouldBlock, a typed error), and a message
/// that has begun to arrive is read whole rather than cut (the connection stays readable).
#[test]
fn try_recv_takes_a_message_in_transit_whole() {
    let _w = Watchdog::new("try_recv in transit", LIMIT);
    let (s1, mut s2) = UnixStream::pair().unwrap();
    let c = Connection::from_fd(s1.into(), true, true);
    let err = c.try_recv_bytes().unwrap_err();
    assert!(matches!(err, ConnectionError::WouldBlock), "{err:?}");
    assert!(err.to_string().contains("try_"), "{err}");
    assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::WouldBlock);
    let body: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let mut framed = (body.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    s2.write_all(&framed[..1000]).unwrap();
    let rest = framed[1000..].to_vec();
    let t = in_thread(move || {
        std::thread::sleep(Duration::from_millis(100));
        s2.write_all(&rest).unwrap();
        s2
    });
    assert_eq!(c.try_recv_bytes().unwrap(), body);
    assert!(c.readable());
    let _s2 = t.join().unwrap();
    assert!(c.try_recv_bytes().unwrap_err().is_would_block());
}

/// A connect timeout bounds a connect to a Unix listener whose backlog is full (a typed
/// Timeout, after at least the timeout), and connects once there is room.
#[test]
fn connect_timeout_bounds_a_full_backlog() {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let _w = Watchdog::new("connect timeout", LIMIT);
    let mut l = Listener::builder().address(abstract_name().as_str()).backlog(1).bind().unwrap();
    let Address::Abstract(name) = l.address().clone() else { panic!() };
    let sa = SocketAddrUnix::new_abstract_name(&name).unwrap();
    let mut fill = Vec::new();
    loop {
        let s = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::NONBLOCK, None).unwrap();
        if rustix::net::connect(&s, &sa).is_err() {
            break;
        }
        fill.push(s);
        assert!(fill.len() < 100, "a backlog of 1 took 100 clients");
    }
    let t = Instant::now();
    let err = Client::builder(l.address()).connect_timeout(Duration::from_millis(300)).connect().unwrap_err();
    assert!(matches!(err, ConnectionError::Timeout), "{err:?}");
    assert!(t.elapsed() >= Duration::from_millis(290), "gave up after {:?}", t.elapsed());
    let err = Client::builder(l.address()).connect_timeout(Duration::ZERO).connect().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    // Room appears while a connect waits: it connects.
    let a = l.address().clone();
    let waiting = in_thread(move || Client::builder(&a).connect_timeout(Duration::from_secs(30)).connect());
    std::thread::sleep(Duration::from_millis(100));
    let mut accepted = Vec::new();
    while let Ok(s) = l.accept_timeout(Duration::from_millis(100)) {
        accepted.push(s);
    }
    let c = waiting.join().unwrap().unwrap();
    while let Ok(s) = l.accept_timeout(Duration::from_millis(100)) {
        accepted.push(s);
    }
    c.send_bytes(b"in").unwrap();
    let ready = wait(&accepted, Some(Duration::from_secs(10))).unwrap();
    assert_eq!(ready.len(), 1, "the waiting client's connection was accepted");
    assert_eq!(accepted[ready[0]].recv_bytes().unwrap(), b"in");
    drop(fill);
    // TCP: a zero timeout either connects at once or times out; never anything else.
    let tl = Listener::bind("127.0.0.1:0", Some(b"k")).unwrap();
    match Client::builder(tl.address()).connect_timeout(Duration::ZERO).connect() {
        Ok(_) => {}
        Err(e) => assert!(matches!(e, ConnectionError::Timeout), "{e:?}"),
    }
}

/// The text of a failed handshake blames the key only when the key was the problem
/// (issue 12): a wrong key, a listener without an authkey that talks first, one that says
/// nothing, a server that closes, and a client without a key talking to a listener with one.
#[test]
fn handshake_errors_say_what_went_wrong() {
    let _w = Watchdog::new("handshake messages", LIMIT);
    // A listener without an authkey whose server speaks first.
    let mut plain = Listener::bind(abstract_name().as_str(), None).unwrap();
    let a = plain.address().clone();
    let t = in_thread(move || Client::connect(&a, Some(b"k")));
    plain.accept().unwrap().send_bytes(b"hello, I am the server").unwrap();
    let err = t.join().unwrap().unwrap_err();
    let text = err.to_string();
    match &err {
        ConnectionError::Authentication(e) => assert!(!e.is_key_mismatch()),
        other => panic!("{other:?}"),
    }
    assert!(text.contains("expected a challenge") && text.contains("have an authkey"), "{text}");
    assert!(!text.contains("different authkeys"), "{text}");

    // A listener without an authkey whose server waits for the client: the handshake times out.
    let a = plain.address().clone();
    let t =
        in_thread(move || Client::builder(&a).authkey(b"k").handshake_timeout(Duration::from_millis(300)).connect());
    let _server_side = plain.accept().unwrap();
    let err = t.join().unwrap().unwrap_err();
    assert!(err.is_timeout() && !err.is_authentication(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("did not complete within 300ms") && text.contains("has no authkey"), "{text}");
    assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::TimedOut);

    // A server that closes the connection in the middle of the handshake.
    let a = plain.address().clone();
    let t = in_thread(move || Client::connect(&a, Some(b"k")));
    drop(plain.accept().unwrap());
    let text = t.join().unwrap().unwrap_err().to_string();
    assert!(text.contains("closed the connection during the handshake"), "{text}");
    assert!(!text.contains("different authkeys"), "{text}");

    // A client without an authkey, talking to a listener with one: the listener sees no digest.
    let mut l = Listener::builder()
        .address(abstract_name().as_str())
        .authkey(b"k")
        .report_failed_handshakes(true)
        .bind()
        .unwrap();
    let a = l.address().clone();
    let t = in_thread(move || {
        let c = Client::connect(&a, None).unwrap();
        c.send_bytes(b"a request").unwrap();
        c.recv_bytes()
    });
    let err = l.accept().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("not a digest") && !text.contains("different authkeys"), "{text}");
    let _ = t.join().unwrap();
}

/// Every digest CPython allows, chosen on either side, between a Rust listener and client
/// (each side answers the digest the other asked for).
#[test]
fn every_digest_between_rust_peers() {
    let _w = Watchdog::new("digests", LIMIT);
    let all = [Digest::Md5, Digest::Sha256, Digest::Sha384, Digest::Sha3_256, Digest::Sha3_384];
    for (server, client) in all.iter().zip(all.iter().rev()) {
        let mut l =
            Listener::builder().address(abstract_name().as_str()).authkey(b"key").digest(*server).bind().unwrap();
        let a = l.address().clone();
        let c = *client;
        let t = in_thread(move || {
            let conn = Client::builder(&a).authkey(b"key").digest(c).connect()?;
            conn.send_bytes(b"ok")?;
            Ok::<_, ConnectionError>(conn)
        });
        assert_eq!(l.accept().unwrap().recv_bytes().unwrap(), b"ok", "{server:?}/{client:?}");
        t.join().unwrap().unwrap();
        let a = l.address().clone();
        let t = in_thread(move || Client::builder(&a).authkey(b"not key").digest(c).connect().map(|_| ()));
        serve_until_finished(&mut l, &t);
        assert!(t.join().unwrap().unwrap_err().is_authentication(), "{server:?}/{client:?}");
    }
}
