//! CPython's authkey handshake (`multiprocessing.connection.deliver_challenge` /
//! `answer_challenge`), 3.12+ form with the legacy form of 3.11 and older.
//!
//! ```text
//! challenger (Listener.accept first)          responder (Client first)
//!   #CHALLENGE#{sha256}<40 random bytes>  -->
//!                                         <--  {sha256}HMAC-SHA256(key, "{sha256}<40 bytes>")
//!   #WELCOME# or #FAILURE#                -->
//! ```
//! then the same with the roles swapped, so both sides prove they know the key. The digest is
//! the challenger's choice among CPython's `_ALLOWED_DIGESTS` (`md5`, `sha256`, `sha384`,
//! `sha3_256`, `sha3_384`; see [`Digest`]); the responder answers with the one named. A legacy
//! (<= 3.11) challenger sends 20 random bytes with no `{digest}` prefix and expects the raw
//! 16-byte HMAC-MD5; a legacy responder answers any challenge with the raw 16-byte HMAC-MD5 of
//! everything after `#CHALLENGE#`. Every handshake message is at most 256 bytes, every read has
//! a deadline, and the MACs are compared in constant time.
//!
//! The steps are plain functions over messages ([`Challenge`], [`respond`],
//! [`check_verdict`]), shared by the blocking handshake here (`Client`, and the public
//! `deliver_challenge`/`answer_challenge`) and the non-blocking one a `Listener` runs for many
//! clients at once (`handshake.rs`).

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};

use super::conn::{Connection, Wait};
use super::error::ConnectionError;
use crate::connection::error::AuthenticationError;

pub(crate) const CHALLENGE: &[u8] = b"#CHALLENGE#";
pub(crate) const WELCOME: &[u8] = b"#WELCOME#";
pub(crate) const FAILURE: &[u8] = b"#FAILURE#";
/// The largest handshake message accepted (CPython's `recv_bytes(256)`).
pub(crate) const MAX_HANDSHAKE: usize = 256;
/// Random bytes in a challenge (CPython 3.12+ `MESSAGE_LENGTH`; legacy challenges have 20).
const NONCE_LEN: usize = 40;
const LEGACY_CHALLENGE_LEN: usize = 20;
const MD5_LEN: usize = 16;
/// How long a handshake may take by default before the peer is dropped.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// The HMAC digest a challenger asks for (CPython: `deliver_challenge(..., digest_name=...)`).
///
/// The names are CPython's `_ALLOWED_DIGESTS`; its `Client` and `Listener` always challenge
/// with `sha256` ([`Digest::Sha256`], the default here too), and answer whatever the other side
/// asked for, so a Rust listener set to any of these authenticates a CPython 3.12+ client (a
/// 3.11 client answers every challenge with the legacy HMAC-MD5, which is accepted, as CPython
/// accepts it). CPython allows no other digest (no `sha3_512`, no `sha512`), so neither does
/// this side: a challenge naming one would lock every Python peer out.
///
/// # Examples
/// ```
/// use multiproc::connection::{Client, Digest, Listener};
/// let mut l = Listener::builder().authkey(b"k").digest(Digest::Sha3_256).bind()?;
/// let addr = l.address().clone();
/// let t = std::thread::spawn(move || Client::builder(&addr).authkey(b"k").digest(Digest::Sha3_384).connect());
/// let _server_side = l.accept()?;
/// t.join().unwrap()?;
/// assert_eq!(Digest::Sha3_256.name(), "sha3_256");
/// # Ok::<(), multiproc::connection::ConnectionError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Digest {
    /// HMAC-MD5 with a `{md5}` prefix (weak; only for peers that insist on it).
    Md5,
    /// HMAC-SHA256, CPython's choice since 3.12.
    #[default]
    Sha256,
    /// HMAC-SHA384.
    Sha384,
    /// HMAC-SHA3-256.
    Sha3_256,
    /// HMAC-SHA3-384.
    Sha3_384,
}

impl Digest {
    /// Every digest CPython allows, in the order of its `_ALLOWED_DIGESTS` documentation.
    const ALL: [Digest; 5] = [Digest::Md5, Digest::Sha256, Digest::Sha384, Digest::Sha3_256, Digest::Sha3_384];

