//! The client side: a [`Link`] is one process's way to one server (its address, authkey and
//! a pool of idle connections), shared by every proxy of that server in the process, so
//! that proxies are usable from many threads at once (each call takes a connection of its
//! own for the round trip) and a process opens few connections.
//!
//! A proxy's serialized form is a token: the server's address, its instance number, the
//! object's number and type, and the authkey only when it is not the process's own. A
//! token read in another process finds (or makes) that process's link.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ManagerError, ManagerErrorKind as K};
use super::protocol::{Blob, Call, MAGIC, Reply, Request, VERSION};
use super::tls::TlsClient;
use crate::connection::{Address, Client, Connection, ConnectionError};

/// Idle connections kept per link.
const MAX_IDLE: usize = 32;

/// Which authkey a link uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Key {
    /// The process's own ([`current_process().authkey()`](crate::CurrentProcess::authkey)),
    /// inherited by its children.
    Process,
    /// One given explicitly.
    Explicit(Vec<u8>),
}

impl Key {
    pub(crate) fn from_option(key: Option<&[u8]>) -> Key {
        match key {
            Some(k) if k != crate::current_process().authkey() => Key::Explicit(k.to_vec()),
            _ => Key::Process,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Key::Process => crate::current_process().authkey().to_vec(),
            Key::Explicit(k) => k.clone(),
        }
    }
}

/// One process's way to one run of one server.
pub(crate) struct Link {
    pub(crate) address: Address,
    key: Key,
    /// TLS settings, for a TLS server.
    tls: Option<TlsClient>,
    /// The server run this link talks to.
    pub(crate) instance: u64,
    /// The server's request limit, learned at the first hello.
    max_message: AtomicUsize,
    /// The process that made the link (the registry keeps one per process).
    pid: u32,
    /// Idle connections, with the process they belong to: a forked child must not use its
    /// parent's (the server would see two clients on one socket), so it drops them and
    /// makes its own.
    idle: Mutex<(u32, Vec<Connection>)>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("address", &self.address).field("instance", &self.instance).finish()
    }
}

type Registry = Mutex<Vec<(Address, u64, Weak<Link>)>>;

fn registry() -> &'static Registry {
    static LINKS: OnceLock<Registry> = OnceLock::new();
    LINKS.get_or_init(Registry::default)
}

impl Link {
    /// Connects to the server at `address` and learns its instance.
    pub(crate) fn connect(address: Address, key: Key, tls: Option<TlsClient>) -> Result<Arc<Link>, ManagerError> {
        let (conn, instance, max) = dial(&address, &key, tls.as_ref())?;
        let link = Link::find(address, key, tls, instance);
        link.max_message.store(max, Ordering::Relaxed);
        link.checkin(conn);
        Ok(link)
    }

    /// This process's link to `instance` at `address`, made (without connecting) if needed.
    pub(crate) fn find(address: Address, key: Key, tls: Option<TlsClient>, instance: u64) -> Arc<Link> {
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        let me = crate::sys::liveness::my_pid();
        reg.retain(|(_, _, w)| w.strong_count() > 0);
        let found = reg.iter().find(|(a, i, _)| *i == instance && *a == address).and_then(|(_, _, w)| w.upgrade());
        if let Some(l) = found
            && l.pid == me
        {
            return l;
        }
        let link = Arc::new(Link {
            address: address.clone(),
            key,
            tls,
            instance,
            max_message: AtomicUsize::new(usize::MAX),
            pid: me,
            idle: Mutex::new((me, Vec::new())),
        });
        reg.retain(|(a, i, _)| !(*i == instance && *a == address));
        reg.push((address, instance, Arc::downgrade(&link)));
        link
    }

    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    pub(crate) fn tls(&self) -> Option<&TlsClient> {
        self.tls.as_ref()
    }

