//! Errors of connection operations.

use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use crate::error::CodecError;

/// What went wrong with a [`Connection`](super::Connection), [`Listener`](super::Listener) or
/// [`Client`](super::Client) operation.
///
/// The variants follow the exceptions CPython raises: `Closed`, `ReadOnly` and `WriteOnly`
/// are its `OSError('handle is closed' / 'connection is read-only' / 'connection is
/// write-only')`, `Eof` is `EOFError`, `BadMessageLength` is `OSError('bad message length')`,
/// `BufferTooShort` hands the whole message back like CPython's exception does, and
/// `InvalidArgument` is its `ValueError`.
///
/// # Examples
/// ```
/// use multiproc::connection::ConnectionError;
/// let (a, b) = multiproc::pipe(true)?;
/// drop(b);
/// match a.recv_bytes() {
///     Err(ConnectionError::Eof) => println!("the peer is gone"),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The connection (or listener) was closed by this process.
    Closed,
    /// The connection is read-only (the read end of a one-way pipe); it cannot send.
    ReadOnly,
    /// The connection is write-only (the write end of a one-way pipe, or a connection that
    /// received a bad message length); it cannot receive.
    WriteOnly,
    /// Nothing is left to receive and the peer has closed its end.
    Eof,
    /// The peer announced a message longer than this side accepts. Nothing was allocated;
    /// the connection is no longer readable, since the stream position is lost.
    BadMessageLength {
        /// The length the peer announced.
        len: u64,
        /// The largest length this side accepts.
        max: u64,
    },
    /// The buffer given to [`recv_bytes_into`](super::Connection::recv_bytes_into) is too
    /// small; the complete message is handed back.
    BufferTooShort(Vec<u8>),
    /// An argument is out of range (CPython's `ValueError`).
    InvalidArgument(String),
    /// The timeout of a `_timeout` call passed before a message (or, for
    /// [`accept_timeout`](super::Listener::accept_timeout), an authenticated client) arrived,
    /// or a [`connect_timeout`](super::ClientBuilder::connect_timeout) passed.
    Timeout,
    /// A `try_` call found nothing to receive (or, for
    /// [`try_accept`](super::Listener::try_accept), no authenticated client) and did not wait.
    WouldBlock,
    /// The authkey handshake did not complete within its timeout
    /// ([`ClientBuilder::handshake_timeout`](super::ClientBuilder::handshake_timeout),
    /// 20 s by default). The key was not found wrong: the peer stalled, or is not a
    /// multiprocessing peer, or has no authkey (a listener without one never sends a challenge).
    HandshakeTimeout {
        /// The handshake timeout that passed.
        timeout: Duration,
    },
    /// The value carries file descriptors (a `Connection`, an `Fd`, ...) but this connection
    /// is not a Unix socket, so they cannot travel.
    HandlesNotSupported,
    /// The value could not be encoded, or the message could not be decoded as the type asked for.
    Codec(CodecError),
    /// The authkey handshake failed: the keys differ or the peer broke the protocol.
    Authentication(AuthenticationError),
    /// The operating system refused (including a peer that vanished mid-message).
    Io(io::Error),
}

