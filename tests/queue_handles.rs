//! Items that hold handles (descriptors, connections, locks, shared memory, other queues) go
//! through a `Queue` and arrive usable, under every start method: CPython pickles such objects
//! through its queues with `reduction`; here their descriptors travel beside the ring. The tests
//! run one at a time: one of them counts the process's descriptors.

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use common::{Leaks, each_method};
use multiproc::handle::Fd;
use multiproc::{Connection, JoinableQueue, Lock, PutError, Queue, SharedMemory, Value, pipe};
use serde::{Deserialize, Serialize};

const LIMIT: Duration = Duration::from_secs(60);

fn writer_of_pipe() -> (std::io::PipeReader, Fd) {
    let (r, w) = std::io::pipe().unwrap();
    (r, Fd::from(OwnedFd::from(w)))
}

fn read_all(mut r: std::io::PipeReader) -> String {
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    s
}

fn write_tagged((q, n): (Queue<(u32, Fd)>, u32)) {
    for _ in 0..n {
        let (tag, fd) = q.get_timeout(Duration::from_secs(20)).unwrap();
        let mut w = std::fs::File::from(fd.into_owned());
        write!(w, "item {tag}").unwrap();
    }
}

/// Descriptors put before the consumer started, by the parent, arrive in a child as working
/// descriptors, each with its own item; the parent's copies are closed first, so the child's
/// are the only writers left (the readers see EOF once it is done).
#[test]
fn descriptors_arrive_with_their_items() {
    let _serial = common::serial();
    each_method("descriptors_arrive_with_their_items", LIMIT, |ctx| {
        let q: Queue<(u32, Fd)> = Queue::new().unwrap();
        let mut readers = Vec::new();
        for tag in 0..5 {
            let (r, w) = writer_of_pipe();
            q.put((tag, w)).unwrap();
            readers.push(r);
        }
        assert_eq!(q.qsize(), 5);
        let p = ctx.process(write_tagged, (q.clone(), 5));
        p.start().unwrap();
        for (tag, r) in readers.into_iter().enumerate() {
            assert_eq!(read_all(r), format!("item {tag}"));
        }
        assert_eq!(p.join().unwrap(), 0);
        assert!(q.is_empty());
    });
}

/// Everything a child gets: a connection, a lock, a shared value, shared memory and another
/// queue, in one item.
#[derive(Serialize, Deserialize)]
struct Kit {
    conn: Connection,
    lock: Lock,
    hits: Value<u64>,
    shm: SharedMemory,
    replies: Queue<String>,
}

fn use_kit(jobs: JoinableQueue<Kit>) {
    let kit = jobs.get_timeout(Duration::from_secs(20)).unwrap();
    let msg: String = kit.conn.recv().unwrap();
    kit.conn.send(&format!("{msg} back")).unwrap();
    {
        let _g = kit.lock.acquire().unwrap();
        kit.hits.set(kit.hits.get() + 41);
    }
    kit.shm.write_at(0, b"seen").unwrap();
    kit.replies.put("done".to_string()).unwrap();
    jobs.task_done().unwrap();
}

/// Each kind of handle inside a queue item works on the other side.
#[test]
fn every_kind_of_handle_in_an_item() {
    let _serial = common::serial();
    each_method("every_kind_of_handle_in_an_item", LIMIT, |ctx| {
        let jobs: JoinableQueue<Kit> = JoinableQueue::new().unwrap();
        let p = ctx.process(use_kit, jobs.clone());
        p.start().unwrap();
        let (mine, theirs) = pipe(true).unwrap();
        let lock = Lock::new().unwrap();
        let hits = Value::new(1u64).unwrap();
        let shm = SharedMemory::anonymous(4096).unwrap();
        let replies: Queue<String> = Queue::new().unwrap();
        let kit =
            Kit { conn: theirs, lock: lock.clone(), hits: hits.clone(), shm: shm.clone(), replies: replies.clone() };
        jobs.put(kit).unwrap();
        mine.send("ping").unwrap();
        assert_eq!(mine.recv::<String>().unwrap(), "ping back");
        assert_eq!(replies.get_timeout(Duration::from_secs(20)).unwrap(), "done");
        jobs.join_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(hits.get(), 42);
        let mut b = [0u8; 4];
        shm.read_at(0, &mut b).unwrap();
        assert_eq!(&b, b"seen");
        assert!(!lock.is_locked());
        assert_eq!(p.join().unwrap(), 0);
    });
}

fn put_and_exit(q: Queue<Connection>) {
    let (a, b) = pipe(true).unwrap();
    b.send("sent before the exit").unwrap();
    q.put(a).unwrap();
    // `b` and the process go away at once: the item and its descriptor are already out.
    std::process::exit(0);
}

