//! Stress: 4 producer processes x 4 consumer processes x 250,000 items per producer through one
//! queue; every item is delivered exactly once and each producer's items arrive in order at
//! each consumer.

mod common;

use std::time::{Duration, Instant};

use common::each_method;
use multiproc::{Queue, QueueBuilder};

const PRODUCERS: u32 = 4;
const CONSUMERS: u32 = 4;
const PER_PRODUCER: u32 = 250_000;

/// (producer, sequence number); `None` tells a consumer to stop.
type Item = Option<(u32, u32)>;

fn produce((q, id): (Queue<Item>, u32)) {
    for seq in 0..PER_PRODUCER {
        q.put(Some((id, seq))).unwrap();
    }
}

/// What a consumer saw: for each producer, a bitmap of sequence numbers; plus counts.
type Report = (Vec<Vec<u8>>, u64, u64);

fn consume((q, out): (Queue<Item>, Queue<Report>)) {
    let mut seen = vec![vec![0u8; (PER_PRODUCER as usize).div_ceil(8)]; PRODUCERS as usize];
    let mut last = vec![None::<u32>; PRODUCERS as usize];
    let (mut got, mut bad) = (0u64, 0u64);
    while let Some((p, s)) = q.get().unwrap() {
        let (pi, si) = (p as usize, s as usize);
        if pi >= seen.len() || si >= PER_PRODUCER as usize || seen[pi][si / 8] & (1 << (si % 8)) != 0 {
            bad += 1; // out of range or a duplicate
            continue;
        }
        if last[pi].is_some_and(|l| l >= s) {
            bad += 1; // a producer's items out of order
        }
        last[pi] = Some(s);
        seen[pi][si / 8] |= 1 << (si % 8);
        got += 1;
    }
    out.put((seen, got, bad)).unwrap();
}

#[test]
fn four_by_four_exactly_once() {
    each_method("four_by_four_exactly_once", Duration::from_secs(120), |ctx| {
        let t = Instant::now();
        let q: Queue<Item> = QueueBuilder::new().maxsize(50_000).build().unwrap();
        let out: Queue<Report> = Queue::new().unwrap();
        let consumers: Vec<_> = (0..CONSUMERS).map(|_| ctx.process(consume, (q.clone(), out.clone()))).collect();
        let producers: Vec<_> = (0..PRODUCERS).map(|id| ctx.process(produce, (q.clone(), id))).collect();
        for p in consumers.iter().chain(&producers) {
            p.start().unwrap();
        }
        for p in &producers {
            assert_eq!(p.join().unwrap(), 0);
        }
        for _ in 0..CONSUMERS {
            q.put(None).unwrap();
        }
        let mut all = vec![vec![0u8; (PER_PRODUCER as usize).div_ceil(8)]; PRODUCERS as usize];
        let mut per_consumer = Vec::new();
        for _ in 0..CONSUMERS {
            let (seen, got, bad) = out.get().unwrap();
            assert_eq!(bad, 0, "duplicates or reordering seen by a consumer");
            per_consumer.push(got);
            for (a, s) in all.iter_mut().zip(&seen) {
                for (x, y) in a.iter_mut().zip(s) {
                    assert_eq!(*x & *y, 0, "an item was delivered to two consumers");
                    *x |= *y;
                }
            }
        }
        for p in &consumers {
            assert_eq!(p.join().unwrap(), 0);
        }
        let total: u64 = per_consumer.iter().sum();
        assert_eq!(total, (PRODUCERS * PER_PRODUCER) as u64);
        for a in &all {
            let ones: u32 = a.iter().map(|b| b.count_ones()).sum();
            assert_eq!(ones, PER_PRODUCER, "every item of every producer delivered");
        }
        assert!(q.is_empty());
        eprintln!("[{}] {} items in {:?}, per consumer {:?}", ctx.get_start_method(), total, t.elapsed(), per_consumer);
    });
}
