//! Socket and pipe I/O for connections: vectored writes, reads that collect SCM_RIGHTS
//! descriptors, `poll` over raw descriptor numbers, and what kind of file a descriptor is.

use std::io::{self, IoSlice};
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::time::Instant;

use rustix::net::{RecvFlags, SendFlags};

use super::fd::{remaining, retry};
use super::socket::MAX_FDS_PER_MSG;

/// What a descriptor refers to, as far as a connection cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A pipe or anything that is not a socket: plain `read`/`write`.
    Pipe,
    /// A Unix-domain socket: descriptors may travel with the bytes.
    Unix,
    /// Any other socket (TCP): bytes only.
    Inet,
}

/// Finds out whether `fd` is a pipe, a Unix socket or another socket.
///
/// # References
/// - [getsockopt(2), SO_DOMAIN](https://man7.org/linux/man-pages/man7/socket.7.html)
pub(crate) fn file_kind(fd: BorrowedFd<'_>) -> FileKind {
    match rustix::net::sockopt::socket_domain(fd) {
        Ok(d) if d == rustix::net::AddressFamily::UNIX => FileKind::Unix,
        Ok(_) => FileKind::Inet,
        Err(_) => FileKind::Pipe,
    }
}

/// One `read` (`EINTR` retried); 0 means end of file.
///
/// # References
/// - [read(2)](https://man7.org/linux/man-pages/man2/read.2.html)
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    retry(|| rustix::io::read(fd, &mut *buf))
}

/// One `recv` with `MSG_DONTWAIT` on a socket: `Err(WouldBlock)` when nothing is waiting,
/// 0 at end of file.
///
/// # References
/// - [recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html)
pub(crate) fn recv_nonblocking(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    retry(|| rustix::net::recv(sock, &mut *buf, RecvFlags::DONTWAIT)).map(|(n, _)| n)
}

/// Writes all of `parts` in order, with as few syscalls as the kernel allows (`writev` for
/// pipes, `sendmsg` with `MSG_NOSIGNAL` for sockets).
///
/// # References
/// - [writev(2)](https://man7.org/linux/man-pages/man2/writev.2.html),
///   [sendmsg(2)](https://man7.org/linux/man-pages/man2/sendmsg.2.html)
pub(crate) fn write_all_vectored(fd: BorrowedFd<'_>, socket: bool, parts: &[&[u8]]) -> io::Result<()> {
    let mut idx = 0;
    let mut off = 0;
    while idx < parts.len() {
        if off == parts[idx].len() {
            idx += 1;
            off = 0;
            continue;
        }
        let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(parts.len() - idx);
        iov.push(IoSlice::new(&parts[idx][off..]));
        for p in &parts[idx + 1..] {
            iov.push(IoSlice::new(p));
        }
        let mut n = if socket {
            let mut no_cmsg = rustix::net::SendAncillaryBuffer::default();
            retry(|| rustix::net::sendmsg(fd, &iov, &mut no_cmsg, SendFlags::NOSIGNAL))?
        } else {
            retry(|| rustix::io::writev(fd, &iov))?
        };
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "the peer accepted no more bytes"));
        }
        while n > 0 && idx < parts.len() {
            let left = parts[idx].len() - off;
            if n >= left {
                n -= left;
                idx += 1;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
    }
    Ok(())
}

/// One `recvmsg` into `buf`; descriptors that came with the bytes are appended to `fds`
/// (close-on-exec). 0 bytes with no descriptors means end of file.
///
/// # References
/// - [unix(7), SCM_RIGHTS](https://man7.org/linux/man-pages/man7/unix.7.html)
///
/// With `nonblocking`, `Err(WouldBlock)` when nothing is waiting (`MSG_DONTWAIT`, which leaves
/// the descriptor's own flags alone).
pub(crate) fn recv_collect_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    nonblocking: bool,
) -> io::Result<usize> {
    super::socket::recvmsg_fds(sock, buf, MAX_FDS_PER_MSG, nonblocking, fds)
}

