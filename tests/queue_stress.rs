//! Stress: 4 producer processes x 4 consumer processes x 250,000 items per producer through one
//! queue; every item is delivered exactly once and each producer's items arrive in order at
//! each consumer.

mod common;

use std::time::{Duration, Instant};

use common::each_method;
use multiproc::Queue;

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
        let q: Queue<Item> = Queue::builder().maxsize(50_000).build().unwrap();
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

/// (producer, sequence number, payload whose bytes derive from both); `None` stops a consumer.
type Sized = Option<(u32, u32, Vec<u8>)>;

const MIXED_PER_PRODUCER: u32 = 1_000;

fn mixed_len(seq: u32) -> usize {
    match seq % 10 {
        0 => 100 << 10, // more than a quarter of the 64 KiB ring: streamed
        1..=3 => (seq as usize * 37) % (12 << 10),
        _ => (seq % 50) as usize,
    }
}

fn mixed_byte(p: u32, seq: u32, i: usize) -> u8 {
    (i as u32).wrapping_mul(2_654_435_761).wrapping_add(p * 7 + seq) as u8
}

fn produce_mixed((q, id): (Queue<Sized>, u32)) {
    for seq in 0..MIXED_PER_PRODUCER {
        let data = (0..mixed_len(seq)).map(|i| mixed_byte(id, seq, i)).collect();
        q.put(Some((id, seq, data))).unwrap();
    }
}

fn consume_mixed((q, out): (Queue<Sized>, Queue<Vec<(u32, u32)>>)) {
    let mut got = Vec::new();
    while let Some((p, seq, data)) = q.get().unwrap() {
        assert_eq!(data.len(), mixed_len(seq), "wrong length");
        assert!(data.iter().enumerate().all(|(i, b)| *b == mixed_byte(p, seq, i)), "torn item");
        got.push((p, seq));
    }
    out.put(got).unwrap();
}

/// The same shape with items from 0 bytes to 100 KiB through a 64 KiB ring: whole records,
/// records wrapping around the end, and streamed items interleave under contention.
#[test]
fn four_by_four_mixed_sizes_small_ring() {
    each_method("four_by_four_mixed_sizes_small_ring", Duration::from_secs(120), |ctx| {
        let t = Instant::now();
        let q: Queue<Sized> = Queue::builder().capacity(64 << 10).build().unwrap();
        let out: Queue<Vec<(u32, u32)>> = Queue::new().unwrap();
        let consumers: Vec<_> = (0..CONSUMERS).map(|_| ctx.process(consume_mixed, (q.clone(), out.clone()))).collect();
        let producers: Vec<_> = (0..PRODUCERS).map(|id| ctx.process(produce_mixed, (q.clone(), id))).collect();
        for p in consumers.iter().chain(&producers) {
            p.start().unwrap();
        }
        for p in &producers {
            assert_eq!(p.join().unwrap(), 0);
        }
        for _ in 0..CONSUMERS {
            q.put(None).unwrap();
        }
        let mut all = Vec::new();
        for _ in 0..CONSUMERS {
            let got = out.get().unwrap();
            // Each producer's items reach each consumer in order.
            for p in 0..PRODUCERS {
                let s: Vec<u32> = got.iter().filter(|(q, _)| *q == p).map(|(_, s)| *s).collect();
                assert!(s.windows(2).all(|w| w[0] < w[1]));
            }
            all.extend(got);
        }
        for p in &consumers {
            assert_eq!(p.join().unwrap(), 0);
        }
        all.sort_unstable();
        let expect: Vec<(u32, u32)> =
            (0..PRODUCERS).flat_map(|p| (0..MIXED_PER_PRODUCER).map(move |s| (p, s))).collect();
        assert_eq!(all, expect, "every item exactly once");
        assert!(q.is_empty());
        eprintln!("[{}] {} mixed items in {:?}", ctx.get_start_method(), all.len(), t.elapsed());
    });
}
