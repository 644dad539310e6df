//! Entry points for coverage-guided fuzzing of everything that decodes bytes from another
//! process or the network, and the replay of the fuzz corpora and crash regressions as unit
//! tests (so CI checks every input the fuzzers ever found interesting, without fuzzing).
//!
//! Each function takes arbitrary bytes and must neither panic, nor hang, nor allocate
//! without bound. `fuzz/` (a `cargo fuzz` project) has one target per function;
//! `scripts/fuzz.sh` runs each for a bounded time.
#![allow(missing_docs)]

use std::os::fd::AsFd;
use std::time::Duration;

use crate::connection::Connection;
use crate::sys;

/// The largest message the fuzzed connections accept: keeps a fuzzer from asking for huge
/// (but legal) allocations.
const MAX: usize = 1 << 16;

/// A connection whose peer sent `data` and closed its end.
fn fed(data: &[u8]) -> Option<Connection> {
    let (ours, theirs) = sys::socket::socketpair(sys::socket::PairKind::Stream).ok()?;
    // The socket buffer holds a fuzzer's input (a few KiB) without blocking.
    sys::fd::write_all(theirs.as_fd(), data).ok()?;
    drop(theirs);
    let mut c = Connection::from_fd(ours, true, true);
    c.set_max_message(MAX);
    Some(c)
}

/// CPython's connection framing, as `recv_bytes`, `recv_bytes_into` and typed `recv` read it.
pub fn connection_framing(data: &[u8]) {
    if let Some(c) = fed(data) {
        while c.recv_bytes().is_ok() {}
    }
    if let Some(c) = fed(data) {
        let mut buf = [0u8; 64];
        while c.recv_bytes_into(&mut buf, 3).is_ok() || c.recv::<u8>().is_ok() {}
    }
    if let Some(c) = fed(data) {
        while c.recv::<(u32, String, Vec<u8>, Option<bool>)>().is_ok() {}
    }
}

/// Both sides of the authkey handshake against a peer that sent `data`.
pub fn handshake(data: &[u8]) {
    let key = b"fuzzing key";
    let _ = crate::connection::auth::respond(key, data);
    let _ = crate::connection::auth::check_verdict(data);
    if let Ok(ch) = crate::connection::auth::Challenge::new(crate::connection::Digest::Sha256) {
        let _ = ch.check(key, data);
    }
    if let Some(c) = fed(data) {
        let _ = crate::connection::answer_challenge(&c, key);
    }
    if let Some(c) = fed(data) {
        let _ = crate::connection::deliver_challenge(&c, key);
    }
}

/// The listener's concurrent handshake: a client that sends `data` and hangs up.
pub fn listener(data: &[u8]) {
    use std::os::linux::net::SocketAddrExt;
    let Ok(mut l) = crate::connection::Listener::builder().authkey(b"fuzzing key").bind() else { return };
    let client = match l.address() {
        crate::connection::Address::Unix(p) => std::os::unix::net::UnixStream::connect(p),
        crate::connection::Address::Abstract(n) => std::os::unix::net::SocketAddr::from_abstract_name(n)
            .and_then(|a| std::os::unix::net::UnixStream::connect_addr(&a)),
        crate::connection::Address::Tcp(_) => return,
    };
    let Ok(client) = client else { return };
    let _ = std::io::Write::write_all(&mut &client, data);
    drop(client);
    let _ = l.accept_timeout(Duration::from_millis(2));
}

/// The bootstrap message a spawned or fork-server child reads.
pub fn boot_msg(data: &[u8]) {
    let _ = crate::codec::decode::<crate::process::records::BootMsg>(data);
}

/// A child's failure report: on its socket, and on the report listener of forked children.
pub fn report(data: &[u8]) {
    let _ = crate::codec::decode::<crate::process::records::Report>(data);
    crate::process::reports::fuzz(data);
}

/// The fork server's request, notice and status records and its preload list.
pub fn forkserver(data: &[u8]) {
    crate::process::start::forkserver::wire::fuzz(data);
}

/// The shared-memory tracker's messages, and the spec a service process reads.
pub fn tracker(data: &[u8]) {
    crate::shm::tracker::fuzz(data);
    crate::service::fuzz(data);
}

/// A queue ring whose shared bytes another process scribbled on.
pub fn queue_ring(data: &[u8]) {
    crate::queue::ring::Ring::fuzz(data);
}

/// The pool's task and event records, as a worker and the collector parse them.
pub fn pool_records(data: &[u8]) {
    crate::pool::records::fuzz(data);
}

/// `ShareableList::open` of a segment holding `data` (another process may write anything).
pub fn shareable_list(data: &[u8]) {
    crate::shared::ShareableList::fuzz(data);
}

/// A manager server's request handling: a stream of requests a peer past its hello may
/// send, run against a fresh object table.
pub fn manager_requests(data: &[u8]) {
    crate::manager::fuzz(data);
}

