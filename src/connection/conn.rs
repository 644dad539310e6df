//! [`Connection`]: one end of a pipe, a socket pair or an accepted or dialled socket, with
//! CPython's framing, typed messages, and handles inside messages over Unix sockets.

use std::cell::Cell;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::{Error as _, Serializer};
use serde::{Deserialize, Serialize};

use super::error::ConnectionError;
use super::framing::{self, Reader};
use super::transport::Transport;
use crate::handle::Fd;
use crate::sys::net::{self, FileKind};

/// The default largest message a connection accepts from its peer: 1 GiB.
///
/// # Examples
/// ```
/// let (a, _b) = multiproc::pipe(true)?;
/// assert_eq!(a.max_message(), multiproc::connection::DEFAULT_MAX_MESSAGE);
/// # Ok::<(), std::io::Error>(())
/// ```
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;

/// Creates a pair of connected [`Connection`]s: Python's `Pipe(duplex)`.
///
/// With `duplex = true` both ends can send and receive (a Unix socketpair, which also lets
/// handles such as other connections travel inside messages). With `duplex = false` the
/// first end is read-only and the second write-only (an OS pipe).
///
/// # Errors
/// The OS error if the descriptors cannot be created.
///
/// # Examples
/// ```
/// let (reader, writer) = multiproc::pipe(false)?;
/// writer.send(&"hello")?;
/// assert_eq!(reader.recv::<String>()?, "hello");
/// assert!(reader.readable() && !reader.writable());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pipe(duplex: bool) -> std::io::Result<(Connection, Connection)> {
    if duplex {
        let (a, b) = crate::sys::socket::socketpair(crate::sys::socket::PairKind::Stream)?;
        Ok((Connection::new(a, FileKind::Unix, true, true), Connection::new(b, FileKind::Unix, true, true)))
    } else {
        let (r, w) = crate::sys::socket::pipe()?;
        Ok((Connection::new(r, FileKind::Pipe, true, false), Connection::new(w, FileKind::Pipe, false, true)))
    }
}

/// One end of a pipe or socket connection, framed as CPython frames it.
///
/// A `Connection` is `Send` but not `Sync`, like CPython's (which is not thread-safe): to use
/// one socket from two threads, give each its own [`try_clone`](Connection::try_clone).
/// Dropping it closes the descriptor, which the peer sees as end of file.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let (a, b) = multiproc::pipe(true)?;
/// a.send_bytes(b"ping")?;
/// assert!(b.poll(Some(Duration::ZERO))?);
/// assert_eq!(b.recv_bytes()?, b"ping");
/// b.send(&(1u8, "pong".to_string()))?;
/// assert_eq!(a.recv::<(u8, String)>()?, (1, "pong".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection {
    /// `None` once closed.
    transport: Option<Transport>,
    readable: Cell<bool>,
    writable: bool,
    max_message: usize,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.transport.as_ref().map(|t| t.as_fd().as_raw_fd()))
            .field("kind", &self.transport.as_ref().map(Transport::kind))
            .field("readable", &self.readable.get())
            .field("writable", &self.writable)
            .finish()
    }
}

/// How long a receive waits for its message.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// As long as it takes (`recv`).
    Forever,
    /// Until the deadline, for the whole message (`_timeout`; `None`: forever).
    Until(Option<Instant>),
    /// Not at all for a message to begin (`try_`); one that has begun is read to its end.
    Never,
}

impl Connection {
    /// A duplex connection over a TLS stream.
    pub(crate) fn tls(stream: super::tls::TlsStream) -> Connection {
        Connection {
            transport: Some(Transport::Tls(Box::new(stream))),
            readable: Cell::new(true),
            writable: true,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }

    pub(crate) fn new(fd: OwnedFd, kind: FileKind, readable: bool, writable: bool) -> Connection {
        Connection {
            transport: Some(Transport::fd(fd, kind)),
            readable: Cell::new(readable),
            writable,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }

    /// Wraps a connected socket or a pipe end (Python: `Connection(handle, readable, writable)`).
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::Connection;
    /// let (s1, s2) = std::os::unix::net::UnixStream::pair()?;
    /// let a = Connection::from_fd(s1.into(), true, true);
    /// let b = Connection::from_fd(s2.into(), true, true);
    /// a.send_bytes(b"x")?;
    /// assert_eq!(b.recv_bytes()?, b"x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_fd(fd: OwnedFd, readable: bool, writable: bool) -> Connection {
        let kind = net::file_kind(fd.as_fd());
        Connection::new(fd, kind, readable, writable)
    }

    fn transport(&self) -> Result<&Transport, ConnectionError> {
        self.transport.as_ref().ok_or(ConnectionError::Closed)
    }

    fn fd(&self) -> Result<BorrowedFd<'_>, ConnectionError> {
        Ok(self.transport()?.as_fd())
    }

