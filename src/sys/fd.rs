//! File-descriptor helpers: flags, duplication and `poll` against deadlines.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::fcntl_dupfd_cloexec;

use crate::wait::{self, Look, Next};

/// Runs `f` again while it fails with `EINTR`.
///
/// # References
/// - [signal(7), "Interruption of system calls"](https://man7.org/linux/man-pages/man7/signal.7.html)
pub(crate) fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Duplicates `fd` to a new descriptor with `FD_CLOEXEC` set.
pub(crate) fn dup_cloexec(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    retry(|| fcntl_dupfd_cloexec(fd, 3))
}

/// Moves a descriptor the library just made off the standard descriptors 0, 1 and 2.
///
/// The kernel hands out the lowest free number. In a process whose stdin, stdout or stderr is
/// closed, a socket or pidfd of the library would otherwise become "stdout", and whatever the
/// program (or a forked child) prints would go into the library's protocol. Descriptors at 3
/// or above (nearly always) pass through untouched.
pub(crate) fn off_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if std::os::fd::AsRawFd::as_raw_fd(&fd) > 2 {
        return Ok(fd);
    }
    dup_cloexec(fd.as_fd())
}

/// [`off_stdio`] for a pair.
pub(crate) fn off_stdio_pair((a, b): (OwnedFd, OwnedFd)) -> io::Result<(OwnedFd, OwnedFd)> {
    Ok((off_stdio(a)?, off_stdio(b)?))
}

/// Remaining time until `deadline`, `None` for "forever".
pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// Waits until one of `fds` is readable (or hung up) or the deadline passes.
///
/// Returns the indexes of the ready descriptors; an empty vector means the deadline passed.
/// `EINTR` is retried with the remaining time.
///
/// # References
/// - [poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
pub(crate) fn poll_readable(fds: &[BorrowedFd<'_>], deadline: Option<Instant>) -> io::Result<Vec<usize>> {
    poll_flags(fds, PollFlags::IN, deadline)
}

/// Waits until `fd` is writable (or failed) or the deadline passes; returns whether it became
/// writable.
pub(crate) fn poll_writable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<bool> {
    Ok(!poll_flags(&[fd], PollFlags::OUT, deadline)?.is_empty())
}

/// Waits until the peer of `sock` has closed or shut down its end (not for data: a peer
/// that writes and then closes wakes the caller once, at the close). Returns whether it did
/// before the deadline.
///
/// A writer's wake-up is a "sync" wake-up: the scheduler may put the woken thread on the
/// writer's CPU, expecting the writer to sleep soon. A child that reports and then exits does
/// not sleep, and the woken parent would wait for the whole exit. Waiting for the close
/// instead is woken by the exit itself.
pub(crate) fn poll_hangup(sock: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<bool> {
    Ok(!poll_flags(&[sock], PollFlags::RDHUP, deadline)?.is_empty())
}

/// Has the peer of `sock` hung up (or the descriptor failed)? Never blocks; does not look at
/// whether data is waiting.
pub(crate) fn hung_up(sock: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(!poll_flags(&[sock], PollFlags::empty(), Some(Instant::now()))?.is_empty())
}

fn poll_flags(fds: &[BorrowedFd<'_>], flags: PollFlags, deadline: Option<Instant>) -> io::Result<Vec<usize>> {
    loop {
        let mut pfds: Vec<PollFd<'_>> = fds.iter().map(|fd| PollFd::new(fd, flags)).collect();
        let timeout = remaining(deadline).map(|d| {
            rustix::time::Timespec::try_from(d).unwrap_or(rustix::time::Timespec { tv_sec: i64::MAX / 2, tv_nsec: 0 })
        });
        match rustix::event::poll(&mut pfds, timeout.as_ref()) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(0) => return Ok(Vec::new()),
            Ok(_) => {
                return Ok(pfds.iter().enumerate().filter(|(_, p)| !p.revents().is_empty()).map(|(i, _)| i).collect());
            }
        }
    }
}

/// Like [`poll_readable`] on one descriptor, but first checks it without sleeping (for as long
/// as `policy`, a [`Policy::busy`](crate::wait::Policy::busy), says): on an idle multi-core machine, waking a sleeping thread costs tens of
/// microseconds (see DESIGN.md, "Wake-up cost"), more than a short answer takes to arrive.
/// Returns whether the descriptor became readable before the deadline.
///
/// The wait core's [`Policy::busy`](crate::wait::Policy::busy): each check is a zero-timeout
/// `poll`, the sleep one `poll` until the deadline.
pub(crate) fn spin_then_poll(fd: BorrowedFd<'_>, policy: &wait::Policy, deadline: Option<Instant>) -> io::Result<bool> {
    wait::run(policy, None, deadline, Readable { fd, seen: None })
}

/// [`spin_then_poll`]'s waiter: looks with a zero-timeout `poll`, sleeps in `poll`.
struct Readable<'a> {
    fd: BorrowedFd<'a>,
    /// What the last sleep found: readable, or a failure to report.
    seen: Option<io::Result<bool>>,
}

impl wait::Waiter for Readable<'_> {
    type Output = io::Result<bool>;

    fn look(&mut self) -> Look<io::Result<bool>> {
        match is_readable(self.fd) {
            Ok(false) => Look::NotYet,
            done => Look::Done(done),
        }
    }

    fn prepare(&mut self) -> Next<'_, io::Result<bool>> {
        match self.seen.take() {
            Some(done) => Next::Done(done),
            None => Next::Sleep,
        }
    }

    fn sleep(&mut self, until: Option<Instant>) -> bool {
        match poll_readable(&[self.fd], until) {
            Ok(ready) if ready.is_empty() => false,
            Ok(_) => {
                self.seen = Some(Ok(true));
                true
            }
            Err(e) => {
                self.seen = Some(Err(e));
                true
            }
        }
    }

    fn deadline_passed(&mut self) -> io::Result<bool> {
        self.seen.take().unwrap_or_else(|| is_readable(self.fd))
    }
}

/// Is `fd` readable right now (data, end of file or error)?
pub(crate) fn is_readable(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(!poll_readable(&[fd], Some(Instant::now()))?.is_empty())
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on end of file before the first byte.
pub(crate) fn read_exact_or_eof(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<bool> {
    let mut done = 0;
    while done < buf.len() {
        let n = retry(|| rustix::io::read(fd, &mut buf[done..]))?;
        if n == 0 {
            if done == 0 {
                return Ok(false);
            }
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed in the middle of a message"));
        }
        done += n;
    }
    Ok(true)
}

/// Writes all of `buf`.
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = retry(|| rustix::io::write(fd, buf))?;
        buf = &buf[n..];
    }
    Ok(())
}

/// Opens `/dev/null` onto descriptor `target` (used to replace a child's stdin).
pub(crate) fn devnull_onto(target: RawFd) -> io::Result<()> {
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    // SAFETY: `target` is a descriptor number this process owns (0, 1 or 2); `dup2` onto it
    // replaces whatever it referred to, which is the intent.
    let mut target_fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(target) };
    let res = rustix::io::dup2(null.as_fd(), &mut target_fd);
    std::mem::forget(target_fd);
    res?;
    Ok(())
}

/// Takes ownership of a raw descriptor number inherited from the parent.
///
/// # Safety
/// `fd` must be open and owned by nobody else in this process.
pub(crate) unsafe fn owned_from_raw(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller guarantees `fd` is open and unowned.
    unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
}
