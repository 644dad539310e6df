//! Unit tests of the ring and its locks (a file of their own: `ring.rs` is long enough).
#![allow(unsafe_code)]

use std::time::Duration;

use super::*;
use crate::sync::{Acquire, RawLock};
use crate::sys::liveness::Owner;

fn pop_vec(r: &Ring, d: Deadline) -> Result<Vec<u8>, PopFail> {
    let mut v = Vec::new();
    r.pop(&mut v, d).map(|()| v)
}

#[test]
fn whole_records_wrap_around() {
    let r = Ring::new(4096, 0).unwrap();
    for i in 0..10_000u32 {
        let msg = vec![(i % 251) as u8; (i % 300) as usize];
        r.push(&[&msg], None).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(pop_vec(&r, None).unwrap(), msg);
        assert_eq!(r.len(), 0);
    }
    assert_eq!(pop_vec(&r, Some(Instant::now())), Err(PopFail::Empty));
}

#[test]
fn streamed_message_through_small_ring() {
    let r = Ring::new(4096, 0).unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    let r2 = r.clone();
    let t = std::thread::spawn(move || pop_vec(&r2, None).unwrap());
    r.push(&[&big[..10], &big[10..]], None).unwrap();
    assert_eq!(t.join().unwrap(), big);
    assert_eq!(r.len(), 0);
}

#[test]
fn full_with_maxsize_and_without_room() {
    let r = Ring::new(4096, 2).unwrap();
    r.push(&[b"a"], None).unwrap();
    r.push(&[b"b"], None).unwrap();
    assert_eq!(r.push(&[b"c"], Some(Instant::now())), Err(PushFail::Full));
    assert_eq!(pop_vec(&r, None).unwrap(), b"a");
    r.push(&[b"c"], Some(Instant::now())).unwrap();
    let r = Ring::new(4096, 0).unwrap();
    let mut n = 0;
    while r.push(&[&[0u8; 900]], Some(Instant::now())).is_ok() {
        n += 1;
    }
    assert_eq!(n, 4); // 4 x 920-byte records in 4096
}

#[test]
fn task_accounting() {
    let r = Ring::new(4096, 0).unwrap();
    assert!(!r.task_done());
    r.push(&[b"x"], None).unwrap();
    assert_eq!(r.unfinished(), 1);
    assert!(!r.join(Some(Instant::now() + Duration::from_millis(20))));
    assert!(r.task_done());
    assert!(!r.task_done());
    assert!(r.join(None));
}