    fn check_readable(&self) -> Result<&Transport, ConnectionError> {
        let t = self.transport()?;
        if !self.readable.get() {
            return Err(ConnectionError::WriteOnly);
        }
        Ok(t)
    }

    fn check_writable(&self) -> Result<&Transport, ConnectionError> {
        let t = self.transport()?;
        if !self.writable {
            return Err(ConnectionError::ReadOnly);
        }
        Ok(t)
    }

    /// The descriptor number (Python: `fileno()`).
    ///
    /// # Errors
    /// [`ConnectionError::Closed`] after [`close`](Connection::close).
    ///
    /// # Examples
    /// ```
    /// let (a, _b) = multiproc::pipe(true)?;
    /// assert!(a.fileno()? >= 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fileno(&self) -> Result<RawFd, ConnectionError> {
        Ok(self.fd()?.as_raw_fd())
    }

    /// Has [`close`](Connection::close) been called?
    ///
    /// # Examples
    /// ```
    /// let (mut a, _b) = multiproc::pipe(true)?;
    /// a.close();
    /// assert!(a.closed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn closed(&self) -> bool {
        self.transport.is_none()
    }

    /// Can this end receive? (Stays true after the peer closes, as in CPython.)
    ///
    /// # Examples
    /// ```
    /// let (r, w) = multiproc::pipe(false)?;
    /// assert!(r.readable() && !w.readable());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn readable(&self) -> bool {
        self.readable.get()
    }

    /// Can this end send?
    ///
    /// # Examples
    /// ```
    /// let (r, w) = multiproc::pipe(false)?;
    /// assert!(w.writable() && !r.writable());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Closes the descriptor; calling it again does nothing. Later operations fail with
    /// [`ConnectionError::Closed`].
    ///
    /// # Examples
    /// ```
    /// let (mut a, b) = multiproc::pipe(true)?;
    /// a.close();
    /// a.close();
    /// assert!(b.recv_bytes().unwrap_err().is_eof());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(&mut self) {
        self.transport = None;
    }

    /// The largest message this end accepts from its peer ([`DEFAULT_MAX_MESSAGE`] unless set).
    ///
    /// # Examples
    /// ```
    /// let (a, _b) = multiproc::pipe(true)?;
    /// assert_eq!(a.max_message(), multiproc::connection::DEFAULT_MAX_MESSAGE);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Sets the largest message this end accepts. A longer announced length fails with
    /// [`ConnectionError::BadMessageLength`] before anything is allocated.
    ///
    /// # Examples
    /// ```
    /// let (mut a, b) = multiproc::pipe(true)?;
    /// a.set_max_message(4);
    /// b.send_bytes(b"too long")?;
    /// assert!(matches!(a.recv_bytes(), Err(multiproc::connection::ConnectionError::BadMessageLength { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_max_message(&mut self, max: usize) {
        self.max_message = max;
    }

    /// A second `Connection` on a duplicate of the same descriptor (for another thread).
    ///
    /// # Errors
    /// [`ConnectionError::Closed`], or the OS error of `dup`.
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::pipe(true)?;
    /// let a2 = a.try_clone()?;
    /// std::thread::spawn(move || a2.send_bytes(b"from a thread").unwrap()).join().unwrap();
    /// assert_eq!(b.recv_bytes()?, b"from a thread");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_clone(&self) -> Result<Connection, ConnectionError> {
        let t = self.transport()?;
        if t.is_tls() {
            return Err(ConnectionError::InvalidArgument(
                "a TLS connection cannot be cloned: its session lives in one place".into(),
            ));
        }
        let fd = crate::sys::fd::dup_cloexec(t.as_fd())?;
        let mut c = Connection::new(fd, t.kind(), self.readable.get(), self.writable);
        c.max_message = self.max_message;
        Ok(c)
    }

    /// Sends `buf` as one message (Python: `send_bytes(buf)`).
    ///
    /// # Errors
    /// [`ConnectionError::Closed`], [`ConnectionError::ReadOnly`], or the OS error (for
    /// example `BrokenPipe` when the peer is gone).
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::pipe(true)?;
    /// a.send_bytes(b"")?;
    /// assert_eq!(b.recv_bytes()?, b"");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_bytes(&self, buf: &[u8]) -> Result<(), ConnectionError> {
        framing::write_message(self.check_writable()?, buf, &[])
    }

    /// Sends `buf[offset..offset + size]` (the rest of the buffer when `size` is `None`),
    /// with CPython's bound checks: `offset` must not exceed the length, nor `offset + size`.
    /// `offset == buf.len()` sends an empty message.
    ///
    /// # Errors
    /// [`ConnectionError::InvalidArgument`] for out-of-range bounds, otherwise as
    /// [`send_bytes`](Connection::send_bytes).
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::pipe(true)?;
    /// a.send_bytes_range(b"abcdefgh", 2, Some(3))?;
    /// assert_eq!(b.recv_bytes()?, b"cde");
    /// assert!(a.send_bytes_range(b"abc", 4, None).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_bytes_range(&self, buf: &[u8], offset: usize, size: Option<usize>) -> Result<(), ConnectionError> {
        let t = self.check_writable()?;
        let n = buf.len();
        if offset > n {
            return Err(ConnectionError::InvalidArgument(format!(
                "offset {offset} is past the end of the {n}-byte buffer"
            )));
        }
        let size = size.unwrap_or(n - offset);
        if offset.checked_add(size).is_none_or(|end| end > n) {
            return Err(ConnectionError::InvalidArgument(format!(
                "offset {offset} + size {size} is past the end of the {n}-byte buffer"
            )));
        }
        framing::write_message(t, &buf[offset..offset + size], &[])
    }

    /// Sends `value` encoded with postcard (Python: `send(obj)`).
    ///
    /// Handles inside the value ([`Connection`], `Fd`, ...) travel with
    /// it over a Unix-socket connection; the value stays usable here.
    ///
    /// # Errors
    /// [`ConnectionError::Codec`] if the value cannot be encoded,
    /// [`ConnectionError::HandlesNotSupported`] if it carries handles but this is not a Unix
    /// socket, otherwise as [`send_bytes`](Connection::send_bytes).
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::pipe(true)?;
    /// a.send(&[1.5f64, 2.5])?;
    /// assert_eq!(b.recv::<[f64; 2]>()?, [1.5, 2.5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), ConnectionError> {
        let t = self.check_writable()?;
        let (bytes, fds) = crate::handle::to_bytes_with_fds(value)?;
        if !fds.is_empty() && !t.passes_fds() {
            return Err(ConnectionError::HandlesNotSupported);
        }
        let borrowed = crate::sys::socket::borrow_all(&fds);
        framing::write_message(t, &bytes, &borrowed)
    }

    /// Receives one message into a new buffer (Python: `recv_bytes()`), blocking until one
    /// arrives.
    ///
    /// # Errors
    /// [`ConnectionError::Eof`] once the peer has closed and nothing is left,
    /// [`ConnectionError::BadMessageLength`] for a length over
    /// [`max_message`](Connection::max_message) (after which the connection is not readable),
    /// [`ConnectionError::Closed`], [`ConnectionError::WriteOnly`], or the OS error.
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::pipe(true)?;
    /// a.send_bytes(b"abc")?;
    /// assert_eq!(b.recv_bytes()?, b"abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes(&self) -> Result<Vec<u8>, ConnectionError> {
        self.recv_raw(self.max_message, Wait::Forever, false).map(|(b, _)| b)
    }

    /// Like [`recv_bytes`](Connection::recv_bytes) with a smaller limit for this message
    /// (Python: `recv_bytes(maxlength)`).
    ///
    /// # Errors
    /// As [`recv_bytes`](Connection::recv_bytes).
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::pipe(true)?;
    /// a.send_bytes(b"abcdef")?;
    /// assert!(b.recv_bytes_max(3).is_err());
    /// assert!(!b.readable()); // as CPython: the stream position is lost
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes_max(&self, maxlength: usize) -> Result<Vec<u8>, ConnectionError> {
        self.recv_raw(maxlength.min(self.max_message), Wait::Forever, false).map(|(b, _)| b)
    }

    /// Like [`recv_bytes`](Connection::recv_bytes), giving up with
    /// [`ConnectionError::Timeout`] when the message has not arrived within `timeout`. A
    /// message whose rest does not arrive within the timeout leaves the connection
    /// unreadable. `Duration::ZERO` only checks; a timeout too large to represent
    /// (`Duration::MAX`) waits as long as it takes.
    ///
    /// # Errors
    /// As [`recv_bytes`](Connection::recv_bytes), plus [`ConnectionError::Timeout`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let (a, b) = multiproc::pipe(true)?;
    /// assert!(a.recv_bytes_timeout(Duration::from_millis(5)).unwrap_err().is_timeout());
    /// b.send_bytes(b"x")?;
    /// assert_eq!(a.recv_bytes_timeout(Duration::MAX)?, b"x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>, ConnectionError> {
        self.recv_raw(self.max_message, Wait::Until(crate::deadline::after(timeout)), false).map(|(b, _)| b)
    }

    /// Receives a message if one has begun to arrive, else fails with
    /// [`ConnectionError::WouldBlock`] at once. A message whose first bytes are here is read
    /// to its end (its sender is writing it), as CPython's `poll(0)` then `recv_bytes()` does,
    /// so a large message in transit is received whole instead of being cut.
    ///
    /// # Errors
    /// [`ConnectionError::WouldBlock`] when nothing is waiting, otherwise as
    /// [`recv_bytes`](Connection::recv_bytes).
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::pipe(true)?;
    /// assert!(b.try_recv_bytes().unwrap_err().is_would_block());
    /// a.send_bytes(b"now")?;
    /// assert_eq!(b.try_recv_bytes()?, b"now");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv_bytes(&self) -> Result<Vec<u8>, ConnectionError> {
        self.recv_raw(self.max_message, Wait::Never, false).map(|(b, _)| b)
    }

    /// Receives one message into `buf` starting at `offset`; returns its length (Python:
    /// `recv_bytes_into(buf, offset)`).
    ///
    /// # Errors
    /// [`ConnectionError::InvalidArgument`] if `offset > buf.len()`;
    /// [`ConnectionError::BufferTooShort`] with the whole message if it does not fit (the
    /// message is consumed); otherwise as [`recv_bytes`](Connection::recv_bytes).
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::ConnectionError;
    /// let (a, b) = multiproc::pipe(true)?;
    /// let mut buf = [0u8; 8];
    /// a.send_bytes(b"abc")?;
    /// assert_eq!(b.recv_bytes_into(&mut buf, 2)?, 3);
    /// assert_eq!(&buf[2..5], b"abc");
    /// a.send_bytes(b"0123456789")?;
    /// match b.recv_bytes_into(&mut buf, 0) {
    ///     Err(ConnectionError::BufferTooShort(msg)) => assert_eq!(msg, b"0123456789"),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes_into(&self, buf: &mut [u8], offset: usize) -> Result<usize, ConnectionError> {
        let t = self.check_readable()?;
        if offset > buf.len() {
            return Err(ConnectionError::InvalidArgument(format!(
                "offset {offset} is past the end of the {}-byte buffer",
                buf.len()
            )));
        }
        let mut r = Reader { t, fds: None, deadline: None, start_by: None, spin: true, started: false };
        let len = match self.guard(r.read_len(self.max_message), &r)? {
            None => return Err(ConnectionError::Eof),
            Some(l) => l,
        };
        if len > buf.len() - offset {
            let mut msg = vec![0u8; len];
            self.guard(r.fill(&mut msg), &r)?;
            return Err(ConnectionError::BufferTooShort(msg));
        }
        self.guard(r.fill(&mut buf[offset..offset + len]), &r)?;
        Ok(len)
    }

    /// Receives one message and decodes it as a `T` (Python: `recv()`), blocking until one
    /// arrives. Handles inside it (sent over a Unix socket) are taken over by the value.
    ///
    /// # Errors
    /// [`ConnectionError::Codec`] if the message is not a `T`; otherwise as
    /// [`recv_bytes`](Connection::recv_bytes).
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::pipe(true)?;
    /// a.send(&Some(3u16))?;
    /// assert_eq!(b.recv::<Option<u16>>()?, Some(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, ConnectionError> {
        self.recv_typed(Wait::Forever)
    }

    /// Like [`recv`](Connection::recv), giving up with [`ConnectionError::Timeout`] when the
    /// message has not arrived within `timeout` (as
    /// [`recv_bytes_timeout`](Connection::recv_bytes_timeout)).
    ///
    /// # Errors
    /// As [`recv`](Connection::recv), plus [`ConnectionError::Timeout`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let (a, b) = multiproc::pipe(true)?;
    /// a.send(&5u8)?;
    /// assert_eq!(b.recv_timeout::<u8>(Duration::from_secs(1))?, 5);
    /// assert!(b.recv_timeout::<u8>(Duration::ZERO).unwrap_err().is_timeout());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_timeout<T: DeserializeOwned>(&self, timeout: Duration) -> Result<T, ConnectionError> {
        self.recv_typed(Wait::Until(crate::deadline::after(timeout)))
    }

    /// Receives and decodes a message if one has begun to arrive, else fails with
    /// [`ConnectionError::WouldBlock`] at once (as [`try_recv_bytes`](Connection::try_recv_bytes)).
    ///
    /// # Errors
    /// [`ConnectionError::WouldBlock`] when nothing is waiting, otherwise as
    /// [`recv`](Connection::recv).
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::pipe(true)?;
    /// assert!(b.try_recv::<u8>().unwrap_err().is_would_block());
    /// a.send(&9u8)?;
    /// assert_eq!(b.try_recv::<u8>()?, 9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv<T: DeserializeOwned>(&self) -> Result<T, ConnectionError> {
        self.recv_typed(Wait::Never)
    }

    fn recv_typed<T: DeserializeOwned>(&self, wait: Wait) -> Result<T, ConnectionError> {
        let with_fds = self.transport()?.passes_fds();
        let (bytes, fds) = self.recv_raw(self.max_message, wait, with_fds)?;
        Ok(crate::handle::from_bytes_with_fds(&bytes, fds)?)
    }

    /// Is a message (or end of file) waiting? Never consumes anything (Python: `poll`).
    /// `Some(Duration::ZERO)` checks once, `None` (or a timeout too large to represent, such
    /// as `Duration::MAX`) waits as long as it takes.
    ///
    /// # Errors
    /// [`ConnectionError::Closed`], [`ConnectionError::WriteOnly`], or the OS error.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let (a, b) = multiproc::pipe(true)?;
    /// assert!(!b.poll(Some(Duration::ZERO))?);
    /// a.send_bytes(b"")?;
    /// assert!(b.poll(Some(Duration::ZERO))?);
    /// assert!(b.poll(Some(Duration::ZERO))?); // still there
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, ConnectionError> {
        let t = self.check_readable()?;
        let deadline = timeout.and_then(crate::deadline::after);
        Ok(t.wait_readable(deadline)?)
    }

    /// Receives one raw message with an explicit limit and wait (the handshake uses it).
    pub(crate) fn recv_raw(
        &self,
        max: usize,
        wait: Wait,
        with_fds: bool,
    ) -> Result<(Vec<u8>, Vec<OwnedFd>), ConnectionError> {
        let t = self.check_readable()?;
        let (deadline, start_by, spin) = match wait {
            Wait::Forever => (None, None, true),
            Wait::Until(d) => (d, None, d.is_none_or(|d| d > Instant::now())),
            Wait::Never => (None, Some(Instant::now()), false),
        };
        let mut r = Reader { t, fds: with_fds.then(Vec::new), deadline, start_by, spin, started: false };
        let len = match self.guard(r.read_len(max), &r)? {
            None => return Err(ConnectionError::Eof),
            Some(l) => l,
        };
        let mut buf = vec![0u8; len];
        self.guard(r.fill(&mut buf), &r)?;
        Ok((buf, r.fds.unwrap_or_default()))
    }

    /// Marks the connection unreadable when a receive failed with the stream in the middle
    /// of a message (or after a bad length), as CPython does.
    fn guard<T>(&self, res: Result<T, ConnectionError>, r: &Reader<'_>) -> Result<T, ConnectionError> {
        if let Err(e) = &res
            && (matches!(e, ConnectionError::BadMessageLength { .. }) || r.started)
        {
            self.readable.set(false);
        }
        res
    }
}

