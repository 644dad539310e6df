//! The shared-memory tracker: unlinks the named segments a process created and did not unlink
//! when that process ends, however it ends (return, `exit`, panic, SIGKILL).
//!
//! # Rules
//!
//! - **One tracker per creating process**, started lazily by the first
//!   [`SharedMemory::create`](super::SharedMemory::create) of a *named* segment, as a service
//!   process (`process::service`) that does not die with its creator.
//! - **Only creators register.** A process that attached to a segment (by name, by receiving
//!   a handle, or by inheriting one under `Fork`) never registers it and its tracker never
//!   touches it: an attacher's death cannot unlink a segment others still use, which is
//!   CPython's gh-82300 bug.
//! - **Register before the name exists, unregister after it is gone; match inodes.** The
//!   creator makes the segment without a name (`O_TMPFILE` in `/dev/shm`), sends
//!   `REGISTER name inode`, and only then names it with `linkat` (which fails if the name is
//!   taken, like `O_EXCL`). It unlinks first and sends `UNREGISTER name` after (or when it
//!   gives up ownership with [`persist`](super::SharedMemory::persist)). At cleanup the tracker
//!   unlinks a name only if it still leads to the registered inode. So a SIGKILL at any point
//!   leaks nothing, and a registration left over by a kill (never linked, already unlinked, or
//!   a name someone else reused since) never removes another process's segment. (Without
//!   `O_TMPFILE`, creation falls back to `shm_open(O_CREAT | O_EXCL)` then registration, with a
//!   window of a few instructions.)
//! - **Death is detected with a pidfd, not with end of file.** The creator passes a pidfd of
//!   itself in its first message. A child forked from the creator inherits the creator's end
//!   of the tracker socket, so end of file would wait for that child too; the pidfd becomes
//!   readable exactly when the creator is gone. A forked child that creates named segments
//!   notices that its pid differs from the tracker connection's and starts its own tracker.
//! - When the creator is gone the tracker reads whatever messages are still queued, unlinks
//!   every name still registered, prints `There appear to be N leaked shared_memory objects
//!   to clean up at shutdown` on stderr (as CPython does) and exits with 1 (0 when clean).
//! - The tracker ignores SIGINT and SIGTERM, so a Ctrl-C to the process group does not stop
//!   it before it cleaned up. If it is killed anyway (SIGKILL), the creator notices at its
//!   next message, warns, starts a new tracker and registers every name it still owns again
//!   (it keeps that list itself), so nothing it owns is forgotten.
//!
//! # Wire format
//!
//! Datagrams on a `SOCK_SEQPACKET` socketpair: `H` with the creator's pidfd attached, then
//! `R<inode: 8 bytes LE><name>` and `U<8 bytes><name>` (names are at most 255 bytes, checked
//! before sending).
//!
//! The inode guards against unlinking someone else's segment: if a non-owner unlinked ours
//! and another process created a new segment under the same name, the tracker finds a
//! different inode behind the name at cleanup and leaves it alone (a CPython tracker unlinks
//! by name only, cf. gh-153279).

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use crate::service::{Service, spawn_service};
use crate::sys;

struct Conn {
    /// The process that started this tracker; a forked child sees a different pid.
    pid: u32,
    sock: OwnedFd,
    service: Service,
    /// Every name this process owns (with its segment's inode), so that a relaunched tracker
    /// can be told again.
    names: BTreeMap<String, u64>,
}

static TRACKER: Mutex<Option<Conn>> = Mutex::new(None);

/// A message from the creator, after the hello (`H` with the creator's pidfd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Msg<'a> {
    /// `R<inode: 8 bytes LE><name>`: the creator owns `name` (inode `ino`).
    Register { ino: u64, name: &'a str },
    /// `U<8 bytes><name>`: the creator no longer owns `name`.
    Unregister { name: &'a str },
}

/// The longest message: tag, inode, name.
const MAX_MSG: usize = 1 + 8 + sys::shm_open::MAX_NAME;
const HELLO: &[u8] = b"H";

impl<'a> Msg<'a> {
    /// Writes the message into `buf`; names are checked to fit before they get here.
    fn encode<'b>(&self, buf: &'b mut [u8; MAX_MSG]) -> &'b [u8] {
        let (tag, ino, name) = match *self {
            Msg::Register { ino, name } => (b'R', ino, name),
            Msg::Unregister { name } => (b'U', 0, name),
        };
        let len = (9 + name.len()).min(MAX_MSG);
        buf[0] = tag;
        buf[1..9].copy_from_slice(&ino.to_le_bytes());
        buf[9..len].copy_from_slice(&name.as_bytes()[..len - 9]);
        &buf[..len]
    }

    /// The message in `bytes`; `None` for anything else (a short, unknown or non-UTF-8 one).
    fn decode(bytes: &'a [u8]) -> Option<Msg<'a>> {
        let ino = u64::from_le_bytes(bytes.get(1..9)?.try_into().ok()?);
        let name = std::str::from_utf8(&bytes[9..]).ok()?;
        match bytes[0] {
            b'R' => Some(Msg::Register { ino, name }),
            b'U' => Some(Msg::Unregister { name }),
            _ => None,
        }
    }
}

