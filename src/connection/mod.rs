//! Pipes and connections: Python's `Pipe()` and `multiprocessing.connection`.
//!
//! | Python | multiproc |
//! |---|---|
//! | `a, b = Pipe()` / `Pipe(duplex=False)` | [`pipe`]`(true)` / [`pipe`]`(false)` → `(reader, writer)` |
//! | `conn.send(obj)` / `conn.recv()` | [`Connection::send`]`(&value)` / [`Connection::recv`]`::<T>()` |
//! | `send_bytes(buf, offset, size)` / `recv_bytes(maxlength)` | [`Connection::send_bytes`], [`Connection::send_bytes_range`] / [`Connection::recv_bytes`], [`Connection::recv_bytes_max`] |
//! | `recv_bytes_into(buf, offset)` | [`Connection::recv_bytes_into`] |
//! | `poll(timeout)` | [`Connection::poll`]`(Some(d))`, `poll(None)` blocks |
//! | `Listener(address, authkey=...)`, `Client(address, authkey=...)` | [`Listener::bind`], [`Client::connect`] |
//! | `listener.accept()` | [`Listener::accept`], [`Listener::accept_timeout`], [`Listener::try_accept`] |
//! | `wait(objects, timeout)` | [`wait()`] (returns the indexes of the ready objects) |
//! | `deliver_challenge(conn, key, digest_name)`, `answer_challenge` | [`deliver_challenge`], [`answer_challenge`]; the digest is [`ListenerBuilder::digest`] / [`ClientBuilder::digest`] |
//!
//! The bytes on the wire are CPython's: `send_bytes`/`recv_bytes` talk to a Python
//! `multiprocessing.connection` peer directly, and the authkey handshake authenticates against
//! CPython 3.11, 3.12 and 3.13. Typed `send`/`recv` carry a `postcard` payload inside the same
//! framing (Python peers use `send_bytes`/`recv_bytes` for those).
//!
//! Unlike CPython's, a [`Listener`] runs the handshakes of many clients at once, each with its
//! own deadline, so a client that stalls or sends garbage holds up no one; one that fails is
//! closed and counted ([`Listener::handshake_stats`]) rather than raised from `accept` (unless
//! asked: [`ListenerBuilder::report_failed_handshakes`]).
//!
//! Receiving follows the crate's convention: `recv*()` waits as long as it takes,
//! `try_recv*()` fails with [`ConnectionError::WouldBlock`] when no message has begun to
//! arrive, and `recv*_timeout(d)` fails with [`ConnectionError::Timeout`]; a handshake that
//! runs out of time is [`ConnectionError::HandshakeTimeout`] (also `is_timeout()`).
//!
//! A [`Connection`] crosses into a child process as an argument of
//! [`Process::new`](crate::Process::new) under every start method, and over a Unix-socket
//! connection inside any value sent with [`Connection::send`] (the descriptor travels with
//! `SCM_RIGHTS` in the same message).
//!
//! # Examples
//!
//! ```no_run
//! use multiproc::{pipe, Process};
//! use multiproc::connection::Connection;
//!
//! fn child(conn: Connection) {
//!     conn.send(&vec![42u32, 7]).unwrap();
//! }
//!
//! let (parent_end, child_end) = pipe(true)?;
//! let p = Process::new(child, child_end);
//! p.start()?;
//! assert_eq!(parent_end.recv::<Vec<u32>>()?, vec![42, 7]);
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod address;
pub(crate) mod auth;
mod client;
mod conn;
mod error;
mod framing;
mod handshake;
mod listener;
pub(crate) mod tls;
mod transport;
mod wait;

pub use self::address::{Address, Family, ToAddress};
pub use self::auth::{Digest, answer_challenge, deliver_challenge};
pub use self::client::{Client, ClientBuilder};
pub use self::conn::{Connection, DEFAULT_MAX_MESSAGE, pipe};
pub use self::error::{AuthenticationError, ConnectionError};
pub use self::handshake::HandshakeStats;
pub use self::listener::{Listener, ListenerBuilder};
pub use self::wait::{Waitable, wait};
