//! Queue throughput, the workload of `python_baseline.py` `bench_queue`: a producer child puts
//! `n` byte payloads then a sentinel; the parent gets until the sentinel. The clock runs from
//! before the child's start to the sentinel, as in Python (so process start is included).
//!
//! Rows:
//! - `queue_64B` (msgs/s), `queue_1MiB` (MB/s): `Queue<Vec<u8>>` with `put_bytes`/`get_bytes`,
//!   default ring (1 MiB); `*_steady`: the same runs timed from the first item received;
//! - `queue_1MiB_whole`: through an 8 MiB ring, so that each item goes in one piece (the
//!   default 1 MiB ring streams a 1 MiB item in 5 fragments);
//! - `queue_serde_64B`, `queue_serde_1MiB`: `Queue<Option<Bytes>>` through serde (`put`/`get`),
//!   default ring: the headline rows, as Python's `put` pickles;
//! - `peer_ipc_channel_64B`, `peer_ipc_channel_1MiB`: ipc-channel 0.22, an `IpcSender` connected
//!   by the child to the parent's one-shot server, same payloads through serde;
//! - `raw_spsc_ring_64B`, `raw_spsc_ring_1MiB`: the same workload on a bare ring of the same
//!   size in shared memory (`ring.rs`), measured round by round with the bytes and typed rows
//!   (bytes, typed, bare, bytes, ...); the `ratio_*_vs_raw` rows are the medians of the
//!   per-round ratios of time per item.

use std::time::Instant;

use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
use multiproc::{Queue, QueueBuilder, StartMethod, get_context};
use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::common::{Args, emit, median};
use crate::ring::raw_spsc;

/// A byte payload serialized as bytes (like `serde_bytes::ByteBuf`), not as a sequence of u8.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Bytes, A::Error> {
                let mut v = Vec::new();
                while let Some(b) = a.next_element()? {
                    v.push(b);
                }
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

fn produce_bytes((q, n, size): (Queue<Vec<u8>>, usize, usize)) {
    let payload = vec![b'x'; size];
    for _ in 0..n {
        q.put_bytes(&payload).expect("put");
    }
    q.put_bytes(&[]).expect("put sentinel");
}

fn produce_serde((q, n, size): (Queue<Option<Bytes>>, usize, usize)) {
    let payload = Bytes(vec![b'x'; size]);
    for _ in 0..n {
        q.put(Some(payload.clone())).expect("put");
    }
    q.put(None).expect("put sentinel");
}

fn produce_ipc((name, n, size): (String, usize, usize)) {
    let tx: IpcSender<Option<Bytes>> = IpcSender::connect(name).expect("connect");
    let payload = Bytes(vec![b'x'; size]);
    for _ in 0..n {
        tx.send(Some(payload.clone())).expect("send");
    }
    tx.send(None).expect("send sentinel");
}

/// Returns (seconds from start to sentinel, seconds from the first item to the sentinel).
fn run_bytes(n: usize, size: usize, capacity: usize) -> (f64, f64) {
    let q: Queue<Vec<u8>> = QueueBuilder::new().capacity(capacity).build().expect("queue");
    let ctx = get_context(Some(StartMethod::Fork));
    let t = Instant::now();
    let p = ctx.process(produce_bytes, (q.clone(), n, size));
    p.start().expect("start");
    let mut got = 0;
    let mut first = None;
    loop {
        let v = q.get_bytes().expect("get");
        if v.is_empty() {
            break;
        }
        assert_eq!(v.len(), size);
        first.get_or_insert_with(Instant::now);
        got += 1;
    }
    let dt = t.elapsed().as_secs_f64();
    let steady = first.map_or(dt, |f| f.elapsed().as_secs_f64());
    assert_eq!(p.join().expect("join"), 0);
    assert_eq!(got, n);
    (dt, steady)
}

fn run_serde(n: usize, size: usize, capacity: usize) -> f64 {
    let q: Queue<Option<Bytes>> = QueueBuilder::new().capacity(capacity).build().expect("queue");
    let ctx = get_context(Some(StartMethod::Fork));
    let t = Instant::now();
    let p = ctx.process(produce_serde, (q.clone(), n, size));
    p.start().expect("start");
    let mut got = 0;
    while let Some(v) = q.get().expect("get") {
        assert_eq!(v.0.len(), size);
        got += 1;
    }
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(p.join().expect("join"), 0);
    assert_eq!(got, n);
    dt
}

