//! [`Manager`] and [`ManagerBuilder`]: starting, connecting to and stopping a server, and
//! making its objects.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::base::{BaseProxy, ManagedProxy, blob};
use super::containers::{DictProxy, NamespaceProxy, SetProxy, ValueProxy};
use super::custom::{Managed, Proxy};
use super::error::{ManagerError, ManagerErrorKind as K};
use super::link::{Key, Link, unexpected};
use super::protocol::{Blob, Reply, Request, TypeKey, builtin};
use super::sequences::{ArrayProxy, ListProxy};
use super::sync_proxies::{
    BarrierProxy, BoundedSemaphoreProxy, ConditionProxy, EventProxy, JoinableQueueProxy, LockProxy, QueueProxy,
    RLockProxy, SemaphoreProxy,
};
use super::tls::Tls;
use super::{custom, object, server};
use crate::connection::{Address, Connection, ToAddress};
use crate::service::Service;

/// The default limit on one request or reply (64 MiB).
const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Manager::shutdown`] waits for the server before it kills it.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The server process a [`Manager`] started and owns.
struct Owned {
    server: ServerProcess,
    control: Connection,
}

/// How the server runs: a service process (the default), or a child process started with
/// the builder's start method.
enum ServerProcess {
    Service(Service),
    Child(Box<crate::Process>),
}

impl ServerProcess {
    fn pid(&self) -> u32 {
        match self {
            ServerProcess::Service(s) => s.pid,
            ServerProcess::Child(p) => p.pid().unwrap_or(0),
        }
    }

    fn kill(&self) {
        match self {
            ServerProcess::Service(s) => drop(s.kill()),
            ServerProcess::Child(p) => drop(p.kill()),
        }
    }

    /// Waits up to `timeout` (`None`: forever) for the server to end; true if it did.
    fn wait(&self, timeout: Option<Duration>) -> bool {
        match self {
            ServerProcess::Service(s) => {
                let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
                matches!(s.wait(deadline), Ok(Some(_)))
            }
            ServerProcess::Child(p) => match timeout {
                Some(t) => p.join_timeout(t).is_ok(),
                None => p.join().is_ok(),
            },
        }
    }
}

/// A manager: a server process holding shared objects, and the way to make them.
///
/// `Manager` is `Send + Sync`; proxies it makes outlive it only as long as its server runs:
/// dropping the manager that started a server (or calling [`shutdown`](Manager::shutdown))
/// stops it, and its proxies then fail with `ServerGone`.
///
/// # Examples
/// ```no_run
/// use multiproc::manager::Manager;
/// let m = Manager::start()?;
/// let ns = m.namespace()?;
/// ns.set("answer", &42)?;
/// assert_eq!(ns.get::<i32>("answer")?, 42);
/// m.shutdown()?;
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct Manager {
    link: Arc<Link>,
    owned: Mutex<Option<Owned>>,
    pid: Option<u32>,
    /// The process that made this manager: a forked copy must not stop the server.
    maker: u32,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").field("address", &self.link.address).field("server_pid", &self.pid).finish()
    }
}

/// Configures and starts a [`Manager`]'s server.
///
/// # Examples
/// ```no_run
/// use multiproc::manager::Manager;
/// let m = Manager::builder()
///     .address("127.0.0.1:0") // TCP on loopback, a free port
///     .authkey(b"a long random secret")
///     .max_message(1 << 20)
///     .start()?;
/// println!("serving at {}", m.address());
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManagerBuilder {
    address: Option<Result<Address, String>>,
    authkey: Option<Vec<u8>>,
    types: Vec<(String, isize)>,
    max_message: usize,
    tls: Option<Tls>,
    start_method: Option<crate::StartMethod>,
    initializer: Option<fn()>,
}

