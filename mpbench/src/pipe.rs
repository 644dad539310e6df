//! Group `pipe`: `Connection` round trips with 64-byte messages (CPython's `bench_pipe_rtt`)
//! against bare `read`/`write` on a socketpair to a forked echo child, measured interleaved;
//! and 1 MiB `send_bytes` bandwidth against bare 1 MiB writes on a socketpair to a forked reader,
//! interleaved too.

use std::time::{Duration, Instant};

use multiproc::Process;
use multiproc::connection::Connection;

use crate::common::{Args, emit, interleaved};

fn echo(conn: Connection) {
    while let Ok(m) = conn.recv_bytes() {
        if m.is_empty() {
            return;
        }
        conn.send_bytes(&m).unwrap();
    }
}

/// Counts the bytes received; an empty message asks for the count (and resets it).
fn sink(conn: Connection) {
    let mut total = 0u64;
    while let Ok(m) = conn.recv_bytes() {
        if m.is_empty() {
            conn.send(&total).unwrap();
            total = 0;
        } else {
            total += m.len() as u64;
        }
    }
}

/// A forked child echoing 64-byte blocks on a socketpair with bare `read`/`write`.
struct RawEcho {
    fd: i32,
    pid: i32,
}

#[allow(unsafe_code)]
impl RawEcho {
    fn start() -> RawEcho {
        let mut sv = [0i32; 2];
        // SAFETY: `sv` is a valid array of two ints for socketpair to fill.
        let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) };
        assert_eq!(rc, 0, "socketpair");
        // SAFETY: the child only calls async-signal-safe read/write/_exit on its own buffer.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above; `buf` is a local array.
            unsafe {
                libc::close(sv[0]);
                let mut buf = [0u8; 64];
                loop {
                    let mut got = 0usize;
                    while got < 64 {
                        let n = libc::read(sv[1], buf.as_mut_ptr().add(got).cast(), 64 - got);
                        if n <= 0 {
                            libc::_exit(0);
                        }
                        got += n as usize;
                    }
                    if libc::write(sv[1], buf.as_ptr().cast(), 64) != 64 {
                        libc::_exit(1);
                    }
                }
            }
        }
        // SAFETY: closing the child's end in the parent.
        unsafe { libc::close(sv[1]) };
        RawEcho { fd: sv[0], pid }
    }

    fn round_trips(&self, n: usize) -> Duration {
        let msg = [b'x'; 64];
        let mut buf = [0u8; 64];
        let t = Instant::now();
        for _ in 0..n {
            // SAFETY: valid buffers of 64 bytes and our own socket.
            unsafe {
                assert_eq!(libc::write(self.fd, msg.as_ptr().cast(), 64), 64);
                let mut got = 0usize;
                while got < 64 {
                    let r = libc::read(self.fd, buf.as_mut_ptr().add(got).cast(), 64 - got);
                    assert!(r > 0, "raw echo child gone");
                    got += r as usize;
                }
            }
        }
        t.elapsed()
    }
}

/// A forked child reading batches of `batch` blocks of 1 MiB from a socketpair with bare
/// `read`, answering each batch with one byte.
struct RawSink {
    fd: i32,
    pid: i32,
}

const MIB: usize = 1 << 20;

#[allow(unsafe_code)]
impl RawSink {
    fn start(batch: usize) -> RawSink {
        let mut sv = [0i32; 2];
        // SAFETY: `sv` is a valid array of two ints for socketpair to fill.
        let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) };
        assert_eq!(rc, 0, "socketpair");
        // The child's buffer, allocated before the fork.
        let mut buf = vec![0u8; MIB];
        // SAFETY: the child only calls read/write/_exit on its own socket and buffer.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                libc::close(sv[0]);
                loop {
                    let mut left = batch * MIB;
                    while left > 0 {
                        let n = libc::read(sv[1], buf.as_mut_ptr().cast(), left.min(MIB));
                        if n <= 0 {
                            libc::_exit(0);
                        }
                        left -= n as usize;
                    }
                    if libc::write(sv[1], b"k".as_ptr().cast(), 1) != 1 {
                        libc::_exit(1);
                    }
                }
            }
        }
        // SAFETY: closing the child's end in the parent.
        unsafe { libc::close(sv[1]) };
        RawSink { fd: sv[0], pid }
    }

    /// Writes one batch of 1 MiB blocks and waits for the child to have read it all.
    fn batch(&self, block: &[u8], batch: usize) -> Duration {
        let t = Instant::now();
        for _ in 0..batch {
            let mut sent = 0;
            while sent < block.len() {
                // SAFETY: a valid buffer slice and our own socket.
                let n = unsafe { libc::write(self.fd, block[sent..].as_ptr().cast(), block.len() - sent) };
                assert!(n > 0, "raw sink child gone");
                sent += n as usize;
            }
        }
        let mut ack = [0u8; 1];
        // SAFETY: a valid one-byte buffer and our own socket.
        assert_eq!(unsafe { libc::read(self.fd, ack.as_mut_ptr().cast(), 1) }, 1);
        t.elapsed()
    }
}

