//! Unix socketpairs and SCM_RIGHTS descriptor passing.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags, SocketFlags, SocketType,
};

use super::fd::{off_stdio, off_stdio_pair, retry};

/// The most descriptors the kernel accepts in one SCM_RIGHTS message (`SCM_MAX_FD`).
pub(crate) const MAX_FDS_PER_MSG: usize = 253;

/// Which kind of socketpair to make.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PairKind {
    /// A byte stream (`SOCK_STREAM`).
    Stream,
    /// Datagrams with boundaries and ordering (`SOCK_SEQPACKET`).
    SeqPacket,
}

/// A connected pair of Unix sockets, both close-on-exec.
///
/// # References
/// - [socketpair(2)](https://man7.org/linux/man-pages/man2/socketpair.2.html)
pub(crate) fn socketpair(kind: PairKind) -> io::Result<(OwnedFd, OwnedFd)> {
    let ty = match kind {
        PairKind::Stream => SocketType::STREAM,
        PairKind::SeqPacket => SocketType::SEQPACKET,
    };
    off_stdio_pair(rustix::net::socketpair(AddressFamily::UNIX, ty, SocketFlags::CLOEXEC, None)?)
}

/// A pipe `(read end, write end)`, both close-on-exec.
///
/// # References
/// - [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html)
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    off_stdio_pair(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

/// Sends `data` with `fds` attached as one `sendmsg`; returns how many bytes of `data` went out.
///
/// At least one byte of data must be sent for the descriptors to travel.
///
/// # References
/// - [unix(7), SCM_RIGHTS](https://man7.org/linux/man-pages/man7/unix.7.html)
pub(crate) fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    send_with_fds_flags(sock, data, fds, SendFlags::NOSIGNAL)
}

/// [`send_with_fds`] waiting at most until `deadline` for room in the socket's buffer (the
/// descriptor itself stays blocking): `Err(WouldBlock)` if there was none by then.
pub(crate) fn send_with_fds_until(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
    deadline: Option<std::time::Instant>,
) -> io::Result<usize> {
    loop {
        match send_with_fds_flags(sock, data, fds, SendFlags::NOSIGNAL | SendFlags::DONTWAIT) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !super::fd::poll_writable(sock, deadline)? {
                    return Err(e);
                }
            }
            r => return r,
        }
    }
}

fn send_with_fds_flags(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
    flags: SendFlags,
) -> io::Result<usize> {
    if fds.len() > MAX_FDS_PER_MSG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} file descriptors in one message; at most {MAX_FDS_PER_MSG} can be passed", fds.len()),
        ));
    }
    let mut space = vec![MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(fds.len().max(1)))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !cmsg.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("control message buffer too small"));
    }
    let iov = [IoSlice::new(data)];
    retry(|| rustix::net::sendmsg(sock, &iov, &mut cmsg, flags))
}

/// Receives up to `buf.len()` bytes and any descriptors attached (close-on-exec).
///
/// Returns `(bytes, fds)`; `bytes == 0` with no fds means end of file. Descriptors beyond
/// `max_fds` are closed by the kernel (`MSG_CTRUNC`), which is reported as an error.
pub(crate) fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8], max_fds: usize) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut fds = Vec::new();
    let n = recvmsg_fds(sock, buf, max_fds, false, &mut fds)?;
    Ok((n, fds))
}