fn send(sock: &OwnedFd, msg: Msg<'_>) -> io::Result<()> {
    let mut buf = [0u8; MAX_MSG];
    sys::socket::send_with_fds(sock.as_fd(), msg.encode(&mut buf), &[]).map(drop)
}

fn start(names: BTreeMap<String, u64>) -> io::Result<Conn> {
    let (ours, theirs) = sys::socket::socketpair(sys::socket::PairKind::SeqPacket)?;
    let me = sys::liveness::my_pid();
    let pidfd = sys::proc::pidfd_open(me)?;
    let service = spawn_service(tracker_main, theirs, false)?;
    sys::socket::send_with_fds(ours.as_fd(), HELLO, &[pidfd.as_fd()])?;
    for (name, ino) in &names {
        send(&ours, Msg::Register { ino: *ino, name })?;
    }
    Ok(Conn { pid: me, sock: ours, service, names })
}

/// Sends one message, relaunching the tracker (and telling it every owned name again) if it
/// died: CPython relaunches too, but forgets what the dead tracker knew.
fn send_or_relaunch(slot: &mut Option<Conn>, msg: Msg<'_>) -> io::Result<()> {
    let me = sys::liveness::my_pid();
    if slot.as_ref().is_none_or(|c| c.pid != me) {
        // A connection inherited through fork belongs to the parent's tracker: drop our copy.
        *slot = Some(start(BTreeMap::new())?);
    }
    let conn = slot.as_mut().expect("started above");
    match msg {
        Msg::Register { ino, name } => conn.names.insert(name.to_string(), ino),
        Msg::Unregister { name } => conn.names.remove(name),
    };
    if send(&conn.sock, msg).is_ok() {
        return Ok(());
    }
    eprintln!("multiproc shm tracker: the tracker process (pid {}) died unexpectedly, relaunching", conn.service.pid);
    // Reap the dead tracker (it is our child) so that it does not linger as a zombie.
    let _ = conn.service.wait(Some(std::time::Instant::now() + std::time::Duration::from_secs(1)));
    let names = std::mem::take(&mut conn.names);
    *slot = Some(start(names)?);
    Ok(())
}

/// Records that this process created the named segment `name` (inode `ino`) and owns it.
pub(crate) fn register(name: &str, ino: u64) -> io::Result<()> {
    let mut g = TRACKER.lock().unwrap_or_else(|e| e.into_inner());
    send_or_relaunch(&mut g, Msg::Register { ino, name })
}

/// Records that this process no longer owns `name` (it is about to unlink it, or persists it).
pub(crate) fn unregister(name: &str) -> io::Result<()> {
    let mut g = TRACKER.lock().unwrap_or_else(|e| e.into_inner());
    match g.as_ref() {
        Some(c) if c.pid == sys::liveness::my_pid() => send_or_relaunch(&mut g, Msg::Unregister { name }),
        _ => Ok(()),
    }
}

fn apply(msg: &[u8], names: &mut BTreeMap<String, u64>) {
    match Msg::decode(msg) {
        Some(Msg::Register { ino, name }) => {
            names.insert(name.to_string(), ino);
        }
        Some(Msg::Unregister { name }) => {
            names.remove(name);
        }
        None => {}
    }
}

/// Is `name` still the segment with inode `ino`? (Gone, or another segment: no.)
fn still_ours(name: &str, ino: u64) -> bool {
    match sys::shm_open::open_existing(name).and_then(|fd| sys::shm_open::inode(fd.as_fd())) {
        Ok(i) if i == ino => true,
        Ok(_) => {
            eprintln!(
                "multiproc shm tracker: not unlinking {name:?}: that name now belongs to another segment \
                 (someone unlinked ours and reused the name)"
            );
            false
        }
        Err(_) => false,
    }
}

