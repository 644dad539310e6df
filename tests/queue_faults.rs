//! Queues when processes die: an item put is delivered even if its producer exits at once; a
//! producer or consumer SIGKILLed in the middle of its work corrupts nothing, tears no item and
//! blocks nobody.

mod common;

use std::time::{Duration, Instant};

use common::{each_method, wait_pid_gone};
use multiproc::{GetError, Queue, QueueBuilder};
use serde::{Deserialize, Serialize};

const LIMIT: Duration = Duration::from_secs(60);

fn put_then_std_exit(q: Queue<String>) {
    q.put("before std::process::exit".to_string()).unwrap();
    std::process::exit(0);
}

fn put_then_multiproc_exit(q: Queue<String>) {
    q.put("before multiproc::exit".to_string()).unwrap();
    multiproc::exit(3);
}

fn put_big_then_std_exit(q: Queue<Vec<u8>>) {
    q.put(vec![7u8; 300 << 10]).unwrap(); // larger than a quarter of the ring: streamed
    q.put(vec![8u8; 10]).unwrap();
    std::process::exit(0);
}

/// Pain point 4a: CPython loses an item put right before `os._exit`; here it arrives, because
/// `put` returns only once the item is in shared memory. The parent joins first, then reads.
#[test]
fn producer_exits_right_after_put() {
    each_method("producer_exits_right_after_put", LIMIT, |ctx| {
        let q: Queue<String> = Queue::new().unwrap();
        let p = ctx.process(put_then_std_exit, q.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let p = ctx.process(put_then_multiproc_exit, q.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 3);
        assert_eq!(q.try_get().unwrap(), "before std::process::exit");
        assert_eq!(q.try_get().unwrap(), "before multiproc::exit");

        // A streamed item: the producer waits in put until the consumer has taken the
        // fragments that did not fit, so read while it runs.
        let q: Queue<Vec<u8>> = QueueBuilder::new().capacity(256 << 10).build().unwrap();
        let p = ctx.process(put_big_then_std_exit, q.clone());
        p.start().unwrap();
        assert_eq!(q.get().unwrap(), vec![7u8; 300 << 10]);
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(q.try_get().unwrap(), vec![8u8; 10]);
    });
}

/// An item whose bytes carry its own checksum, so a torn item would be noticed.
#[derive(Serialize, Deserialize, Debug)]
struct Checked {
    producer: u32,
    seq: u64,
    data: Vec<u8>,
    sum: u64,
}

impl Checked {
    fn new(producer: u32, seq: u64, len: usize) -> Checked {
        let data: Vec<u8> = (0..len).map(|i| (i as u64 * 131 + seq) as u8).collect();
        let sum = checksum(producer, seq, &data);
        Checked { producer, seq, data, sum }
    }
    fn is_whole(&self) -> bool {
        self.sum == checksum(self.producer, self.seq, &self.data)
            && self.data.iter().enumerate().all(|(i, b)| *b == (i as u64 * 131 + self.seq) as u8)
    }
}

fn checksum(producer: u32, seq: u64, data: &[u8]) -> u64 {
    data.iter()
        .fold(producer as u64 * 1_000_003 + seq, |h, b| h.wrapping_mul(1_099_511_628_211).wrapping_add(*b as u64))
}

/// Puts items far larger than the ring (streamed) forever.
fn endless_producer((q, id): (Queue<Checked>, u32)) {
    for seq in 0.. {
        q.put(Checked::new(id, seq, 300 << 10)).unwrap();
    }
}

fn finite_producer((q, id, n): (Queue<Checked>, u32, u64)) {
    for seq in 0..n {
        let len = if seq % 3 == 1 { 300 << 10 } else { 50 };
        q.put(Checked::new(id, seq, len)).unwrap();
    }
}

/// A producer SIGKILLed while it streams an item (it waits for ring space holding the
/// producer lock, mid-item): the consumer sees only whole items, and a second producer takes
/// the lock over and gets all its items through.
#[test]
fn producer_killed_mid_stream() {
    each_method("producer_killed_mid_stream", LIMIT, |ctx| {
        let q: Queue<Checked> = QueueBuilder::new().capacity(64 << 10).build().unwrap();
        let p = ctx.process(endless_producer, (q.clone(), 1));
        p.start().unwrap();
        let mut last = None;
        for _ in 0..6 {
            let it = q.get().unwrap();
            assert!(it.is_whole());
            assert_eq!(it.producer, 1);
            assert_eq!(Some(it.seq), last.map_or(Some(0), |l: u64| Some(l + 1)));
            last = Some(it.seq);
        }
        // Nobody reads now: the producer fills the ring and sleeps in put, mid-item (an item
        // is five times the ring, so it almost always sleeps after publishing fragments).
        let pid = p.pid().unwrap();
        let t = Instant::now();
        while proc_state(pid) != 'S' {
            assert!(t.elapsed() < Duration::from_secs(20), "the producer never blocked");
            std::thread::sleep(Duration::from_millis(2));
        }
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);

        let p2 = ctx.process(finite_producer, (q.clone(), 2, 20));
        p2.start().unwrap();
        let mut from2 = Vec::new();
        let start = Instant::now();
        while from2.len() < 20 {
            let it = q.get_timeout(Duration::from_secs(20)).expect("producer 2's items must arrive");
            assert!(it.is_whole(), "torn item from producer {} seq {}", it.producer, it.seq);
            match it.producer {
                1 => assert_eq!(Some(it.seq), last.map(|l| l + 1), "producer 1's items stay in order"),
                2 => from2.push(it.seq),
                other => panic!("unknown producer {other}"),
            }
            if it.producer == 1 {
                last = Some(it.seq);
            }
            assert!(start.elapsed() < Duration::from_secs(40));
        }
        assert_eq!(from2, (0..20).collect::<Vec<_>>());
        assert_eq!(p2.join().unwrap(), 0);
        assert!(matches!(q.try_get(), Err(GetError::Empty)));
        assert_eq!(q.qsize(), 0);
    });
}