    /// The name in the `{name}` prefix of the wire messages (CPython's `digest_name`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::connection::Digest::default().name(), "sha256");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Digest::Md5 => "md5",
            Digest::Sha256 => "sha256",
            Digest::Sha384 => "sha384",
            Digest::Sha3_256 => "sha3_256",
            Digest::Sha3_384 => "sha3_384",
        }
    }

    fn from_name(name: &[u8]) -> Option<Digest> {
        Digest::ALL.into_iter().find(|d| d.name().as_bytes() == name)
    }

    /// The length of the MAC in bytes.
    fn len(self) -> usize {
        match self {
            Digest::Md5 => 16,
            Digest::Sha256 | Digest::Sha3_256 => 32,
            Digest::Sha384 | Digest::Sha3_384 => 48,
        }
    }

    /// `HMAC-<self>(key, msg)`.
    fn mac(self, key: &[u8], msg: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
            let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        match self {
            Digest::Md5 => run::<Hmac<md5::Md5>>(key, msg),
            Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg),
            Digest::Sha384 => run::<Hmac<sha2::Sha384>>(key, msg),
            Digest::Sha3_256 => run::<Hmac<sha3::Sha3_256>>(key, msg),
            Digest::Sha3_384 => run::<Hmac<sha3::Sha3_384>>(key, msg),
        }
    }

    /// Constant-time check of `tag == HMAC-<self>(key, msg)` (`Mac::verify_slice`).
    fn verify(self, key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
            let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
            m.update(msg);
            m.verify_slice(tag).is_ok()
        }
        match self {
            Digest::Md5 => run::<Hmac<md5::Md5>>(key, msg, tag),
            Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg, tag),
            Digest::Sha384 => run::<Hmac<sha2::Sha384>>(key, msg, tag),
            Digest::Sha3_256 => run::<Hmac<sha3::Sha3_256>>(key, msg, tag),
            Digest::Sha3_384 => run::<Hmac<sha3::Sha3_384>>(key, msg, tag),
        }
    }
}

/// Splits `{digest}payload` for a digest CPython allows (its `_get_digest_name_and_payload`
/// looks for the `}` within the longest name + 2 bytes).
fn digest_prefix(msg: &[u8]) -> Option<(Digest, &[u8])> {
    if msg.first() != Some(&b'{') {
        return None;
    }
    let end = msg.iter().take(2 + "sha3_384".len()).position(|&b| b == b'}')?;
    Some((Digest::from_name(&msg[1..end])?, &msg[end + 1..]))
}

fn random_error(e: getrandom::Error) -> ConnectionError {
    ConnectionError::Io(std::io::Error::other(format!("the operating system gave no random bytes: {e}")))
}

/// A challenge this side sends: `#CHALLENGE#{digest}<40 random bytes>`.
pub(crate) struct Challenge {
    frame: Vec<u8>,
}

impl Challenge {
    pub(crate) fn new(digest: Digest) -> Result<Challenge, ConnectionError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(random_error)?;
        let mut frame = CHALLENGE.to_vec();
        frame.extend_from_slice(format!("{{{}}}", digest.name()).as_bytes());
        frame.extend_from_slice(&nonce);
        Ok(Challenge { frame })
    }

    /// The message to send.
    pub(crate) fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// Checks the peer's answer (CPython's `_verify_challenge`): the answer is the
    /// `{digest}`-prefixed HMAC of everything after `#CHALLENGE#`, or (a legacy peer) the raw
    /// 16-byte HMAC-MD5 of it. `Ok`: send `#WELCOME#`; `Err`: send `#FAILURE#`.
    pub(crate) fn check(&self, key: &[u8], answer: &[u8]) -> Result<(), AuthenticationError> {
        let message = &self.frame[CHALLENGE.len()..];
        let (digest, tag) = if answer.len() == MD5_LEN || answer.len() == LEGACY_CHALLENGE_LEN {
            (Digest::Md5, answer)
        } else {
            digest_prefix(answer).ok_or_else(|| {
                AuthenticationError::protocol(format!(
                    "the {}-byte answer to our challenge is not a digest (no {{digest}} prefix CPython allows, and not a legacy 16-byte HMAC-MD5)",
                    answer.len()
                ))
            })?
        };
        if tag.len() != digest.len() {
            return Err(AuthenticationError::protocol(format!(
                "expected a {} digest of {} bytes in the answer to our challenge, got {}",
                digest.name(),
                digest.len(),
                tag.len()
            )));
        }
        if digest.verify(key, message, tag) {
            Ok(())
        } else {
            Err(AuthenticationError::key_mismatch("digest received was wrong"))
        }
    }
}

/// The answer to the peer's challenge message (CPython's `answer_challenge` up to the send).
pub(crate) fn respond(key: &[u8], frame: &[u8]) -> Result<Vec<u8>, AuthenticationError> {
    let Some(message) = frame.strip_prefix(CHALLENGE) else {
        return Err(AuthenticationError::protocol(format!(
            "expected a challenge (#CHALLENGE#...), got {} bytes of something else",
            frame.len()
        )));
    };
    if message.len() < LEGACY_CHALLENGE_LEN {
        return Err(AuthenticationError::protocol(format!("challenge too short: {} bytes", message.len())));
    }
    if message.len() == LEGACY_CHALLENGE_LEN {
        return Ok(Digest::Md5.mac(key, message));
    }
    let Some((digest, _)) = digest_prefix(message) else {
        return Err(AuthenticationError::protocol(
            "the challenge names no digest CPython allows (md5, sha256, sha384, sha3_256, sha3_384)",
        ));
    };
    let mut answer = format!("{{{}}}", digest.name()).into_bytes();
    answer.extend_from_slice(&digest.mac(key, message));
    Ok(answer)
}

