//! Remote managers over TCP on loopback: CPython's `_TestRemoteManager` (reference §2, item
//! 124), with the server and its clients in separate processes under every start method: a
//! server published under a name, clients that connect by address and key, values of
//! several types round-tripping, and a wrong key refused.

mod common;

use std::time::Duration;

use common::each_method;
use multiproc::Connection;
use multiproc::manager::{Manager, ManagerErrorKind, QueueProxy, Tls};
use serde::{Deserialize, Serialize};

const LIMIT: Duration = Duration::from_secs(90);

/// 32 random-looking bytes, as CPython's test uses.
const KEY: &[u8] = b"0123456789abcdef0123456789ABCDEF";

/// A value of each of the kinds CPython's test sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Item {
    Str(String),
    Unicode(String),
    None,
    Bool(bool),
    Float(f64),
    Bytes(Vec<u8>),
    Tuple((u8, String)),
}

fn items() -> Vec<Item> {
    vec![
        Item::Str("hello world".into()),
        Item::Unicode("\u{e9}t\u{e9} \u{1f600}".into()),
        Item::None,
        Item::Bool(true),
        Item::Float(0.25),
        Item::Bytes(vec![0, 255, 7]),
        Item::Tuple((2, "two".into())),
    ]
}

/// The server process: serves on a free loopback port, publishes a queue, tells the
/// parent its address, and stops when the parent says so.
fn serve(ctl: Connection) {
    let m = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let q = m.queue::<Item>().unwrap();
    m.publish("get_queue", &q).unwrap();
    ctl.send(&m.address().to_string()).unwrap();
    let _stop: String = ctl.recv().unwrap();
    m.shutdown().unwrap();
}

/// A client process: connects by address and key alone, puts every item.
fn put_items(address: String) {
    let m = Manager::connect(address.as_str(), KEY).unwrap();
    let q = m.lookup::<QueueProxy<Item>>("get_queue").unwrap();
    for it in items() {
        q.put(it).unwrap();
    }
}

/// 124: a TCP manager in its own process serves clients in other processes that know only
/// its address and key; values round-trip; a wrong key is refused with a clear error.
#[test]
fn remote_manager_over_tcp() {
    each_method("remote_manager_over_tcp", LIMIT, |ctx| {
        let (here, there) = multiproc::pipe(true).unwrap();
        let server = ctx.process(serve, there);
        server.start().unwrap();
        let address: String = here.recv_timeout(Duration::from_secs(60)).unwrap();
        assert!(address.starts_with("127.0.0.1:"), "loopback: {address}");
        let clients: Vec<_> = (0..2).map(|_| ctx.process(put_items, address.clone())).collect();
        for c in &clients {
            c.start().unwrap();
        }
        for c in &clients {
            assert_eq!(c.join().unwrap(), 0);
        }
        let m = Manager::connect(address.as_str(), KEY).unwrap();
        assert!(m.server_pid().is_none());
        let q = m.lookup::<QueueProxy<Item>>("get_queue").unwrap();
        let mut got: Vec<Item> = (0..14).map(|_| q.get_timeout(Duration::from_secs(30)).unwrap()).collect();
        assert!(q.try_get().unwrap_err().is_empty());
        let want = items();
        // Each client's items arrive in its order; the two clients interleave.
        got.sort_by_key(|i| format!("{i:?}"));
        let mut twice: Vec<Item> = want.iter().chain(&want).cloned().collect();
        twice.sort_by_key(|i| format!("{i:?}"));
        assert_eq!(got, twice);

        let e = Manager::connect(address.as_str(), b"the wrong key").unwrap_err();
        assert_eq!(e.kind(), ManagerErrorKind::Authentication);
        assert!(e.to_string().contains("authkey"), "{e}");
        drop(m);
        here.send(&"stop".to_string()).unwrap();
        assert_eq!(server.join().unwrap(), 0);
        let e = Manager::connect(address.as_str(), KEY).unwrap_err();
        assert_eq!(e.kind(), ManagerErrorKind::Connect, "{e}");
    });
}

/// A TCP manager needs an authkey of its own choosing: binding without one uses this
/// process's (never empty), and an address that does not parse is a start error.
#[test]
fn bad_addresses_are_start_errors() {
    let _w = common::Watchdog::new("bad_addresses_are_start_errors", LIMIT);
    let e = Manager::builder().address(r"\\.\pipe\nope").start().unwrap_err();
    assert_eq!(e.kind(), ManagerErrorKind::Start);
    let taken = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let e = Manager::builder().address("/nonexistent-dir/for/a/socket").start().unwrap_err();
    assert_eq!(e.kind(), ManagerErrorKind::Start, "{e}");
    assert!(e.to_string().contains("could not listen"), "{e}");
    drop(taken);
}

