//! Queues: items through shared memory under every start method, delivery when the producer
//! exits at once, items holding handles, errors that hand the value back, items of any size, JoinableQueue, and a
//! SIGKILLed producer that leaves the queue whole.

use std::time::{Duration, Instant};

use multiproc::{GetError, JoinableQueue, PutError, Queue, get_all_start_methods, get_context};

fn put_and_exit((q, method): (Queue<String>, String)) {
    q.put(format!("hello from pid {} ({method})", std::process::id())).unwrap();
    std::process::exit(0); // CPython loses this item (pain point 4a); here put already delivered it
}

fn hand_over(q: Queue<multiproc::Connection>) {
    let (mine, theirs) = multiproc::pipe(true).unwrap();
    mine.send(&format!("sent on a connection by pid {}, which has exited", std::process::id())).unwrap();
    q.put(theirs).unwrap(); // its descriptor travels beside the ring
    std::process::exit(0);
}

fn blast((q, n): (Queue<Vec<u8>>, usize)) {
    let payload = [b'x'; 64];
    for _ in 0..n {
        q.put_bytes(&payload).unwrap();
    }
    q.put_bytes(&[]).unwrap();
}

fn worker(q: JoinableQueue<Option<u64>>) {
    while let Some(n) = q.get().unwrap() {
        std::thread::sleep(Duration::from_millis(n));
        q.task_done().unwrap();
    }
    q.task_done().unwrap();
}

fn endless(q: Queue<Vec<u8>>) {
    for i in 0u32.. {
        q.put(vec![(i % 251) as u8; 200 << 10]).unwrap(); // larger than the ring: streamed
    }
}

pub(crate) fn tour() -> Result<(), Box<dyn std::error::Error>> {
    println!("A child puts, then exits at once with std::process::exit; the parent joins first:");
    for m in get_all_start_methods() {
        let q = Queue::new()?;
        let p = get_context(Some(m)).process(put_and_exit, (q.clone(), m.to_string()));
        p.start()?;
        p.join()?;
        println!("  {:>10}: {}", m.to_string(), q.get()?);
    }

    println!("\nItems may hold handles: a child puts one end of a connection and exits:");
    for m in get_all_start_methods() {
        let q = Queue::new()?;
        let p = get_context(Some(m)).process(hand_over, q.clone());
        p.start()?;
        p.join()?;
        let conn = q.get()?;
        println!("  {:>10}: {}", m.to_string(), conn.recv::<String>()?);
    }

    println!("\nErrors hand the value back:");
    let q = Queue::with_maxsize(1)?;
    q.put("first".to_string()).map_err(|e| e.to_string())?;
    if let Err(PutError::Full(v)) = q.try_put("second".to_string()) {
        println!("  try_put on a full queue -> Full({v:?})");
    }
    let t = Instant::now();
    let e = q.put_timeout("third".to_string(), Duration::from_millis(100)).unwrap_err();
    println!("  put_timeout(100 ms) -> {e:?} after {:?}: {e}", t.elapsed());
    q.close();
    println!("  after close(): get -> {}", q.get().unwrap_err());
    let fresh: Queue<u8> = Queue::new()?;
    println!("  try_get on an empty queue -> {:?}", fresh.try_get().map_err(|e: GetError| e.to_string()));

    println!("\n64-byte items from a child, put_bytes/get_bytes:");
    let q: Queue<Vec<u8>> = Queue::new()?;
    let n = 200_000;
    let t = Instant::now();
    let p = get_context(Some(multiproc::StartMethod::Fork)).process(blast, (q.clone(), n));
    p.start()?;
    let mut got = 0;
    while !q.get_bytes()?.is_empty() {
        got += 1;
    }
    p.join()?;
    let dt = t.elapsed().as_secs_f64();
    println!("  {got} items in {:.1} ms: {:.1} M items/s (CPython: ~0.1 M/s)", dt * 1e3, got as f64 / dt / 1e6);

    println!("\nItems of any size (a 64 KiB ring):");
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build()?;
    let q2 = q.clone();
    let t = std::thread::spawn(move || q2.put(vec![7u8; 50 << 20]).map_err(|e| e.to_string()));
    let big = q.get()?;
    t.join().unwrap()?;
    println!("  a {} MiB item streamed through a 64 KiB ring intact: {}", big.len() >> 20, big.iter().all(|b| *b == 7));

    println!("\nJoinableQueue: 3 workers, 9 tasks, join() waits for every task_done():");
    let q = JoinableQueue::new()?;
    let ws: Vec<_> = (0..3).map(|_| multiproc::Process::new(worker, q.clone())).collect();
    for w in &ws {
        w.start()?;
    }
    let t = Instant::now();
    for _ in 0..9 {
        q.put(Some(50)).map_err(|e| e.to_string())?;
    }
    q.join();
    println!("  9 tasks of 50 ms done in {:?} (unfinished: {})", t.elapsed(), q.unfinished_tasks());
    for _ in &ws {
        q.put(None).map_err(|e| e.to_string())?;
    }
    for w in &ws {
        w.join()?;
    }

    println!("\nA producer SIGKILLed in the middle of streaming an item:");
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build()?;
    let p = multiproc::Process::new(endless, q.clone());
    p.start()?;
    for _ in 0..3 {
        q.get()?;
    }
    std::thread::sleep(Duration::from_millis(50)); // it fills the ring and waits, mid-item
    p.kill()?;
    println!("  producer exit code {}", p.join()?);
    // Another producer (a thread here): the ring is full of the dead producer's fragments
    // until a consumer discards them, so this put waits for the gets below.
    let q2 = q.clone();
    let second = std::thread::spawn(move || q2.put(vec![1, 2, 3]).map_err(|e| e.to_string()));
    let mut whole = 0;
    loop {
        let v = q.get_timeout(Duration::from_secs(5))?;
        if v == [1, 2, 3] {
            break;
        }
        assert!(v.len() == 200 << 10 && v.iter().all(|b| *b == v[0]), "a torn item");
        whole += 1;
    }
    second.join().unwrap()?;
    println!("  then {whole} more whole items, the torn one discarded, and another producer's item");
    Ok(())
}
