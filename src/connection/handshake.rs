//! A listener's handshakes: many clients authenticate at once, and none can hold up another.
//!
//! A [`Listener`](super::Listener) with an authkey does not run the handshake of one client at
//! a time. [`Handshakes`] keeps every connection it has taken from the kernel but not yet
//! authenticated, each with its own deadline and a small state machine, and drives all of them
//! from `accept` with one `epoll` set: a read happens only when a peer's bytes are there, so a
//! peer that sends three bytes and stalls costs a slot and a descriptor, never time. `accept`
//! returns the first connection whose handshake completed; connections that failed theirs are
//! closed, counted ([`HandshakeStats`]) and logged at debug level, and `accept` goes on.
//!
//! # Bounds
//!
//! - At most `max` handshakes in flight (`ListenerBuilder::max_handshakes`, default
//!   [`DEFAULT_MAX_HANDSHAKES`]). When a new client arrives and all slots are taken, one
//!   handshake is shed (closed): the oldest of those whose peer has not sent a byte yet, else
//!   the oldest. Leaving the newcomer in the kernel's backlog instead would queue a good
//!   client behind a flood of silent ones until their deadlines passed (the very stall this
//!   exists to prevent), and refusing the newcomer would hand the listener to whoever
//!   connects first. A good client completes in a few round trips, so it is never the one
//!   shed unless `max` clients arrive within those round trips.
//! - Every handshake message is read into a fixed 256-byte buffer (CPython's
//!   `recv_bytes(256)`) after its length was checked: nothing is ever allocated by a length a
//!   peer announced. Each read asks for the bytes the current frame still lacks and no more,
//!   so bytes (and descriptors) the client sends after the handshake stay in the socket for
//!   the [`Connection`].
//! - Each connection has its own deadline, `handshake_timeout` after the kernel handed it over,
//!   however slowly it trickles bytes in. A connection whose bytes arrived while no one was in
//!   `accept` is read before its deadline is looked at, so a client is not failed for the
//!   caller's absence.
//! - At most `max` new connections are taken from the kernel per round, so a flood cannot keep
//!   `accept` from driving the handshakes already in flight.
//!
//! # One connection's states (the server side of CPython's handshake)
//!
//! | state | waiting for | on a whole message | next |
//! |---|---|---|---|
//! | `Answer` | the answer to our `#CHALLENGE#` (sent on arrival) | right: send `#WELCOME#`; wrong: send `#FAILURE#`, fail | `Challenge` |
//! | `Challenge` | the client's `#CHALLENGE#` | send our answer | `Verdict` |
//! | `Verdict` | `#WELCOME#` | done: the connection is authenticated | handed to `accept`'s caller |
//!
//! End of file, a reset, a bad length, garbage or the deadline fail the connection in any
//! state. The server's messages are tiny (under 200 bytes in all) and each is sent at once with
//! a non-blocking `send`; a peer whose socket buffer cannot take them is failed, not waited for.
//!
//! # Waiting from outside
//!
//! The epoll set's own descriptor is what `wait()` watches for a `Listener`: it is readable
//! while a client waits in the kernel or a handshake can take a step, so an event loop that
//! calls `try_accept` when it fires drives the handshakes as well as a blocking `accept` does.
//! At most one connection completes per round; the others that are ready stay readable, so the
//! set stays readable too and no completed handshake waits for an unrelated wake-up.
//!
//! # Fork
//!
//! A forked child shares the parent's epoll set. A child whose copy of the listener accepts
//! leaves the parent's set alone: it drops its copies of the handshakes in flight (the
//! parent's go on) and makes a set of its own.

use std::collections::HashMap;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::address::Address;
use super::auth::{self, Challenge, Digest, FAILURE, MAX_HANDSHAKE, WELCOME};
use super::conn::Connection;
use super::error::ConnectionError;
use crate::connection::error::AuthenticationError;
use crate::sys::net::{self, FileKind, Poller};