/// A self-signed certificate for `localhost`, made for this test run: (cert PEM, key PEM).
fn test_certificate() -> (String, String) {
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    (cert.pem(), key_pair.serialize_pem())
}

/// The TLS server process: its certificate comes from the parent.
fn serve_tls((ctl, cert, key): (Connection, String, String)) {
    let tls = Tls::server(cert.as_bytes(), key.as_bytes());
    let m = Manager::builder().address("127.0.0.1:0").authkey(KEY).tls(tls).start().unwrap();
    let q = m.queue::<Item>().unwrap();
    m.publish("get_queue", &q).unwrap();
    // The server's own proxies work over TLS too.
    q.put(Item::Str("from the server process".into())).unwrap();
    ctl.send(&m.address().to_string()).unwrap();
    let _stop: String = ctl.recv().unwrap();
}

/// A TLS client process: trusts the test certificate, connects by address.
fn put_items_tls((address, cert): (String, String)) {
    let m = Manager::connect_tls(address.as_str(), KEY, Tls::client(cert.as_bytes(), "localhost")).unwrap();
    let q = m.lookup::<QueueProxy<Item>>("get_queue").unwrap();
    for it in items() {
        q.put(it).unwrap();
    }
}

/// TLS: a server with a certificate made at test time, in its own process; clients in other
/// processes connect over TLS; an untrusted certificate, a wrong name, a plain-TCP client
/// and a wrong authkey are all refused, and the server goes on serving.
#[test]
fn remote_manager_over_tls() {
    let (cert, key) = test_certificate();
    each_method("remote_manager_over_tls", LIMIT, |ctx| {
        let (here, there) = multiproc::pipe(true).unwrap();
        let server = ctx.process(serve_tls, (there, cert.clone(), key.clone()));
        server.start().unwrap();
        let address: String = here.recv_timeout(Duration::from_secs(60)).unwrap();
        let clients: Vec<_> = (0..2).map(|_| ctx.process(put_items_tls, (address.clone(), cert.clone()))).collect();
        for c in &clients {
            c.start().unwrap();
        }
        for c in &clients {
            assert_eq!(c.join().unwrap(), 0);
        }
        let m = Manager::connect_tls(address.as_str(), KEY, Tls::client(cert.as_bytes(), "localhost")).unwrap();
        let q = m.lookup::<QueueProxy<Item>>("get_queue").unwrap();
        assert_eq!(q.get().unwrap(), Item::Str("from the server process".into()));
        let got: Vec<Item> = (0..14).map(|_| q.get_timeout(Duration::from_secs(30)).unwrap()).collect();
        assert_eq!(got.len(), 14);

        let (other, _) = test_certificate();
        let e = Manager::connect_tls(address.as_str(), KEY, Tls::client(other.as_bytes(), "localhost")).unwrap_err();
        assert_eq!(e.kind(), ManagerErrorKind::Connect, "{e}");
        assert!(e.to_string().contains("TLS"), "{e}");
        let e = Manager::connect_tls(address.as_str(), KEY, Tls::client(cert.as_bytes(), "elsewhere")).unwrap_err();
        assert_eq!(e.kind(), ManagerErrorKind::Connect, "{e}");
        let e =
            Manager::connect_tls(address.as_str(), b"wrong", Tls::client(cert.as_bytes(), "localhost")).unwrap_err();
        assert_eq!(e.kind(), ManagerErrorKind::Authentication, "{e}");
        q.put(Item::None).unwrap();
        assert_eq!(q.get().unwrap(), Item::None, "still serving");
        drop((q, m));
        here.send(&"stop".to_string()).unwrap();
        assert_eq!(server.join().unwrap(), 0);
    });
}

/// A client without TLS cannot talk to a TLS server (it fails, within its handshake
/// deadline), and meanwhile the server serves TLS clients.
#[test]
fn plain_client_of_a_tls_server_fails() {
    let _w = common::Watchdog::new("plain_client_of_a_tls_server_fails", LIMIT);
    let (cert, key) = test_certificate();
    let m = Manager::builder().authkey(KEY).tls(Tls::server(cert.as_bytes(), key.as_bytes())).start().unwrap();
    let d = m.dict::<u8, u8>().unwrap();
    let address = m.address().to_string();
    let plain = std::thread::spawn(move || Manager::connect(address.as_str(), KEY).unwrap_err());
    d.set(1, 2).unwrap();
    let e = plain.join().unwrap();
    assert!(!e.is_server_restarted(), "{e:?}");
    assert_eq!(d.get(&1).unwrap(), 2);
    assert!(
        Manager::builder().tls(Tls::client(cert.as_bytes(), "localhost")).start().unwrap_err().kind()
            == ManagerErrorKind::Start
    );
}
