//! CPython's authkey handshake (`multiprocessing.connection.deliver_challenge` /
//! `answer_challenge`), 3.12+ form with the legacy form of 3.11 and older.
//!
//! ```text
//! challenger (Listener.accept first)          responder (Client first)
//!   #CHALLENGE#{sha256}<40 random bytes>  -->
//!                                         <--  {sha256}HMAC-SHA256(key, "{sha256}<40 bytes>")
//!   #WELCOME# or #FAILURE#                -->
//! ```
//! then the same with the roles swapped, so both sides prove they know the key. A legacy
//! (<= 3.11) challenger sends 20 random bytes with no `{digest}` prefix and expects the raw
//! 16-byte HMAC-MD5; a legacy responder answers any challenge with the raw 16-byte HMAC-MD5 of
//! everything after `#CHALLENGE#`. Every handshake message is at most 256 bytes, every read has
//! a deadline, and the MACs are compared in constant time.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};

use super::{Connection, ConnectionError};
use crate::connection::error::AuthenticationError;

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
/// The largest handshake message accepted (CPython's `recv_bytes(256)`).
pub(crate) const MAX_HANDSHAKE: usize = 256;
/// Random bytes in a challenge (CPython 3.12+ `_MD5ONLY_MESSAGE_LENGTH` is 20, new form 40).
const NONCE_LEN: usize = 40;
const LEGACY_CHALLENGE_LEN: usize = 20;
/// How long a handshake may take by default before the peer is dropped.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

fn auth_err(msg: impl Into<String>) -> ConnectionError {
    ConnectionError::Authentication(AuthenticationError::new(msg))
}

/// Computes `HMAC-<digest>(key, msg)`; `None` for a digest this crate does not implement.
fn mac(digest: &str, key: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
        m.update(msg);
        m.finalize().into_bytes().to_vec()
    }
    match digest {
        "md5" => Some(run::<Hmac<md5::Md5>>(key, msg)),
        "sha256" => Some(run::<Hmac<sha2::Sha256>>(key, msg)),
        "sha384" => Some(run::<Hmac<sha2::Sha384>>(key, msg)),
        _ => None,
    }
}

/// Constant-time check of `tag == HMAC-<digest>(key, msg)`.
fn verify(digest: &str, key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
        m.update(msg);
        m.verify_slice(tag).is_ok()
    }
    match digest {
        "md5" => run::<Hmac<md5::Md5>>(key, msg, tag),
        "sha256" => run::<Hmac<sha2::Sha256>>(key, msg, tag),
        "sha384" => run::<Hmac<sha2::Sha384>>(key, msg, tag),
        _ => false,
    }
}

/// Splits `{digest}payload`; the digest must be one CPython allows.
fn digest_prefix(msg: &[u8]) -> Option<(&str, &[u8])> {
    if msg.first() != Some(&b'{') {
        return None;
    }
    let end = msg.iter().take(20).position(|&b| b == b'}')?;
    let name = std::str::from_utf8(&msg[1..end]).ok()?;
    if !matches!(name, "md5" | "sha256" | "sha384" | "sha3_256" | "sha3_384") {
        return None;
    }
    Some((name, &msg[end + 1..]))
}

fn recv_handshake(conn: &Connection, deadline: Instant) -> Result<Vec<u8>, ConnectionError> {
    match conn.recv_raw(MAX_HANDSHAKE, Some(deadline), false) {
        Ok((b, _)) => Ok(b),
        Err(ConnectionError::BadMessageLength { len, .. }) => Err(auth_err(format!(
            "protocol error: the peer sent a {len}-byte handshake message, over the {MAX_HANDSHAKE}-byte limit"
        ))),
        Err(ConnectionError::Timeout) => {
            Err(auth_err("protocol error: the peer did not complete the handshake in time"))
        }
        Err(ConnectionError::Eof) => {
            Err(auth_err("protocol error: the peer closed the connection during the handshake"))
        }
        Err(ConnectionError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(auth_err("protocol error: the peer closed the connection in the middle of a handshake message"))
        }
        Err(e) => Err(e),
    }
}