/// How many handshakes a listener runs at once unless told otherwise.
pub(crate) const DEFAULT_MAX_HANDSHAKES: usize = 128;

/// The epoll key of the listening socket (the others are their descriptor numbers).
const LISTENER_KEY: u64 = u64::MAX;

/// What a [`Listener`](super::Listener) with an authkey has done with the clients that
/// connected: how many were authenticated, failed or shed, and how many are authenticating
/// now. All zero for a listener without an authkey.
///
/// # Examples
/// ```
/// use multiproc::connection::{Client, Listener};
/// let mut l = Listener::builder().authkey(b"k").bind()?;
/// let addr = l.address().clone();
/// let t = std::thread::spawn(move || Client::connect(&addr, Some(b"k")).map(|_| ()));
/// l.accept()?;
/// t.join().unwrap()?;
/// let stats = l.handshake_stats();
/// assert_eq!((stats.completed, stats.failed, stats.in_flight), (1, 0, 0));
/// # Ok::<(), multiproc::connection::ConnectionError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeStats {
    /// Handshakes under way now.
    pub in_flight: usize,
    /// Handshakes that completed (their connection went to an `accept` caller).
    pub completed: u64,
    /// Handshakes that failed: a wrong key, a peer that broke the protocol, closed the
    /// connection or sent an oversized message.
    pub failed: u64,
    /// Handshakes that did not complete within the handshake timeout.
    pub timed_out: u64,
    /// Handshakes closed to make room for a new client while all slots were taken.
    pub shed: u64,
}

/// A connection the kernel handed over, before its handshake.
pub(crate) struct Incoming {
    pub(crate) fd: OwnedFd,
    pub(crate) kind: FileKind,
    pub(crate) peer: Option<Address>,
}

/// What a round of handshakes produced for `accept`.
pub(crate) enum Outcome {
    /// An authenticated connection and its peer's address.
    Accepted(Connection, Option<Address>),
    /// A failed handshake (only when failures are reported to the caller).
    Failed(ConnectionError, Option<Address>),
}

/// The settings a listener gives its handshakes.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) key: Vec<u8>,
    pub(crate) digest: Digest,
    pub(crate) timeout: Duration,
    pub(crate) max: usize,
    pub(crate) max_message: usize,
    /// Hand failed handshakes to `accept`'s caller as errors instead of only counting them.
    pub(crate) report: bool,
}

/// The handshakes in flight of one listener.
pub(crate) struct Handshakes {
    settings: Settings,
    poller: Poller,
    /// By descriptor number (also the epoll key).
    pending: HashMap<RawFd, Pending>,
    stats: HandshakeStats,
    /// The process whose epoll set `poller` is (see "Fork" above).
    pid: u32,
    keys: Vec<u64>,
}

impl fmt::Debug for Handshakes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshakes").field("in_flight", &self.pending.len()).field("stats", &self.stats).finish()
    }
}

impl Handshakes {
    pub(crate) fn new(listener: BorrowedFd<'_>, settings: Settings) -> std::io::Result<Handshakes> {
        let poller = Poller::new()?;
        poller.add(listener, LISTENER_KEY)?;
        Ok(Handshakes {
            settings,
            poller,
            pending: HashMap::new(),
            stats: HandshakeStats::default(),
            pid: std::process::id(),
            keys: Vec::new(),
        })
    }