fn blocked_consumer((q, started): (Queue<u32>, Queue<u32>)) {
    started.put(std::process::id()).unwrap();
    let v = q.get().unwrap();
    panic!("the killed consumer got {v}");
}

fn consume_one((q, out): (Queue<u32>, Queue<u32>)) {
    out.put(q.get().unwrap()).unwrap();
}

/// A consumer SIGKILLed while blocked in `get` leaves the queue usable by the others.
#[test]
fn consumer_killed_while_blocked_in_get() {
    each_method("consumer_killed_while_blocked_in_get", LIMIT, |ctx| {
        let q: Queue<u32> = Queue::new().unwrap();
        let started: Queue<u32> = Queue::new().unwrap();
        let c1 = ctx.process(blocked_consumer, (q.clone(), started.clone()));
        c1.start().unwrap();
        let pid = started.get().unwrap();
        std::thread::sleep(Duration::from_millis(50)); // let it sleep in get
        c1.kill().unwrap();
        assert!(wait_pid_gone(pid, Duration::from_secs(10)));
        q.put(41).unwrap();
        let out: Queue<u32> = Queue::new().unwrap();
        let c2 = ctx.process(consume_one, (q.clone(), out.clone()));
        c2.start().unwrap();
        assert_eq!(out.get_timeout(Duration::from_secs(20)).unwrap(), 41);
        assert_eq!(c2.join().unwrap(), 0);
        assert_eq!(c1.join().unwrap(), -9);
        q.put(42).unwrap();
        assert_eq!(q.get().unwrap(), 42);
    });
}

fn streaming_producer((q, ready): (Queue<Checked>, Queue<u32>)) {
    q.put(Checked::new(3, 0, 10)).unwrap();
    let big = Checked::new(3, 1, 1 << 20); // sixteen times the ring: streamed
    ready.put(0).unwrap();
    q.put(big).unwrap();
    for seq in 2..6 {
        q.put(Checked::new(3, seq, 10)).unwrap();
    }
}

/// The scheduler state of `pid` ('R', 'S', 'T', ...).
fn proc_state(pid: u32) -> char {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rsplit(')').next().unwrap_or("").trim_start().chars().next().unwrap_or('?')
}

fn slow_whole_consumer((q, started): (Queue<Checked>, Queue<u32>)) {
    assert_eq!(q.get().unwrap().seq, 0);
    // Right after this, the get below starts reading the streamed item 1.
    started.put(std::process::id()).unwrap();
    loop {
        let it = q.get().unwrap();
        assert!(it.is_whole());
    }
}

/// A consumer SIGKILLed while it holds the consumer lock in the middle of a streamed item (its
/// producer is stopped with SIGSTOP mid-item): another consumer takes the lock over, the
/// half-read item is lost (documented), and every later item arrives whole.
#[test]
fn consumer_killed_mid_stream() {
    each_method("consumer_killed_mid_stream", LIMIT, |ctx| {
        let q: Queue<Checked> = QueueBuilder::new().capacity(64 << 10).build().unwrap();
        let started: Queue<u32> = Queue::new().unwrap();
        let ready: Queue<u32> = Queue::new().unwrap();
        let prod = ctx.process(streaming_producer, (q.clone(), ready.clone()));
        prod.start().unwrap();
        let ppid = prod.pid().unwrap();
        // Once it announced item 1 and then sleeps, it sleeps in put with the ring full,
        // mid-item (the only place it can sleep); stop it there.
        ready.get().unwrap();
        let t = Instant::now();
        while proc_state(ppid) != 'S' {
            assert!(t.elapsed() < Duration::from_secs(20), "the producer never blocked");
            std::thread::sleep(Duration::from_millis(2));
        }
        signal(ppid, "STOP");
        let cons = ctx.process(slow_whole_consumer, (q.clone(), started.clone()));
        cons.start().unwrap();
        let cpid = started.get().unwrap();
        std::thread::sleep(Duration::from_millis(300)); // it reads the fragments, then waits
        cons.kill().unwrap();
        assert!(wait_pid_gone(cpid, Duration::from_secs(10)));
        assert_eq!(cons.join().unwrap(), -9);
        signal(ppid, "CONT");
        let mut seqs = Vec::new();
        while seqs.last() != Some(&5) {
            let it = q.get_timeout(Duration::from_secs(20)).expect("later items must arrive");
            assert!(it.is_whole());
            seqs.push(it.seq);
        }
        assert_eq!(seqs, vec![2, 3, 4, 5], "the half-read streamed item is lost, the rest arrive");
        assert_eq!(prod.join().unwrap(), 0);
        assert_eq!(q.qsize(), 0);
    });
}

fn signal(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap();
    assert!(st.success());
}