/// A producer that exits right after `put` has delivered the item and its descriptor: a
/// connection whose peer is gone still yields what was sent on it, then EOF.
#[test]
fn producer_exiting_right_after_put_delivers() {
    let _serial = common::serial();
    each_method("producer_exiting_right_after_put_delivers", LIMIT, |ctx| {
        let q: Queue<Connection> = Queue::new().unwrap();
        let p = ctx.process(put_and_exit, q.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let c = q.get_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(c.recv::<String>().unwrap(), "sent before the exit");
        assert!(c.recv::<String>().is_err(), "the peer is gone");
    });
}

fn produce_mixed((q, base): (Queue<(u32, Option<Fd>)>, u32)) {
    for i in 0..60 {
        let tag = base + i;
        if i % 3 == 0 {
            q.put((tag, None)).unwrap();
        } else {
            let (r, w) = std::io::pipe().unwrap();
            // The reader's end travels; the writer stays here and says the tag, so the item
            // and its descriptor are checked to belong together.
            let mut w = std::fs::File::from(OwnedFd::from(w));
            write!(w, "{tag}").unwrap();
            drop(w);
            q.put((tag, Some(Fd::from(OwnedFd::from(r))))).unwrap();
        }
    }
}

/// Two producers in two processes, and two consumer threads here, with plain items and items
/// with descriptors interleaved: every descriptor arrives with its own item, each producer's
/// items keep their order, nothing is lost or doubled, and the descriptors in flight are all
/// back afterwards.
#[test]
fn concurrent_producers_keep_items_and_descriptors_together() {
    let _serial = common::serial();
    each_method("concurrent_producers_keep_items_and_descriptors_together", LIMIT, |ctx| {
        common::warm_up();
        let q: Queue<(u32, Option<Fd>)> = Queue::new().unwrap();
        let before = Leaks::snapshot().fds;
        let ps: Vec<_> = [0u32, 1000].into_iter().map(|b| ctx.process(produce_mixed, (q.clone(), b))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok((tag, fd)) = q.get_timeout(Duration::from_secs(3)) {
                        if let Some(fd) = fd {
                            let mut s = String::new();
                            std::fs::File::from(fd.into_owned()).read_to_string(&mut s).unwrap();
                            assert_eq!(s, tag.to_string(), "descriptor of another item");
                        } else {
                            assert_eq!(tag % 1000 % 3, 0);
                        }
                        got.push(tag);
                    }
                    got
                })
            })
            .collect();
        let mut all = Vec::new();
        for c in consumers {
            let got = c.join().unwrap();
            for base in [0, 1000] {
                let mine: Vec<_> = got.iter().filter(|t| **t / 1000 * 1000 == base).collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "a producer's order broke");
            }
            all.extend(got);
        }
        for p in ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        all.sort_unstable();
        let want: Vec<u32> = (0..60).chain(1000..1060).collect();
        assert_eq!(all, want);
        let after = Leaks::snapshot().fds;
        assert!(after <= before, "descriptors left open: {before} before, {after} after");
    });
}

/// A queue built without the channel refuses items with handles: the item comes back with an
/// error that says why, and the queue goes on with plain items.
#[test]
fn without_the_channel_items_with_handles_come_back() {
    let _serial = common::serial();
    let q: Queue<Option<Fd>> = Queue::builder().handles(false).build().unwrap();
    let (_r, w) = writer_of_pipe();
    let err = q.put(Some(w)).unwrap_err();
    assert!(matches!(err, PutError::Encode(..)), "{err:?}");
    assert!(err.to_string().contains("without the channel"), "{err}");
    assert!(err.into_inner().is_some());
    q.put(None).unwrap();
    assert!(q.get().unwrap().is_none());
}

/// More descriptors in one item than one message can carry: a clear error, nothing is sent,
/// and the queue goes on.
#[test]
fn too_many_descriptors_in_one_item() {
    let _serial = common::serial();
    let q: Queue<Vec<Fd>> = Queue::new().unwrap();
    let fds: Vec<Fd> = (0..300).map(|_| writer_of_pipe().1).collect();
    let err = q.put(fds).unwrap_err();
    assert!(err.to_string().contains("at most 253"), "{err}");
    assert!(q.is_empty());
    q.put(vec![writer_of_pipe().1]).unwrap();
    assert_eq!(q.get().unwrap().len(), 1);
}

/// When more items with handles wait than the kernel keeps in flight, `try_put` says the queue
/// is full and `put_timeout` waits, then times out, as for a full ring; a consumer taking some
/// makes room again. Nothing hangs, nothing is lost.
#[test]
fn descriptors_in_flight_are_bounded_like_room() {
    let _serial = common::serial();
    let q: Queue<Fd> = Queue::new().unwrap();
    let mut n = 0;
    let full = loop {
        match q.try_put(writer_of_pipe().1) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 100_000, "the channel never filled");
    };
    assert!(full.is_full(), "{full:?}");
    assert_eq!(q.qsize(), n);
    let t = Instant::now();
    let e = q.put_timeout(writer_of_pipe().1, Duration::from_millis(200)).unwrap_err();
    assert!(matches!(e, PutError::Timeout(..)), "{e:?}");
    assert!(t.elapsed() >= Duration::from_millis(150), "{:?}", t.elapsed());
    for _ in 0..10 {
        q.get().unwrap();
    }
    q.put_timeout(writer_of_pipe().1, Duration::from_secs(10)).unwrap();
    let mut left = 0;
    while q.try_get().is_ok() {
        left += 1;
    }
    assert_eq!(left, n - 10 + 1);
}