    /// The descriptor `wait()` watches: readable when `run` has something to do.
    pub(crate) fn ready_fd(&self) -> BorrowedFd<'_> {
        self.poller.as_fd()
    }

    pub(crate) fn stats(&self) -> HandshakeStats {
        HandshakeStats { in_flight: self.pending.len(), ..self.stats }
    }

    /// Takes new connections from `accept_one` and drives every handshake until one completes
    /// (or, when reporting, fails), or `deadline` passes (`Ok(None)`; `None`: never). Looks
    /// at least once, even with a deadline already passed.
    pub(crate) fn run(
        &mut self,
        listener: BorrowedFd<'_>,
        deadline: Option<Instant>,
        accept_one: &mut dyn FnMut() -> std::io::Result<Option<Incoming>>,
    ) -> Result<Option<Outcome>, ConnectionError> {
        if self.pid != std::process::id() {
            self.leave_parents_set(listener)?;
        }
        loop {
            let wake = match (deadline, self.earliest_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut keys = std::mem::take(&mut self.keys);
            self.poller.wait(&mut keys, self.pending.len() + 1, wake)?;
            let outcome = self.round(&keys, accept_one);
            self.keys = keys;
            if let Some(o) = outcome? {
                return Ok(Some(o));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// One round over the ready keys: step the ready handshakes, expire the late ones, take
    /// new connections.
    fn round(
        &mut self,
        keys: &[u64],
        accept_one: &mut dyn FnMut() -> std::io::Result<Option<Incoming>>,
    ) -> Result<Option<Outcome>, ConnectionError> {
        let now = Instant::now();
        let report = self.settings.report;
        let mut listener_ready = false;
        let mut outcome = None;
        // Ready, but not looked at in this round (one outcome per round): not expired either.
        let mut unread: Vec<RawFd> = Vec::new();
        for &key in keys {
            if key == LISTENER_KEY {
                listener_ready = true;
                continue;
            }
            let fd = key as RawFd;
            if outcome.is_some() {
                unread.push(fd);
                continue;
            }
            let Some(p) = self.pending.get_mut(&fd) else { continue };
            match p.step(&self.settings.key) {
                Step::Waiting => {}
                Step::Done => {
                    let p = self.remove(fd);
                    self.stats.completed += 1;
                    let mut conn = Connection::new(p.sock, p.kind, true, true);
                    conn.set_max_message(self.settings.max_message);
                    outcome = Some(Outcome::Accepted(conn, p.peer));
                }
                Step::Failed(e) => {
                    let p = self.remove(fd);
                    self.note_failure(&p.peer, &e);
                    if report {
                        outcome = Some(Outcome::Failed(e, p.peer));
                    }
                }
            }
        }
        if (outcome.is_none() || !report)
            && let Some(o) = self.expire(now, &unread)
        {
            outcome = Some(o);
        }
        if outcome.is_some() {
            return Ok(outcome);
        }
        if listener_ready {
            self.take_new(accept_one, now)?;
        }
        Ok(None)
    }

    /// Fails the handshakes whose deadline passed (all of them, or only the first when each
    /// failure goes to the caller: the rest follow in later calls).
    fn expire(&mut self, now: Instant, unread: &[RawFd]) -> Option<Outcome> {
        let mut late: Vec<(Instant, RawFd)> = self
            .pending
            .iter()
            .filter_map(|(&fd, p)| p.deadline.filter(|&d| d <= now && !unread.contains(&fd)).map(|d| (d, fd)))
            .collect();
        if late.is_empty() {
            return None;
        }
        late.sort_unstable();
        for (_, fd) in late {
            let p = self.remove(fd);
            let e = ConnectionError::HandshakeTimeout { timeout: self.settings.timeout };
            self.note_failure(&p.peer, &e);
            if self.settings.report {
                return Some(Outcome::Failed(e, p.peer));
            }
        }
        None
    }

    /// Takes up to `max` connections waiting in the kernel and sends each its challenge.
    fn take_new(
        &mut self,
        accept_one: &mut dyn FnMut() -> std::io::Result<Option<Incoming>>,
        now: Instant,
    ) -> Result<(), ConnectionError> {
        for _ in 0..self.settings.max {
            let incoming = match accept_one() {
                Ok(Some(i)) => i,
                Ok(None) => return Ok(()),
                // The client gave up before we took it, or a firewall said no: next.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc_errno::ECONNABORTED | libc_errno::EPROTO | libc_errno::EPERM)
                    ) =>
                {
                    continue;
                }
                // Out of descriptors or memory: make room by shedding a handshake, if there is one.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
                    ) =>
                {
                    if self.shed_one() {
                        continue;
                    }
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
            };
            if self.pending.len() >= self.settings.max {
                self.shed_one();
            }
            let deadline = now.checked_add(self.settings.timeout);
            let peer = incoming.peer.clone();
            let fd = incoming.fd.as_raw_fd();
            match Pending::start(incoming, self.settings.digest, deadline, now) {
                Ok(p) => match self.poller.add(p.sock.as_fd(), fd as u64) {
                    Ok(()) => {
                        self.pending.insert(fd, p);
                    }
                    Err(e) => self.note_failure(&peer, &e.into()),
                },
                Err(e) => self.note_failure(&peer, &e),
            }
        }
        Ok(())
    }

    /// Closes one handshake to make room: the oldest whose peer has sent nothing, else the
    /// oldest. Returns false when there was none.
    fn shed_one(&mut self) -> bool {
        let victim = self.pending.iter().min_by_key(|(_, p)| (p.heard, p.accepted)).map(|(&fd, _)| fd);
        let Some(fd) = victim else { return false };
        let p = self.remove(fd);
        self.stats.shed += 1;
        log::debug!(
            "multiproc: listener shed the handshake with {} ({} in flight, the most allowed)",
            peer_name(&p.peer),
            self.settings.max
        );
        true
    }

    fn remove(&mut self, fd: RawFd) -> Pending {
        let p = self.pending.remove(&fd).expect("a handshake in flight");
        // Before the descriptor closes (a copy of it in a forked child would keep it watched).
        let _ = self.poller.remove(p.sock.as_fd());
        p
    }

    fn note_failure(&mut self, peer: &Option<Address>, e: &ConnectionError) {
        if e.is_timeout() {
            self.stats.timed_out += 1;
        } else {
            self.stats.failed += 1;
        }
        log::debug!("multiproc: listener dropped {} after a failed handshake: {e}", peer_name(peer));
    }

    fn earliest_deadline(&self) -> Option<Instant> {
        self.pending.values().filter_map(|p| p.deadline).min()
    }

    /// In a forked child: drop this process's copies of the handshakes in flight without
    /// touching the epoll set it shares with the parent, and make a set of its own.
    fn leave_parents_set(&mut self, listener: BorrowedFd<'_>) -> std::io::Result<()> {
        self.pending.clear();
        self.poller = Poller::new()?;
        self.poller.add(listener, LISTENER_KEY)?;
        self.pid = std::process::id();
        Ok(())
    }
}

/// The errno values `take_new` tells apart.
mod libc_errno {
    pub(super) const ECONNABORTED: i32 = rustix::io::Errno::CONNABORTED.raw_os_error();
    pub(super) const EPROTO: i32 = rustix::io::Errno::PROTO.raw_os_error();
    pub(super) const EPERM: i32 = rustix::io::Errno::PERM.raw_os_error();
    pub(super) const EMFILE: i32 = rustix::io::Errno::MFILE.raw_os_error();
    pub(super) const ENFILE: i32 = rustix::io::Errno::NFILE.raw_os_error();
    pub(super) const ENOBUFS: i32 = rustix::io::Errno::NOBUFS.raw_os_error();
    pub(super) const ENOMEM: i32 = rustix::io::Errno::NOMEM.raw_os_error();
}

fn peer_name(peer: &Option<Address>) -> String {
    match peer {
        Some(a) => a.to_string(),
        None => "a client on an unnamed Unix socket".to_string(),
    }
}

/// The states of one handshake, named by the message awaited (see the table in the module
/// documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The answer to our challenge.
    Answer,
    /// The client's challenge.
    Challenge,
    /// The client's verdict on our answer.
    Verdict,
}

/// What a step of one handshake came to.
enum Step {
    /// It needs more bytes from the peer.
    Waiting,
    /// Authenticated.
    Done,
    Failed(ConnectionError),
}

/// One connection in its handshake.
struct Pending {
    sock: OwnedFd,
    kind: FileKind,
    peer: Option<Address>,
    /// `None`: a handshake timeout too large to represent.
    deadline: Option<Instant>,
    accepted: Instant,
    /// Has the peer sent any byte?
    heard: bool,
    state: State,
    frame: Frame,
    challenge: Challenge,
}

impl Pending {
    /// Sends the challenge to a new connection.
    fn start(
        incoming: Incoming,
        digest: Digest,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Result<Pending, ConnectionError> {
        let challenge = Challenge::new(digest)?;
        send_frame(incoming.fd.as_fd(), challenge.frame())?;
        Ok(Pending {
            sock: incoming.fd,
            kind: incoming.kind,
            peer: incoming.peer,
            deadline,
            accepted: now,
            heard: false,
            state: State::Answer,
            frame: Frame::new(),
            challenge,
        })
    }

    /// Reads what the peer sent and acts on each whole message, until the socket is empty,
    /// the handshake is over, or it failed.
    fn step(&mut self, key: &[u8]) -> Step {
        loop {
            let res = net::recv_nonblocking(self.sock.as_fd(), self.frame.missing());
            let n = match res {
                Ok(0) => {
                    let e = if self.frame.started() {
                        ConnectionError::Io(std::io::ErrorKind::UnexpectedEof.into())
                    } else {
                        ConnectionError::Eof
                    };
                    return Step::Failed(auth::in_handshake(e));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Step::Waiting,
                Err(e) => return Step::Failed(auth::in_handshake(e.into())),
            };
            self.heard = true;
            let len = match self.frame.advance(n) {
                Ok(None) => continue,
                Ok(Some(len)) => len,
                Err(e) => return Step::Failed(auth::in_handshake(e)),
            };
            let mut msg = [0u8; MAX_HANDSHAKE];
            msg[..len].copy_from_slice(&self.frame.body[..len]);
            match self.on_message(key, &msg[..len]) {
                Ok(true) => return Step::Done,
                Ok(false) => {}
                Err(e) => return Step::Failed(e),
            }
        }
    }

    /// Acts on one whole message; `Ok(true)` when the handshake is complete.
    fn on_message(&mut self, key: &[u8], msg: &[u8]) -> Result<bool, ConnectionError> {
        let fd = self.sock.as_fd();
        match self.state {
            State::Answer => match self.challenge.check(key, msg) {
                Ok(()) => {
                    send_frame(fd, WELCOME)?;
                    self.state = State::Challenge;
                    Ok(false)
                }
                Err(e) => {
                    let _ = send_frame(fd, FAILURE);
                    Err(e.into())
                }
            },
            State::Challenge => {
                send_frame(fd, &auth::respond(key, msg)?)?;
                self.state = State::Verdict;
                Ok(false)
            }
            State::Verdict => {
                auth::check_verdict(msg)?;
                Ok(true)
            }
        }
    }
}

/// Sends one framed handshake message at once, without waiting.
fn send_frame(fd: BorrowedFd<'_>, payload: &[u8]) -> Result<(), ConnectionError> {
    let (h, hl) = super::framing::header(payload.len());
    let mut buf = [0u8; 4 + MAX_HANDSHAKE];
    let total = hl + payload.len();
    buf[..hl].copy_from_slice(&h[..hl]);
    buf[hl..total].copy_from_slice(payload);
    match net::send_nonblocking(fd, &buf[..total]) {
        Ok(n) if n == total => Ok(()),
        Ok(_) => Err(not_reading()),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(not_reading()),
        Err(e) => Err(auth::in_handshake(e.into())),
    }
}

fn not_reading() -> ConnectionError {
    AuthenticationError::protocol("the peer does not read what we send (its socket buffer is full)").into()
}

/// One incoming handshake frame, read piece by piece into fixed buffers: the 4-byte length
/// (then 8 more bytes when it is -1), checked against the 256-byte limit, then the body.
struct Frame {
    head: [u8; 12],
    /// How much of `head` this frame has: 4, or 12 for the long form.
    head_len: usize,
    head_got: usize,
    /// The body's length once the head is complete.
    body_len: Option<usize>,
    body_got: usize,
    body: [u8; MAX_HANDSHAKE],
}

impl Frame {
    fn new() -> Frame {
        Frame { head: [0; 12], head_len: 4, head_got: 0, body_len: None, body_got: 0, body: [0; MAX_HANDSHAKE] }
    }

    /// The bytes still missing from the current part (never empty).
    fn missing(&mut self) -> &mut [u8] {
        match self.body_len {
            None => &mut self.head[self.head_got..self.head_len],
            Some(len) => &mut self.body[self.body_got..len],
        }
    }

    /// Has any byte of this frame arrived?
    fn started(&self) -> bool {
        self.head_got > 0 || self.body_len.is_some()
    }

    /// Accounts for `n` more bytes; `Ok(Some(len))` when the frame is whole (its body is
    /// `body[..len]` until the next read), `Err` for a length over the limit.
    fn advance(&mut self, n: usize) -> Result<Option<usize>, ConnectionError> {
        let max = MAX_HANDSHAKE as u64;
        match self.body_len {
            None => {
                self.head_got += n;
                if self.head_got < self.head_len {
                    return Ok(None);
                }
                let len = if self.head_len == 4 {
                    let short = i32::from_be_bytes(self.head[..4].try_into().expect("4 bytes"));
                    if short == -1 {
                        self.head_len = 12;
                        return Ok(None);
                    }
                    if short < 0 {
                        return Err(ConnectionError::BadMessageLength { len: short as i64 as u64, max });
                    }
                    short as u64
                } else {
                    u64::from_be_bytes(self.head[4..12].try_into().expect("8 bytes"))
                };
                if len > max {
                    return Err(ConnectionError::BadMessageLength { len, max });
                }
                if len == 0 {
                    return Ok(Some(self.finish(0)));
                }
                self.body_len = Some(len as usize);
                self.body_got = 0;
                Ok(None)
            }
            Some(len) => {
                self.body_got += n;
                if self.body_got < len { Ok(None) } else { Ok(Some(self.finish(len))) }
            }
        }
    }

    fn finish(&mut self, len: usize) -> usize {
        self.head_len = 4;
        self.head_got = 0;
        self.body_len = None;
        self.body_got = 0;
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(f: &mut Frame, bytes: &[u8]) -> Result<Option<Vec<u8>>, ConnectionError> {
        let mut out = None;
        for &b in bytes {
            let m = f.missing();
            assert!(!m.is_empty());
            m[0] = b;
            if let Some(len) = f.advance(1)? {
                out = Some(f.body[..len].to_vec());
            }
        }
        Ok(out)
    }

    #[test]
    fn frames_byte_by_byte() {
        let mut f = Frame::new();
        assert_eq!(feed(&mut f, &[0, 0, 0, 3, b'a', b'b', b'c']).unwrap(), Some(b"abc".to_vec()));
        assert!(!f.started());
        assert_eq!(feed(&mut f, &[0, 0, 0, 0]).unwrap(), Some(Vec::new()));
        let mut long = (-1i32).to_be_bytes().to_vec();
        long.extend_from_slice(&2u64.to_be_bytes());
        long.extend_from_slice(b"xy");
        assert_eq!(feed(&mut f, &long).unwrap(), Some(b"xy".to_vec()));
        assert_eq!(feed(&mut f, &[0, 0]).unwrap(), None);
        assert!(f.started());
    }

    #[test]
    fn lengths_over_the_limit_fail_on_the_header() {
        for head in [
            257i32.to_be_bytes().to_vec(),
            (-2i32).to_be_bytes().to_vec(),
            [&(-1i32).to_be_bytes()[..], &(1u64 << 40).to_be_bytes()].concat(),
            [&(-1i32).to_be_bytes()[..], &257u64.to_be_bytes()].concat(),
        ] {
            let mut f = Frame::new();
            match feed(&mut f, &head) {
                Err(ConnectionError::BadMessageLength { max: 256, .. }) => {}
                other => panic!("{head:?}: {other:?}"),
            }
        }
    }
}