/// Checks the peer's verdict on our answer.
pub(crate) fn check_verdict(frame: &[u8]) -> Result<(), AuthenticationError> {
    if frame == WELCOME {
        Ok(())
    } else if frame == FAILURE {
        Err(AuthenticationError::key_mismatch("digest sent was rejected"))
    } else {
        Err(AuthenticationError::protocol(format!(
            "expected #WELCOME# or #FAILURE# after our answer, got {} other bytes",
            frame.len()
        )))
    }
}

/// When a blocking handshake gives up, and the timeout it came from (for the error).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HandshakeDeadline {
    at: Option<Instant>,
    timeout: Duration,
}

impl HandshakeDeadline {
    /// `timeout` from now (a timeout too large to represent never passes).
    pub(crate) fn after(timeout: Duration) -> HandshakeDeadline {
        HandshakeDeadline { at: crate::deadline::after(timeout), timeout }
    }

    fn expired(&self) -> ConnectionError {
        ConnectionError::HandshakeTimeout { timeout: self.timeout }
    }
}

/// A failure of the connection underneath, said as what it means in a handshake.
pub(crate) fn in_handshake(e: ConnectionError) -> ConnectionError {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    match e {
        ConnectionError::BadMessageLength { len, .. } => AuthenticationError::protocol(format!(
            "the peer announced a {len}-byte handshake message, over the {MAX_HANDSHAKE}-byte limit"
        ))
        .into(),
        ConnectionError::Eof => {
            AuthenticationError::peer_closed("the peer closed the connection during the handshake").into()
        }
        ConnectionError::Io(e) if e.kind() == UnexpectedEof => {
            AuthenticationError::peer_closed("the peer closed the connection in the middle of a handshake message")
                .into()
        }
        ConnectionError::Io(e) if matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted) => {
            AuthenticationError::peer_closed(format!("the peer closed the connection during the handshake ({e})"))
                .into()
        }
        e => e,
    }
}

fn recv_handshake(conn: &Connection, deadline: HandshakeDeadline) -> Result<Vec<u8>, ConnectionError> {
    match conn.recv_raw(MAX_HANDSHAKE, Wait::Until(deadline.at), false) {
        Ok((b, _)) => Ok(b),
        Err(ConnectionError::Timeout) => Err(deadline.expired()),
        Err(e) => Err(in_handshake(e)),
    }
}

fn send_handshake(conn: &Connection, msg: &[u8]) -> Result<(), ConnectionError> {
    conn.send_bytes(msg).map_err(in_handshake)
}

/// Sends a challenge and checks the peer's answer (the challenger's half of the handshake;
/// `Listener::accept` runs this first). The whole exchange must finish within 20 seconds.
///
/// # Errors
/// [`ConnectionError::Authentication`] when the answer is wrong (the peer is told
/// `#FAILURE#`; [`is_key_mismatch`](AuthenticationError::is_key_mismatch)), malformed or
/// oversized, or the peer closed the connection; [`ConnectionError::HandshakeTimeout`] when it
/// is late; other errors if the connection fails.
///
/// # Examples
/// ```
/// use multiproc::connection::{answer_challenge, deliver_challenge};
/// let (a, b) = multiproc::pipe(true)?;
/// let t = std::thread::spawn(move || answer_challenge(&b, b"secret"));
/// deliver_challenge(&a, b"secret")?;
/// t.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn deliver_challenge(conn: &Connection, authkey: &[u8]) -> Result<(), ConnectionError> {
    deliver_challenge_until(conn, authkey, Digest::default(), HandshakeDeadline::after(DEFAULT_HANDSHAKE_TIMEOUT))
}

pub(crate) fn deliver_challenge_until(
    conn: &Connection,
    authkey: &[u8],
    digest: Digest,
    deadline: HandshakeDeadline,
) -> Result<(), ConnectionError> {
    let challenge = Challenge::new(digest)?;
    send_handshake(conn, challenge.frame())?;
    let answer = recv_handshake(conn, deadline)?;
    match challenge.check(authkey, &answer) {
        Ok(()) => send_handshake(conn, WELCOME),
        Err(e) => {
            // Best effort: the peer may already be gone.
            let _ = conn.send_bytes(FAILURE);
            Err(e.into())
        }
    }
}