/// The tracker process.
fn tracker_main(sock: OwnedFd) -> i32 {
    sys::proc::ignore_signal(libc::SIGTERM);
    let mut buf = [0u8; MAX_MSG + 1];
    let pidfd = match sys::socket::recv_with_fds(sock.as_fd(), &mut buf, 1) {
        Ok((n, mut fds)) if &buf[..n] == HELLO && fds.len() == 1 => fds.pop().expect("one fd"),
        _ => return 0, // the creator died before it said hello: it registered nothing
    };
    let mut names = BTreeMap::new();
    let mut sock_open = true;
    loop {
        let fds: Vec<_> = if sock_open { vec![pidfd.as_fd(), sock.as_fd()] } else { vec![pidfd.as_fd()] };
        let ready = match sys::fd::poll_readable(&fds, None) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("multiproc shm tracker: poll failed ({e}); cleaning up now");
                break;
            }
        };
        if ready.contains(&1) {
            match sys::socket::recv_with_fds(sock.as_fd(), &mut buf, 1) {
                Ok((0, _)) | Err(_) => sock_open = false,
                Ok((n, _)) => apply(&buf[..n], &mut names),
            }
        }
        if ready.contains(&0) {
            break;
        }
    }
    // The creator is gone: take the messages it sent before dying.
    while sock_open && sys::fd::is_readable(sock.as_fd()).unwrap_or(false) {
        match sys::socket::recv_with_fds(sock.as_fd(), &mut buf, 1) {
            Ok((0, _)) | Err(_) => break,
            Ok((n, _)) => apply(&buf[..n], &mut names),
        }
    }
    // Names registered but never linked (killed in between), already unlinked (killed before
    // the UNREGISTER), or reused by someone else are not leaks of ours.
    let leaked: Vec<&String> = names.iter().filter(|(n, ino)| still_ours(n, **ino)).map(|(n, _)| n).collect();
    if leaked.is_empty() {
        return 0;
    }
    let shown: Vec<&&String> = leaked.iter().take(10).collect();
    let more =
        if leaked.len() > shown.len() { format!(" and {} more", leaked.len() - shown.len()) } else { String::new() };
    eprintln!(
        "multiproc shm tracker: There appear to be {} leaked shared_memory objects to clean up at shutdown: {shown:?}{more}",
        leaked.len(),
    );
    for n in leaked {
        if let Err(e) = sys::shm_open::unlink(n) {
            eprintln!("multiproc shm tracker: cannot unlink {n:?}: {e}");
        }
    }
    1
}

/// Applies `data` as messages from a creator, as the tracker does (fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(data: &[u8]) {
    let mut names = BTreeMap::new();
    for msg in data.split(|&b| b == 0xff) {
        apply(msg, &mut names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_at_the_longest_name() {
        let long = "n".repeat(sys::shm_open::MAX_NAME);
        let mut buf = [0u8; MAX_MSG];
        for msg in [Msg::Register { ino: u64::MAX, name: &long }, Msg::Unregister { name: "x" }] {
            let bytes = msg.encode(&mut buf).to_vec();
            assert_eq!(Msg::decode(&bytes), Some(msg));
        }
        assert_eq!(Msg::decode(b"R1234567"), None, "too short");
        assert_eq!(Msg::decode(b"Q12345678name"), None, "unknown tag");
        assert_eq!(Msg::decode(b"R12345678\xff"), None, "not UTF-8");
    }

    #[test]
    fn the_tracker_reads_a_longest_name_whole() {
        // The tracker's receive buffer holds the longest message: a datagram cut short by the
        // kernel would register a name that was never created.
        let long = "m".repeat(sys::shm_open::MAX_NAME);
        let (a, b) = sys::socket::socketpair(sys::socket::PairKind::SeqPacket).unwrap();
        send(&a, Msg::Register { ino: 7, name: &long }).unwrap();
        let mut buf = [0u8; MAX_MSG + 1];
        let (n, _) = sys::socket::recv_with_fds(b.as_fd(), &mut buf, 1).unwrap();
        let mut names = BTreeMap::new();
        apply(&buf[..n], &mut names);
        assert_eq!(names.get(&long), Some(&7));
    }
}