impl ManagerBuilder {
    /// Where the server listens: a Unix socket path, an abstract name (`"\0name"`) or a
    /// TCP address (`"127.0.0.1:6000"`; port 0 picks a free one). Default: a fresh Unix
    /// socket in a directory only this user can enter.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::builder().address("\0my-manager").start()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn address(mut self, address: impl ToAddress) -> Self {
        self.address = Some(address.to_address().map_err(|e| e.to_string()));
        self
    }

    /// The authkey every client must prove it knows (default: this process's
    /// [`authkey`](crate::CurrentProcess::authkey), which its children inherit).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::builder().authkey(b"secret").start()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// The largest request the server reads (default 64 MiB); a client refuses to send a
    /// larger one, and a larger one that arrives anyway is answered `TooLarge`.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::builder().max_message(4096).start()?;
    /// let l = m.list::<u8>()?;
    /// assert_eq!(l.extend(vec![0; 10_000]).unwrap_err().kind(), multiproc::manager::ManagerErrorKind::TooLarge);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn max_message(mut self, max: usize) -> Self {
        self.max_message = max;
        self
    }

    /// Serves TLS (rustls) over TCP with `tls`'s certificate chain and key (made with
    /// [`Tls::server`]); the address must be TCP (default `127.0.0.1:0`). Clients connect
    /// with [`Manager::connect_tls`]; proxies passed to other processes carry the client
    /// side of `tls` (the trusted certificates and the server name, never the key).
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::manager::{Manager, Tls};
    /// let (cert, key) = (std::fs::read("server.pem")?, std::fs::read("server.key")?);
    /// let m = Manager::builder().address("127.0.0.1:0").authkey(b"k").tls(Tls::server(&cert, &key)).start()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Starts the server as a child [`Process`](crate::Process) with this start method (a
    /// daemon: listed by `active_children`, ended when this process exits), as CPython's
    /// `ctx` argument does. Without it the server is a service process: this binary,
    /// re-executed, not listed among the children.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::StartMethod;
    /// let m = multiproc::manager::Manager::builder().start_method(StartMethod::Fork).start()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn start_method(mut self, method: crate::StartMethod) -> Self {
        self.start_method = Some(method);
        self
    }

    /// A function the server runs once when it starts, before it serves (Python:
    /// `start(initializer)`): to set up logging or signal dispositions, say. If it panics
    /// the start fails with its message.
    ///
    /// # Examples
    /// ```no_run
    /// fn quiet() {
    ///     // e.g. set up the server's logging
    /// }
    /// let m = multiproc::manager::Manager::builder().initializer(quiet).start()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn initializer(mut self, f: fn()) -> Self {
        self.initializer = Some(f);
        self
    }

    /// Registers the custom type `T` with the server (`BaseManager.register`); make values
    /// of it with [`Manager::create`].
    ///
    /// # Examples
    /// See [`Managed`].
    pub fn register<T: Managed>(mut self) -> Self {
        let f: object::Factory = custom::factory::<T>;
        self.types.retain(|(n, _)| n != T::NAME);
        self.types.push((T::NAME.to_string(), crate::sys::exe::fn_offset(f)));
        self
    }

    /// Starts the server process and connects to it.
    ///
    /// The server is a service process (this binary, re-executed), whatever start method
    /// the program's processes use; it dies with the process that started it.
    ///
    /// # Errors
    /// [`ManagerErrorKind::Start`](super::ManagerErrorKind::Start) when the process cannot start or cannot listen (the
    /// address is taken, say).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::builder().start()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn start(self) -> Result<Manager, ManagerError> {
        let address = self.address.transpose().map_err(|e| ManagerError::new(K::Start, e))?;
        let key = Key::from_option(self.authkey.as_deref());
        let authkey = self.authkey.unwrap_or_else(|| crate::current_process().authkey().to_vec());
        let start_err = |what: &str, e: &dyn std::fmt::Display| {
            ManagerError::new(K::Start, format!("the manager server could not start: {what}: {e}"))
        };
        let (ours, theirs) = crate::sys::socket::socketpair(crate::sys::socket::PairKind::Stream)
            .map_err(|e| start_err("no socket pair", &e))?;
        let server = match self.start_method {
            // From a thread other than the main one, the launcher thread starts it: the
            // server dies with the thread that started it, which must live as long as the
            // process.
            None => ServerProcess::Service(
                crate::process::launcher::run(move || {
                    crate::service::spawn_service(server::server_main, theirs, true)
                        .map_err(|e| crate::ProcessError::new(crate::ProcessErrorKind::Os, e.to_string()))
                })
                .map_err(|e| start_err("no process", &e))?,
            ),
            Some(method) => {
                let p = crate::Process::builder()
                    .name("SyncManager")
                    .daemon(true)
                    .start_method(method)
                    .target(server::server_process, Connection::from_fd(theirs, true, true));
                p.start().map_err(|e| start_err("no process", &e))?;
                ServerProcess::Child(Box::new(p))
            }
        };
        let control = Connection::from_fd(ours, true, true);
        let identity = match &self.tls {
            Some(Tls { identity: Some(id), .. }) => Some(id.clone()),
            Some(_) => {
                return Err(ManagerError::new(K::Start, "a TLS server needs a certificate and a key: use Tls::server"));
            }
            None => None,
        };
        let config = server::Config {
            address,
            authkey,
            types: self.types,
            exe_id: crate::sys::exe::identity().to_vec(),
            max_message: self.max_message,
            tls: identity,
            initializer: self.initializer.map(crate::sys::exe::fn_offset),
        };
        let reply = crate::codec::encode(&config)
            .map_err(ManagerError::from)
            .and_then(|b| control.send_bytes(&b).map_err(|e| start_err("it did not take its settings", &e)))
            .and_then(|()| control.recv_bytes_timeout(START_TIMEOUT).map_err(|e| start_err("it did not answer", &e)));
        let started = match reply.and_then(|b| Ok(crate::codec::decode::<server::Started>(&b)?)) {
            Ok(s) => s,
            Err(e) => {
                server.kill();
                server.wait(Some(SHUTDOWN_TIMEOUT));
                return Err(e);
            }
        };
        let (address, instance) = match started {
            server::Started::Listening { address, instance } => (address, instance),
            server::Started::Failed(msg) => {
                server.wait(Some(SHUTDOWN_TIMEOUT));
                return Err(ManagerError::new(K::Start, format!("the manager server could not start: {msg}")));
            }
        };
        let pid = server.pid();
        let owned = Owned { server, control };
        let link = match Link::connect(address, key, self.tls.map(|t| t.client)) {
            Ok(l) if l.instance == instance => l,
            Ok(_) => {
                stop(owned);
                return Err(ManagerError::new(K::Start, "another manager answered at the new server's address"));
            }
            Err(e) => {
                stop(owned);
                return Err(e);
            }
        };
        Ok(Manager { link, owned: Mutex::new(Some(owned)), pid: Some(pid), maker: crate::sys::liveness::my_pid() })
    }
}

