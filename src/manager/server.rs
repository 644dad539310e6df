//! The server process: binds the listener, answers its starter on the control socket, then
//! serves every accepted connection on a thread of its own until told to stop (or until its
//! starter's control socket closes).
//!
//! The threads:
//! - the main thread reads the control socket; a stop message or its end stops the server;
//! - the accept thread takes authenticated connections from the [`Listener`] (whose
//!   handshakes run concurrently, each with a deadline) and starts a connection thread each;
//! - a connection thread reads one request, runs it, writes one reply, and so on; a blocking
//!   method (a lock, a queue get) blocks only its own connection. When the connection ends,
//!   every object gives back what that connection held.

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::ManagerErrorKind as K;
use super::object::{Cx, Factory};
use super::protocol::{Blob, Call, Fault, MAGIC, MAX_BATCH, Reply, Request, VERSION};
use super::table::Table;
use crate::connection::{Address, Connection, ConnectionError, Listener};

/// What the starter tells a new server.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Config {
    /// Where to listen (`None`: a fresh Unix socket in a private directory).
    pub(crate) address: Option<Address>,
    pub(crate) authkey: Vec<u8>,
    /// Registered custom types: name and the offset of their factory.
    pub(crate) types: Vec<(String, isize)>,
    /// The starter's binary identity (factories are offsets into it).
    pub(crate) exe_id: Vec<u8>,
    pub(crate) max_message: usize,
    /// A PEM certificate chain and private key: serve TLS over TCP.
    pub(crate) tls: Option<(Vec<u8>, Vec<u8>)>,
    /// The offset of an initializer (`fn()`) to run before serving.
    pub(crate) initializer: Option<isize>,
}

/// What a new server answers its starter.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Started {
    /// Listening at this address, as this instance.
    Listening { address: Address, instance: u64 },
    /// It could not start.
    Failed(String),
}

struct Server {
    table: Table,
    instance: u64,
    max_message: usize,
    stop: AtomicBool,
    next_conn: AtomicU64,
}

/// The service main of a manager server.
pub(crate) fn server_main(fd: OwnedFd) -> i32 {
    run_server(Connection::from_fd(fd, true, true))
}

/// The server as a child [`Process`](crate::Process) target (when the builder was given a
/// start method).
pub(crate) fn server_process(control: Connection) {
    let code = run_server(control);
    if code != 0 {
        crate::exit(code);
    }
}

/// Serves as told on `control`; returns the exit code.
fn run_server(control: Connection) -> i32 {
    let Some(cfg) = control.recv_bytes().ok().and_then(|b| crate::codec::decode::<Config>(&b).ok()) else {
        return 2;
    };
    let answer = |s: &Started| control.send_bytes(&crate::codec::encode(s).unwrap_or_default());
    let mut custom: HashMap<String, Factory> = HashMap::new();
    for (name, off) in &cfg.types {
        match crate::sys::exe::fn_at::<Factory>(*off, &cfg.exe_id) {
            Ok(f) => {
                custom.insert(name.clone(), f);
            }
            Err(e) => {
                let _ = answer(&Started::Failed(format!("type {name:?}: {e}")));
                return 1;
            }
        }
    }
    if let Some(off) = cfg.initializer {
        match crate::sys::exe::fn_at::<fn()>(off, &cfg.exe_id) {
            Ok(init) => {
                if let Err(p) = std::panic::catch_unwind(init) {
                    let msg =
                        p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
                    let msg = msg.unwrap_or_else(|| "a panic with a non-string payload".into());
                    let _ = answer(&Started::Failed(format!("the initializer panicked: {msg}")));
                    return 1;
                }
            }
            Err(e) => {
                let _ = answer(&Started::Failed(format!("the initializer: {e}")));
                return 1;
            }
        }
    }
    let acceptor = match bind(&cfg) {
        Ok(a) => a,
        Err(e) => {
            let _ = answer(&Started::Failed(format!("could not listen: {e}")));
            return 1;
        }
    };
    let mut inst = [0u8; 8];
    let _ = getrandom::fill(&mut inst);
    let server = Arc::new(Server {
        table: Table::new(custom),
        instance: u64::from_ne_bytes(inst),
        max_message: cfg.max_message,
        stop: AtomicBool::new(false),
        next_conn: AtomicU64::new(1),
    });
    if answer(&Started::Listening { address: acceptor.address(), instance: server.instance }).is_err() {
        return 1;
    }
    let s = server.clone();
    let key = cfg.authkey.clone();
    let acceptor = std::thread::Builder::new().name("manager-accept".into()).spawn(move || match acceptor {
        Acceptor::Plain(l) => accept_loop(*l, s),
        Acceptor::Tls(l, config) => accept_tls_loop(l, config, &key, s),
    });
    // A stop message, or the starter gone: either way, stop.
    let _ = control.recv_bytes();
    server.stop.store(true, Ordering::SeqCst);
    if let Ok(t) = acceptor {
        let _ = t.join(); // drops the listener: its socket file goes
    }
    server.table.clear();
    let _ = control.send_bytes(b"stopped");
    0
}

