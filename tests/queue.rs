//! Queue behaviours ported from CPython's `_TestQueue` (§2 items 29-41), `TestSimpleQueue`
//! (206-207) and the grandchild case (199), each under every start method.

mod common;

use std::time::{Duration, Instant};

use common::{METHODS, each_method};
use multiproc::{GetError, JoinableQueue, PutError, Queue, SimpleQueue, get_context};
use serde::{Deserialize, Serialize, Serializer};

const LIMIT: Duration = Duration::from_secs(60);

fn drain_into((q, out): (Queue<u32>, Queue<Vec<u32>>)) {
    let mut got = Vec::new();
    while let Ok(v) = q.get_timeout(Duration::from_secs(5)) {
        got.push(v);
        if got.len() == 6 {
            break;
        }
    }
    out.put(got).unwrap();
}

/// 29, 30, 31: a queue of maxsize 6 fills through every put form, rejects more (immediately
/// or after the timeout), and is empty and not full once a child drained it.
#[test]
fn put_forms_full_and_drain() {
    each_method("put_forms_full_and_drain", LIMIT, |ctx| {
        let q: Queue<u32> = Queue::with_maxsize(6).unwrap();
        assert!(q.is_empty() && !q.is_full());
        q.put(1).unwrap();
        q.put_timeout(2, Duration::from_secs(1)).unwrap();
        q.try_put(3).unwrap();
        q.put(4).unwrap();
        q.put_timeout(5, Duration::from_millis(1)).unwrap();
        q.try_put(6).unwrap();
        assert!(!q.is_empty() && q.is_full());
        assert_eq!(q.qsize(), 6);

        let t = Instant::now();
        assert!(matches!(q.try_put(7), Err(PutError::Full(7))));
        assert!(t.elapsed() < Duration::from_secs(5)); // at once, not after a timeout
        let t = Instant::now();
        assert!(matches!(q.put_timeout(8, Duration::from_millis(200)), Err(PutError::Timeout(8))));
        assert!(t.elapsed() >= Duration::from_millis(150), "{:?}", t.elapsed());
        assert!(t.elapsed() < Duration::from_secs(20));

        let out: Queue<Vec<u32>> = Queue::new().unwrap();
        let p = ctx.process(drain_into, (q.clone(), out.clone()));
        p.start().unwrap();
        assert_eq!(out.get().unwrap(), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(p.join().unwrap(), 0);
        assert!(q.is_empty() && !q.is_full());
        assert_eq!(q.qsize(), 0);
    });
}

fn put_five(q: Queue<u32>) {
    for i in 0..5 {
        q.put(i).unwrap();
    }
}

/// 32: every get form returns items in FIFO order; on an empty queue `try_get` fails at once
/// and `get_timeout` after about the timeout.
#[test]
fn get_forms_fifo_and_empty() {
    each_method("get_forms_fifo_and_empty", LIMIT, |ctx| {
        let q: Queue<u32> = Queue::new().unwrap();
        let p = ctx.process(put_five, q.clone());
        p.start().unwrap();
        assert_eq!(q.get().unwrap(), 0);
        assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), 1);
        assert_eq!(q.get().unwrap(), 2);
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(q.try_get().unwrap(), 3);
        assert_eq!(q.get_timeout(Duration::from_secs(1)).unwrap(), 4);

        let t = Instant::now();
        assert!(matches!(q.try_get(), Err(GetError::Empty)));
        assert!(t.elapsed() < Duration::from_secs(5)); // at once, not after a timeout
        let t = Instant::now();
        assert!(matches!(q.get_timeout(Duration::from_millis(200)), Err(GetError::Timeout)));
        assert!(t.elapsed() >= Duration::from_millis(150));
    });
}

fn put_ten_more(q: Queue<u32>) {
    for i in 10..20 {
        q.put(i).unwrap();
    }
}