#[allow(unsafe_code)]
impl Drop for RawSink {
    fn drop(&mut self) {
        // SAFETY: closing our socket ends the child's loop; then reap it.
        unsafe {
            libc::close(self.fd);
            let mut st = 0;
            libc::waitpid(self.pid, &mut st, 0);
        }
    }
}

#[allow(unsafe_code)]
impl Drop for RawEcho {
    fn drop(&mut self) {
        // SAFETY: closing our socket ends the child's loop; then reap it.
        unsafe {
            libc::close(self.fd);
            let mut st = 0;
            libc::waitpid(self.pid, &mut st, 0);
        }
    }
}

pub(crate) fn run(args: &Args) {
    if !args.want("pipe") {
        return;
    }
    // Round trip, 64 B, interleaved with the raw floor.
    let (a, b) = multiproc::pipe(true).expect("pipe");
    let p = Process::new(echo, b);
    p.start().expect("start echo child");
    let raw = RawEcho::start();
    let msg = [b'x'; 64];
    let ours = |n: usize| {
        let t = Instant::now();
        for _ in 0..n {
            a.send_bytes(&msg).unwrap();
            let r = a.recv_bytes().unwrap();
            debug_assert_eq!(r.len(), 64);
        }
        t.elapsed()
    };
    // Warm up both.
    ours(200);
    raw.round_trips(200);
    let rounds = if args.quick { 10 } else { 30 };
    let batch = args.n(20_000, 1_000) / rounds.max(1) * 2;
    let (o, r, ratio) = interleaved(rounds, batch.max(200), ours, |n| raw.round_trips(n));
    emit("pipe_rtt_64B", o * 1e6, "us/roundtrip");
    emit("raw_pipe_rtt_64B", r * 1e6, "us/roundtrip");
    emit("ratio_pipe_rtt_64B_vs_raw", ratio, "x");
    a.send_bytes(b"").unwrap();
    p.join().expect("join echo child");
    drop(raw);

    // Bandwidth, 1 MiB messages, interleaved with bare 1 MiB writes.
    let (a, b) = multiproc::pipe(true).expect("pipe");
    let p = Process::new(sink, b);
    p.start().expect("start sink child");
    let rounds = if args.quick { 5 } else { 9 };
    let batch = (args.n(2000, 200) / rounds).max(10);
    let raw = RawSink::start(batch);
    let chunk = vec![7u8; MIB];
    let ours = |n: usize| {
        let t = Instant::now();
        for _ in 0..n {
            a.send_bytes(&chunk).unwrap();
        }
        a.send_bytes(b"").unwrap();
        let total: u64 = a.recv().unwrap();
        assert_eq!(total, (n * MIB) as u64);
        t.elapsed()
    };
    ours(batch);
    raw.batch(&chunk, batch);
    let (o, r, ratio) = interleaved(rounds, batch, ours, |n| raw.batch(&chunk, n));
    let mbps = |secs: f64| MIB as f64 / secs / 1e6;
    emit("pipe_bandwidth_1MiB", mbps(o), "MB/s");
    emit("raw_pipe_bandwidth_1MiB", mbps(r), "MB/s");
    emit("ratio_pipe_bandwidth_1MiB_vs_raw", ratio, "x");
    // The bare child holds a copy of `a` (forked after it was made): end both before joining.
    drop(a);
    drop(raw);
    p.join().expect("join sink child");
}
