//! Interop with real CPython `multiprocessing.connection` peers (3.11 via `python3`, 3.12 and
//! 3.13 via pyenv): Python Client → Rust Listener and Rust Client → Python Listener, over TCP
//! and Unix sockets, with the authkey handshake both ways; a wrong key fails on both sides.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Watchdog, unique_name};
use multiproc::connection::{Address, Client, Digest, Listener};

const KEY: &[u8] = b"interop secret";
const WRONG: &[u8] = b"not the secret";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn script() -> String {
    format!("{}/tests/py/mp_peer.py", env!("CARGO_MANIFEST_DIR"))
}

/// The Python versions to test: (PYENV_VERSION or None for the default `python3`, label).
fn versions() -> Vec<(Option<&'static str>, &'static str)> {
    let mut out = vec![(None, "3.11")];
    for (v, label) in [("3.12.1", "3.12"), ("3.13.0", "3.13")] {
        let ok = Command::new("python3")
            .arg("--version")
            .env("PYENV_VERSION", v)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(v))
            .unwrap_or(false);
        if ok {
            out.push((Some(v), label));
        } else {
            eprintln!("note: CPython {v} is not installed through pyenv here; skipping it");
        }
    }
    out
}

fn python(version: Option<&str>, args: &[&str]) -> Command {
    let mut c = Command::new("python3");
    c.arg(script()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    match version {
        Some(v) => c.env("PYENV_VERSION", v),
        None => c.env_remove("PYENV_VERSION"),
    };
    c
}

fn python_address(a: &Address) -> String {
    match a {
        Address::Tcp(s) => s.to_string(),
        Address::Unix(p) => p.display().to_string(),
        Address::Abstract(n) => format!("@{}", String::from_utf8_lossy(n)),
    }
}

fn rust_addresses() -> Vec<String> {
    vec![
        "127.0.0.1:0".to_string(),
        std::env::temp_dir().join(unique_name("mp-interop")).display().to_string(),
        format!("\0{}", unique_name("mp-interop")),
    ]
}

fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// A Python Client talks to a Rust Listener: send_bytes/recv_bytes both ways, including a
/// 1 MiB message.
#[test]
fn python_client_to_rust_listener() {
    let _w = Watchdog::new("python client", Duration::from_secs(120));
    for (v, label) in versions() {
        for addr in rust_addresses() {
            let mut l = Listener::bind(addr.as_str(), Some(KEY)).unwrap();
            let child = python(v, &["client", &python_address(l.address()), &hex(KEY)]).spawn().unwrap();
            let c = l.accept().unwrap_or_else(|e| panic!("{label} {addr:?}: {e}"));
            let hello = c.recv_bytes().unwrap();
            assert_eq!(hello, format!("hello from python {label}").as_bytes());
            c.send_bytes(b"from rust").unwrap();
            assert_eq!(c.recv_bytes().unwrap(), b"tsur morf");
            let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
            c.send_bytes(&big).unwrap();
            let reply = c.recv_bytes().unwrap();
            assert_eq!(reply, [format!("{}:", big.len()).as_bytes(), &big[..16]].concat());
            let (code, text) = finish(child);
            assert_eq!(code, 0, "{label}: {text}");
        }
    }
}

/// A Rust Client talks to a Python Listener.
#[test]
fn rust_client_to_python_listener() {
    let _w = Watchdog::new("python listener", Duration::from_secs(120));
    for (v, label) in versions() {
        for addr in [
            "127.0.0.1:0".to_string(),
            std::env::temp_dir().join(unique_name("mp-interop-py")).display().to_string(),
            format!("@{}", unique_name("mp-interop-py")),
        ] {
            let mut child = python(v, &["listen", &addr, &hex(KEY)]).spawn().unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
            let bound = line.trim();
            let target = match bound.strip_prefix('@') {
                Some(name) => format!("\0{name}"),
                None => bound.to_string(),
            };
            let c = Client::connect(target.as_str(), Some(KEY)).unwrap_or_else(|e| panic!("{label} {bound}: {e}"));
            c.send_bytes(b"rust says hi").unwrap();
            assert_eq!(c.recv_bytes().unwrap(), format!("python {label} got rust says hi").as_bytes());
            let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 241) as u8).collect();
            c.send_bytes(&big).unwrap();
            let back = c.recv_bytes().unwrap();
            assert_eq!(back.len(), big.len());
            assert!(back.iter().eq(big.iter().rev()));
            let (code, text) = finish(child);
            assert_eq!(code, 0, "{label}: {text}");
        }
    }
}

/// A wrong key fails with an authentication error on both sides, in both directions. The
/// Rust listener closes and counts the Python client (or, when asked, returns the error from
/// accept).
#[test]
fn wrong_key_fails_on_both_sides() {
    let _w = Watchdog::new("wrong key", Duration::from_secs(120));
    for (v, label) in versions() {
        // Python Client with the wrong key → Rust Listener, failures counted.
        let mut l = Listener::bind("127.0.0.1:0", Some(KEY)).unwrap();
        let child = python(v, &["client", &python_address(l.address()), &hex(WRONG)]).spawn().unwrap();
        let (code, text) = finish_serving(child, &mut l);
        assert_eq!(code, 3, "{label}: the Python client should see AuthenticationError: {text}");
        assert!(text.contains("AUTH_ERROR"));
        let stats = l.handshake_stats();
        assert_eq!((stats.failed, stats.completed), (1, 0), "{label}: {stats:?}");

        // The same, with failures reported by accept.
        let mut l =
            Listener::builder().address("127.0.0.1:0").authkey(KEY).report_failed_handshakes(true).bind().unwrap();
        let child = python(v, &["client", &python_address(l.address()), &hex(WRONG)]).spawn().unwrap();
        let err = l.accept().unwrap_err();
        assert!(err.is_authentication() && err.to_string().contains("different authkeys"), "{label}: {err}");
        let (code, text) = finish(child);
        assert_eq!(code, 3, "{label}: {text}");

        // Rust Client with the wrong key → Python Listener.
        let mut child = python(v, &["listen", "127.0.0.1:0", &hex(KEY)]).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let err = Client::connect(line.trim(), Some(WRONG)).unwrap_err();
        assert!(err.is_authentication(), "{label}: {err}");
        assert!(err.to_string().contains("different authkeys"), "{label}: {err}");
        let (code, text) = finish(child);
        assert_eq!(code, 3, "{label}: the Python listener should see AuthenticationError: {text}");
    }
}

