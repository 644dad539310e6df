//! `Listener`, `Client` and addresses: Unix paths, Linux abstract names and TCP.

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::address::{Address, Family, ToAddress};
use super::auth::{DEFAULT_HANDSHAKE_TIMEOUT, Digest};
use super::conn::{Connection, DEFAULT_MAX_MESSAGE};
use super::error::ConnectionError;
use super::handshake::{DEFAULT_MAX_HANDSHAKES, HandshakeStats, Handshakes, Incoming, Outcome, Settings};
use crate::sys::net::FileKind;

enum Sock {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Sock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Sock::Unix(l) => l.as_fd(),
            Sock::Tcp(l) => l.as_fd(),
        }
    }

    /// Takes one connection waiting in the kernel, without blocking (`None`: none waits).
    fn take(&self) -> std::io::Result<Option<Incoming>> {
        loop {
            let res = match self {
                Sock::Unix(l) => l.accept().map(|(s, a)| {
                    let peer = a.as_pathname().map(|p| Address::Unix(p.to_path_buf()));
                    (OwnedFd::from(s), FileKind::Unix, peer)
                }),
                Sock::Tcp(l) => l.accept().map(|(s, a)| {
                    let _ = s.set_nodelay(true);
                    (OwnedFd::from(s), FileKind::Inet, Some(Address::Tcp(a)))
                }),
            };
            return match res {
                Ok((fd, kind, peer)) => Ok(Some(Incoming { fd: crate::sys::fd::off_stdio(fd)?, kind, peer })),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }
}

/// A server socket that accepts authenticated [`Connection`]s (Python:
/// `multiprocessing.connection.Listener`).
///
/// With an authkey, every client goes through CPython's mutual challenge-response handshake
/// (the listener delivers a challenge, then answers the client's) before
/// [`accept`](Listener::accept) hands it out. The handshakes run concurrently, each with its
/// own deadline (the handshake timeout, 20 s by default), driven by `accept` without threads:
/// a client that stalls, trickles bytes, sends garbage or has the wrong key holds up no one,
/// and a good client is served in a few round trips even while hundreds of bad ones are
/// connected. At most [`max_handshakes`](ListenerBuilder::max_handshakes) (default 128) run
/// at once; when a newcomer finds them all taken, the oldest handshake whose peer has said
/// nothing is shed. A handshake that fails only closes that connection: it is counted in
/// [`handshake_stats`](Listener::handshake_stats), logged at debug level (the `log` crate),
/// and `accept` goes on waiting for a client that succeeds. Servers that want each failure
/// as an error of `accept`, as CPython raises it, ask for it with
/// [`report_failed_handshakes`](ListenerBuilder::report_failed_handshakes).
///
/// TCP listeners require an authkey and bind `127.0.0.1` unless given another address. A
/// Unix listener without an address binds in a private temporary directory; one at a given
/// path makes its socket file owner-only (mode 0600); either socket file is removed on close.
/// An abstract socket (`"\0name"`) has no permissions at all: anyone on the machine can
/// connect, so give it an authkey.
///
/// # Examples
/// ```
/// use multiproc::connection::{Client, Listener};
/// let mut listener = Listener::bind("127.0.0.1:0", Some(b"secret"))?;
/// let addr = listener.address().clone();
/// let t = std::thread::spawn(move || {
///     let c = Client::connect(&addr, Some(b"secret")).unwrap();
///     c.send_bytes(b"hello").unwrap();
/// });
/// let conn = listener.accept()?;
/// assert_eq!(conn.recv_bytes()?, b"hello");
/// t.join().unwrap();
/// # Ok::<(), multiproc::connection::ConnectionError>(())
/// ```
pub struct Listener {
    sock: Option<Sock>,
    address: Address,
    /// The handshakes in flight; `None` without an authkey.
    handshakes: Option<Handshakes>,
    last_accepted: Option<Address>,
    max_message: usize,
    /// The socket file and the private directory to remove on close.
    cleanup: Option<(PathBuf, Option<PathBuf>)>,
    /// The process that bound the socket: only it removes the file (a forked child that
    /// drops its copy must not pull the address from under the parent).
    owner: u32,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("authenticated", &self.handshakes.is_some())
            .field("closed", &self.sock.is_none())
            .finish()
    }
}