/// Stops a server: asks, waits a while, then kills.
fn stop(owned: Owned) {
    let _ = owned.control.send_bytes(b"stop");
    let _ = owned.control.recv_bytes_timeout(SHUTDOWN_TIMEOUT);
    if !owned.server.wait(Some(SHUTDOWN_TIMEOUT)) {
        owned.server.kill();
        owned.server.wait(None);
    }
}

/// After the server is gone: a Unix socket it could not remove (it was killed) would make a
/// new server on the same path fail to bind, and its private directory would stay behind.
fn remove_stale_socket(address: &Address) {
    if let Address::Unix(path) = address {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(path);
        }
        if let Some(dir) = path.parent()
            && dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("multiproc-"))
        {
            let _ = std::fs::remove_dir(dir); // only when empty
        }
    }
}

impl Manager {
    /// Starts a manager with the defaults (`Manager()`): a server on a fresh Unix socket,
    /// this process's authkey.
    ///
    /// # Errors
    /// [`ManagerErrorKind::Start`](super::ManagerErrorKind::Start).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn start() -> Result<Manager, ManagerError> {
        Manager::builder().start()
    }

    /// A builder for a manager with an address, an authkey or custom types.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::builder().authkey(b"k").start()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder {
            address: None,
            authkey: None,
            types: Vec::new(),
            max_message: DEFAULT_MAX_MESSAGE,
            tls: None,
            start_method: None,
            initializer: None,
        }
    }

    /// Starts a server at `address` (TCP for remote use: bind loopback unless other
    /// machines must reach it) that clients reach with [`Manager::connect`] and `authkey`.
    ///
    /// # Errors
    /// [`ManagerErrorKind::Start`](super::ManagerErrorKind::Start).
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::manager::Manager;
    /// let server = Manager::serve("127.0.0.1:0", b"secret")?;
    /// let q = server.queue::<String>()?;
    /// server.publish("jobs", &q)?;
    /// let client = Manager::connect(server.address().clone(), b"secret")?;
    /// let jobs = client.lookup::<multiproc::manager::QueueProxy<String>>("jobs")?;
    /// jobs.put("work".into())?;
    /// assert_eq!(q.get()?, "work");
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn serve(address: impl ToAddress, authkey: &[u8]) -> Result<Manager, ManagerError> {
        Manager::builder().address(address).authkey(authkey).start()
    }

    /// Connects to a running server (`BaseManager.connect()`); the server is not this
    /// manager's to stop.
    ///
    /// # Errors
    /// `Connect` when nothing answers, `Authentication` when the key is refused.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::connect("127.0.0.1:50000", b"secret")?;
    /// let d = m.lookup::<multiproc::manager::DictProxy<String, u32>>("scores")?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn connect(address: impl ToAddress, authkey: &[u8]) -> Result<Manager, ManagerError> {
        Manager::connect_with(address, authkey, None)
    }

    /// [`connect`](Manager::connect) over TLS: `tls` (made with [`Tls::client`]) says which
    /// certificates to trust and the name the server's certificate must carry.
    ///
    /// # Errors
    /// `Connect` when nothing answers or the TLS handshake fails (an untrusted certificate,
    /// another name), `Authentication` when the key is refused.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::manager::{Manager, Tls};
    /// let ca = std::fs::read("ca.pem")?;
    /// let m = Manager::connect_tls("10.0.0.5:50000", b"secret", Tls::client(&ca, "manager.internal"))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_tls(address: impl ToAddress, authkey: &[u8], tls: Tls) -> Result<Manager, ManagerError> {
        Manager::connect_with(address, authkey, Some(tls.client))
    }

    /// [`connect`](Manager::connect), over TLS when `tls` is given.
    fn connect_with(
        address: impl ToAddress,
        authkey: &[u8],
        tls: Option<super::tls::TlsClient>,
    ) -> Result<Manager, ManagerError> {
        let address = address.to_address().map_err(|e| ManagerError::new(K::Connect, e.to_string()))?;
        let link = Link::connect(address, Key::from_option(Some(authkey)), tls)?;
        Ok(Manager { link, owned: Mutex::new(None), pid: None, maker: crate::sys::liveness::my_pid() })
    }

    /// The server's address.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// println!("{}", m.address());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn address(&self) -> &Address {
        &self.link.address
    }

    /// The server's process id, when this manager started it.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert!(m.server_pid().is_some());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn server_pid(&self) -> Option<u32> {
        self.pid
    }

    /// Stops the server this manager started (idempotent; nothing for a connected
    /// manager): asks it to stop, waits up to 5 s, then kills it.
    ///
    /// # Errors
    /// None today; the signature leaves room for reporting.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// m.shutdown()?;
    /// m.shutdown()?;
    /// assert!(d.len().unwrap_err().is_server_gone());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn shutdown(&self) -> Result<(), ManagerError> {
        let owned = self.owned.lock().unwrap_or_else(|e| e.into_inner()).take();
        if crate::sys::liveness::my_pid() != self.maker {
            // A copy made by fork: the server is the parent's to stop.
            std::mem::forget(owned);
            return Ok(());
        }
        if let Some(o) = owned {
            stop(o);
            remove_stale_socket(&self.link.address);
        }
        Ok(())
    }

    pub(crate) fn create_raw(&self, kind: TypeKey, init: Vec<u8>) -> Result<BaseProxy, ManagerError> {
        match self.link.request(&Request::Create { kind, init: Blob(init) })? {
            Reply::Object { object, type_name } => Ok(BaseProxy { link: self.link.clone(), object, type_name }),
            r => Err(unexpected(&r)),
        }
    }

    fn create_builtin<P: ManagedProxy, I: Serialize + ?Sized>(&self, t: u16, init: &I) -> Result<P, ManagerError> {
        P::from_base(self.create_raw(TypeKey::Builtin(t), crate::codec::encode(init)?)?)
    }

    /// A new, empty managed dict (`m.dict()`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<String, Vec<u8>>()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn dict<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(
        &self,
    ) -> Result<DictProxy<K, V>, ManagerError> {
        self.create_builtin(builtin::DICT, &Vec::<(Blob, Blob)>::new())
    }

    /// A new managed dict holding `items` (`m.dict(items)`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict_from([(1u8, 'a'), (2, 'b')])?;
    /// assert_eq!(d.len()?, 2);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn dict_from<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = (K, V)>,
    ) -> Result<DictProxy<K, V>, ManagerError> {
        let items =
            items.into_iter().map(|(k, v)| Ok((blob(&k)?, blob(&v)?))).collect::<Result<Vec<_>, ManagerError>>()?;
        self.create_builtin(builtin::DICT, &items)
    }

    /// A new, empty managed list (`m.list()`).
    ///
    /// # Examples
    /// ```no_run
    /// let l = multiproc::manager::Manager::start()?.list::<String>()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn list<T: Serialize + DeserializeOwned>(&self) -> Result<ListProxy<T>, ManagerError> {
        self.list_from(std::iter::empty())
    }

    /// A new managed list holding `items` (`m.list(items)`).
    ///
    /// # Examples
    /// ```no_run
    /// let l = multiproc::manager::Manager::start()?.list_from(0..10u32)?;
    /// assert_eq!(l.len()?, 10);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn list_from<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>, ManagerError> {
        let items = items.into_iter().map(|x| blob(&x)).collect::<Result<Vec<_>, _>>()?;
        self.create_builtin(builtin::LIST, &items)
    }

    /// A new managed array of fixed length (`m.Array(typecode, items)`).
    ///
    /// # Examples
    /// ```no_run
    /// let a = multiproc::manager::Manager::start()?.array(vec![0.0f64; 8])?;
    /// assert_eq!(a.len()?, 8);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn array<T: Serialize + DeserializeOwned>(&self, items: Vec<T>) -> Result<ArrayProxy<T>, ManagerError> {
        let items = items.iter().map(blob).collect::<Result<Vec<_>, _>>()?;
        self.create_builtin(builtin::ARRAY, &items)
    }

    /// A new, empty managed namespace (`m.Namespace()`).
    ///
    /// # Examples
    /// ```no_run
    /// let ns = multiproc::manager::Manager::start()?.namespace()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn namespace(&self) -> Result<NamespaceProxy, ManagerError> {
        self.create_builtin(builtin::NAMESPACE, &Vec::<(Blob, Blob)>::new())
    }

    /// A new managed value (`m.Value(typecode, value)`).
    ///
    /// # Examples
    /// ```no_run
    /// let v = multiproc::manager::Manager::start()?.value(0i64)?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn value<T: Serialize + DeserializeOwned>(&self, value: T) -> Result<ValueProxy<T>, ManagerError> {
        self.create_builtin(builtin::VALUE, &blob(&value)?)
    }

    /// A new, empty managed set (`m.set()`).
    ///
    /// # Examples
    /// ```no_run
    /// let s = multiproc::manager::Manager::start()?.set::<String>()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn set<T: Serialize + DeserializeOwned>(&self) -> Result<SetProxy<T>, ManagerError> {
        self.create_builtin(builtin::SET, &Vec::<Blob>::new())
    }

    /// A new, unbounded managed queue (`m.Queue()`).
    ///
    /// # Examples
    /// ```no_run
    /// let q = multiproc::manager::Manager::start()?.queue::<u64>()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn queue<T: Serialize + DeserializeOwned>(&self) -> Result<QueueProxy<T>, ManagerError> {
        self.queue_bounded(0)
    }

    /// A new managed queue of at most `maxsize` items (`m.Queue(maxsize)`; 0 is unbounded).
    ///
    /// # Examples
    /// ```no_run
    /// let q = multiproc::manager::Manager::start()?.queue_bounded::<u64>(2)?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn queue_bounded<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<QueueProxy<T>, ManagerError> {
        self.create_builtin(builtin::QUEUE, &(maxsize as u64, false))
    }

    /// A new, unbounded managed joinable queue (`m.JoinableQueue()`).
    ///
    /// # Examples
    /// ```no_run
    /// let q = multiproc::manager::Manager::start()?.joinable_queue::<u64>()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn joinable_queue<T: Serialize + DeserializeOwned>(&self) -> Result<JoinableQueueProxy<T>, ManagerError> {
        self.create_builtin(builtin::QUEUE, &(0u64, true))
    }

    /// A new managed lock (`m.Lock()`).
    ///
    /// # Examples
    /// ```no_run
    /// let l = multiproc::manager::Manager::start()?.lock()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn lock(&self) -> Result<LockProxy, ManagerError> {
        self.create_builtin(builtin::LOCK, &())
    }

    /// A new managed recursive lock (`m.RLock()`).
    ///
    /// # Examples
    /// ```no_run
    /// let l = multiproc::manager::Manager::start()?.rlock()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn rlock(&self) -> Result<RLockProxy, ManagerError> {
        self.create_builtin(builtin::RLOCK, &())
    }

    /// A new managed semaphore of initial value `value` (`m.Semaphore(value)`).
    ///
    /// # Examples
    /// ```no_run
    /// let s = multiproc::manager::Manager::start()?.semaphore(3)?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn semaphore(&self, value: u64) -> Result<SemaphoreProxy, ManagerError> {
        self.create_builtin(builtin::SEMAPHORE, &value)
    }

    /// A new managed bounded semaphore (`m.BoundedSemaphore(value)`).
    ///
    /// # Examples
    /// ```no_run
    /// let s = multiproc::manager::Manager::start()?.bounded_semaphore(3)?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn bounded_semaphore(&self, value: u64) -> Result<BoundedSemaphoreProxy, ManagerError> {
        self.create_builtin(builtin::BOUNDED_SEMAPHORE, &value)
    }

    /// A new managed event (`m.Event()`).
    ///
    /// # Examples
    /// ```no_run
    /// let e = multiproc::manager::Manager::start()?.event()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn event(&self) -> Result<EventProxy, ManagerError> {
        self.create_builtin(builtin::EVENT, &())
    }

    /// A new managed condition with its own recursive lock (`m.Condition()`).
    ///
    /// # Examples
    /// ```no_run
    /// let c = multiproc::manager::Manager::start()?.condition()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn condition(&self) -> Result<ConditionProxy, ManagerError> {
        self.create_builtin(builtin::CONDITION, &())
    }

    /// A new managed barrier for `parties` waiters (`m.Barrier(parties)`).
    ///
    /// # Errors
    /// `ValueError` for zero parties.
    ///
    /// # Examples
    /// ```no_run
    /// let b = multiproc::manager::Manager::start()?.barrier(3)?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn barrier(&self, parties: u64) -> Result<BarrierProxy, ManagerError> {
        self.create_builtin(builtin::BARRIER, &parties)
    }

    /// A new value of the registered custom type `T`, made in the server by
    /// [`Managed::create`] from `init`.
    ///
    /// # Errors
    /// `NoSuchType` when `T` was not registered on the builder; `Remote` or `RemotePanic`
    /// when `create` failed.
    ///
    /// # Examples
    /// See [`Managed`].
    pub fn create<T: Managed>(&self, init: T::Init) -> Result<Proxy<T>, ManagerError> {
        Proxy::from_base(self.create_raw(TypeKey::Custom(T::NAME.to_string()), crate::codec::encode(&init)?)?)
    }

    /// Gives `proxy`'s object a name that other clients of the server (remote ones too)
    /// can [`lookup`](Manager::lookup) (Python: `register('get_queue', callable=...)`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// m.publish("results", &m.list::<u8>()?)?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn publish<P: ManagedProxy>(&self, name: &str, proxy: &P) -> Result<(), ManagerError> {
        let object = proxy.base().object;
        self.link.request(&Request::Publish { name: name.to_string(), object }).map(drop)
    }

    /// The proxy of the object published as `name`.
    ///
    /// # Errors
    /// `KeyError` when nothing has that name; `TypeMismatch` when it is not a `P`.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::manager::{ListProxy, Manager};
    /// let m = Manager::start()?;
    /// m.publish("results", &m.list_from([1u8])?)?;
    /// assert_eq!(m.lookup::<ListProxy<u8>>("results")?.len()?, 1);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn lookup<P: ManagedProxy>(&self, name: &str) -> Result<P, ManagerError> {
        match self.link.request(&Request::Lookup { name: name.to_string() })? {
            Reply::Object { object, type_name } => {
                P::from_base(BaseProxy { link: self.link.clone(), object, type_name })
            }
            r => Err(unexpected(&r)),
        }
    }

    /// Forgets `proxy`'s object on the server (every proxy of it then fails with
    /// `NoSuchObject`). Objects otherwise live until the server stops.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// m.release(&d)?;
    /// assert_eq!(d.len().unwrap_err().kind(), multiproc::manager::ManagerErrorKind::NoSuchObject);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn release<P: ManagedProxy>(&self, proxy: &P) -> Result<(), ManagerError> {
        self.link.request(&Request::Release { object: proxy.base().object }).map(drop)
    }

    /// A batch: calls on this manager's objects queued and sent in one round trip.
    ///
    /// # Examples
    /// See [`Batch`](super::Batch).
    pub fn batch(&self) -> super::batch::Batch {
        super::batch::Batch::new(self.link.clone())
    }

    /// How many objects the server holds.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let _d = m.dict::<u8, u8>()?;
    /// assert_eq!(m.number_of_objects()?, 1);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn number_of_objects(&self) -> Result<usize, ManagerError> {
        match self.link.request(&Request::Count)? {
            Reply::Value(b) => Ok(super::base::unblob::<u64>(&b.0)? as usize),
            r => Err(unexpected(&r)),
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
