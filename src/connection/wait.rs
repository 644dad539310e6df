//! `wait()` over connections, listeners, process sentinels and raw descriptors.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::{Connection, Listener};

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
    fn wait_fd(&self) -> Option<RawFd> {
        let fd = self.as_raw_fd();
        (fd >= 0).then_some(fd)
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
/// objects themselves). `None` waits as long as it takes; `Some(Duration::ZERO)` checks once
/// (Python's zero or negative timeout). An empty result means the timeout passed.
///
/// A connection is ready when a message or end of file is waiting, a listener when a client
/// is waiting to be accepted, a process sentinel when the process has ended.
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
    let deadline = timeout.map(|t| Instant::now() + t);
    crate::sys::net::poll_raw(&fds, deadline)
}
