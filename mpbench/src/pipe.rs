//! Group `pipe`: `Connection` round trips with 64-byte messages (CPython's `bench_pipe_rtt`)
//! against bare `read`/`write` on a socketpair to a forked echo child, measured interleaved;
//! and 1 MiB `send_bytes` bandwidth.

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

fn sink(conn: Connection) {
    let mut total = 0u64;
    while let Ok(m) = conn.recv_bytes() {
        if m.is_empty() {
            break;
        }
        total += m.len() as u64;
    }
    conn.send(&total).unwrap();
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
    emit("pipe_rtt_64B", o.as_secs_f64() * 1e6, "us/roundtrip");
    emit("raw_pipe_rtt_64B", r.as_secs_f64() * 1e6, "us/roundtrip");
    emit("ratio_pipe_rtt_64B_vs_raw", ratio, "x");
    a.send_bytes(b"").unwrap();
    p.join().expect("join echo child");
    drop(raw);

    // Bandwidth, 1 MiB messages.
    let (a, b) = multiproc::pipe(true).expect("pipe");
    let p = Process::new(sink, b);
    p.start().expect("start sink child");
    let chunk = vec![7u8; 1 << 20];
    let n = args.n(2000, 200);
    let t = Instant::now();
    for _ in 0..n {
        a.send_bytes(&chunk).unwrap();
    }
    a.send_bytes(b"").unwrap();
    let total: u64 = a.recv().unwrap();
    let dt = t.elapsed();
    assert_eq!(total, (n as u64) << 20);
    emit("pipe_bandwidth_1MiB", total as f64 / dt.as_secs_f64() / 1e6, "MB/s");
    p.join().expect("join sink child");
}