/// Waits until one of the raw descriptors is readable (or hung up, or invalid) or the
/// deadline passes; returns the indexes of the ready ones (empty: the deadline passed).
///
/// Negative descriptor numbers are ignored by the kernel, as `poll(2)` documents.
///
/// # References
/// - [poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
pub(crate) fn poll_raw(fds: &[RawFd], deadline: Option<Instant>) -> io::Result<Vec<usize>> {
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    loop {
        let timeout_ms: libc::c_int = match remaining(deadline) {
            None => -1,
            Some(d) => {
                // Round up so that a short wait never becomes a busy zero-timeout loop.
                let ms = d.as_nanos().div_ceil(1_000_000);
                ms.min(i32::MAX as u128) as libc::c_int
            }
        };
        // SAFETY: `pfds` is a valid, writable array of `pfds.len()` pollfd structures for the
        // duration of the call; the kernel only reads fd/events and writes revents.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            if deadline.is_some_and(|d| Instant::now() < d) {
                continue;
            }
            return Ok(Vec::new());
        }
        return Ok(pfds.iter().enumerate().filter(|(_, p)| p.revents != 0).map(|(i, _)| i).collect());
    }
}

/// Is `fd` readable right now (data, end of file or error)? One `poll` with a zero timeout.
pub(crate) fn readable_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut pfd = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
    let zero = rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 };
    match retry(|| rustix::event::poll(&mut pfd, Some(&zero))) {
        Ok(n) => Ok(n > 0),
        Err(e) => Err(e),
    }
}

/// Sets the backlog of the listening socket `fd` (a second `listen` on a listening socket
/// changes it).
///
/// # References
/// - [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html)
pub(crate) fn set_backlog(fd: BorrowedFd<'_>, backlog: u32) -> io::Result<()> {
    Ok(rustix::net::listen(fd, backlog.min(i32::MAX as u32) as i32)?)
}

/// One `send` that never blocks (`MSG_DONTWAIT | MSG_NOSIGNAL`, the descriptor's own flags
/// untouched): how many bytes went out, `Err(WouldBlock)` when the socket buffer is full.
///
/// # References
/// - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html)
pub(crate) fn send_nonblocking(sock: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    retry(|| rustix::net::send(sock, buf, SendFlags::DONTWAIT | SendFlags::NOSIGNAL))
}

/// A level-triggered epoll set watching descriptors for readability, each under a key.
///
/// The set is itself a descriptor, readable while any descriptor in it is (so one `poll` on
/// it, or a [`wait`](crate::connection::wait) over it, covers them all). A descriptor must be
/// [`remove`](Poller::remove)d before it is closed: epoll forgets a descriptor only when
/// every copy of it is closed, and a copy may live on in a forked child.
///
/// # References
/// - [epoll(7)](https://man7.org/linux/man-pages/man7/epoll.7.html)
#[derive(Debug)]
pub(crate) struct Poller {
    ep: OwnedFd,
}

impl Poller {
    /// A new, empty set (close-on-exec).
    ///
    /// # References
    /// - [epoll_create1(2)](https://man7.org/linux/man-pages/man2/epoll_create1.2.html)
    pub(crate) fn new() -> io::Result<Poller> {
        let ep = rustix::event::epoll::create(rustix::event::epoll::CreateFlags::CLOEXEC)?;
        Ok(Poller { ep: super::fd::off_stdio(ep)? })
    }

    /// Watches `fd` for readability (data, end of file, an error or a waiting client), under `key`.
    ///
    /// # References
    /// - [epoll_ctl(2)](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: u64) -> io::Result<()> {
        use rustix::event::epoll;
        Ok(epoll::add(&self.ep, fd, epoll::EventData::new_u64(key), epoll::EventFlags::IN)?)
    }

    /// Stops watching `fd`.
    pub(crate) fn remove(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(rustix::event::epoll::delete(&self.ep, fd)?)
    }

    /// Waits until a watched descriptor is ready or the deadline passes (`None`: forever), and
    /// puts the keys of up to `max` ready ones in `keys` (cleared first; left empty when the
    /// deadline passed or a signal interrupted the wait: the caller looks at the clock).
    ///
    /// # References
    /// - [epoll_wait(2)](https://man7.org/linux/man-pages/man2/epoll_wait.2.html)
    pub(crate) fn wait(&self, keys: &mut Vec<u64>, max: usize, deadline: Option<Instant>) -> io::Result<()> {
        keys.clear();
        let timeout = remaining(deadline).map(|d| {
            // epoll_pwait takes milliseconds in an int: about 24 days at most per call.
            let d = d.min(std::time::Duration::from_millis(i32::MAX as u64));
            rustix::time::Timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as _ }
        });
        let mut events: Vec<rustix::event::epoll::Event> = Vec::with_capacity(max.max(1));
        match rustix::event::epoll::wait(&self.ep, rustix::buffer::spare_capacity(&mut events), timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        keys.extend(events.iter().map(|e| e.data.u64()));
        Ok(())
    }

    /// The set's own descriptor (readable while a watched descriptor is ready).
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.ep)
    }
}

