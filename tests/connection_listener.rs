//! A `Listener` with an authkey against bad peers: garbage, truncated messages, huge length
//! prefixes, slowloris clients, a flood of connections that never speak, a forked copy of the
//! listener. Loopback only, bounded in count and time, each test under a watchdog.
//!
//! This binary counts the largest single allocation (its own global allocator), so that a
//! length a peer announced is shown never to be allocated before it was checked.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{Watchdog, unique_name};
use multiproc::connection::{
    Address, Client, Connection, ConnectionError, HandshakeStats, Listener, answer_challenge, deliver_challenge, wait,
};

const KEY: &[u8] = b"listener test key";
const LIMIT: Duration = Duration::from_secs(120);
/// The largest time a good client may take (assertions are generous; the measured time is
/// printed).
const GOOD_CLIENT_BOUND: Duration = Duration::from_secs(5);

/// The global allocator: the system's, noting the largest size ever asked for.
struct Tracking;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to `System` unchanged; only a size is recorded on the side.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the caller's contract for `realloc` is `System::realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

fn tcp() -> String {
    "127.0.0.1:0".to_string()
}

fn abstract_name() -> String {
    format!("\0{}", unique_name("mp-listener-test"))
}

/// A listener served by a thread that accepts in a loop and echoes one message on every
/// connection it hands out (each on a thread of its own), publishing its handshake counts.
struct Server {
    address: Address,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<HandshakeStats>>,
    thread: Option<JoinHandle<Listener>>,
}