/// 33: items put by the parent before the child starts, then the child's items, come out
/// 0..19 in order, then nothing. Also pain point 4b: joining the child before draining the
/// queue does not deadlock (there is no feeder thread holding the child back).
#[test]
fn parent_then_child_items_in_order() {
    each_method("parent_then_child_items_in_order", LIMIT, |ctx| {
        let q: Queue<u32> = Queue::new().unwrap();
        for i in 0..10 {
            q.put(i).unwrap();
        }
        let p = ctx.process(put_ten_more, q.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let got: Vec<u32> = (0..20).map(|_| q.get_timeout(Duration::from_secs(5)).unwrap()).collect();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        assert!(matches!(q.try_get(), Err(GetError::Empty)));
    });
}

/// 34: qsize goes 0, 1, 2, 1, 0.
#[test]
fn qsize_counts() {
    let q: Queue<u8> = Queue::new().unwrap();
    assert_eq!(q.qsize(), 0);
    q.put(1).unwrap();
    assert_eq!(q.qsize(), 1);
    q.put(2).unwrap();
    assert_eq!(q.qsize(), 2);
    q.get().unwrap();
    assert_eq!(q.qsize(), 1);
    q.get().unwrap();
    assert_eq!(q.qsize(), 0);
}

fn task_worker(q: JoinableQueue<Option<u32>>) {
    while let Some(_item) = q.get().unwrap() {
        std::thread::sleep(Duration::from_millis(5));
        q.task_done().unwrap();
    }
    q.task_done().unwrap();
}

/// 35: four consumers call `task_done`; `join` returns once all ten items are done.
#[test]
fn joinable_queue_join_waits_for_tasks() {
    each_method("joinable_queue_join_waits_for_tasks", LIMIT, |ctx| {
        let q: JoinableQueue<Option<u32>> = JoinableQueue::new().unwrap();
        let ps: Vec<_> = (0..4).map(|_| ctx.process(task_worker, q.clone())).collect();
        for p in &ps {
            p.start().unwrap();
        }
        for i in 0..10 {
            q.put(Some(i)).unwrap();
        }
        q.join();
        assert_eq!(q.unfinished_tasks(), 0);
        for _ in &ps {
            q.put(None).unwrap();
        }
        assert_eq!(q.join_timeout(Duration::from_secs(30)), Ok(()));
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert!(q.task_done().is_err(), "task_done called too many times must fail");
    });
}

/// 37: a 0.2 s get on an empty queue waits at least 0.1 s.
#[test]
fn get_timeout_waits() {
    let q: Queue<u8> = Queue::new().unwrap();
    let t = Instant::now();
    assert!(q.get_timeout(Duration::from_millis(200)).unwrap_err().is_empty());
    assert!(t.elapsed() >= Duration::from_millis(100));
}

struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _s: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value refuses to be serialized"))
    }
}

impl<'de> Deserialize<'de> for Unserializable {
    fn deserialize<D: serde::Deserializer<'de>>(_d: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("never sent"))
    }
}

#[derive(Serialize, Deserialize)]
enum Item {
    Good(bool),
    Bad(Unserializable),
}

fn get_one_item((q, out): (Queue<Item>, Queue<bool>)) {
    match q.get().unwrap() {
        Item::Good(b) => out.put(b).unwrap(),
        Item::Bad(_) => panic!("a bad item arrived"),
    }
}

