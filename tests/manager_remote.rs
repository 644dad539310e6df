//! Remote managers over TCP on loopback: CPython's `_TestRemoteManager` (reference §2, item
//! 124), with the server and its clients in separate processes under every start method: a
//! server published under a name, clients that connect by address and key, values of
//! several types round-tripping, and a wrong key refused.

mod common;

use std::time::Duration;

use common::each_method;
use multiproc::Connection;
use multiproc::manager::{Manager, ManagerErrorKind, QueueProxy};
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
