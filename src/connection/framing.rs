//! CPython's wire framing: a 4-byte big-endian signed length, or `-1` followed by an 8-byte
//! big-endian length for payloads over `0x7fffffff`, then the payload.
//!
//! Reading never allocates before the announced length has been checked against the limit,
//! and it reads exactly one message (header, then body) so that descriptors passed with a
//! message over a Unix socket are never mixed up with the next message's.
//!
//! Bytes move through a [`Transport`]; nothing here depends on
//! what carries them.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Instant;

use super::ConnectionError;
use super::transport::Transport;
use crate::wait::Look;

/// The largest length that fits the short header.
pub(crate) const SHORT_MAX: usize = 0x7fff_ffff;

/// Encodes the header for a payload of `len` bytes; returns the buffer and its used length.
pub(crate) fn header(len: usize) -> ([u8; 12], usize) {
    let mut h = [0u8; 12];
    if len > SHORT_MAX {
        h[..4].copy_from_slice(&(-1i32).to_be_bytes());
        h[4..].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 12)
    } else {
        h[..4].copy_from_slice(&(len as i32).to_be_bytes());
        (h, 4)
    }
}

/// Writes one framed message; descriptors (Unix sockets only) travel with its first bytes.
pub(crate) fn write_message(t: &Transport, payload: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), ConnectionError> {
    if !fds.is_empty() && !t.passes_fds() {
        return Err(ConnectionError::HandlesNotSupported);
    }
    let (h, hl) = header(payload.len());
    t.write_all(&[&h[..hl], payload], fds)?;
    Ok(())
}

/// Reads one message; what the caller learns about the connection's state.
pub(crate) struct Reader<'a> {
    pub(crate) t: &'a Transport,
    /// Collect descriptors (Unix socket + typed receive); `None` reads with plain `read`.
    pub(crate) fds: Option<Vec<OwnedFd>>,
    /// When to give up on the message (`None`: never).
    pub(crate) deadline: Option<Instant>,
    /// When to give up waiting for the message to begin, if earlier than `deadline` (a `try_`
    /// call: at once; once the message has begun, its rest is waited for until `deadline`).
    pub(crate) start_by: Option<Instant>,
    /// Spin for the first bytes before blocking (off for `try_` forms and past deadlines).
    pub(crate) spin: bool,
    /// Set once any byte of the message was consumed: a failure after that leaves the stream
    /// in the middle of a message.
    pub(crate) started: bool,
}

impl Reader<'_> {
    /// Waits briefly for the first bytes of `head`, checking and yielding (the wait core's
    /// [`CONNECTION_READ`](crate::wait::CONNECTION_READ) policy).
    /// On a socket each check is a nonblocking `recv` into `head`, so a message that is
    /// already there costs no extra syscall; on a pipe it is a zero-timeout `poll`.
    /// Returns how many bytes of `head` were read (`None`: end of file before any).
    fn spin_head(&mut self, head: &mut [u8]) -> Result<Option<usize>, ConnectionError> {
        if !self.spin {
            return Ok(Some(0));
        }
        let deadline = self.deadline;
        let (t, fds) = (&self.t, &mut self.fds);
        let got =
            crate::wait::spin(&crate::wait::CONNECTION_READ, None, deadline, || match t.try_read(head, fds.as_mut()) {
                Some(Ok(0)) => Look::Done(Ok(None)),
                Some(Ok(n)) => Look::Done(Ok(Some(n))),
                Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => Look::NotYet,
                Some(Err(e)) => Look::Done(Err(e.into())),
                // A pipe: readable (or failing) means the caller's read finds out which.
                None if t.readable_now().unwrap_or(true) => Look::Done(Ok(Some(0))),
                None => Look::NotYet,
            });
        match got {
            Some(Ok(Some(n))) if n > 0 => {
                self.started = true;
                Ok(Some(n))
            }
            Some(r) => r,
            // The yield phase ended: the caller blocks in `fill`.
            None => Ok(Some(0)),
        }
    }

    /// Fills `buf` completely. `Ok(false)`: end of file before the first byte of the message.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) -> Result<bool, ConnectionError> {
        let mut done = 0;
        while done < buf.len() {
            let until = if self.started { self.deadline } else { self.start_by.or(self.deadline) };
            if let Some(d) = until
                && !self.t.wait_readable(Some(d))?
            {
                return Err(if self.started || self.start_by.is_none() {
                    ConnectionError::Timeout
                } else {
                    ConnectionError::WouldBlock
                });
            }
            let n = self.t.read(&mut buf[done..], self.fds.as_mut())?;
            if n == 0 {
                if !self.started {
                    return Ok(false);
                }
                return Err(ConnectionError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection in the middle of a message",
                )));
            }
            self.started = true;
            done += n;
        }
        Ok(true)
    }

    /// Reads a header and returns the announced length (`None`: end of file), checked against
    /// `max` before anything is allocated.
    pub(crate) fn read_len(&mut self, max: usize) -> Result<Option<usize>, ConnectionError> {
        let mut h = [0u8; 4];
        let Some(got) = self.spin_head(&mut h)? else { return Ok(None) };
        if !self.fill(&mut h[got..])? {
            return Ok(None);
        }
        let short = i32::from_be_bytes(h);
        let len: u64 = if short == -1 {
            let mut l = [0u8; 8];
            self.fill(&mut l)?;
            u64::from_be_bytes(l)
        } else if short < 0 {
            return Err(ConnectionError::BadMessageLength { len: short as i64 as u64, max: max as u64 });
        } else {
            short as u64
        };
        if len > max as u64 {
            return Err(ConnectionError::BadMessageLength { len, max: max as u64 });
        }
        Ok(Some(len as usize))
    }
}