#[test]
fn ring_lock_is_a_raw_lock() {
    let r = Ring::new(4096, 0).unwrap();
    let l = &r.hdr().prod.0.lock;
    assert!(!l.is_locked());
    let (g, died) = RawGuard::acquire(l, None).unwrap();
    assert!(!died && l.is_locked());
    assert_eq!(l.owner.load(Ordering::Relaxed), Owner::me().word());
    // Another thread of this (live) process: would block; a timed lock gives up.
    std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(l.try_lock(), Acquire::NotAcquired);
            assert_eq!(l.lock(crate::deadline::after(Duration::from_millis(30))), Acquire::NotAcquired);
        });
    });
    drop(g);
    assert!(!l.is_locked());
    // Threads counting under the lock: mutual exclusion, and sleepers are woken.
    let n = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..2000 {
                    let (_g, died) = RawGuard::acquire(l, None).unwrap();
                    assert!(!died);
                    let v = n.load(Ordering::Relaxed);
                    std::hint::spin_loop();
                    n.store(v + 1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(n.load(Ordering::Relaxed), 8000);
    assert_eq!(l.waiters.load(Ordering::Relaxed), 0, "every waiter withdrew its registration");
}

/// A child process takes the lock and exits holding it: the next taker is told, once.
#[test]
fn ring_lock_owner_death() {
    let r = Ring::new(4096, 0).unwrap();
    let l = &r.hdr().cons.0.lock;
    let me = Owner::me(); // registers the at-fork handler, so the child's look-up is a getpid
    for how in ["try", "timed", "blocking"] {
        // SAFETY: the child only takes the free lock (an atomic CAS, after one getpid
        // refreshing its cached pid: no allocation, no lock) and exits at once.
        let pid = match unsafe { crate::sys::proc::fork() }.unwrap() {
            crate::sys::proc::Forked::Child => {
                let ok = l.lock(None) == Acquire::Acquired;
                crate::sys::proc::exit_immediately(if ok { 0 } else { 1 });
            }
            crate::sys::proc::Forked::Parent(pid) => {
                let mut status = 0;
                // SAFETY: reaps the child just created; `status` is a valid out pointer.
                assert_eq!(unsafe { libc::waitpid(pid as i32, &mut status, 0) }, pid as i32);
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
                pid
            }
        };
        assert!(l.is_locked() && l.owner.load(Ordering::Relaxed) == pid);
        let t = Instant::now();
        let got = match how {
            "try" => l.try_lock(),
            "timed" => l.lock(crate::deadline::after(Duration::from_millis(1))),
            _ => l.lock(None),
        };
        assert_eq!(got, Acquire::OwnerDied, "{how}");
        assert!(t.elapsed() < Duration::from_secs(10), "{how}: told after {:?}", t.elapsed());
        assert_eq!(l.owner.load(Ordering::Relaxed), me.word());
        // SAFETY: taken over just above.
        unsafe { l.unlock() };
        assert_eq!(l.try_lock(), Acquire::Acquired, "reported once: nothing to repair");
        // SAFETY: taken just above.
        unsafe { l.unlock() };
    }
}

// ---- the ring lock's state machine, model-checked (as `sync/model.rs` does the mutex) ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Pc {
    /// `lock`'s fast path: CAS 0 -> me.
    Fast,
    /// A look of the spin phase.
    Look,
    /// `prepare`: count in `waiters` (once per wait).
    Register,
    /// `prepare`: load the word; free: take it, else sleep on it.
    Load,
    Take,
    /// FUTEX_WAIT(o): sleeps if the word still equals `o`.
    Wait(u32),
    Asleep(u32),
    /// The wait ended with the lock: withdraw the registration.
    Unregister,
    Critical,
    /// `unlock`: store 0 (then the fence).
    Release,
    /// `unlock`: read `waiters`, wake one if non-zero.
    CheckWaiters,
    Wake,
    Done,
    /// Died (in the critical section): never runs again.
    Dead,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Model {
    word: u32,
    waiters: u32,
    pcs: Vec<Pc>,
    registered: Vec<bool>,
    rounds: Vec<u8>,
}

/// Every interleaving of `threads` threads taking the lock `rounds` times; thread 0 may
/// die in the critical section, and then (only then) a sleeper's slice may end and take
/// the lock over. `broken`: the unlock reads `waiters` before it frees the word.
fn check_ring_lock(threads: usize, rounds: u8, may_die: bool, broken: bool) -> Result<usize, String> {
    let init = Model {
        word: 0,
        waiters: 0,
        pcs: vec![Pc::Fast; threads],
        registered: vec![false; threads],
        rounds: vec![rounds; threads],
    };
    let dead = |m: &Model, w: u32| w != 0 && m.pcs[w as usize - 1] == Pc::Dead;
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![init];
    while let Some(s) = stack.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        if s.pcs.iter().filter(|p| matches!(p, Pc::Critical)).count() > 1 {
            return Err(format!("two threads in the critical section: {s:?}"));
        }
        let runnable: Vec<usize> =
            (0..threads).filter(|&t| !matches!(s.pcs[t], Pc::Asleep(_) | Pc::Done | Pc::Dead)).collect();
        let owner_dead = dead(&s, s.word);
        if runnable.is_empty() && !owner_dead && s.pcs.iter().any(|p| matches!(p, Pc::Asleep(_))) {
            return Err(format!("lost wake-up: every live thread sleeps: {s:?}"));
        }
        let mut next = Vec::new();
        for t in 0..threads {
            let me = t as u32 + 1;
            let mut n = s.clone();
            let finish = |n: &mut Model| {
                n.rounds[t] -= 1;
                if n.rounds[t] == 0 { Pc::Done } else { Pc::Fast }
            };
            match s.pcs[t] {
                Pc::Fast | Pc::Look => {
                    n.pcs[t] = if n.word == 0 {
                        n.word = me;
                        Pc::Critical
                    } else if s.pcs[t] == Pc::Fast {
                        Pc::Look
                    } else {
                        Pc::Register
                    };
                }
                Pc::Register => {
                    if !n.registered[t] {
                        n.waiters += 1;
                        n.registered[t] = true;
                    }
                    n.pcs[t] = Pc::Load;
                }
                Pc::Load => n.pcs[t] = if n.word == 0 { Pc::Take } else { Pc::Wait(n.word) },
                Pc::Take => {
                    n.pcs[t] = if n.word == 0 {
                        n.word = me;
                        Pc::Unregister
                    } else {
                        Pc::Load
                    }
                }
                Pc::Wait(o) => n.pcs[t] = if n.word == o { Pc::Asleep(o) } else { Pc::Load },
                Pc::Asleep(_) => {
                    // Only a slice's end wakes it without an unlock: it takes the lock
                    // over iff the owner died.
                    if owner_dead {
                        n.word = me;
                        n.pcs[t] = Pc::Unregister;
                        next.push(n);
                    }
                    continue;
                }
                Pc::Unregister => {
                    n.waiters -= 1;
                    n.registered[t] = false;
                    n.pcs[t] = Pc::Critical;
                }
                Pc::Critical => {
                    if may_die && t == 0 {
                        let mut d = s.clone();
                        d.pcs[t] = Pc::Dead;
                        next.push(d);
                    }
                    n.pcs[t] = if broken { Pc::CheckWaiters } else { Pc::Release };
                }
                Pc::Release => {
                    n.word = 0;
                    n.pcs[t] = if broken { finish(&mut n) } else { Pc::CheckWaiters };
                }
                Pc::CheckWaiters => {
                    n.pcs[t] = match (n.waiters > 0, broken) {
                        (true, _) => Pc::Wake,
                        (false, true) => Pc::Release,
                        (false, false) => finish(&mut n),
                    }
                }
                Pc::Wake => {
                    n.pcs[t] = if broken { Pc::Release } else { finish(&mut n) };
                    let sleepers: Vec<usize> = (0..threads).filter(|&u| matches!(n.pcs[u], Pc::Asleep(_))).collect();
                    if !sleepers.is_empty() {
                        for u in sleepers {
                            let mut m = n.clone();
                            m.pcs[u] = Pc::Load;
                            next.push(m);
                        }
                        continue;
                    }
                }
                Pc::Done | Pc::Dead => continue,
            }
            next.push(n);
        }
        stack.extend(next);
    }
    Ok(seen.len())
}

#[test]
fn ring_lock_state_machine_is_correct() {
    for (threads, rounds) in [(2, 3), (3, 2)] {
        assert!(check_ring_lock(threads, rounds, false, false).unwrap() > 100);
        check_ring_lock(threads, rounds, true, false).unwrap();
    }
}

#[test]
fn ring_lock_checker_catches_a_broken_unlock() {
    let err = check_ring_lock(2, 2, false, true).unwrap_err();
    assert!(err.contains("lost wake-up"), "{err}");
}