/// Peeks at the next datagram of `sock` without taking it (and without taking the
/// descriptors it carries): `Ok(None)` when none waits. Fills `buf` with its first bytes.
///
/// # References
/// - [recv(2), MSG_PEEK](https://man7.org/linux/man-pages/man2/recv.2.html)
pub(crate) fn peek_datagram(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    use rustix::net::RecvFlags;
    match super::fd::retry(|| rustix::net::recv(sock, &mut *buf, RecvFlags::PEEK | RecvFlags::DONTWAIT)) {
        Ok((n, _)) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// One `recvmsg` into `buf`, appending received descriptors (close-on-exec) to `fds`; with
/// `nonblocking`, `MSG_DONTWAIT` (an `Err(WouldBlock)` when nothing waits).
pub(crate) fn recvmsg_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
    nonblocking: bool,
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    // On the stack: this is on the hot path of every connection read.
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_MSG))];
    let room = rustix::cmsg_space!(ScmRights(max_fds.clamp(1, MAX_FDS_PER_MSG)));
    let mut cmsg = RecvAncillaryBuffer::new(&mut space[..room]);
    let mut iov = [IoSliceMut::new(buf)];
    let mut flags = RecvFlags::CMSG_CLOEXEC;
    if nonblocking {
        flags |= RecvFlags::DONTWAIT;
    }
    let res = retry(|| rustix::net::recvmsg(sock, &mut iov, &mut cmsg, flags))?;
    for msg in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = msg {
            for fd in rights {
                fds.push(off_stdio(fd)?);
            }
        }
    }
    if res.flags.contains(rustix::net::ReturnFlags::CTRUNC) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the peer passed more than {max_fds} file descriptors; the rest were dropped"),
        ));
    }
    Ok(res.bytes)
}

/// The header of a framed message: body length and fd count, each `u32` little-endian.
const FRAME_HEADER: usize = 8;

fn frame_header(body_len: usize, nfds: usize) -> [u8; FRAME_HEADER] {
    let mut head = [0u8; FRAME_HEADER];
    head[..4].copy_from_slice(&(body_len as u32).to_le_bytes());
    head[4..].copy_from_slice(&(nfds as u32).to_le_bytes());
    head
}

/// (body length, fd count) of a header.
fn parse_header(head: &[u8; FRAME_HEADER]) -> (usize, usize) {
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]) as usize;
    (word(0), word(4))
}

/// The body of a whole framed message held in `buf` (read from a stream without its fds);
/// `None` if `buf` does not hold the whole message yet, or holds garbage.
pub(crate) fn parse_framed(buf: &[u8]) -> Option<&[u8]> {
    let head: &[u8; FRAME_HEADER] = buf.get(..FRAME_HEADER)?.try_into().ok()?;
    let (len, _) = parse_header(head);
    buf.get(FRAME_HEADER..FRAME_HEADER.checked_add(len)?)
}

/// Sends a whole framed message: an 8-byte header (body length, fd count) carrying the fds,
/// then the body.
pub(crate) fn send_framed(sock: BorrowedFd<'_>, body: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let head = frame_header(body.len(), fds.len());
    if body.len() > u32::MAX as usize {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bootstrap message over 4 GiB"));
    }
    // Small bodies go in the same sendmsg as the header.
    let mut first = Vec::with_capacity(FRAME_HEADER + body.len().min(64 * 1024));
    first.extend_from_slice(&head);
    first.extend_from_slice(&body[..body.len().min(64 * 1024)]);
    let sent = send_with_fds(sock, &first, fds)?;
    if sent < FRAME_HEADER {
        // The header must arrive with the fds; a short write of a fresh socket cannot happen
        // for 8 bytes, but be explicit.
        super::fd::write_all(sock, &first[sent..FRAME_HEADER])?;
        super::fd::write_all(sock, body)?;
    } else {
        super::fd::write_all(sock, &body[sent - FRAME_HEADER..])?;
    }
    Ok(())
}

/// Receives one message sent by [`send_framed`]; `Ok(None)` at end of file.
///
/// `max_len` bounds the body length accepted from the peer before anything is allocated.
pub(crate) fn recv_framed(sock: BorrowedFd<'_>, max_len: usize) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut head = [0u8; FRAME_HEADER];
    let (n, mut fds) = recv_with_fds(sock, &mut head, MAX_FDS_PER_MSG)?;
    if n == 0 && fds.is_empty() {
        return Ok(None);
    }
    if n < FRAME_HEADER && !super::fd::read_exact_or_eof(sock, &mut head[n..])? {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated message header"));
    }
    let (len, nfds) = parse_header(&head);
    if len > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes is over the limit of {max_len}"),
        ));
    }
    if nfds != fds.len() {
        fds.clear();
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message announced {nfds} file descriptors but carried a different number"),
        ));
    }
    let mut body = vec![0u8; len];
    if len > 0 && !super::fd::read_exact_or_eof(sock, &mut body)? {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed before the message body"));
    }
    Ok(Some((body, fds)))
}

