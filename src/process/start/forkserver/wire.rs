//! The fork server's messages, as small fixed-size records: encoded into arrays on the stack,
//! so that a spare (a child of the server, just forked) writes them without allocating.
//!
//! | message | from → to | bytes | descriptors |
//! |---|---|---|---|
//! | [`Request`] | client → spare (control socket) | `F` | the child's bootstrap socket, its status pipe's write end |
//! | [`Notice`] | spare → server (notice socket) | pid, `u32` LE | the status pipe's write end |
//! | [`Status::Pid`] | spare → client (status pipe) | `P`, pid `i32` LE | |
//! | [`Status::Server`] | server → client (status pipe) | `S`, wait status `i32` LE | |

/// "Make me a child": the spare that reads it becomes the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Request;

/// The descriptors a [`Request`] carries.
pub(super) const REQUEST_FDS: usize = 2;

impl Request {
    pub(super) const LEN: usize = 1;

    pub(super) fn encode(self) -> [u8; Self::LEN] {
        *b"F"
    }

    /// A request, if `bytes` with `nfds` descriptors is one.
    pub(super) fn decode(bytes: &[u8], nfds: usize) -> Option<Request> {
        (bytes == b"F" && nfds == REQUEST_FDS).then_some(Request)
    }
}

/// A spare's word to the server: the pid of the child it became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Notice {
    pub(super) pid: u32,
}

impl Notice {
    pub(super) const LEN: usize = 4;

    pub(super) fn encode(self) -> [u8; Self::LEN] {
        self.pid.to_le_bytes()
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Notice> {
        Some(Notice { pid: u32::from_le_bytes(bytes.try_into().ok()?) })
    }
}

/// A record on a child's status pipe. Each is written whole at once, so never torn (pipe
/// writes up to `PIPE_BUF` are atomic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The child's pid, right after the fork.
    Pid(u32),
    /// The wait status the server reaped, as Python's exit code.
    Server(i32),
}

impl Status {
    pub(super) const LEN: usize = 5;

    pub(super) fn encode(self) -> [u8; Self::LEN] {
        let (tag, value) = match self {
            Status::Pid(p) => (b'P', p as i32),
            Status::Server(code) => (b'S', code),
        };
        let v = value.to_le_bytes();
        [tag, v[0], v[1], v[2], v[3]]
    }

    /// The record in `r`; `None` for an unknown tag.
    pub(super) fn decode(r: &[u8; Self::LEN]) -> Option<Status> {
        let v = i32::from_le_bytes([r[1], r[2], r[3], r[4]]);
        match r[0] {
            b'P' => Some(Status::Pid(v as u32)),
            b'S' => Some(Status::Server(v)),
            _ => None,
        }
    }
}

/// Environment variable that tells a new fork server which functions to run before it forks
/// anything (`set_forkserver_preload`).
pub(super) const ENV_PRELOAD: &str = "MULTIPROC_PRELOAD";

/// The preload list as [`ENV_PRELOAD`] carries it: `<binary identity hex>:<offset>,<offset>`.
pub(super) fn encode_preload(exe_id: &[u8], offsets: &[isize]) -> String {
    let offs: Vec<String> = offsets.iter().map(isize::to_string).collect();
    format!("{}:{}", crate::util::to_hex(exe_id), offs.join(","))
}

/// The binary identity and offsets of an [`encode_preload`] value.
pub(super) fn decode_preload(s: &str) -> Option<(Vec<u8>, Vec<isize>)> {
    let (id, offs) = s.split_once(':')?;
    let offsets =
        if offs.is_empty() { Vec::new() } else { offs.split(',').map(|o| o.parse().ok()).collect::<Option<_>>()? };
    Some((crate::util::from_hex(id)?, offsets))
}

/// Decodes `data` every way the server and client read these records (fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(data: &[u8]) {
    for chunk in data.chunks(Status::LEN) {
        if let Ok(r) = <&[u8; Status::LEN]>::try_from(chunk) {
            let _ = Status::decode(r);
        }
    }
    let _ = Notice::decode(data);
    let _ = Request::decode(data, data.len() % 4);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = decode_preload(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_refused() {
        for s in [Status::Pid(1234), Status::Server(-9), Status::Server(0)] {
            assert_eq!(Status::decode(&s.encode()), Some(s));
        }
        assert_eq!(Status::decode(b"X\0\0\0\0"), None);
        assert_eq!(Notice::decode(&Notice { pid: 77 }.encode()), Some(Notice { pid: 77 }));
        assert_eq!(Notice::decode(b"abc"), None);
        assert_eq!(Request::decode(&Request.encode(), 2), Some(Request));
        assert_eq!(Request::decode(b"F", 1), None);
        assert_eq!(Request::decode(b"G", 2), None);
        let e = encode_preload(&[0xab, 1], &[-40, 7]);
        assert_eq!(decode_preload(&e), Some((vec![0xab, 1], vec![-40, 7])));
        assert_eq!(decode_preload(&encode_preload(&[1], &[])), Some((vec![1], vec![])));
        for bad in ["", "ab", "zz:1", "ab:x", "ab:1,,2"] {
            assert_eq!(decode_preload(bad), None, "{bad:?}");
        }
    }
}
