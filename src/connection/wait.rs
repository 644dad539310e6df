//! `wait()` over connections, listeners, process sentinels and raw descriptors.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use super::conn::Connection;
use super::listener::Listener;

/// Something [`wait`] can watch: it becomes ready when its descriptor is readable (data,
/// end of file, a client waiting, a process ended).
///
/// Implemented for [`Connection`], [`Listener`], a raw descriptor number (such as
/// [`Process::sentinel`](crate::Process::sentinel)), `BorrowedFd`, `OwnedFd`, std's Unix and
/// TCP streams, and references to any of these (so `&[&dyn Waitable]` mixes kinds).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use multiproc::connection::{wait, Waitable};
/// let (a, b) = multiproc::pipe(true)?;
/// let (c, d) = multiproc::pipe(true)?;
/// d.send_bytes(b"x")?;
/// let objs: [&dyn Waitable; 2] = [&a, &c];
/// assert_eq!(wait(&objs, Some(Duration::ZERO))?, vec![1]);
/// # drop(b);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Waitable {
    /// The descriptor to watch, or `None` when the object is closed.
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::Waitable;
    /// let (mut a, _b) = multiproc::pipe(true)?;
    /// assert!(a.wait_fd().is_some());
    /// a.close();
    /// assert!(a.wait_fd().is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn wait_fd(&self) -> Option<RawFd>;
}

impl Waitable for Connection {
    fn wait_fd(&self) -> Option<RawFd> {
        let fd = self.as_raw_fd();
        (fd >= 0).then_some(fd)
    }
}

impl Waitable for Listener {
    /// The listening socket, or (with an authkey) a descriptor that is readable when a client
    /// waits or a handshake in flight can progress.
    fn wait_fd(&self) -> Option<RawFd> {
        self.ready_fd()
    }
}

impl Waitable for RawFd {
    fn wait_fd(&self) -> Option<RawFd> {
        (*self >= 0).then_some(*self)
    }
}

impl Waitable for BorrowedFd<'_> {
    fn wait_fd(&self) -> Option<RawFd> {
        Some(self.as_raw_fd())
    }
}

impl Waitable for OwnedFd {
    fn wait_fd(&self) -> Option<RawFd> {
        Some(self.as_raw_fd())
    }
}

impl Waitable for std::os::unix::net::UnixStream {
    fn wait_fd(&self) -> Option<RawFd> {
        Some(self.as_raw_fd())
    }
}

impl Waitable for std::net::TcpStream {
    fn wait_fd(&self) -> Option<RawFd> {
        Some(self.as_raw_fd())
    }
}

impl<T: Waitable + ?Sized> Waitable for &T {
    fn wait_fd(&self) -> Option<RawFd> {
        (**self).wait_fd()
    }
}

/// Waits until at least one of `objects` is ready, or `timeout` passes; returns the indexes
/// of the ready ones, in order (Python: `multiprocessing.connection.wait`, which returns the
/// objects themselves). `None` (or a timeout too large to represent, such as `Duration::MAX`)
/// waits as long as it takes; `Some(Duration::ZERO)` checks once (Python's zero or negative
/// timeout). An empty result means the timeout passed.
///
/// A connection is ready when a message or end of file is waiting, a process sentinel when
/// the process has ended, and a listener when [`accept`](Listener::accept) has something to
/// do: a client waiting to be taken, or (with an authkey) a handshake in flight that can take
/// its next step. A ready listener does not always have an authenticated client yet: follow
/// it with [`try_accept`](Listener::try_accept), which then never blocks.
///
/// # Errors
/// [`std::io::ErrorKind::InvalidInput`] if an object is closed; the OS error of `poll`.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use multiproc::connection::{wait, Waitable};
/// use multiproc::{pipe, Process};
///
/// let (a, _keep) = pipe(true)?;
/// let p = Process::new(|(): ()| std::thread::sleep(Duration::from_millis(100)), ());
/// p.start()?;
/// let sentinel = p.sentinel()?;
/// let objs: [&dyn Waitable; 2] = [&a, &sentinel];
/// assert_eq!(wait(&objs, None)?, vec![1]); // the process ended
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn wait<W: Waitable>(objects: &[W], timeout: Option<Duration>) -> std::io::Result<Vec<usize>> {
    let mut fds = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        match o.wait_fd() {
            Some(fd) => fds.push(fd),
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("object #{i} passed to wait() is closed"),
                ));
            }
        }
    }
    crate::sys::net::poll_raw(&fds, timeout.and_then(crate::deadline::after))
}