/// Sends a challenge and checks the peer's answer (the challenger's half of the handshake;
/// `Listener::accept` runs this first). The whole exchange must finish within 20 seconds.
///
/// # Errors
/// [`ConnectionError::Authentication`] when the answer is wrong (the peer is told
/// `#FAILURE#`), malformed, oversized or late; other errors if the connection fails.
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
    deliver_challenge_until(conn, authkey, Instant::now() + DEFAULT_HANDSHAKE_TIMEOUT)
}

pub(crate) fn deliver_challenge_until(
    conn: &Connection,
    authkey: &[u8],
    deadline: Instant,
) -> Result<(), ConnectionError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| ConnectionError::Io(std::io::Error::other(e.to_string())))?;
    let mut message = b"{sha256}".to_vec();
    message.extend_from_slice(&nonce);
    let mut challenge = CHALLENGE.to_vec();
    challenge.extend_from_slice(&message);
    conn.send_bytes(&challenge)?;
    let response = recv_handshake(conn, deadline)?;
    let ok = if response.len() == 16 || response.len() == 20 {
        // A legacy (<= 3.11) responder: raw HMAC-MD5 of the whole message.
        verify("md5", authkey, &message, &response)
    } else {
        match digest_prefix(&response) {
            Some((name, tag)) => verify(name, authkey, &message, tag),
            None => false,
        }
    };
    if ok {
        conn.send_bytes(WELCOME)?;
        Ok(())
    } else {
        // Best effort: the peer may already be gone.
        let _ = conn.send_bytes(FAILURE);
        Err(auth_err("digest received was wrong"))
    }
}

/// Answers the peer's challenge and waits for its verdict (the responder's half; `Client`
/// runs this first). The whole exchange must finish within 20 seconds.
///
/// # Errors
/// [`ConnectionError::Authentication`] when the peer rejects the answer (different keys) or
/// breaks the protocol; other errors if the connection fails.
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
    answer_challenge_until(conn, authkey, Instant::now() + DEFAULT_HANDSHAKE_TIMEOUT)
}

pub(crate) fn answer_challenge_until(
    conn: &Connection,
    authkey: &[u8],
    deadline: Instant,
) -> Result<(), ConnectionError> {
    let msg = recv_handshake(conn, deadline)?;
    let Some(message) = msg.strip_prefix(CHALLENGE) else {
        return Err(auth_err("protocol error, expected challenge"));
    };
    if message.len() < LEGACY_CHALLENGE_LEN {
        return Err(auth_err(format!("protocol error, challenge too short: {} bytes", message.len())));
    }
    let response = if message.len() == LEGACY_CHALLENGE_LEN {
        mac("md5", authkey, message).expect("md5 is built in")
    } else {
        let Some((name, _)) = digest_prefix(message) else {
            return Err(auth_err("protocol error, unsupported digest in the challenge"));
        };
        let Some(tag) = mac(name, authkey, message) else {
            return Err(auth_err(format!("the peer asked for the {name} digest, which this side does not implement")));
        };
        let mut r = format!("{{{name}}}").into_bytes();
        r.extend_from_slice(&tag);
        r
    };
    conn.send_bytes(&response)?;
    let verdict = recv_handshake(conn, deadline)?;
    if verdict != WELCOME {
        return Err(auth_err("digest sent was rejected"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // RFC 4231 test case 2 (HMAC-SHA256) and RFC 2202 test case 2 (HMAC-MD5).
        let k = b"Jefe";
        let m = b"what do ya want for nothing?";
        let hex = |v: Vec<u8>| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(mac("sha256", k, m).unwrap()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(hex(mac("md5", k, m).unwrap()), "750c783e6ab0b503eaa86e310a5db738");
    }

    #[test]
    fn prefix_parsing() {
        assert_eq!(digest_prefix(b"{sha256}abc"), Some(("sha256", &b"abc"[..])));
        assert_eq!(digest_prefix(b"{sha1}abc"), None);
        assert_eq!(digest_prefix(b"sha256abc"), None);
    }
}
