//! The transport under a [`Connection`](super::Connection): how the framed bytes move.
//!
//! Framing (`framing.rs`: headers, length limits, exact reads, the receive spin) never touches
//! a descriptor itself; it calls the operations below on a [`Transport`]. Today there is one
//! flavor is a pipe or socket descriptor read and written with plain syscalls; the other is a
//! TLS stream (rustls, for remote managers, `tls.rs`), with its plaintext buffered inside the
//! TLS session, and no change to framing.
//!
//! The contract every flavor keeps (framing relies on each point):
//!
//! | operation | promise |
//! |---|---|
//! | [`write_all`](Transport::write_all) | writes every part, in order, or fails; descriptors (if any) travel with the first bytes |
//! | [`read`](Transport::read) | blocks until at least one byte (returns how many), end of file (`Ok(0)`) or an error; never reads more than `buf.len()` |
//! | [`try_read`](Transport::try_read) | like `read` but never blocks: `Err(WouldBlock)` when nothing is there; `None` when the flavor cannot try cheaply (a pipe), so the caller asks [`readable_now`](Transport::readable_now) instead |
//! | [`wait_readable`](Transport::wait_readable) | true once a `read` would not block (data the flavor buffered counts), false when the deadline passed |
//! | [`readable_now`](Transport::readable_now) | `wait_readable` without waiting |
//! | [`passes_fds`](Transport::passes_fds) | descriptors may travel (a Unix socket); otherwise `write_all` and `read` refuse or drop them |
//! | [`fd`](Transport::fd) | the descriptor underneath (for `fileno`, `poll`, `wait`, `dup`) |
//!
//! A flavor's operations take `&self`, since a `Connection` is used through `&self`; a flavor
//! with state (a TLS session) keeps it in a `RefCell` (a `Connection` is not `Sync`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use super::tls::TlsStream;
use crate::sys::net::{self, FileKind};

/// How a connection's bytes move; see the module documentation for the contract.
pub(crate) enum Transport {
    /// A pipe or socket descriptor.
    Fd {
        /// The descriptor, owned: dropping the transport closes it.
        fd: OwnedFd,
        /// What it is: a pipe, a Unix socket (descriptors can travel) or another socket.
        kind: FileKind,
    },
    /// A TCP socket with a TLS session on it.
    Tls(Box<TlsStream>),
}

impl Transport {
    /// A transport over a pipe or socket descriptor of the given kind.
    pub(crate) fn fd(fd: OwnedFd, kind: FileKind) -> Transport {
        Transport::Fd { fd, kind }
    }

    /// The descriptor underneath.
    #[inline]
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Transport::Fd { fd, .. } => fd.as_fd(),
            Transport::Tls(t) => t.as_fd(),
        }
    }

    /// What the descriptor underneath is.
    #[inline]
    pub(crate) fn kind(&self) -> FileKind {
        match self {
            Transport::Fd { kind, .. } => *kind,
            Transport::Tls(_) => FileKind::Inet,
        }
    }

    /// Is this a TLS stream (which cannot be cloned or sent to another process)?
    #[inline]
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Can descriptors travel with the bytes?
    #[inline]
    pub(crate) fn passes_fds(&self) -> bool {
        self.kind() == FileKind::Unix
    }

    /// Writes all of `parts` in order; `fds` (only where [`passes_fds`](Transport::passes_fds))
    /// travel with the first bytes.
    pub(crate) fn write_all(&self, parts: &[&[u8]], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        match self {
            Transport::Fd { fd, kind } => {
                let socket = *kind != FileKind::Pipe;
                if fds.is_empty() {
                    return net::write_all_vectored(fd.as_fd(), socket, parts);
                }
                if *kind != FileKind::Unix {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, "descriptors need a Unix socket"));
                }
                // The descriptors go with one sendmsg of the first bytes (at most 64 KiB), the
                // rest follows as plain writes.
                let mut first = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>().min(64 * 1024));
                for p in parts {
                    let room = 64 * 1024 - first.len();
                    first.extend_from_slice(&p[..p.len().min(room)]);
                    if first.len() == 64 * 1024 {
                        break;
                    }
                }
                let mut skip = crate::sys::socket::send_with_fds(fd.as_fd(), &first, fds)?;
                let mut rest: Vec<&[u8]> = Vec::with_capacity(parts.len());
                for p in parts {
                    if skip >= p.len() {
                        skip -= p.len();
                    } else {
                        rest.push(&p[skip..]);
                        skip = 0;
                    }
                }
                net::write_all_vectored(fd.as_fd(), true, &rest)
            }
            Transport::Tls(_) if !fds.is_empty() => {
                Err(io::Error::new(io::ErrorKind::InvalidInput, "descriptors need a Unix socket"))
            }
            Transport::Tls(t) => t.write_all(parts),
        }
    }

    /// One blocking read into `buf`; with `fds`, descriptors that came with the bytes are
    /// appended there (a Unix socket). `Ok(0)` is end of file.
    #[inline]
    pub(crate) fn read(&self, buf: &mut [u8], fds: Option<&mut Vec<OwnedFd>>) -> io::Result<usize> {
        match self {
            Transport::Fd { fd, .. } => match fds {
                Some(fds) => net::recv_collect_fds(fd.as_fd(), buf, fds, false),
                None => net::read(fd.as_fd(), buf),
            },
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// One read that never blocks (`Err(WouldBlock)` when nothing is there), or `None` when
    /// this flavor cannot try a read without blocking (a pipe: ask
    /// [`readable_now`](Transport::readable_now)).
    #[inline]
    pub(crate) fn try_read(&self, buf: &mut [u8], fds: Option<&mut Vec<OwnedFd>>) -> Option<io::Result<usize>> {
        match self {
            Transport::Fd { kind: FileKind::Pipe, .. } | Transport::Tls(_) => None,
            Transport::Fd { fd, .. } => Some(match fds {
                Some(fds) => net::recv_collect_fds(fd.as_fd(), buf, fds, true),
                None => net::recv_nonblocking(fd.as_fd(), buf),
            }),
        }
    }

    /// Waits until a read would not block (data, end of file or an error) or the deadline
    /// passes (`None`: forever); returns whether it became readable.
    #[inline]
    pub(crate) fn wait_readable(&self, deadline: Option<Instant>) -> io::Result<bool> {
        match self {
            Transport::Fd { fd, .. } => {
                Ok(!net::poll_raw(&[std::os::fd::AsRawFd::as_raw_fd(fd)], deadline)?.is_empty())
            }
            Transport::Tls(t) => t.wait_readable(deadline),
        }
    }

    /// Would a read not block right now?
    #[inline]
    pub(crate) fn readable_now(&self) -> io::Result<bool> {
        match self {
            Transport::Fd { fd, .. } => net::readable_now(fd.as_fd()),
            Transport::Tls(t) => t.readable_now(),
        }
    }
}