/// Configures and binds a [`Listener`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use multiproc::connection::{Family, Listener};
/// let l = Listener::builder()
///     .family(Family::Tcp)
///     .authkey(b"k")
///     .handshake_timeout(Duration::from_secs(5))
///     .max_handshakes(32)
///     .max_message(1 << 20)
///     .bind()?;
/// assert!(l.address().to_string().starts_with("127.0.0.1:"));
/// # Ok::<(), multiproc::connection::ConnectionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ListenerBuilder {
    address: Option<Result<Address, String>>,
    family: Option<Family>,
    authkey: Option<Vec<u8>>,
    handshake_timeout: Duration,
    max_message: usize,
    backlog: Option<u32>,
    digest: Digest,
    max_handshakes: usize,
    report_failed_handshakes: bool,
}

impl ListenerBuilder {
    /// The address to bind (default: a fresh one of [`family`](ListenerBuilder::family)).
    ///
    /// # Examples
    /// ```
    /// let name = format!("\0multiproc-doc-{}", std::process::id());
    /// let l = multiproc::connection::Listener::builder().address(name.as_str()).bind()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn address(mut self, address: impl ToAddress) -> Self {
        self.address = Some(address.to_address().map_err(|e| e.to_string()));
        self
    }

    /// The family of the address chosen when none is given (default Unix).
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::{Family, Listener};
    /// let l = Listener::builder().family(Family::Tcp).authkey(b"k").bind()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn family(mut self, family: Family) -> Self {
        self.family = Some(family);
        self
    }

    /// The shared secret clients must prove they know. `b""` is a valid key.
    ///
    /// # Examples
    /// ```
    /// let l = multiproc::connection::Listener::builder().authkey(b"").bind()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// How long each client may take to complete its handshake, counted from the moment the
    /// listener took it from the kernel (default 20 s). A client that is late is closed and
    /// counted in [`HandshakeStats::timed_out`]. A timeout too large to represent
    /// (`Duration::MAX`) never passes.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let l = multiproc::connection::Listener::builder().handshake_timeout(Duration::from_secs(2)).bind()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How many handshakes may be in flight at once (default 128; at least 1). Each costs a
    /// descriptor and under 1 KiB. When a new client arrives and all are taken, the oldest
    /// handshake whose peer has sent nothing yet (else the oldest) is closed to make room, so
    /// a flood of silent connections cannot lock good clients out; raise it for servers that
    /// expect more clients to connect within one handshake's round trips.
    ///
    /// # Examples
    /// ```
    /// let l = multiproc::connection::Listener::builder().authkey(b"k").max_handshakes(1024).bind()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn max_handshakes(mut self, max: usize) -> Self {
        self.max_handshakes = max;
        self
    }

    /// The digest of the challenges this listener sends (default [`Digest::Sha256`], as
    /// CPython's). Clients answer with the digest named, whatever their own setting.
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::{Digest, Listener};
    /// let l = Listener::builder().authkey(b"k").digest(Digest::Sha3_256).bind()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn digest(mut self, digest: Digest) -> Self {
        self.digest = digest;
        self
    }

    /// Whether [`accept`](Listener::accept) returns the error of each failed handshake
    /// ([`ConnectionError::Authentication`], [`ConnectionError::HandshakeTimeout`], ...) with
    /// [`last_accepted`](Listener::last_accepted) set to that peer, as CPython's `accept`
    /// raises `AuthenticationError`. Default `false`: failures are counted and logged, and
    /// `accept` waits on for a client that succeeds. Either way the listener stays usable.
    /// Shed handshakes are never reported (they are load, not a peer's fault), nor is a client
    /// gone before its challenge could be sent (it is only counted).
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::{Client, Listener};
    /// let mut l = Listener::builder().authkey(b"right").report_failed_handshakes(true).bind()?;
    /// let addr = l.address().clone();
    /// let t = std::thread::spawn(move || Client::connect(&addr, Some(b"wrong")).map(|_| ()));
    /// let err = l.accept().unwrap_err();
    /// assert!(err.is_authentication() && err.to_string().contains("different authkeys"));
    /// assert!(t.join().unwrap().is_err());
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn report_failed_handshakes(mut self, report: bool) -> Self {
        self.report_failed_handshakes = report;
        self
    }

    /// The largest message accepted connections take from their peer (default 1 GiB).
    ///
    /// # Examples
    /// ```
    /// let l = multiproc::connection::Listener::builder().max_message(4096).bind()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn max_message(mut self, max: usize) -> Self {
        self.max_message = max;
        self
    }

    /// How many connections may wait for [`accept`](Listener::accept) before the kernel
    /// refuses more (`listen(2)`'s backlog; default 128, CPython's is 1).
    ///
    /// # Examples
    /// ```
    /// let l = multiproc::connection::Listener::builder().backlog(16).bind()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// Binds and listens.
    ///
    /// # Errors
    /// [`ConnectionError::InvalidArgument`] for an unusable address, a TCP listener without
    /// an authkey or `max_handshakes(0)`; [`ConnectionError::Io`] when binding fails (for
    /// example `AddrInUse`).
    ///
    /// # Examples
    /// ```
    /// let l = multiproc::connection::Listener::builder().bind()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn bind(self) -> Result<Listener, ConnectionError> {
        let address = match self.address {
            Some(Ok(a)) => Some(a),
            Some(Err(msg)) => return Err(ConnectionError::InvalidArgument(msg)),
            None => None,
        };
        let family = address.as_ref().map(Address::family).or(self.family).unwrap_or(Family::Unix);
        if family == Family::Tcp && self.authkey.is_none() {
            return Err(ConnectionError::InvalidArgument(
                "a TCP listener needs an authkey: anyone who can reach the port could otherwise connect; pass .authkey(...)".into(),
            ));
        }
        if self.max_handshakes == 0 {
            return Err(ConnectionError::InvalidArgument(
                "max_handshakes(0) would accept no client; allow at least 1 handshake in flight".into(),
            ));
        }
        let mut cleanup = None;
        let (sock, address) = match address {
            Some(Address::Tcp(a)) => bind_tcp(a)?,
            None if family == Family::Tcp => bind_tcp(SocketAddr::from(([127, 0, 0, 1], 0)))?,
            Some(Address::Abstract(name)) => {
                let sa = std::os::unix::net::SocketAddr::from_abstract_name(&name)?;
                let l = off_stdio_listener(UnixListener::bind_addr(&sa)?)?;
                (Sock::Unix(l), Address::Abstract(name))
            }
            Some(Address::Unix(path)) => {
                let l = off_stdio_listener(UnixListener::bind(&path)?)?;
                cleanup = Some((path.clone(), None));
                // Owner-only, whatever the umask: connecting needs write permission on the
                // socket file. (Between bind and this call it has the umask's mode; with the
                // usual umask 022 nobody else can write to it then either.)
                if let Err(e) = std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)) {
                    let _ = std::fs::remove_file(&path);
                    return Err(e.into());
                }
                (Sock::Unix(l), Address::Unix(path))
            }
            None => {
                let dir = private_dir()?;
                let path = dir.join(format!("listener-{}", random_hex(8)?));
                let l = match UnixListener::bind(&path).and_then(off_stdio_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = std::fs::remove_dir(&dir);
                        return Err(e.into());
                    }
                };
                cleanup = Some((path.clone(), Some(dir)));
                (Sock::Unix(l), Address::Unix(path))
            }
        };
        let mut listener = Listener {
            sock: Some(sock),
            address,
            handshakes: None,
            last_accepted: None,
            max_message: self.max_message,
            cleanup,
            owner: std::process::id(),
        };
        // (On failure below the listener is dropped, which removes a socket file it created.)
        let sock = listener.sock.as_ref().expect("just bound");
        if let Some(n) = self.backlog {
            // std listens with its own backlog; a second listen() on the socket sets ours.
            crate::sys::net::set_backlog(sock.as_fd(), n)?;
        }
        // accept takes clients without blocking: it waits in poll, and a client that another
        // process took first (a forked copy of the listener) is not waited for.
        match sock {
            Sock::Unix(l) => l.set_nonblocking(true)?,
            Sock::Tcp(l) => l.set_nonblocking(true)?,
        }
        if let Some(key) = self.authkey {
            let settings = Settings {
                key,
                digest: self.digest,
                timeout: self.handshake_timeout,
                max: self.max_handshakes,
                max_message: self.max_message,
                report: self.report_failed_handshakes,
            };
            listener.handshakes = Some(Handshakes::new(sock.as_fd(), settings)?);
        }
        Ok(listener)
    }
}

