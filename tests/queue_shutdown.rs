//! `Queue::shutdown(immediate)` as on CPython's main branch (behaviours 42-45 of CPython's
//! suite), across processes under every start method, and an item that does not decode coming
//! back as bytes.

mod common;

use std::time::{Duration, Instant};

use common::{Watchdog, each_method};
use multiproc::{GetError, JoinableQueue, PutError, Queue};

const LIMIT: Duration = Duration::from_secs(60);

// 42: shutdown() on an empty queue: qsize 0, join() released, put/try_put/get/try_get fail
// with ShutDown.
#[test]
fn shutdown_of_an_empty_queue() {
    let _w = Watchdog::new("shutdown empty", LIMIT);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    assert_eq!(q.shutdown(false), 0);
    assert!(q.is_shutdown());
    assert_eq!(q.qsize(), 0);
    q.join();
    assert!(matches!(q.put(1), Err(PutError::ShutDown(1))));
    assert!(matches!(q.try_put(2), Err(PutError::ShutDown(2))));
    assert!(matches!(q.put_timeout(3, Duration::MAX), Err(PutError::ShutDown(3))));
    assert!(q.get().unwrap_err().is_shutdown());
    assert!(q.try_get().unwrap_err().is_shutdown());
    assert!(q.get_timeout(Duration::ZERO).unwrap_err().is_shutdown());
    assert!(q.put(1).unwrap_err().to_string().contains("shut down"));
}

// 43: shutdown() on a non-empty queue: the items left still come out, then ShutDown; join()
// stays blocked until their task_done().
#[test]
fn shutdown_of_a_non_empty_queue_lets_the_rest_out() {
    let _w = Watchdog::new("shutdown non-empty", LIMIT);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert_eq!(q.shutdown(false), 0);
    assert_eq!(q.qsize(), 2);
    assert!(q.join_timeout(Duration::from_millis(50)).is_err(), "join must wait for the two items");
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.get().unwrap(), 2);
    assert!(q.get().unwrap_err().is_shutdown());
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::from_millis(50)).is_err(), "one item is still not done");
    q.task_done().unwrap();
    q.join();
}

// 44: shutdown(immediate=True) drops the items (qsize 0) and releases join(); a later
// task_done() fails.
#[test]
fn immediate_shutdown_drops_the_rest_and_releases_join() {
    let _w = Watchdog::new("shutdown immediate", LIMIT);
    let q: JoinableQueue<String> = JoinableQueue::new().unwrap();
    for i in 0..5 {
        q.put(format!("item {i}")).unwrap();
    }
    // Items large enough to stream through the ring are dropped whole too.
    q.put("x".repeat(200_000)).unwrap_or_else(|_| panic!("put"));
    let q2 = q.clone();
    let joiner = std::thread::spawn(move || q2.join_timeout(Duration::from_secs(30)));
    assert_eq!(q.shutdown(true), 6);
    assert_eq!(q.qsize(), 0);
    assert!(joiner.join().unwrap().is_ok(), "join was not released");
    assert!(q.get().unwrap_err().is_shutdown());
    assert!(q.task_done().is_err());
}

// 45: shutdown(immediate=True) with an item already taken: join() waits for that item's
// task_done(), and one more task_done() fails.
#[test]
fn immediate_shutdown_with_an_item_taken() {
    let _w = Watchdog::new("shutdown with an item taken", LIMIT);
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.shutdown(true), 1);
    assert!(q.join_timeout(Duration::from_millis(50)).is_err(), "the taken item is not done");
    q.task_done().unwrap();
    q.join();
    assert!(q.task_done().is_err());
}

fn blocked_get((q, started): (Queue<u32>, Queue<u32>)) -> i32 {
    started.put(0).unwrap();
    match q.get() {
        Err(GetError::ShutDown) => 0,
        other => {
            eprintln!("unexpected {other:?}");
            1
        }
    }
}

fn blocked_put((q, started): (Queue<u32>, Queue<u32>)) -> i32 {
    q.put(1).unwrap(); // fills the queue (maxsize 1)
    started.put(0).unwrap();
    match q.put(2) {
        Err(PutError::ShutDown(2)) => 0,
        other => {
            eprintln!("unexpected {other:?}");
            1
        }
    }
}

// Every process's waits wake up: a get blocked on an empty queue and a put blocked on a full
// one, each in a child, fail with ShutDown once the parent shuts the queue down.
#[test]
fn shutdown_wakes_waiters_in_other_processes() {
    each_method("shutdown wakes", LIMIT, |ctx| {
        let m = ctx.get_start_method();
        let (q, started) = (Queue::new().unwrap(), Queue::new().unwrap());
        let getter = ctx.process(blocked_get, (q.clone(), started.clone()));
        getter.start().unwrap();
        started.get().unwrap();
        let full = Queue::with_maxsize(1).unwrap();
        let putter = ctx.process(blocked_put, (full.clone(), started.clone()));
        putter.start().unwrap();
        started.get().unwrap();
        std::thread::sleep(Duration::from_millis(50)); // let both block
        let t = Instant::now();
        q.shutdown(false);
        full.shutdown(false);
        assert_eq!(getter.join().unwrap(), 0, "[{m}]");
        assert_eq!(putter.join().unwrap(), 0, "[{m}]");
        assert!(t.elapsed() < Duration::from_secs(10), "[{m}] the waiters did not wake");
        assert_eq!(full.get().unwrap(), 1, "[{m}] what was put before still comes out");
    });
}

// An item that does not decode as the consumer's type is not lost: its bytes come back.
#[test]
fn an_item_that_does_not_decode_comes_back_as_bytes() {
    let q: Queue<String> = Queue::new().unwrap();
    // The same queue seen as a queue of u8 (a handle's type is the reader's choice).
    let (a, b) = multiproc::pipe(true).unwrap();
    a.send(&q).unwrap();
    let as_u8: Queue<u8> = b.recv().unwrap();
    q.put("not a byte".to_string()).unwrap();
    let e = as_u8.get().unwrap_err();
    assert!(matches!(e, GetError::Decode(..)), "{e:?}");
    assert!(e.to_string().contains("its bytes come back"), "{e}");
    let bytes = e.into_bytes().unwrap();
    let back: String = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, "not a byte");
}