/// 38, 39: a value whose serialization fails comes back from `put` with the error (Python
/// prints it from the feeder thread and calls `_on_queue_feeder_error`); the queue keeps
/// working and its accounting stays right with maxsize 1.
#[test]
fn serialization_error_returns_from_put() {
    each_method("serialization_error_returns_from_put", LIMIT, |ctx| {
        let q: Queue<Item> = Queue::with_maxsize(1).unwrap();
        match q.put(Item::Bad(Unserializable)) {
            // The value's own Serialize error text reaches the caller, with the type.
            Err(PutError::Encode(Item::Bad(_), e)) => {
                let text = e.to_string();
                assert!(text.contains("this value refuses to be serialized") && text.contains("Item"), "{text}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(q.is_empty());
        q.put(Item::Good(true)).unwrap();
        assert_eq!(q.qsize(), 1);
        assert!(q.is_full());
        let out: Queue<bool> = Queue::new().unwrap();
        let p = ctx.process(get_one_item, (q.clone(), out.clone()));
        p.start().unwrap();
        assert!(out.get().unwrap());
        assert_eq!(p.join().unwrap(), 0);
        assert!(q.is_empty());
    });
}

/// 40, 41: closing an unused queue is harmless and it stays empty; after `close`, put and get
/// fail with an error meaning "is closed" (the value comes back). Other handles still work.
#[test]
fn close_then_put_and_get_fail() {
    let q: Queue<u8> = Queue::new().unwrap();
    q.close();
    assert!(q.is_empty());
    let q: JoinableQueue<u8> = JoinableQueue::new().unwrap();
    q.close();
    assert!(q.is_empty());

    let q: Queue<u8> = Queue::new().unwrap();
    let other = q.clone();
    q.put(1).unwrap();
    q.close();
    q.close();
    let e = q.put(2).unwrap_err();
    assert!(e.is_closed() && e.to_string().contains("is closed"));
    assert_eq!(e.into_inner(), 2);
    let e = q.get().unwrap_err();
    assert!(matches!(e, GetError::Closed) && e.to_string().contains("is closed"));
    assert!(matches!(q.try_get(), Err(GetError::Closed)));
    assert!(matches!(q.get_timeout(Duration::from_millis(1)), Err(GetError::Closed)));
    assert_eq!(other.get().unwrap(), 1);
}

fn grandchild_puts(q: Queue<String>) {
    q.put(format!("grandchild {}", std::process::id())).unwrap();
}

fn child_passes_queue_on((q, method): (Queue<String>, usize)) {
    let p = get_context(Some(METHODS[method])).process(grandchild_puts, q.clone());
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    q.put("child done".to_string()).unwrap();
}

/// 199: a child passes its own queue argument to a grandchild, which puts through it.
#[test]
fn child_passes_queue_to_grandchild() {
    each_method("child_passes_queue_to_grandchild", LIMIT, |ctx| {
        let method = METHODS.iter().position(|m| *m == ctx.get_start_method()).unwrap();
        let q: Queue<String> = Queue::new().unwrap();
        let p = ctx.process(child_passes_queue_on, (q.clone(), method));
        p.start().unwrap();
        assert!(q.get().unwrap().starts_with("grandchild "));
        assert_eq!(q.get().unwrap(), "child done");
        assert_eq!(p.join().unwrap(), 0);
    });
}

fn simple_put(q: SimpleQueue<u32>) {
    for i in 0..3 {
        q.put(i).unwrap();
    }
}

/// 206, 207: a SimpleQueue is empty at first, not empty after a child puts, gives items in
/// order; `close` twice is fine and then put and get fail.
#[test]
fn simple_queue_across_processes() {
    each_method("simple_queue_across_processes", LIMIT, |ctx| {
        let q: SimpleQueue<u32> = SimpleQueue::new().unwrap();
        assert!(q.is_empty());
        let p = ctx.process(simple_put, q.clone());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert!(!q.is_empty());
        assert_eq!((q.get().unwrap(), q.get().unwrap(), q.get().unwrap()), (0, 1, 2));
        assert!(q.is_empty());
        q.close();
        q.close();
        assert!(q.put(9).unwrap_err().is_closed());
        assert!(matches!(q.get(), Err(GetError::Closed)));
    });
}

fn big_producer((q, sizes): (Queue<Vec<u8>>, Vec<usize>)) {
    for (i, n) in sizes.into_iter().enumerate() {
        let v: Vec<u8> = (0..n).map(|k| (k as u8).wrapping_mul(31).wrapping_add(i as u8)).collect();
        if i % 2 == 0 { q.put(v).unwrap() } else { q.put_bytes(&v).unwrap() }
    }
}

/// Items from a few bytes to far more than the ring (streamed in fragments) arrive intact,
/// through `get` and `get_bytes` alike.
#[test]
fn items_of_any_size() {
    each_method("items_of_any_size", LIMIT, |ctx| {
        let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build().unwrap();
        let sizes = vec![0, 1, 100, 16 << 10, 40 << 10, 1 << 20, 7, 24 << 20, 3];
        let p = ctx.process(big_producer, (q.clone(), sizes.clone()));
        p.start().unwrap();
        for (i, n) in sizes.into_iter().enumerate() {
            let v = if i % 3 == 0 { q.get_bytes().unwrap() } else { q.get().unwrap() };
            assert_eq!(v.len(), n);
            assert!(v.iter().enumerate().all(|(k, b)| *b == (k as u8).wrapping_mul(31).wrapping_add(i as u8)));
        }
        assert_eq!(p.join().unwrap(), 0);
        assert!(q.is_empty());
    });
}

/// Several threads of one process share a queue handle.
#[test]
fn threads_share_a_queue() {
    let q: Queue<u64> = Queue::with_maxsize(16).unwrap();
    let total: u64 = std::thread::scope(|s| {
        for t in 0..3u64 {
            let q = &q;
            s.spawn(move || (0..10_000).for_each(|i| q.put(t * 100_000 + i).unwrap()));
        }
        let consumers: Vec<_> =
            (0..2).map(|_| s.spawn(|| (0..15_000).map(|_| q.get().unwrap()).sum::<u64>())).collect();
        consumers.into_iter().map(|c| c.join().unwrap()).sum()
    });
    let expect: u64 = (0..3u64).map(|t| (0..10_000).map(|i| t * 100_000 + i).sum::<u64>()).sum();
    assert_eq!(total, expect);
}

/// A `put_timeout` that expires in the middle of streaming a large item gives the value back;
/// the fragments it had already written are skipped by the consumer, which then gets the next
/// item whole, and the count stays right.
#[test]
fn put_timeout_mid_stream_abandons_the_item() {
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build().unwrap();
    let t = Instant::now();
    match q.put_timeout(vec![5u8; 1 << 20], Duration::from_millis(100)) {
        Err(PutError::Timeout(v)) => assert_eq!(v.len(), 1 << 20),
        other => panic!("unexpected {other:?}"),
    }
    assert!(t.elapsed() >= Duration::from_millis(80));
    assert_eq!(q.qsize(), 0);
    let q2 = q.clone();
    let next = std::thread::spawn(move || q2.put(vec![1, 2, 3]).unwrap());
    assert_eq!(q.get_timeout(Duration::from_secs(20)).unwrap(), vec![1, 2, 3]);
    next.join().unwrap();
    assert!(q.is_empty());
    assert!(matches!(q.try_get(), Err(GetError::Empty)));
}

fn contend((q, id): (Queue<(u32, u32)>, u32)) {
    for i in 0..20_000 {
        q.put((id, i)).unwrap();
    }
}

/// The parent uses the queue (its thread id is cached as lock owner), then starts children that
/// put through a 16 KiB ring while the parent puts too and a parent thread reads: every
/// producer's items arrive once and in order. (That a forked child owns locks under its own
/// thread id is checked deterministically by a unit test in `src/sys/owner.rs`.)
#[test]
fn parent_and_children_put_concurrently() {
    each_method("parent_and_children_put_concurrently", LIMIT, |ctx| {
        let q: Queue<(u32, u32)> = Queue::builder().capacity(16 << 10).build().unwrap();
        q.put((9, 0)).unwrap();
        assert_eq!(q.get().unwrap(), (9, 0));
        let ps: Vec<_> = (1..=2).map(|id| ctx.process(contend, (q.clone(), id))).collect();
        for p in &ps {
            p.start().unwrap();
        }
        let q2 = q.clone();
        let reader = std::thread::spawn(move || {
            let mut next = [0u32; 3];
            for _ in 0..60_000 {
                let (id, i) = q2.get().unwrap();
                assert_eq!(next[id as usize], i, "producer {id} out of order or duplicated");
                next[id as usize] += 1;
            }
            next
        });
        contend((q.clone(), 0));
        assert_eq!(reader.join().unwrap(), [20_000; 3]);
        for p in &ps {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert!(q.is_empty());
    });
}

// ---- every _timeout with Duration::MAX (waits forever, never panics) and Duration::ZERO
// (only checks) ----

/// At most this long for a call that must not wait ("at once", on a busy machine).
const AT_ONCE: Duration = Duration::from_secs(5);
/// How long another thread waits before it completes the call under test.
const LATER: Duration = Duration::from_millis(50);

/// Runs `f` on another thread after [`LATER`], while `body` runs here.
fn later<R>(f: impl FnOnce() + Send, body: impl FnOnce() -> R) -> R {
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(LATER);
            f();
        });
        body()
    })
}