/// Keeps the listener's handshakes going (accept with a short timeout, expecting no
/// authenticated client) until the Python child exits; returns its exit code and output.
fn finish_serving(mut child: Child, l: &mut Listener) -> (i32, String) {
    while child.try_wait().unwrap().is_none() {
        match l.accept_timeout(Duration::from_millis(20)) {
            Err(e) if e.is_timeout() => {}
            other => panic!("no client should authenticate: {other:?}"),
        }
    }
    finish(child)
}

/// The sha3 digests CPython allows (`sha3_256`, `sha3_384`), both ways: a Rust listener
/// challenging with them authenticates a Python client (3.12+ answers in kind; 3.11 answers
/// every challenge with the legacy HMAC-MD5, which is accepted as CPython accepts it), and a
/// Python listener challenging with them (`deliver_challenge(..., digest_name=...)`, 3.12+)
/// authenticates a Rust client, which challenges back with them too.
#[test]
fn sha3_digests_both_ways() {
    let _w = Watchdog::new("sha3", Duration::from_secs(120));
    for (v, label) in versions() {
        for digest in [Digest::Sha3_256, Digest::Sha3_384] {
            let mut l = Listener::builder().address("127.0.0.1:0").authkey(KEY).digest(digest).bind().unwrap();
            let child = python(v, &["client", &python_address(l.address()), &hex(KEY)]).spawn().unwrap();
            let c = l.accept().unwrap_or_else(|e| panic!("{label} {digest:?}: {e}"));
            assert_eq!(c.recv_bytes().unwrap(), format!("hello from python {label}").as_bytes());
            c.send_bytes(b"sha3").unwrap();
            assert_eq!(c.recv_bytes().unwrap(), b"3ahs");
            c.send_bytes(b"small").unwrap();
            assert_eq!(c.recv_bytes().unwrap(), b"5:small");
            let (code, text) = finish(child);
            assert_eq!(code, 0, "{label} {digest:?}: {text}");

            if v.is_none() {
                continue; // 3.11's deliver_challenge takes no digest_name
            }
            let mut child = python(v, &["listen_digest", "127.0.0.1:0", &hex(KEY), digest.name()]).spawn().unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
            let c = Client::builder(line.trim())
                .authkey(KEY)
                .digest(digest)
                .connect()
                .unwrap_or_else(|e| panic!("{label} {digest:?}: {e}"));
            c.send_bytes(b"rust says hi").unwrap();
            assert_eq!(c.recv_bytes().unwrap(), format!("python {label} got rust says hi").as_bytes());
            c.send_bytes(b"abc").unwrap();
            assert_eq!(c.recv_bytes().unwrap(), b"cba");
            let (code, text) = finish(child);
            assert_eq!(code, 0, "{label} {digest:?}: {text}");

            // A wrong key still fails with these digests.
            let mut child = python(v, &["listen_digest", "127.0.0.1:0", &hex(KEY), digest.name()]).spawn().unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
            let err = Client::builder(line.trim()).authkey(WRONG).digest(digest).connect().unwrap_err();
            assert!(err.is_authentication(), "{label} {digest:?}: {err}");
            let (code, _) = finish(child);
            assert_eq!(code, 3, "{label} {digest:?}");
        }
    }
}

/// Python clients are served while silent connections hold handshakes open on the Rust
/// listener.
#[test]
fn python_clients_are_served_beside_stalled_peers() {
    let _w = Watchdog::new("python beside stalled peers", Duration::from_secs(120));
    // A handshake timeout beyond the test: the stalled peers stay in their handshakes.
    let mut l = Listener::builder()
        .address("127.0.0.1:0")
        .authkey(KEY)
        .handshake_timeout(Duration::from_secs(300))
        .bind()
        .unwrap();
    let Address::Tcp(a) = l.address().clone() else { unreachable!() };
    let stalled: Vec<_> = (0..50).map(|_| std::net::TcpStream::connect(a).unwrap()).collect();
    let versions = versions();
    for &(v, label) in &versions {
        let t = std::time::Instant::now();
        let child = python(v, &["client", &python_address(l.address()), &hex(KEY)]).spawn().unwrap();
        let c = l.accept().unwrap_or_else(|e| panic!("{label}: {e}"));
        println!(
            "{label}: a Python client beside {} stalled peers was accepted after {:?} (interpreter start included)",
            stalled.len(),
            t.elapsed()
        );
        assert_eq!(c.recv_bytes().unwrap(), format!("hello from python {label}").as_bytes());
        c.send_bytes(b"x").unwrap();
        assert_eq!(c.recv_bytes().unwrap(), b"x");
        c.send_bytes(b"y").unwrap();
        assert_eq!(c.recv_bytes().unwrap(), b"1:y");
        let (code, text) = finish(child);
        assert_eq!(code, 0, "{label}: {text}");
    }
    let stats = l.handshake_stats();
    assert_eq!(
        (stats.in_flight, stats.completed, stats.failed),
        (stalled.len(), versions.len() as u64, 0),
        "{stats:?}"
    );
}