fn bind_tcp(a: SocketAddr) -> Result<(Sock, Address), ConnectionError> {
    let l = TcpListener::from(crate::sys::fd::off_stdio(OwnedFd::from(TcpListener::bind(a)?))?);
    let local = l.local_addr()?;
    Ok((Sock::Tcp(l), Address::Tcp(local)))
}

/// The listener on a descriptor above 2 (see [`crate::sys::fd::off_stdio`]).
fn off_stdio_listener(l: UnixListener) -> std::io::Result<UnixListener> {
    Ok(UnixListener::from(crate::sys::fd::off_stdio(OwnedFd::from(l))?))
}

fn random_hex(n: usize) -> Result<String, ConnectionError> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| ConnectionError::Io(std::io::Error::other(e.to_string())))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// A fresh directory only this user can enter, for listener sockets without an address.
fn private_dir() -> Result<PathBuf, ConnectionError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("multiproc-{}", random_hex(8)?));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

impl Listener {
    /// Binds `address` with an optional authkey (Python: `Listener(address, authkey=...)`).
    ///
    /// # Errors
    /// As [`ListenerBuilder::bind`].
    ///
    /// # Examples
    /// ```
    /// // A Linux abstract name: no file, gone when the listener closes.
    /// let name = format!("\0multiproc-doc-{}", std::process::id());
    /// let l = multiproc::connection::Listener::bind(name.as_str(), None)?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn bind(address: impl ToAddress, authkey: Option<&[u8]>) -> Result<Listener, ConnectionError> {
        let mut b = Listener::builder().address(address);
        if let Some(k) = authkey {
            b = b.authkey(k);
        }
        b.bind()
    }

    /// A builder for the less common settings.
    ///
    /// # Examples
    /// ```
    /// let l = multiproc::connection::Listener::builder().bind()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn builder() -> ListenerBuilder {
        ListenerBuilder {
            address: None,
            family: None,
            authkey: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_message: DEFAULT_MAX_MESSAGE,
            backlog: None,
            digest: Digest::default(),
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            report_failed_handshakes: false,
        }
    }

    /// The bound address (with the real port for TCP port 0).
    ///
    /// # Examples
    /// ```
    /// let l = multiproc::connection::Listener::bind("127.0.0.1:0", Some(b"k"))?;
    /// assert_ne!(l.address().to_string(), "127.0.0.1:0");
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The peer address of the last accepted connection (`None` before the first, and for
    /// Unix clients, which usually have no name).
    ///
    /// # Examples
    /// ```
    /// let l = multiproc::connection::Listener::builder().bind()?;
    /// assert!(l.last_accepted().is_none());
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn last_accepted(&self) -> Option<&Address> {
        self.last_accepted.as_ref()
    }

    /// Waits for a client and returns its connection once it has authenticated (when the
    /// listener has an authkey; see [`Listener`] for how handshakes run).
    ///
    /// A client that fails its handshake is not an error of `accept` (unless
    /// [`report_failed_handshakes`](ListenerBuilder::report_failed_handshakes) is set): it is
    /// closed and counted, and `accept` waits on for one that succeeds.
    ///
    /// # Errors
    /// [`ConnectionError::Closed`] after [`close`](Listener::close); the OS error when the
    /// listening socket fails (for example `EMFILE` with no handshake in flight to shed);
    /// with `report_failed_handshakes`, the error of a failed handshake.
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::{Client, Listener};
    /// let mut l = Listener::builder().bind()?;
    /// let addr = l.address().clone();
    /// let t = std::thread::spawn(move || Client::connect(&addr, None).unwrap().send(&1u8).unwrap());
    /// assert_eq!(l.accept()?.recv::<u8>()?, 1);
    /// t.join().unwrap();
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn accept(&mut self) -> Result<Connection, ConnectionError> {
        self.accept_until(None)?.ok_or(ConnectionError::Timeout)
    }

    /// Like [`accept`](Listener::accept), failing with [`ConnectionError::Timeout`] if no
    /// client has completed its handshake within `timeout`. Handshakes still under way when it
    /// gives up go on in the next call (each keeps its own deadline). `Duration::ZERO` makes
    /// one pass without waiting; a timeout too large to represent (`Duration::MAX`) waits as
    /// long as it takes.
    ///
    /// # Errors
    /// As [`accept`](Listener::accept), plus [`ConnectionError::Timeout`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let mut l = multiproc::connection::Listener::builder().bind()?;
    /// assert!(l.accept_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn accept_timeout(&mut self, timeout: Duration) -> Result<Connection, ConnectionError> {
        self.accept_until(crate::deadline::after(timeout))?.ok_or(ConnectionError::Timeout)
    }

    /// Returns a client whose handshake completes without waiting, else fails with
    /// [`ConnectionError::WouldBlock`] at once. Each call also takes new clients from the
    /// kernel and moves every handshake in flight on by what its peer has sent, so an event
    /// loop that calls it whenever [`wait`](fn@crate::connection::wait) reports the listener
    /// ready serves clients as a blocking `accept` does.
    ///
    /// # Errors
    /// As [`accept`](Listener::accept), plus [`ConnectionError::WouldBlock`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use multiproc::connection::{wait, Client, Listener};
    /// let mut l = Listener::builder().authkey(b"k").bind()?;
    /// assert!(l.try_accept().unwrap_err().is_would_block());
    /// let addr = l.address().clone();
    /// let t = std::thread::spawn(move || Client::connect(&addr, Some(b"k")).map(|_| ()));
    /// let conn = loop {
    ///     wait(&[&l], Some(Duration::from_secs(10)))?;
    ///     match l.try_accept() {
    ///         Ok(c) => break c,
    ///         Err(e) if e.is_would_block() => continue, // a handshake took a step
    ///         Err(e) => return Err(e.into()),
    ///     }
    /// };
    /// t.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_accept(&mut self) -> Result<Connection, ConnectionError> {
        self.accept_until(Some(Instant::now()))?.ok_or(ConnectionError::WouldBlock)
    }

    /// `Ok(None)` when the deadline passed (`None`: never).
    fn accept_until(&mut self, deadline: Option<Instant>) -> Result<Option<Connection>, ConnectionError> {
        let sock = self.sock.as_ref().ok_or(ConnectionError::Closed)?;
        let Some(handshakes) = &mut self.handshakes else {
            loop {
                if let Some(i) = sock.take()? {
                    let mut conn = Connection::new(i.fd, i.kind, true, true);
                    conn.set_max_message(self.max_message);
                    self.last_accepted = i.peer;
                    return Ok(Some(conn));
                }
                if crate::sys::net::poll_raw(&[sock.as_fd().as_raw_fd()], deadline)?.is_empty() {
                    return Ok(None);
                }
            }
        };
        match handshakes.run(sock.as_fd(), deadline, &mut || sock.take())? {
            None => Ok(None),
            Some(Outcome::Accepted(conn, peer)) => {
                self.last_accepted = peer;
                Ok(Some(conn))
            }
            Some(Outcome::Failed(e, peer)) => {
                self.last_accepted = peer;
                Err(e)
            }
        }
    }

    /// What the handshakes of this listener came to so far: completed, failed, timed out,
    /// shed, and how many are under way (all zero without an authkey).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use multiproc::connection::{Client, Listener};
    /// let mut l = Listener::builder().authkey(b"right").bind()?;
    /// let addr = l.address().clone();
    /// let bad = std::thread::spawn(move || Client::connect(&addr, Some(b"wrong")).map(|_| ()));
    /// // The bad client is no error of accept: it is closed and counted.
    /// while !bad.is_finished() {
    ///     assert!(l.accept_timeout(Duration::from_millis(20)).unwrap_err().is_timeout());
    /// }
    /// assert!(bad.join().unwrap().unwrap_err().is_authentication());
    /// assert_eq!(l.handshake_stats().failed, 1);
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn handshake_stats(&self) -> HandshakeStats {
        self.handshakes.as_ref().map(Handshakes::stats).unwrap_or_default()
    }

    /// What `wait()` watches: the listening socket, or the handshakes' epoll set (readable
    /// when a client waits or a handshake can progress); `None` once closed.
    pub(crate) fn ready_fd(&self) -> Option<RawFd> {
        self.sock.as_ref()?;
        Some(match &self.handshakes {
            Some(h) => h.ready_fd().as_raw_fd(),
            None => self.as_raw_fd(),
        })
    }

    /// Stops listening and removes the socket file this listener created. Idempotent;
    /// dropping the listener does the same.
    ///
    /// # Examples
    /// ```
    /// let mut l = multiproc::connection::Listener::builder().bind()?;
    /// l.close();
    /// assert!(l.accept().is_err());
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn close(&mut self) {
        // The handshakes in flight first: their descriptors leave the epoll set before closing.
        self.handshakes = None;
        self.sock = None;
        if let Some((path, dir)) = self.cleanup.take()
            && self.owner == std::process::id()
        {
            let _ = std::fs::remove_file(path);
            if let Some(d) = dir {
                let _ = std::fs::remove_dir(d);
            }
        }
    }

    /// Has [`close`](Listener::close) been called?
    ///
    /// # Examples
    /// ```
    /// let mut l = multiproc::connection::Listener::builder().bind()?;
    /// assert!(!l.closed());
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn closed(&self) -> bool {
        self.sock.is_none()
    }
}

impl AsRawFd for Listener {
    /// The listening socket (readable when a client waits in the kernel), or -1 once closed.
    /// To wait until `accept` has something to do (handshakes in flight included), pass the
    /// listener itself to [`wait`](fn@crate::connection::wait).
    fn as_raw_fd(&self) -> RawFd {
        match &self.sock {
            Some(Sock::Unix(l)) => l.as_raw_fd(),
            Some(Sock::Tcp(l)) => l.as_raw_fd(),
            None => -1,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}