/// Where the server takes connections from.
enum Acceptor {
    /// The connection layer's listener (Unix socket or TCP, concurrent authkey handshakes).
    Plain(Box<Listener>),
    /// A TCP listener whose connections begin with TLS.
    Tls(TcpListener, Arc<rustls::ServerConfig>),
}

impl Acceptor {
    fn address(&self) -> Address {
        match self {
            Acceptor::Plain(l) => l.address().clone(),
            Acceptor::Tls(l, _) => Address::Tcp(l.local_addr().expect("a bound socket has an address")),
        }
    }
}

/// Binds as `cfg` says, retrying for a while when the address is still in use (a manager
/// restarted on the address of one that just stopped).
fn bind(cfg: &Config) -> Result<Acceptor, ConnectionError> {
    let mut tries = 0;
    loop {
        let r = match &cfg.tls {
            None => {
                let mut b = Listener::builder().authkey(&cfg.authkey).max_message(cfg.max_message);
                if let Some(a) = cfg.address.clone() {
                    b = b.address(a);
                }
                b.bind().map(|l| Acceptor::Plain(Box::new(l)))
            }
            Some((cert, key)) => bind_tls(cfg.address.as_ref(), cert, key),
        };
        match r {
            Err(ConnectionError::Io(e)) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            r => return r,
        }
    }
}

fn bind_tls(address: Option<&Address>, cert: &[u8], key: &[u8]) -> Result<Acceptor, ConnectionError> {
    let config = crate::connection::tls::server_config(cert, key)?;
    let sa = match address {
        None => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        Some(Address::Tcp(sa)) => *sa,
        Some(other) => {
            return Err(ConnectionError::InvalidArgument(format!("TLS needs a TCP address, not {other}")));
        }
    };
    let l = TcpListener::bind(sa)?;
    l.set_nonblocking(true)?;
    Ok(Acceptor::Tls(l, config))
}

/// Handshakes in flight at once on a TLS server (each on a thread of its own, each with a
/// deadline); a connection over this is closed at once.
const MAX_TLS_HANDSHAKES: usize = 128;