fn run_ipc(n: usize, size: usize) -> f64 {
    let (server, name) = IpcOneShotServer::<Option<Bytes>>::new().expect("server");
    let ctx = get_context(Some(StartMethod::Fork));
    let t = Instant::now();
    let p = ctx.process(produce_ipc, (name, n, size));
    p.start().expect("start");
    let (rx, first): (IpcReceiver<Option<Bytes>>, Option<Bytes>) = server.accept().expect("accept");
    let mut got = usize::from(first.is_some());
    if first.is_some() {
        while let Some(v) = rx.recv().expect("recv") {
            assert_eq!(v.0.len(), size);
            got += 1;
        }
    }
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(p.join().expect("join"), 0);
    assert_eq!(got, n);
    dt
}

/// Ring size used for a payload size: the default, or 8 MiB for large payloads (so that a
/// 1 MiB item goes in one piece, without streaming).
fn capacity_for(size: usize) -> usize {
    if size >= 256 << 10 { 8 << 20 } else { multiproc::queue::DEFAULT_CAPACITY }
}

fn med(rounds: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..rounds).map(|_| f()).collect();
    median(&mut v)
}

/// Rounds of (bytes, typed, bare ring), each a whole run of the workload; returns the medians
/// of the three times and of the two ratios to the bare ring.
struct Interleaved {
    bytes: f64,
    steady: f64,
    serde: f64,
    raw: f64,
    bytes_ratio: f64,
    serde_ratio: f64,
}

fn interleaved_with_raw(rounds: usize, n: usize, size: usize, capacity: usize) -> Interleaved {
    let (mut b, mut st, mut s, mut r, mut br, mut sr) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let (bytes, steady) = run_bytes(n, size, capacity);
        let serde = run_serde(n, size, capacity);
        let raw = raw_spsc(n, size, capacity);
        b.push(bytes);
        st.push(steady);
        s.push(serde);
        r.push(raw);
        br.push(bytes / raw);
        sr.push(serde / raw);
    }
    Interleaved {
        bytes: median(&mut b),
        steady: median(&mut st),
        serde: median(&mut s),
        raw: median(&mut r),
        bytes_ratio: median(&mut br),
        serde_ratio: median(&mut sr),
    }
}

pub(crate) fn run(args: &Args) {
    if !args.want("queue") {
        return;
    }
    let rounds = if args.quick { 3 } else { 7 };
    let n64 = args.n(200_000, 20_000);
    let n1m = args.n(2_000, 200);
    let mib = (1usize << 20) as f64;
    run_bytes(1000, 64, capacity_for(64)); // warm up
    raw_spsc(1000, 64, capacity_for(64));

    let m = interleaved_with_raw(rounds, n64, 64, capacity_for(64));
    let rate = |secs: f64| n64 as f64 / secs;
    emit("queue_serde_64B", rate(m.serde), "msgs/s");
    emit("queue_64B", rate(m.bytes), "msgs/s");
    emit("raw_spsc_ring_64B", rate(m.raw), "msgs/s");
    emit("ratio_queue_serde_64B_vs_raw", m.serde_ratio, "x");
    emit("ratio_queue_64B_vs_raw", m.bytes_ratio, "x");
    emit("queue_64B_steady", rate(m.steady), "msgs/s");
    let dt = med(rounds.min(5), || run_ipc(n64, 64));
    emit("peer_ipc_channel_64B", rate(dt), "msgs/s");

    // 1 MiB items through the default 1 MiB ring (streamed), and the bare ring of that size.
    let m = interleaved_with_raw(rounds, n1m, 1 << 20, multiproc::queue::DEFAULT_CAPACITY);
    let bw = |secs: f64| n1m as f64 * mib / secs / 1e6;
    emit("queue_serde_1MiB", bw(m.serde), "MB/s");
    emit("queue_1MiB", bw(m.bytes), "MB/s");
    emit("raw_spsc_ring_1MiB", bw(m.raw), "MB/s");
    emit("ratio_queue_serde_1MiB_vs_raw", m.serde_ratio, "x");
    emit("ratio_queue_1MiB_vs_raw", m.bytes_ratio, "x");
    emit("queue_1MiB_steady", bw(m.steady), "MB/s");
    // The same through an 8 MiB ring: each item copied in one piece instead of streamed.
    let dt = med(rounds.min(5), || run_bytes(n1m, 1 << 20, capacity_for(1 << 20)).0);
    emit("queue_1MiB_whole", bw(dt), "MB/s");
    let dt = med(rounds.min(5), || run_ipc(n1m, 1 << 20));
    emit("peer_ipc_channel_1MiB", bw(dt), "MB/s");
}