#[test]
fn put_timeout_max_and_zero() {
    let _w = common::Watchdog::new("put_timeout_max_and_zero", LIMIT);
    let q: Queue<u32> = Queue::with_maxsize(2).unwrap();
    q.put_timeout(1, Duration::MAX).unwrap();
    q.put_timeout(2, Duration::ZERO).unwrap(); // room: zero puts it
    let t = Instant::now();
    assert!(matches!(q.put_timeout(3, Duration::ZERO), Err(PutError::Timeout(3))));
    assert!(t.elapsed() < AT_ONCE);
    // Full: MAX waits without a deadline until another thread makes room.
    let t = Instant::now();
    later(|| assert_eq!(q.get().unwrap(), 1), || q.put_timeout(4, Duration::MAX).unwrap());
    assert!(t.elapsed() >= LATER);
    assert_eq!((q.get().unwrap(), q.get().unwrap()), (2, 4));
}

#[test]
fn get_timeout_max_and_zero() {
    let _w = common::Watchdog::new("get_timeout_max_and_zero", LIMIT);
    let q: Queue<u32> = Queue::new().unwrap();
    let t = Instant::now();
    assert!(matches!(q.get_timeout(Duration::ZERO), Err(GetError::Timeout)));
    assert!(t.elapsed() < AT_ONCE);
    q.put(1).unwrap();
    assert_eq!(q.get_timeout(Duration::ZERO).unwrap(), 1); // an item: zero takes it
    let t = Instant::now();
    assert_eq!(later(|| q.put(2).unwrap(), || q.get_timeout(Duration::MAX).unwrap()), 2);
    assert!(t.elapsed() >= LATER);
    q.put(3).unwrap();
    assert_eq!(q.get_timeout(Duration::MAX).unwrap(), 3);
}