impl ConnectionError {
    /// Is this [`ConnectionError::Eof`]?
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::pipe(true)?;
    /// drop(b);
    /// assert!(a.recv::<u32>().unwrap_err().is_eof());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_eof(&self) -> bool {
        matches!(self, ConnectionError::Eof)
    }

    /// Did a timeout pass: [`ConnectionError::Timeout`] of a `_timeout` call, or
    /// [`ConnectionError::HandshakeTimeout`]?
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = multiproc::pipe(true)?;
    /// assert!(a.recv_timeout::<u32>(Duration::from_millis(1)).unwrap_err().is_timeout());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, ConnectionError::Timeout | ConnectionError::HandshakeTimeout { .. })
    }

    /// Is this [`ConnectionError::WouldBlock`] (a `try_` call that found nothing)?
    ///
    /// # Examples
    /// ```
    /// let (_a, b) = multiproc::pipe(true)?;
    /// assert!(b.try_recv_bytes().unwrap_err().is_would_block());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_would_block(&self) -> bool {
        matches!(self, ConnectionError::WouldBlock)
    }

    /// Is this an authentication failure?
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::{AuthenticationError, ConnectionError};
    /// let e = ConnectionError::from(AuthenticationError::new("digest received was wrong"));
    /// assert!(e.is_authentication());
    /// ```
    pub fn is_authentication(&self) -> bool {
        matches!(self, ConnectionError::Authentication(_))
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::Closed => write!(f, "the connection is closed (handle is closed); use an open connection"),
            ConnectionError::ReadOnly => {
                write!(f, "the connection is read-only (the reading end of a one-way pipe); send on the other end")
            }
            ConnectionError::WriteOnly => write!(
                f,
                "the connection is write-only (the writing end of a one-way pipe, or it received a bad message length); receive on the other end"
            ),
            ConnectionError::Eof => {
                write!(f, "end of file: the peer closed the connection and nothing is left to receive")
            }
            ConnectionError::BadMessageLength { len, max } => write!(
                f,
                "bad message length: the peer announced {len} bytes but at most {max} are accepted; raise the limit with set_max_message if the peer is trusted (the connection is no longer readable)"
            ),
            ConnectionError::BufferTooShort(msg) => write!(
                f,
                "the buffer is too short for the {}-byte message; the message is handed back in the error",
                msg.len()
            ),
            ConnectionError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            ConnectionError::Timeout => write!(
                f,
                "timed out: no message arrived, no client completed its handshake (accept), or the connect did not complete, within the timeout; call again or allow more time"
            ),
            ConnectionError::WouldBlock => write!(
                f,
                "nothing is ready yet (no message, or no authenticated client for accept) and a try_ call does not wait; call again later, or use the blocking or _timeout form"
            ),
            ConnectionError::HandshakeTimeout { timeout } => write!(
                f,
                "the authkey handshake did not complete within {timeout:?}: the peer stalled, is not a multiprocessing peer, or has no authkey (a listener without one never sends a challenge); check the address and that both sides have an authkey, or raise handshake_timeout"
            ),
            ConnectionError::HandlesNotSupported => write!(
                f,
                "the value carries file descriptors, which can only travel over a Unix-socket connection (a duplex pipe or a Unix listener), not over a one-way pipe or TCP"
            ),
            ConnectionError::Codec(e) => write!(f, "{e}"),
            ConnectionError::Authentication(e) => write!(f, "{e}"),
            ConnectionError::Io(e) => write!(f, "connection I/O failed: {e}"),
        }
    }
}

impl Error for ConnectionError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConnectionError::Codec(e) => Some(e),
            ConnectionError::Authentication(e) => Some(e),
            ConnectionError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ConnectionError {
    fn from(e: io::Error) -> ConnectionError {
        ConnectionError::Io(e)
    }
}

impl From<CodecError> for ConnectionError {
    fn from(e: CodecError) -> ConnectionError {
        ConnectionError::Codec(e)
    }
}

impl From<AuthenticationError> for ConnectionError {
    fn from(e: AuthenticationError) -> ConnectionError {
        ConnectionError::Authentication(e)
    }
}