fn accept_tls_loop(listener: TcpListener, config: Arc<rustls::ServerConfig>, key: &[u8], server: Arc<Server>) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    while !server.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((sock, _)) => {
                if in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_TLS_HANDSHAKES
                    || sock.set_nonblocking(false).is_err()
                {
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
                let (s, config, key, in_flight) = (server.clone(), config.clone(), key.to_vec(), in_flight.clone());
                let id = server.next_conn.fetch_add(1, Ordering::Relaxed);
                let spawned = std::thread::Builder::new().name("manager-conn".into()).spawn(move || {
                    let conn = super::tls::accept(sock, config, &key, s.max_message);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    match conn {
                        Ok(conn) => serve(conn, &s, id),
                        Err(e) => log::debug!("manager: a TLS client failed its handshakes: {e}"),
                    }
                });
                if spawned.is_err() {
                    log::warn!("manager: no thread for a new TLS connection");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let _ = crate::sys::net::poll_raw(&[fd], Instant::now().checked_add(Duration::from_millis(50)));
            }
            Err(e) => {
                log::debug!("manager: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn accept_loop(mut listener: Listener, server: Arc<Server>) {
    while !server.stop.load(Ordering::SeqCst) {
        match listener.accept_timeout(Duration::from_millis(50)) {
            Ok(conn) => {
                let s = server.clone();
                let id = server.next_conn.fetch_add(1, Ordering::Relaxed);
                let spawned =
                    std::thread::Builder::new().name("manager-conn".into()).spawn(move || serve(conn, &s, id));
                if let Err(e) = spawned {
                    log::warn!("manager: no thread for a new connection: {e}");
                }
            }
            Err(e) if e.is_timeout() => {}
            Err(e) => {
                log::debug!("manager: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Serves one connection until it ends.
fn serve(conn: Connection, server: &Server, id: u64) {
    let mut out = Vec::new();
    let mut greeted = false;
    let abandoned = || conn.poll(Some(Duration::ZERO)).unwrap_or(true);
    let cx = Cx { conn: id, abandoned: &abandoned };
    loop {
        let (reply, close) = match conn.recv_bytes() {
            Ok(bytes) => match crate::codec::decode::<Request>(&bytes) {
                Ok(Request::Hello { magic, version }) => {
                    if magic == MAGIC && version == VERSION {
                        greeted = true;
                        let max = server.max_message as u64;
                        (Reply::Welcome { version: VERSION, instance: server.instance, max_message: max }, false)
                    } else {
                        let f = Fault::new(
                            K::Protocol,
                            format!(
                                "this manager speaks protocol version {VERSION}; the client sent version {version} (magic {magic:#x})"
                            ),
                        );
                        (Reply::Fault(f), true)
                    }
                }
                Ok(_) if !greeted => {
                    (Reply::Fault(Fault::new(K::Protocol, "a connection must begin with a hello")), true)
                }
                Ok(req) => (handle(server, req, &cx), false),
                Err(e) => {
                    (Reply::Fault(Fault::new(K::Protocol, format!("a request that is not this protocol: {e}"))), false)
                }
            },
            Err(ConnectionError::BadMessageLength { len, max }) => {
                let f =
                    Fault::new(K::TooLarge, format!("a request of {len} bytes is over this manager's limit of {max}"));
                // The rest of that message is still on the socket: answer, then close.
                (Reply::Fault(f), true)
            }
            Err(_) => break,
        };
        out.clear();
        if crate::codec::encode_into(&reply, &mut out).is_err() || conn.send_bytes(&out).is_err() || close {
            break;
        }
    }
    drop(conn);
    server.table.connection_closed(id);
}

fn handle(server: &Server, req: Request, cx: &Cx<'_>) -> Reply {
    let t = &server.table;
    let r = match req {
        Request::Hello { .. } => unreachable!("hellos are answered by the caller"),
        Request::Create { kind, init } => {
            guarded(|| t.create(&kind, init)).map(|(object, type_name)| Reply::Object { object, type_name })
        }
        Request::Call(c) => run(t, &c, cx).map(|v| Reply::Value(Blob(v))),
        Request::Batch(calls) if calls.len() > MAX_BATCH => {
            Err(Fault::new(K::TooLarge, format!("a batch of {} calls is over the limit of {MAX_BATCH}", calls.len())))
        }
        Request::Batch(calls) => Ok(Reply::Batch(calls.iter().map(|c| run(t, c, cx).map(Blob)).collect())),
        Request::Publish { name, object } => t.publish(name, object).map(|()| Reply::Value(Blob::default())),
        Request::Lookup { name } => t.lookup(&name).map(|(object, type_name)| Reply::Object { object, type_name }),
        Request::Count => crate::codec::encode(&(t.count() as u64))
            .map(|b| Reply::Value(Blob(b)))
            .map_err(|e| Fault::new(K::Codec, e.to_string())),
        Request::Release { object } => {
            t.release(object);
            Ok(Reply::Value(Blob::default()))
        }
    };
    r.unwrap_or_else(Reply::Fault)
}

fn run(t: &Table, c: &Call, cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
    let obj = t.get(c.object)?;
    guarded(|| obj.call(c.method, &c.args.0, cx))
}

/// Runs `f`, turning a panic (in a custom type's code) into a fault.
fn guarded<T>(f: impl FnOnce() -> Result<T, Fault>) -> Result<T, Fault> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-string payload".into());
        Err(Fault::new(K::RemotePanic, format!("a managed object's method panicked: {msg}")))
    })
}

/// Runs a stream of requests (each a little-endian `u16` length and that many bytes, as a
/// peer past its hello could send them) against a fresh server table (fuzzing). Blocking
/// calls give up after one slice: the caller counts as gone.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(data: &[u8]) {
    let server = Server {
        table: Table::new(HashMap::new()),
        instance: 0,
        max_message: 1 << 16,
        stop: AtomicBool::new(false),
        next_conn: AtomicU64::new(1),
    };
    let gone = || true;
    let cx = Cx { conn: 1, abandoned: &gone };
    let mut rest = data;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (msg, tail) = rest[2..].split_at(n);
        rest = tail;
        if let Ok(req) = crate::codec::decode::<Request>(msg)
            && !matches!(req, Request::Hello { .. })
        {
            let _ = handle(&server, req, &cx);
        }
    }
    server.table.connection_closed(1);
}

/// A fuzz input of `requests`, framed as [`fuzz`] reads them (the seed corpus).
#[cfg(test)]
pub(crate) fn fuzz_input(requests: &[Request]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in requests {
        let b = crate::codec::encode(r).unwrap();
        out.extend_from_slice(&(b.len() as u16).to_le_bytes());
        out.extend_from_slice(&b);
    }
    out
}