/// The crate's encoder against postcard's: `data` decoded as values of every serde kind,
/// encoded by both, compared byte for byte (the encoder writes postcard's format itself).
pub fn codec_encoder(data: &[u8]) {
    crate::codec::fuzz_encoder(data);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Runs `f` on every file of `fuzz/corpus/<target>` and `fuzz/regressions/<target>`.
    fn replay(target: &str, f: fn(&[u8])) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut n = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
            for e in entries.flatten() {
                let data = std::fs::read(e.path()).unwrap();
                f(&data);
                n += 1;
            }
        }
        // Seeds are committed for every target: an empty replay means a missing corpus.
        assert!(n > 0, "no corpus or regression files for {target} under {}", root.display());
    }

    /// Writes the seed corpus (valid messages of each kind): `cargo test --lib
    /// write_seed_corpus -- --ignored`, then commit `fuzz/corpus/`.
    #[test]
    #[ignore = "writes fuzz/corpus; run by hand"]
    fn write_seed_corpus() {
        use crate::process::method::StartMethod;
        use crate::process::records::{BootMsg, ChildFailure, ChildInfo, FailureKind, Report};
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        let put = |target: &str, name: &str, data: &[u8]| {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), data).unwrap();
        };
        // CPython framing: a short message, a long-form header, a typed value.
        let mut framed = Vec::new();
        for body in [&b"hello"[..], &[0u8; 0][..]] {
            framed.extend_from_slice(&(body.len() as i32).to_be_bytes());
            framed.extend_from_slice(body);
        }
        put("connection_framing", "two_messages", &framed);
        let mut long = (-1i32).to_be_bytes().to_vec();
        long.extend_from_slice(&3u64.to_be_bytes());
        long.extend_from_slice(b"abc");
        put("connection_framing", "long_form", &long);
        let typed = crate::codec::encode(&(7u32, "x".to_string(), vec![1u8], Some(true))).unwrap();
        let mut t = (typed.len() as i32).to_be_bytes().to_vec();
        t.extend_from_slice(&typed);
        put("connection_framing", "typed", &t);
        // The handshake: a challenge and a verdict as CPython frames them.
        let ch = crate::connection::auth::Challenge::new(crate::connection::Digest::Sha256).unwrap();
        put("handshake", "challenge", ch.frame());
        let mut welcome = 9i32.to_be_bytes().to_vec();
        welcome.extend_from_slice(b"#WELCOME#");
        put("handshake", "welcome", &welcome);
        put("listener", "challenge_answer", ch.frame());
        put("listener", "garbage", b"GET / HTTP/1.1\r\n\r\n");
        let info = ChildInfo {
            name: "Process-1".into(),
            identity: vec![1],
            daemon: false,
            authkey: vec![7; 32],
            parent_pid: 100,
            parent_name: "MainProcess".into(),
            method: StartMethod::Spawn,
            log: Some(20),
        };
        let boot = BootMsg { exe_id: b"gnu:1234".to_vec(), entry: -4096, info, payload: vec![1, 2, 3] };
        put("boot_msg", "boot", &crate::codec::encode(&boot).unwrap());
        let mut f = ChildFailure::new(FailureKind::Panic, "boom".into());
        f.location = Some("src/main.rs:1:1".into());
        let r = crate::codec::encode(&Report::Failure(f)).unwrap();
        put("report", "failure", &r);
        let mut framed_report = (r.len() as u32).to_le_bytes().to_vec();
        framed_report.extend_from_slice(&0u32.to_le_bytes());
        framed_report.extend_from_slice(&r);
        put("report", "framed_failure", &framed_report);
        put("report", "exit", &crate::codec::encode(&Report::Exit(3)).unwrap());
        put("forkserver", "records", b"P\x10\x00\x00\x00S\xf7\xff\xff\xff");
        put("forkserver", "preload", b"abcd:-4096,12");
        put("tracker", "register", b"R\x01\x00\x00\x00\x00\x00\x00\x00psm_1\xffU\x00\x00\x00\x00\x00\x00\x00\x00psm_1");
        put("tracker", "service_spec", b"abcd:-4096:1");
        let sl = crate::shared::ShareableList::create(
            None,
            [crate::Item::from("howdy"), 3.5.into(), 7i64.into(), true.into()],
        )
        .unwrap();
        let mut seg = vec![0u8; sl.shm().size()];
        sl.shm().read_at(0, &mut seg).unwrap();
        put("shareable_list", "four_items", &seg);
        sl.shm().unlink().unwrap();
        // A ring: positions (tail, head), the stream word, then records as the ring writes
        // them (a whole record of 5 bytes).
        let mut ring = Vec::new();
        ring.extend_from_slice(&(1u64 << 32 | 24).to_le_bytes());
        ring.extend_from_slice(&0u64.to_le_bytes());
        ring.extend_from_slice(&0u32.to_le_bytes());
        for w in [5u32, 1, 0, 0] {
            ring.extend_from_slice(&w.to_le_bytes());
        }
        ring.extend_from_slice(b"hello\0\0\0");
        put("queue_ring", "one_record", &ring);
        put("pool_records", "short", &[0u8; 40]);
        put("manager_requests", "containers_queue_lock", &crate::manager::fuzz_seed());
    }

    #[test]
    fn replay_connection_framing() {
        replay("connection_framing", connection_framing);
    }

    #[test]
    fn replay_handshake() {
        replay("handshake", handshake);
    }

    #[test]
    fn replay_listener() {
        replay("listener", listener);
    }

    #[test]
    fn replay_boot_msg() {
        replay("boot_msg", boot_msg);
    }

    #[test]
    fn replay_report() {
        replay("report", report);
    }

    #[test]
    fn replay_forkserver() {
        replay("forkserver", forkserver);
    }

    #[test]
    fn replay_tracker() {
        replay("tracker", tracker);
    }

    #[test]
    fn replay_queue_ring() {
        replay("queue_ring", queue_ring);
    }

    #[test]
    fn replay_manager_requests() {
        replay("manager_requests", manager_requests);
    }

    #[test]
    fn replay_codec_encoder() {
        replay("codec_encoder", codec_encoder);
    }

    #[test]
    fn replay_pool_records() {
        replay("pool_records", pool_records);
    }

    #[test]
    fn replay_shareable_list() {
        replay("shareable_list", shareable_list);
    }
}