impl From<ConnectionError> for io::Error {
    fn from(e: ConnectionError) -> io::Error {
        let kind = match &e {
            ConnectionError::Io(inner) => return io::Error::new(inner.kind(), e),
            ConnectionError::Eof => io::ErrorKind::UnexpectedEof,
            ConnectionError::Timeout | ConnectionError::HandshakeTimeout { .. } => io::ErrorKind::TimedOut,
            ConnectionError::WouldBlock => io::ErrorKind::WouldBlock,
            ConnectionError::InvalidArgument(_) | ConnectionError::HandlesNotSupported => io::ErrorKind::InvalidInput,
            ConnectionError::Authentication(_) => io::ErrorKind::PermissionDenied,
            ConnectionError::BadMessageLength { .. } | ConnectionError::Codec(_) => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// The authkey handshake failed (CPython's `multiprocessing.AuthenticationError`).
///
/// Its text says what went wrong and blames the key only when the key was the problem: a
/// digest that does not match ([`is_key_mismatch`](AuthenticationError::is_key_mismatch)) is
/// told apart from a peer that does not speak the handshake or closed the connection in the
/// middle of it. A handshake that runs out of time is
/// [`ConnectionError::HandshakeTimeout`] instead.
///
/// # Examples
/// ```
/// use multiproc::connection::AuthenticationError;
/// let e = AuthenticationError::new("digest received was wrong");
/// assert!(e.to_string().contains("digest received was wrong"));
/// assert!(!e.is_key_mismatch());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthenticationError {
    kind: AuthKind,
    message: String,
}

/// Why a handshake failed, which decides what the message tells the user to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthKind {
    /// Made by a user with [`AuthenticationError::new`].
    Other,
    /// The digests do not match: the two keys differ.
    KeyMismatch,
    /// The peer sent something that is not the handshake.
    Protocol,
    /// The peer closed the connection in the middle of the handshake.
    PeerClosed,
}

impl AuthenticationError {
    /// An authentication error with this explanation.
    ///
    /// # Examples
    /// ```
    /// let e = multiproc::connection::AuthenticationError::new("digest sent was rejected");
    /// assert_eq!(e.message(), "digest sent was rejected");
    /// ```
    pub fn new(message: impl Into<String>) -> AuthenticationError {
        AuthenticationError { kind: AuthKind::Other, message: message.into() }
    }

    pub(crate) fn key_mismatch(message: impl Into<String>) -> AuthenticationError {
        AuthenticationError { kind: AuthKind::KeyMismatch, message: message.into() }
    }

    pub(crate) fn protocol(message: impl Into<String>) -> AuthenticationError {
        AuthenticationError { kind: AuthKind::Protocol, message: message.into() }
    }

    pub(crate) fn peer_closed(message: impl Into<String>) -> AuthenticationError {
        AuthenticationError { kind: AuthKind::PeerClosed, message: message.into() }
    }

    /// What failed, in CPython's words where it has them.
    ///
    /// # Examples
    /// ```
    /// let e = multiproc::connection::AuthenticationError::new("x");
    /// assert_eq!(e.message(), "x");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Did the handshake fail because the digests did not match, that is, because the two
    /// sides hold different authkeys (or the peer does not know the key at all)?
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::{answer_challenge, deliver_challenge, ConnectionError};
    /// let (a, b) = multiproc::pipe(true)?;
    /// let t = std::thread::spawn(move || deliver_challenge(&a, b"one key"));
    /// match answer_challenge(&b, b"another key") {
    ///     Err(ConnectionError::Authentication(e)) => assert!(e.is_key_mismatch()),
    ///     other => panic!("{other:?}"),
    /// }
    /// # let _ = t.join();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_key_mismatch(&self) -> bool {
        self.kind == AuthKind::KeyMismatch
    }
}

impl fmt::Display for AuthenticationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.message;
        match self.kind {
            AuthKind::Other => write!(f, "authentication failed: {m}"),
            AuthKind::KeyMismatch => {
                write!(f, "authentication failed: {m}: the two sides use different authkeys; give both the same key")
            }
            AuthKind::Protocol => write!(
                f,
                "authentication failed: {m}; the peer does not follow the multiprocessing authkey handshake (check the address, and that both sides are multiprocessing peers and have an authkey)"
            ),
            AuthKind::PeerClosed => write!(
                f,
                "authentication failed: {m} (it may not be a multiprocessing peer, may have no authkey, may have given up on its own timeout, or a listener with too many handshakes in flight shed this one); check the address and that both sides have an authkey, then retry"
            ),
        }
    }
}

impl Error for AuthenticationError {}
