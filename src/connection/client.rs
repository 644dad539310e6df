//! [`Client`]: Python's `multiprocessing.connection.Client`, dialling a [`Listener`](super::Listener).

use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::address::{Address, ToAddress};
use super::auth::{self, DEFAULT_HANDSHAKE_TIMEOUT, Digest, HandshakeDeadline};
use super::conn::{Connection, DEFAULT_MAX_MESSAGE};
use super::error::ConnectionError;
use crate::sys::net::{FileKind, StreamAddr};

/// Connects to a [`Listener`] (or a CPython `multiprocessing.connection.Listener`) and
/// authenticates (Python: `multiprocessing.connection.Client`).
///
/// # Examples
/// ```
/// use multiproc::connection::{Client, Listener};
/// let name = format!("\0multiproc-doc-{}", std::process::id());
/// let mut l = Listener::bind(name.as_str(), Some(b"k"))?;
/// let t = std::thread::spawn(move || Client::connect(name.as_str(), Some(b"k")).unwrap());
/// let server_side = l.accept()?;
/// let client_side = t.join().unwrap();
/// client_side.send_bytes(b"hi")?;
/// assert_eq!(server_side.recv_bytes()?, b"hi");
/// # Ok::<(), multiproc::connection::ConnectionError>(())
/// ```
#[derive(Debug)]
pub struct Client;

/// Configures a [`Client`] connection.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use multiproc::connection::Client;
/// let conn = Client::builder("127.0.0.1:6000")
///     .authkey(b"secret")
///     .handshake_timeout(Duration::from_secs(5))
///     .connect()?;
/// # Ok::<(), multiproc::connection::ConnectionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    address: Result<Address, String>,
    authkey: Option<Vec<u8>>,
    handshake_timeout: Duration,
    connect_timeout: Option<Duration>,
    digest: Digest,
    max_message: usize,
}

impl Client {
    /// Connects to `address`, authenticating with `authkey` if given.
    ///
    /// # Errors
    /// [`ConnectionError::Authentication`] if the keys differ
    /// ([`is_key_mismatch`](super::AuthenticationError::is_key_mismatch)) or the listener does
    /// not follow the handshake; [`ConnectionError::HandshakeTimeout`] if the handshake took
    /// longer than 20 s; the OS error if nothing listens there.
    ///
    /// # Examples
    /// ```
    /// let err = multiproc::connection::Client::connect("\0multiproc-nobody-here", None).unwrap_err();
    /// assert!(matches!(err, multiproc::connection::ConnectionError::Io(_)));
    /// ```
    pub fn connect(address: impl ToAddress, authkey: Option<&[u8]>) -> Result<Connection, ConnectionError> {
        let mut b = Client::builder(address);
        if let Some(k) = authkey {
            b = b.authkey(k);
        }
        b.connect()
    }

    /// A builder for the less common settings.
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::connection::Client::builder("/tmp/some.sock").authkey(b"k");
    /// ```
    pub fn builder(address: impl ToAddress) -> ClientBuilder {
        ClientBuilder {
            address: address.to_address().map_err(|e| e.to_string()),
            authkey: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            connect_timeout: None,
            digest: Digest::default(),
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

impl ClientBuilder {
    /// The shared secret (`b""` is a valid key).
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::connection::Client::builder("/tmp/some.sock").authkey(b"");
    /// ```
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// How long the handshake may take once connected (default 20 s); a late handshake
    /// fails with [`ConnectionError::HandshakeTimeout`]. A timeout too large to represent
    /// (`Duration::MAX`) never passes.
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::connection::Client::builder("/tmp/some.sock")
    ///     .handshake_timeout(std::time::Duration::from_secs(1));
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long connecting may take (default: as long as the OS takes, as CPython's
    /// `Client`): a TCP connection being set up, or a Unix listener whose backlog is full.
    /// A late connect fails with [`ConnectionError::Timeout`]. `Duration::ZERO` tries once
    /// without waiting; a timeout too large to represent (`Duration::MAX`) waits as long as
    /// it takes.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use multiproc::connection::{Client, Listener};
    /// let mut l = Listener::builder().bind()?;
    /// let c = Client::builder(l.address()).connect_timeout(Duration::from_secs(5)).connect()?;
    /// let _server_side = l.accept()?;
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The digest of the challenge this client sends the listener (default
    /// [`Digest::Sha256`], as CPython's). The client answers the listener's challenge with
    /// whatever digest the listener names.
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::{Client, Digest};
    /// let b = Client::builder("/tmp/some.sock").authkey(b"k").digest(Digest::Sha3_384);
    /// ```
    pub fn digest(mut self, digest: Digest) -> Self {
        self.digest = digest;
        self
    }

    /// The largest message the connection takes from the server (default 1 GiB).
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::connection::Client::builder("/tmp/some.sock").max_message(1 << 20);
    /// ```
    pub fn max_message(mut self, max: usize) -> Self {
        self.max_message = max;
        self
    }

    /// Connects and authenticates.
    ///
    /// # Errors
    /// As [`Client::connect`], plus [`ConnectionError::Timeout`] when a
    /// [`connect_timeout`](ClientBuilder::connect_timeout) passed.
    ///
    /// # Examples
    /// ```
    /// assert!(multiproc::connection::Client::builder("\0multiproc-nobody").connect().is_err());
    /// ```
    pub fn connect(self) -> Result<Connection, ConnectionError> {
        let address = self.address.clone().map_err(ConnectionError::InvalidArgument)?;
        let (fd, kind): (OwnedFd, FileKind) = match self.connect_timeout.and_then(crate::deadline::after) {
            None => match &address {
                Address::Tcp(a) => (TcpStream::connect(a)?.into(), FileKind::Inet),
                Address::Unix(p) => (UnixStream::connect(p)?.into(), FileKind::Unix),
                Address::Abstract(n) => {
                    let sa = std::os::unix::net::SocketAddr::from_abstract_name(n)?;
                    (UnixStream::connect_addr(&sa)?.into(), FileKind::Unix)
                }
            },
            Some(deadline) => {
                let (to, kind) = match &address {
                    Address::Tcp(a) => (StreamAddr::Inet(*a), FileKind::Inet),
                    Address::Unix(p) => (StreamAddr::UnixPath(p), FileKind::Unix),
                    Address::Abstract(n) => (StreamAddr::UnixAbstract(n), FileKind::Unix),
                };
                match crate::sys::net::connect_until(to, deadline) {
                    Ok(fd) => (fd, kind),
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(ConnectionError::Timeout),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let fd = crate::sys::fd::off_stdio(fd)?;
        if kind == FileKind::Inet {
            let s = TcpStream::from(fd);
            let _ = s.set_nodelay(true);
            return self.handshake(s.into(), kind);
        }
        self.handshake(fd, kind)
    }

    fn handshake(&self, fd: OwnedFd, kind: FileKind) -> Result<Connection, ConnectionError> {
        let mut conn = Connection::new(fd, kind, true, true);
        conn.set_max_message(self.max_message);
        if let Some(key) = &self.authkey {
            let deadline = HandshakeDeadline::after(self.handshake_timeout);
            auth::answer_challenge_until(&conn, key, deadline)?;
            auth::deliver_challenge_until(&conn, key, self.digest, deadline)?;
        }
        Ok(conn)
    }
}