/// Answers the peer's challenge and waits for its verdict (the responder's half; `Client`
/// runs this first). The whole exchange must finish within 20 seconds.
///
/// # Errors
/// [`ConnectionError::Authentication`] when the peer rejects the answer (different keys:
/// [`is_key_mismatch`](AuthenticationError::is_key_mismatch)), breaks the protocol or closes
/// the connection; [`ConnectionError::HandshakeTimeout`] when it is late; other errors if the
/// connection fails.
///
/// # Examples
/// ```
/// use multiproc::connection::{answer_challenge, deliver_challenge};
/// let (a, b) = multiproc::pipe(true)?;
/// let t = std::thread::spawn(move || deliver_challenge(&a, b"one key"));
/// assert!(answer_challenge(&b, b"another key").unwrap_err().is_authentication());
/// assert!(t.join().unwrap().unwrap_err().is_authentication());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn answer_challenge(conn: &Connection, authkey: &[u8]) -> Result<(), ConnectionError> {
    answer_challenge_until(conn, authkey, HandshakeDeadline::after(DEFAULT_HANDSHAKE_TIMEOUT))
}

pub(crate) fn answer_challenge_until(
    conn: &Connection,
    authkey: &[u8],
    deadline: HandshakeDeadline,
) -> Result<(), ConnectionError> {
    let challenge = recv_handshake(conn, deadline)?;
    send_handshake(conn, &respond(authkey, &challenge)?)?;
    Ok(check_verdict(&recv_handshake(conn, deadline)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(v: Vec<u8>) -> String {
        v.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_answers() {
        // RFC 4231 test case 2 (HMAC-SHA256, HMAC-SHA384), RFC 2202 test case 2 (HMAC-MD5) and
        // the same key and message under HMAC-SHA3 (NIST's HMAC-SHA3 examples agree).
        let k = b"Jefe";
        let m = b"what do ya want for nothing?";
        assert_eq!(hex(Digest::Sha256.mac(k, m)), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(hex(Digest::Md5.mac(k, m)), "750c783e6ab0b503eaa86e310a5db738");
        assert_eq!(
            hex(Digest::Sha384.mac(k, m)),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
        );
        assert_eq!(hex(Digest::Sha3_256.mac(k, m)), "c7d4072e788877ae3596bbb0da73b887c9171f93095b294ae857fbe2645e1ba5");
        assert_eq!(
            hex(Digest::Sha3_384.mac(k, m)),
            "f1101f8cbf9766fd6764d2ed61903f21ca9b18f57cf3e1a23ca13508a93243ce48c045dc007f26a21b3f5e0e9df4c20a"
        );
        for d in Digest::ALL {
            assert_eq!(d.mac(k, m).len(), d.len(), "{d:?}");
            assert!(d.verify(k, m, &d.mac(k, m)));
            assert!(!d.verify(b"other", m, &d.mac(k, m)));
        }
    }

    #[test]
    fn prefix_parsing() {
        assert_eq!(digest_prefix(b"{sha256}abc"), Some((Digest::Sha256, &b"abc"[..])));
        assert_eq!(digest_prefix(b"{sha3_384}abc"), Some((Digest::Sha3_384, &b"abc"[..])));
        assert_eq!(digest_prefix(b"{sha3_512}abc"), None, "not in CPython's _ALLOWED_DIGESTS");
        assert_eq!(digest_prefix(b"{sha1}abc"), None);
        assert_eq!(digest_prefix(b"sha256abc"), None);
        assert_eq!(digest_prefix(b"{sha256"), None);
    }

    #[test]
    fn every_digest_round_trips_and_a_wrong_key_is_a_mismatch() {
        for d in Digest::ALL {
            let c = Challenge::new(d).unwrap();
            assert!(c.frame().starts_with(format!("#CHALLENGE#{{{}}}", d.name()).as_bytes()));
            c.check(b"key", &respond(b"key", c.frame()).unwrap()).unwrap();
            let e = c.check(b"key", &respond(b"not the key", c.frame()).unwrap()).unwrap_err();
            assert!(e.is_key_mismatch(), "{d:?}: {e}");
        }
        // A legacy answer (raw HMAC-MD5) is accepted whatever we asked for, as CPython does.
        let c = Challenge::new(Digest::Sha3_256).unwrap();
        c.check(b"key", &Digest::Md5.mac(b"key", &c.frame()[CHALLENGE.len()..])).unwrap();
        // Garbage is a protocol error, not a wrong key.
        let e = c.check(b"key", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err();
        assert!(!e.is_key_mismatch(), "{e}");
        let e = c.check(b"key", b"{sha256}short").unwrap_err();
        assert!(!e.is_key_mismatch() && e.to_string().contains("of 32 bytes"), "{e}");
    }
}