impl Server {
    fn start(mut l: Listener) -> Server {
        let address = l.address().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(HandshakeStats::default()));
        let (st, ss) = (stop.clone(), stats.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept_timeout(Duration::from_millis(20)) {
                    Ok(c) => {
                        std::thread::spawn(move || {
                            if let Ok(m) = c.recv_bytes_timeout(Duration::from_secs(30)) {
                                let _ = c.send_bytes(&m);
                            }
                        });
                    }
                    Err(e) if e.is_timeout() => {}
                    Err(e) => panic!("accept failed: {e}"),
                }
                *ss.lock().unwrap() = l.handshake_stats();
            }
            l
        });
        Server { address, stop, stats, thread: Some(thread) }
    }

    fn stats(&self) -> HandshakeStats {
        *self.stats.lock().unwrap()
    }

    /// Waits (bounded) until the counts satisfy `f`; returns the last counts seen.
    fn wait_for(&self, what: &str, f: impl Fn(&HandshakeStats) -> bool) -> HandshakeStats {
        let t = Instant::now();
        loop {
            let s = self.stats();
            if f(&s) {
                return s;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "{what}: the counts stayed at {s:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(mut self) -> Listener {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().expect("the accept loop panicked")
    }
}

/// A good client: connects with the key, sends a message and gets it back. Returns how long
/// it all took.
fn good_client(address: &Address) -> Duration {
    let t = Instant::now();
    let c = Client::builder(address).authkey(KEY).connect().unwrap_or_else(|e| panic!("good client: {e}"));
    c.send_bytes(b"ping").unwrap();
    assert_eq!(c.recv_bytes_timeout(Duration::from_secs(30)).unwrap(), b"ping");
    t.elapsed()
}

/// A raw stream to the listener, for peers that do not follow the protocol.
enum Raw {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Raw {
    fn connect(a: &Address) -> Raw {
        match a {
            Address::Tcp(a) => Raw::Tcp(TcpStream::connect(a).unwrap()),
            Address::Abstract(n) => {
                use std::os::linux::net::SocketAddrExt;
                let sa = std::os::unix::net::SocketAddr::from_abstract_name(n).unwrap();
                Raw::Unix(UnixStream::connect_addr(&sa).unwrap())
            }
            Address::Unix(p) => Raw::Unix(UnixStream::connect(p).unwrap()),
        }
    }

    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Raw::Tcp(s) => s.write_all(b),
            Raw::Unix(s) => s.write_all(b),
        }
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Raw::Tcp(s) => s.shutdown(Shutdown::Write),
            Raw::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }

    /// Reads until the listener closes the connection (end of file or a reset); returns the
    /// bytes it sent. Fails if it is still open after `limit`.
    fn read_until_closed(&mut self, limit: Duration) -> Vec<u8> {
        let mut out = Vec::new();
        let start = Instant::now();
        let mut buf = [0u8; 512];
        loop {
            let left = limit.saturating_sub(start.elapsed()).max(Duration::from_millis(1));
            let res = match self {
                Raw::Tcp(s) => s.set_read_timeout(Some(left)).and_then(|_| s.read(&mut buf)),
                Raw::Unix(s) => s.set_read_timeout(Some(left)).and_then(|_| s.read(&mut buf)),
            };
            match res {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    panic!("the listener kept the connection open for {limit:?} (read {} bytes)", out.len())
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    [&(body.len() as i32).to_be_bytes()[..], body].concat()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Rejected for what it sent (counted as failed).
    Failed,
    /// Cut at the handshake deadline (counted as timed out).
    TimedOut,
}

/// Bad input of every kind against TCP and Unix listeners: each bad peer is closed (by what
/// it sent, or at its deadline if it stalls), counted as such, nothing is allocated by a
/// length it announced, and a good client is served after each.
#[test]
fn bad_input_is_closed_and_the_listener_keeps_serving() {
    let _w = Watchdog::new("bad input", LIMIT);
    // Long enough that a peer whose bytes are already sent is always judged by them, even on a
    // busy machine (those are read before a deadline is looked at).
    let timeout = Duration::from_secs(3);
    let mut long_huge = (-1i32).to_be_bytes().to_vec();
    long_huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
    let mut long_257 = (-1i32).to_be_bytes().to_vec();
    long_257.extend_from_slice(&257u64.to_be_bytes());
    let right_shape = [&b"{sha256}"[..], &[7u8; 32]].concat();
    let cases: Vec<(&str, Vec<u8>, bool, Expect)> = vec![
        (
            "garbage (a negative length)",
            b"\xde\xad\xbe\xef garbage that is not a frame at all".to_vec(),
            false,
            Expect::Failed,
        ),
        ("an HTTP request", b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(), false, Expect::Failed),
        ("a 2^40 long length prefix", long_huge, false, Expect::Failed),
        ("a 2^31-1 length prefix", i32::MAX.to_be_bytes().to_vec(), false, Expect::Failed),
        ("a 257-byte long length prefix", long_257, false, Expect::Failed),
        ("an oversized 300-byte answer", frame(&[b'x'; 300]), false, Expect::Failed),
        ("an empty answer", frame(b""), false, Expect::Failed),
        ("an answer of no known digest", frame(&[b'y'; 44]), false, Expect::Failed),
        ("a wrong sha256 digest", frame(&right_shape), false, Expect::Failed),
        (
            "a truncated answer, then silence",
            [&100i32.to_be_bytes()[..], b"{sha256}only part"].concat(),
            false,
            Expect::TimedOut,
        ),
        ("half a length prefix, then silence", vec![0, 0], false, Expect::TimedOut),
        ("half a length prefix, then close", vec![0, 0], true, Expect::Failed),
        ("a truncated answer, then close", [&100i32.to_be_bytes()[..], b"{sha256}only"].concat(), true, Expect::Failed),
        ("nothing, then close", Vec::new(), true, Expect::Failed),
    ];
    LARGEST.store(0, Ordering::Relaxed);
    for addr in [tcp(), abstract_name()] {
        let l = Listener::builder().address(addr.as_str()).authkey(KEY).handshake_timeout(timeout).bind().unwrap();
        let server = Server::start(l);
        for (what, bytes, close, expect) in &cases {
            let before = server.stats();
            let t0 = Instant::now();
            let mut peer = Raw::connect(&server.address);
            if !bytes.is_empty() {
                peer.write(bytes).unwrap();
            }
            if *close {
                peer.shutdown_write();
            }
            let got = peer.read_until_closed(Duration::from_secs(30));
            let closed_after = t0.elapsed();
            assert!(got.starts_with(b"\0\0\0\x3b#CHALLENGE#{sha256}"), "{what}: the challenge came first: {got:?}");
            if what.starts_with("a wrong sha256") {
                assert!(got.ends_with(b"\0\0\0\x09#FAILURE#"), "{what}: the peer is told #FAILURE#");
            }
            if *expect == Expect::TimedOut {
                assert!(closed_after >= timeout, "{what}: closed after {closed_after:?}, before its deadline");
            }
            let good = good_client(&server.address);
            println!("{addr:?} {what}: closed after {closed_after:?}; a good client then took {good:?}");
            assert!(good < GOOD_CLIENT_BOUND, "{what}: the good client took {good:?}");
            let s = server.wait_for(what, |s| s.completed > before.completed && s.in_flight == 0);
            match expect {
                Expect::Failed => {
                    assert_eq!((s.failed - before.failed, s.timed_out - before.timed_out), (1, 0), "{what}: {s:?}")
                }
                Expect::TimedOut => {
                    assert_eq!((s.failed - before.failed, s.timed_out - before.timed_out), (0, 1), "{what}: {s:?}")
                }
            }
        }
        let s = server.stop().handshake_stats();
        assert_eq!(s.completed as usize, cases.len());
        assert_eq!(s.shed, 0);
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < 16 << 20, "something allocated {largest} bytes: a peer's length was believed");
}

/// A client refuses a listener that announces a huge handshake message, without allocating it.
#[test]
fn client_refuses_a_huge_handshake_message() {
    let _w = Watchdog::new("huge message to client", LIMIT);
    let raw = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = raw.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = raw.accept().unwrap();
        s.write_all(&i32::MAX.to_be_bytes()).unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    let err = Client::connect(addr, Some(KEY)).unwrap_err();
    let text = err.to_string();
    assert!(err.is_authentication() && text.contains("2147483647-byte") && text.contains("256-byte limit"), "{text}");
    assert!(!text.contains("different authkeys"), "{text}");
    server.join().unwrap();
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < 1 << 30, "something allocated {largest} bytes");
}

/// Slowloris: peers that send a plausible answer one byte per second are cut at their
/// deadline (trickling does not extend it), while a good client is served at once.
#[test]
fn slowloris_peers_are_cut_at_their_deadline() {
    let _w = Watchdog::new("slowloris", LIMIT);
    let timeout = Duration::from_secs(3);
    for addr in [tcp(), abstract_name()] {
        let l = Listener::builder().address(addr.as_str()).authkey(KEY).handshake_timeout(timeout).bind().unwrap();
        let server = Server::start(l);
        let slow: Vec<_> = (0..4)
            .map(|_| {
                let a = server.address.clone();
                std::thread::spawn(move || {
                    let t0 = Instant::now();
                    let mut peer = Raw::connect(&a);
                    let answer = frame(&[&b"{sha256}"[..], &[1u8; 32]].concat());
                    for b in answer {
                        if peer.write(&[b]).is_err() {
                            break; // closed by the listener
                        }
                        std::thread::sleep(Duration::from_secs(1));
                        if t0.elapsed() > Duration::from_secs(20) {
                            break;
                        }
                    }
                    peer.read_until_closed(Duration::from_secs(30));
                    t0.elapsed()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        let good = good_client(&server.address);
        println!("{addr:?}: a good client among 4 slowloris peers took {good:?}");
        assert!(good < GOOD_CLIENT_BOUND, "the good client took {good:?}");
        for t in slow {
            let lasted = t.join().unwrap();
            assert!(lasted >= timeout, "a slowloris peer was closed after {lasted:?}, before its deadline");
            assert!(lasted < Duration::from_secs(20), "a slowloris peer lasted {lasted:?}: trickling kept it alive");
        }
        let s = server.wait_for("slowloris", |s| s.timed_out == 4 && s.in_flight == 0);
        assert_eq!((s.completed, s.failed), (1, 0), "{s:?}");
        server.stop();
    }
}

/// A flood of a few hundred connections that connect and never speak: a good client is
/// still served in well under a second (the measured time is printed; the assertion is a
/// generous bound), the handshakes in flight stay within their bound, and the silent ones
/// are shed.
#[test]
fn a_flood_of_silent_connections_does_not_hold_up_a_good_client() {
    let _w = Watchdog::new("flood", LIMIT);
    const FLOOD: usize = 300;
    for addr in [tcp(), abstract_name()] {
        // A handshake timeout far beyond the test, so that no silent peer times out in it.
        let l = Listener::builder()
            .address(addr.as_str())
            .authkey(KEY)
            .handshake_timeout(Duration::from_secs(300))
            .bind()
            .unwrap();
        let server = Server::start(l);
        let t = Instant::now();
        let flood: Vec<Raw> = (0..FLOOD).map(|_| Raw::connect(&server.address)).collect();
        let flooded_in = t.elapsed();
        let mut times = Vec::new();
        for _ in 0..3 {
            times.push(good_client(&server.address));
        }
        println!("{addr:?}: {FLOOD} silent connections made in {flooded_in:?}; good clients then took {times:?}");
        for good in &times {
            assert!(*good < GOOD_CLIENT_BOUND, "a good client took {good:?} under the flood");
        }
        let s = server.wait_for("flood", |s| s.completed == 3);
        assert!(s.in_flight <= 128, "{s:?}");
        let s = server.wait_for("flood shed", |s| s.shed as usize >= FLOOD - 128);
        assert_eq!((s.failed, s.timed_out), (0, 0), "{s:?}");
        assert!(s.shed as usize <= FLOOD, "only silent peers are shed: {s:?}");
        drop(flood);
        server.stop();
    }
}

/// An event loop: `wait` on the listener wakes for handshake steps too, and `try_accept`
/// (which never blocks) completes every handshake. A handshake never completes in the call
/// that took its client from the kernel, so the loop sees `WouldBlock` at least once per
/// client.
#[test]
fn wait_and_try_accept_drive_handshakes() {
    let _w = Watchdog::new("event loop", LIMIT);
    let mut l = Listener::bind(abstract_name().as_str(), Some(KEY)).unwrap();
    let clients: Vec<_> = (0..3u8)
        .map(|i| {
            let a = l.address().clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20 * i as u64));
                let c = Client::connect(&a, Some(KEY)).unwrap();
                c.send(&i).unwrap();
            })
        })
        .collect();
    let (mut served, mut would_block) = (Vec::new(), 0);
    while served.len() < 3 {
        assert!(!wait(&[&l], Some(Duration::from_secs(20))).unwrap().is_empty(), "wait timed out");
        match l.try_accept() {
            Ok(c) => served.push(c.recv::<u8>().unwrap()),
            Err(e) if e.is_would_block() => would_block += 1,
            Err(e) => panic!("{e}"),
        }
    }
    served.sort_unstable();
    assert_eq!(served, [0, 1, 2]);
    assert!(would_block >= 3, "{would_block} would-blocks for 3 handshakes");
    for c in clients {
        c.join().unwrap();
    }
    assert!(l.try_accept().unwrap_err().is_would_block());
}

/// With `report_failed_handshakes`, accept returns each failure, as CPython's accept raises
/// it: a wrong key, garbage, a stalled peer (a handshake timeout); the failed peer is
/// `last_accepted`; and a good client is served after them.
#[test]
fn reported_failures_come_out_of_accept() {
    let _w = Watchdog::new("reported failures", LIMIT);
    let mut l = Listener::builder()
        .address(tcp().as_str())
        .authkey(KEY)
        .handshake_timeout(Duration::from_secs(3))
        .report_failed_handshakes(true)
        .bind()
        .unwrap();
    let a = l.address().clone();
    let wrong = std::thread::spawn(move || Client::connect(&a, Some(b"wrong")).map(|_| ()));
    let err = l.accept().unwrap_err();
    assert!(matches!(&err, ConnectionError::Authentication(e) if e.is_key_mismatch()), "{err:?}");
    assert!(err.to_string().contains("different authkeys"), "{err}");
    assert!(wrong.join().unwrap().unwrap_err().is_authentication());

    let mut garbage = Raw::connect(l.address());
    garbage.write(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let err = l.accept().unwrap_err();
    let text = err.to_string();
    assert!(err.is_authentication() && text.contains("over the 256-byte limit"), "{text}");
    assert!(!text.contains("different authkeys"), "{text}");
    let Raw::Tcp(g) = &garbage else { unreachable!() };
    assert_eq!(l.last_accepted(), Some(&Address::Tcp(g.local_addr().unwrap())));

    let t = Instant::now();
    let _stalled = Raw::connect(l.address());
    let err = l.accept().unwrap_err();
    assert!(
        matches!(err, ConnectionError::HandshakeTimeout { timeout } if timeout == Duration::from_secs(3)),
        "{err:?}"
    );
    assert!(err.is_timeout() && t.elapsed() >= Duration::from_secs(3));

    let a = l.address().clone();
    let good = std::thread::spawn(move || good_client(&a));
    let c = l.accept().unwrap();
    c.send_bytes(&c.recv_bytes().unwrap()).unwrap();
    good.join().unwrap();
    let s = l.handshake_stats();
    assert_eq!((s.completed, s.failed, s.timed_out, s.in_flight), (1, 2, 1, 0), "{s:?}");
}

/// With room for one handshake, a newcomer sheds the silent peer holding it (not a peer
/// that is talking), and bad peers are never reported as errors when shed.
#[test]
fn a_full_listener_sheds_its_silent_handshakes() {
    let _w = Watchdog::new("shedding", LIMIT);
    let l = Listener::builder().address(abstract_name().as_str()).authkey(KEY).max_handshakes(1).bind().unwrap();
    let server = Server::start(l);
    let mut silent = Raw::connect(&server.address);
    server.wait_for("silent taken", |s| s.in_flight == 1);
    let good = good_client(&server.address);
    assert!(good < GOOD_CLIENT_BOUND, "{good:?}");
    let got = silent.read_until_closed(Duration::from_secs(30));
    assert!(got.starts_with(b"\0\0\0\x3b#CHALLENGE#"), "{got:?}");
    let s = server.wait_for("shed", |s| s.completed == 1);
    assert_eq!((s.shed, s.failed, s.timed_out), (1, 0, 0), "{s:?}");
    server.stop();
    assert!(matches!(
        Listener::builder().authkey(KEY).max_handshakes(0).bind(),
        Err(ConnectionError::InvalidArgument(_))
    ));
}

/// A forked child that accepts on its copy of the listener leaves the parent's handshakes
/// alone (they share the epoll set): the parent completes a handshake that was in flight
/// across the fork. Fork only: the other start methods give a child no copy of a listener.
#[test]
fn a_forked_copy_accepting_leaves_the_parents_handshakes_alone() {
    let _w = Watchdog::new("fork", LIMIT);
    let l = Listener::bind(abstract_name().as_str(), Some(KEY)).unwrap();
    let Address::Abstract(name) = l.address().clone() else { unreachable!() };
    let (go, ready) = std::sync::mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        use std::os::linux::net::SocketAddrExt;
        let sa = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let conn = Connection::from_fd(UnixStream::connect_addr(&sa).unwrap().into(), true, true);
        ready.recv().unwrap();
        answer_challenge(&conn, KEY).unwrap();
        deliver_challenge(&conn, KEY).unwrap();
        conn.send_bytes(b"across the fork").unwrap();
    });
    let shared = Arc::new(Mutex::new(l));
    {
        let mut l = shared.lock().unwrap();
        let t = Instant::now();
        while l.handshake_stats().in_flight == 0 {
            assert!(l.try_accept().unwrap_err().is_would_block());
            assert!(t.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let in_child = shared.clone();
    let p = multiproc::Process::with_closure(move || {
        let mut l = in_child.lock().unwrap();
        assert!(l.try_accept().unwrap_err().is_would_block());
        assert_eq!(l.handshake_stats().in_flight, 0, "the child dropped its copies of the parent's handshakes");
    });
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    go.send(()).unwrap();
    let mut l = shared.lock().unwrap();
    let c = l.accept_timeout(Duration::from_secs(30)).expect("the parent's handshake went on");
    assert_eq!(c.recv_bytes().unwrap(), b"across the fork");
    client.join().unwrap();
}