/// Borrows each descriptor of a slice.
pub(crate) fn borrow_all(fds: &[OwnedFd]) -> Vec<BorrowedFd<'_>> {
    fds.iter().map(|f| f.as_fd()).collect()
}

/// The longest abstract socket name [`listen_abstract`] hands out (the kernel's autobind names
/// are 5 hex digits).
pub(crate) const MAX_ABSTRACT_NAME: usize = 32;

/// An abstract Unix socket name, small and `Copy` so that a forked child can take it without
/// allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AbstractName {
    len: u8,
    bytes: [u8; MAX_ABSTRACT_NAME],
}

impl AbstractName {
    fn new(name: &[u8]) -> io::Result<AbstractName> {
        if name.len() > MAX_ABSTRACT_NAME {
            return Err(io::Error::other(format!("abstract socket name of {} bytes is too long", name.len())));
        }
        let mut bytes = [0u8; MAX_ABSTRACT_NAME];
        bytes[..name.len()].copy_from_slice(name);
        Ok(AbstractName { len: name.len() as u8, bytes })
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// A fresh Unix stream socket, close-on-exec and non-blocking.
fn unix_stream_nonblocking() -> io::Result<OwnedFd> {
    off_stdio(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?)
}

/// A listening Unix stream socket on a fresh abstract name the kernel picks (autobind),
/// close-on-exec and non-blocking, with that name.
///
/// # References
/// - [unix(7), "Autobind feature"](https://man7.org/linux/man-pages/man7/unix.7.html)
pub(crate) fn listen_abstract() -> io::Result<(OwnedFd, AbstractName)> {
    let fd = unix_stream_nonblocking()?;
    rustix::net::bind(&fd, &rustix::net::SocketAddrUnix::new_unnamed())?;
    rustix::net::listen(&fd, 1024)?;
    let addr = rustix::net::SocketAddrUnix::try_from(rustix::net::getsockname(&fd)?)?;
    let name = addr.abstract_name().ok_or_else(|| io::Error::other("autobind gave no abstract name"))?;
    Ok((fd, AbstractName::new(name)?))
}

/// Connects to the abstract name `name` without blocking: a listener whose queue is full
/// gives `WouldBlock` instead of a wait. The socket is close-on-exec and stays non-blocking.
pub(crate) fn connect_abstract(name: &AbstractName) -> io::Result<OwnedFd> {
    let fd = unix_stream_nonblocking()?;
    let addr = rustix::net::SocketAddrUnix::new_abstract_name(name.as_bytes())?;
    retry(|| rustix::net::connect(&fd, &addr))?;
    Ok(fd)
}

/// Accepts one pending connection without blocking (`None` when there is none); the
/// accepted socket is close-on-exec and non-blocking.
pub(crate) fn accept_now(listener: BorrowedFd<'_>) -> io::Result<Option<OwnedFd>> {
    match retry(|| rustix::net::accept_with(listener, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK)) {
        Ok(fd) => Ok(Some(off_stdio(fd)?)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// The pid of the process that connected a Unix socket (`SO_PEERCRED`, taken at connect).
pub(crate) fn peer_pid(sock: BorrowedFd<'_>) -> io::Result<u32> {
    let cred = rustix::net::sockopt::socket_peercred(sock)?;
    Ok(cred.pid.as_raw_nonzero().get() as u32)
}

/// Reads what is available on a non-blocking socket into `buf`, up to `limit` bytes in all:
/// `Ok(true)` at end of file, `Ok(false)` when nothing more is there yet.
///
/// # Errors
/// `InvalidData` when the peer sent more than `limit` bytes.
pub(crate) fn read_available(sock: BorrowedFd<'_>, buf: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match retry(|| rustix::io::read(sock, &mut chunk)) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                if buf.len() + n > limit {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("over {limit} bytes")));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}