    /// The idle connections of this process.
    fn idle(&self) -> std::sync::MutexGuard<'_, (u32, Vec<Connection>)> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let me = crate::sys::liveness::my_pid();
        if idle.0 != me {
            // Inherited through fork: closing our copies leaves the parent's open.
            idle.1.clear();
            idle.0 = me;
        }
        idle
    }

    fn checkout(&self) -> Result<Connection, ManagerError> {
        let idle = self.idle().1.pop();
        match idle {
            Some(c) => Ok(c),
            None => self.fresh(),
        }
    }

    fn fresh(&self) -> Result<Connection, ManagerError> {
        let (conn, instance, max) = dial(&self.address, &self.key, self.tls.as_ref()).map_err(|e| match e.kind() {
            K::Connect => ManagerError::new(
                K::ServerGone,
                format!("the manager server at {} is gone ({e}); start a new manager", self.address),
            ),
            _ => e,
        })?;
        if instance != self.instance {
            return Err(ManagerError::new(
                K::ServerRestarted,
                format!(
                    "the manager server at {} was restarted: the objects this proxy named are gone; make new proxies from the new manager",
                    self.address
                ),
            ));
        }
        self.max_message.store(max, Ordering::Relaxed);
        Ok(conn)
    }

    fn checkin(&self, conn: Connection) {
        let mut idle = self.idle();
        if idle.1.len() < MAX_IDLE {
            idle.1.push(conn);
        }
    }

    /// One round trip: sends `req`, returns the reply (a fault reply is an `Err`).
    pub(crate) fn request(&self, req: &Request) -> Result<Reply, ManagerError> {
        let bytes = crate::codec::encode(req)?;
        let max = self.max_message.load(Ordering::Relaxed);
        if bytes.len() > max {
            return Err(ManagerError::new(
                K::TooLarge,
                format!(
                    "a request of {} bytes is over the manager's limit of {max} bytes; send it in parts",
                    bytes.len()
                ),
            ));
        }
        let conn = self.checkout()?;
        let got = conn.send_bytes(&bytes).and_then(|()| conn.recv_bytes());
        match got {
            Ok(b) => {
                let reply: Reply = crate::codec::decode(&b).map_err(|e| {
                    ManagerError::new(K::Protocol, format!("the manager sent a reply this client cannot read: {e}"))
                })?;
                // After a TooLarge fault the server closes the connection (the rest of the
                // message is still on it): do not keep it.
                if !matches!(&reply, Reply::Fault(f) if f.kind == K::TooLarge) {
                    self.checkin(conn);
                }
                match reply {
                    Reply::Fault(f) => Err(ManagerError::new(f.kind, f.message)),
                    r => Ok(r),
                }
            }
            Err(e) => {
                drop(conn);
                // Tell a restarted server from a dead one: a fresh connection says which.
                if let Err(fe) = self.fresh().map(drop)
                    && fe.kind() == K::ServerRestarted
                {
                    return Err(fe);
                }
                Err(gone(&self.address, e))
            }
        }
    }

    /// A call whose reply is a value.
    pub(crate) fn call(&self, object: u64, method: u16, args: Vec<u8>) -> Result<Vec<u8>, ManagerError> {
        match self.request(&Request::Call(Call { object, method, args: Blob(args) }))? {
            Reply::Value(b) => Ok(b.0),
            r => Err(unexpected(&r)),
        }
    }
}

pub(crate) fn unexpected(r: &Reply) -> ManagerError {
    ManagerError::new(
        K::Protocol,
        format!("the manager sent an unexpected reply ({r:?}); are client and server the same build?"),
    )
}

fn gone(address: &Address, e: ConnectionError) -> ManagerError {
    ManagerError::with_source(
        K::ServerGone,
        format!("the manager server at {address} went away during a call ({e}); the call may or may not have run"),
        e,
    )
}

/// Connects, authenticates and says hello; returns the connection, the server's instance
/// and its request limit.
fn dial(address: &Address, key: &Key, tls: Option<&TlsClient>) -> Result<(Connection, u64, usize), ManagerError> {
    let conn = match tls {
        Some(tls) => super::tls::dial(address, tls, &key.bytes())?,
        None => dial_plain(address, key)?,
    };
    hello(address, conn)
}

/// Connects and authenticates over a Unix socket or plain TCP.
fn dial_plain(address: &Address, key: &Key) -> Result<Connection, ManagerError> {
    Client::builder(address.clone())
        .authkey(&key.bytes())
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .map_err(|e| {
            if e.is_authentication() {
                let msg = format!("the manager at {address} refused this client's authkey ({e}); use the authkey the server was started with");
                ManagerError::with_source(K::Authentication, msg, e)
            } else {
                ManagerError::with_source(K::Connect, format!("could not connect to the manager at {address}: {e}"), e)
            }
        })
}

/// Says hello on a new connection; returns it with the server's instance and limit.
fn hello(address: &Address, conn: Connection) -> Result<(Connection, u64, usize), ManagerError> {
    let hello = crate::codec::encode(&Request::Hello { magic: MAGIC, version: VERSION })?;
    let reply = conn
        .send_bytes(&hello)
        .and_then(|()| conn.recv_bytes_timeout(Duration::from_secs(30)))
        .map_err(|e| gone(address, e))?;
    match crate::codec::decode::<Reply>(&reply) {
        Ok(Reply::Welcome { version: VERSION, instance, max_message }) => {
            Ok((conn, instance, usize::try_from(max_message).unwrap_or(usize::MAX)))
        }
        Ok(Reply::Welcome { version, .. }) => Err(ManagerError::new(
            K::Protocol,
            format!(
                "the manager at {address} speaks protocol version {version}, this client {VERSION}; run the same build on both sides"
            ),
        )),
        Ok(Reply::Fault(f)) => Err(ManagerError::new(f.kind, f.message)),
        _ => Err(ManagerError::new(K::Protocol, format!("the peer at {address} is not a multiproc manager"))),
    }
}

/// A process-wide number for the calling thread, as lock owner: unique across processes
/// (random) and threads, and fresh in a forked child.
pub(crate) fn owner_token() -> u64 {
    thread_local! {
        static TOKEN: std::cell::Cell<(u32, u64)> = const { std::cell::Cell::new((0, 0)) };
    }
    TOKEN.with(|t| {
        let (pid, tok) = t.get();
        let me = crate::sys::liveness::my_pid();
        if pid == me && tok != 0 {
            return tok;
        }
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("the system random number generator failed");
        let tok = u64::from_ne_bytes(b) | 1;
        t.set((me, tok));
        tok
    })
}