/// Where [`connect_until`] connects.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StreamAddr<'a> {
    /// TCP.
    Inet(std::net::SocketAddr),
    /// A Unix socket at a filesystem path.
    UnixPath(&'a std::path::Path),
    /// A Linux abstract Unix socket name (without the leading NUL).
    UnixAbstract(&'a [u8]),
}

/// Connects a stream socket (close-on-exec, blocking once connected) to `to`, giving up with
/// `ErrorKind::TimedOut` at `deadline`.
///
/// TCP connects without blocking and waits for the socket to become writable; a Unix socket
/// connects at once unless the listener's backlog is full, and then waits in the kernel for
/// room, bounded by `SO_SNDTIMEO`. A deadline already passed makes one attempt that never
/// waits.
///
/// # References
/// - [connect(2), EINPROGRESS](https://man7.org/linux/man-pages/man2/connect.2.html)
/// - [socket(7), SO_SNDTIMEO and connect](https://man7.org/linux/man-pages/man7/socket.7.html)
pub(crate) fn connect_until(to: StreamAddr<'_>, deadline: Instant) -> io::Result<OwnedFd> {
    use rustix::io::Errno;
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
    let family = match to {
        StreamAddr::Inet(std::net::SocketAddr::V4(_)) => AddressFamily::INET,
        StreamAddr::Inet(std::net::SocketAddr::V6(_)) => AddressFamily::INET6,
        StreamAddr::UnixPath(_) | StreamAddr::UnixAbstract(_) => AddressFamily::UNIX,
    };
    let fd = super::fd::off_stdio(rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?)?;
    let unix = match to {
        StreamAddr::Inet(_) => None,
        StreamAddr::UnixPath(p) => Some(SocketAddrUnix::new(p)?),
        StreamAddr::UnixAbstract(n) => Some(SocketAddrUnix::new_abstract_name(n)?),
    };
    let attempt = |fd: &OwnedFd| match (&to, &unix) {
        (StreamAddr::Inet(a), _) => rustix::net::connect(fd, a),
        (_, Some(u)) => rustix::net::connect(fd, u),
        (_, None) => unreachable!("a Unix address was built above"),
    };
    match attempt(&fd) {
        Ok(()) => {}
        // TCP: the handshake runs on; the socket turns writable when it is over.
        Err(Errno::INPROGRESS | Errno::ALREADY | Errno::INTR) if unix.is_none() => {
            if !wait_writable(std::os::fd::AsFd::as_fd(&fd), deadline)? {
                return Err(timed_out());
            }
            if let Err(e) = rustix::net::sockopt::socket_error(&fd)? {
                return Err(e.into());
            }
        }
        // A Unix listener whose backlog is full: wait in the kernel for room, bounded.
        Err(Errno::AGAIN) if unix.is_some() => {
            rustix::io::ioctl_fionbio(&fd, false)?;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(timed_out());
                }
                rustix::net::sockopt::set_socket_timeout(&fd, rustix::net::sockopt::Timeout::Send, Some(left))?;
                match attempt(&fd) {
                    Ok(()) => break,
                    Err(Errno::INTR) => continue,
                    Err(Errno::AGAIN | Errno::INPROGRESS) => return Err(timed_out()),
                    Err(e) => return Err(e.into()),
                }
            }
            rustix::net::sockopt::set_socket_timeout(&fd, rustix::net::sockopt::Timeout::Send, None)?;
        }
        Err(e) => return Err(e.into()),
    }
    rustix::io::ioctl_fionbio(&fd, false)?;
    Ok(fd)
}

/// Waits until `fd` is writable (or failed) or the deadline passes; returns whether it is.
fn wait_writable(fd: BorrowedFd<'_>, deadline: Instant) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags};
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let left = left.min(std::time::Duration::from_millis(i32::MAX as u64));
        let ts = rustix::time::Timespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as _ };
        let mut pfd = [PollFd::new(&fd, PollFlags::OUT)];
        match rustix::event::poll(&mut pfd, Some(&ts)) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(0) if Instant::now() < deadline => continue,
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
        }
    }
}
