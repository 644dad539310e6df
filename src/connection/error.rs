//! Errors of connection operations.

use std::error::Error;
use std::fmt;
use std::io;

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
    /// The timeout passed before a message (or a connection) arrived.
    Timeout,
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

    /// Is this [`ConnectionError::Timeout`]?
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = multiproc::pipe(true)?;
    /// assert!(a.recv_timeout::<u32>(Duration::from_millis(1)).unwrap_err().is_timeout());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, ConnectionError::Timeout)
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
            ConnectionError::Timeout => write!(f, "timed out waiting on the connection"),
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
            ConnectionError::Timeout => io::ErrorKind::TimedOut,
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
/// # Examples
/// ```
/// use multiproc::connection::AuthenticationError;
/// let e = AuthenticationError::new("digest received was wrong");
/// assert!(e.to_string().contains("digest received was wrong"));
/// ```
#[derive(Debug, Clone)]
pub struct AuthenticationError {
    message: String,
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
        AuthenticationError { message: message.into() }
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
}

impl fmt::Display for AuthenticationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "authentication failed: {} (both sides must use the same authkey)", self.message)
    }
}

impl Error for AuthenticationError {}