impl AsRawFd for Connection {
    /// The descriptor number, or -1 once closed.
    fn as_raw_fd(&self) -> RawFd {
        self.transport.as_ref().map_or(-1, |t| t.as_fd().as_raw_fd())
    }
}

const FLAG_READABLE: u8 = 1;
const FLAG_WRITABLE: u8 = 2;
const KIND_SHIFT: u8 = 2;

struct FdRef<'a>(BorrowedFd<'a>);

impl Serialize for FdRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::handle::serialize_fd(self.0, s)
    }
}

/// A `Connection` serializes as a handle: its descriptor (duplicated into the message) and its
/// direction. It can be sent to a child as a process argument or over another connection.
impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.transport.as_ref().ok_or_else(|| S::Error::custom("a closed Connection cannot be sent"))?;
        if t.is_tls() {
            return Err(S::Error::custom(
                "a TLS Connection cannot be sent to another process: its session keys live in this one",
            ));
        }
        let kind = match t.kind() {
            FileKind::Pipe => 0u8,
            FileKind::Unix => 1,
            FileKind::Inet => 2,
        };
        let mut flags = kind << KIND_SHIFT;
        if self.readable.get() {
            flags |= FLAG_READABLE;
        }
        if self.writable {
            flags |= FLAG_WRITABLE;
        }
        (FdRef(t.as_fd()), flags, self.max_message as u64).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (fd, flags, max): (Fd, u8, u64) = Deserialize::deserialize(d)?;
        let kind = match flags >> KIND_SHIFT {
            0 => FileKind::Pipe,
            1 => FileKind::Unix,
            _ => FileKind::Inet,
        };
        let mut c = Connection::new(fd.into_owned(), kind, flags & FLAG_READABLE != 0, flags & FLAG_WRITABLE != 0);
        c.max_message = usize::try_from(max).unwrap_or(usize::MAX);
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        assert_eq!(&framing::header(5).0[..4], &[0, 0, 0, 5]);
        let (h, n) = framing::header(0x8000_0000);
        assert_eq!(n, 12);
        assert_eq!(&h[..4], &[0xff; 4]);
        assert_eq!(u64::from_be_bytes(h[4..12].try_into().unwrap()), 0x8000_0000);
    }

    #[test]
    fn long_header_is_read() {
        let (a, b) = pipe(true).unwrap();
        // A hand-written long header announcing 3 bytes.
        let mut raw = (-1i32).to_be_bytes().to_vec();
        raw.extend_from_slice(&3u64.to_be_bytes());
        raw.extend_from_slice(b"xyz");
        crate::sys::fd::write_all(a.fd().unwrap(), &raw).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), b"xyz");
    }

    #[test]
    fn huge_length_prefix_is_rejected_without_allocating() {
        let (a, b) = pipe(true).unwrap();
        let mut raw = (-1i32).to_be_bytes().to_vec();
        raw.extend_from_slice(&(1u64 << 40).to_be_bytes());
        crate::sys::fd::write_all(a.fd().unwrap(), &raw).unwrap();
        match b.recv_bytes() {
            Err(ConnectionError::BadMessageLength { len, .. }) => assert_eq!(len, 1 << 40),
            other => panic!("{other:?}"),
        }
        assert!(!b.readable());
        assert!(matches!(b.recv_bytes(), Err(ConnectionError::WriteOnly)));
    }

    #[test]
    fn connection_travels_over_connection() {
        let (a, b) = pipe(true).unwrap();
        let (x, y) = pipe(true).unwrap();
        a.send(&("here", x)).unwrap();
        let (s, x2): (String, Connection) = b.recv().unwrap();
        assert_eq!(s, "here");
        x2.send_bytes(b"via passed end").unwrap();
        assert_eq!(y.recv_bytes().unwrap(), b"via passed end");
    }

    #[test]
    fn handles_over_a_pipe_are_refused() {
        let (_r, w) = pipe(false).unwrap();
        let (x, _y) = pipe(true).unwrap();
        assert!(matches!(w.send(&x), Err(ConnectionError::HandlesNotSupported)));
    }
}
