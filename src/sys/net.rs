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