#[test]
fn get_bytes_timeout_max_and_zero() {
    let _w = common::Watchdog::new("get_bytes_timeout_max_and_zero", LIMIT);
    let q: Queue<Vec<u8>> = Queue::new().unwrap();
    let t = Instant::now();
    assert!(matches!(q.get_bytes_timeout(Duration::ZERO), Err(GetError::Timeout)));
    assert!(t.elapsed() < AT_ONCE);
    q.put_bytes(b"now").unwrap();
    assert_eq!(q.get_bytes_timeout(Duration::ZERO).unwrap(), b"now");
    let t = Instant::now();
    let got = later(|| q.put_bytes(b"later").unwrap(), || q.get_bytes_timeout(Duration::MAX).unwrap());
    assert_eq!(got, b"later");
    assert!(t.elapsed() >= LATER);
}

#[test]
fn join_timeout_max_and_zero() {
    let _w = common::Watchdog::new("join_timeout_max_and_zero", LIMIT);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    assert_eq!(q.join_timeout(Duration::ZERO), Ok(())); // nothing put: done
    assert_eq!(q.join_timeout(Duration::MAX), Ok(()));
    q.put(1).unwrap();
    let t = Instant::now();
    assert_eq!(q.join_timeout(Duration::ZERO), Err(multiproc::sync::Timeout));
    assert!(t.elapsed() < AT_ONCE);
    let finish = || {
        assert_eq!(q.get().unwrap(), 1);
        q.task_done().unwrap();
    };
    let t = Instant::now();
    assert_eq!(later(finish, || q.join_timeout(Duration::MAX)), Ok(()));
    assert!(t.elapsed() >= LATER);
    assert_eq!(q.unfinished_tasks(), 0);
}

fn put_later(q: Queue<String>) {
    std::thread::sleep(LATER);
    q.put("from the child".to_string()).unwrap();
}

/// `get_timeout(Duration::MAX)` sleeps until a child's item arrives.
#[test]
fn get_timeout_max_from_child() {
    each_method("get_timeout_max_from_child", LIMIT, |ctx| {
        let q: Queue<String> = Queue::new().unwrap();
        let p = ctx.process(put_later, q.clone());
        p.start().unwrap();
        assert_eq!(q.get_timeout(Duration::MAX).unwrap(), "from the child");
        assert_eq!(p.join().unwrap(), 0);
    });
}
