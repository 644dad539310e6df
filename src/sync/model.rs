//! Exhaustive interleaving checks of the futex state machines (STYLE rule 14).
//!
//! Each model runs a few threads as explicit step machines over the shared words and a futex
//! wait queue, explores every interleaving by depth-first search with memoised states, and
//! checks mutual exclusion and the absence of lost wake-ups (a state where every unfinished
//! thread sleeps on the futex). Interleavings are sequentially consistent; the sleep slices
//! and timeouts are left out on purpose, since they would hide a lost wake-up.
//!
//! The mutex model calls the very transition functions the code runs
//! ([`slow_step`](super::raw::slow_step), [`unlock_wakes`](super::raw::unlock_wakes)); each
//! model also runs with a deliberately broken transition, and the checker must catch it.

use std::collections::HashSet;

use super::raw::{SlowStep, slow_step, unlock_wakes};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Pc {
    /// Fast path: CAS 0 -> me.
    Fast,
    /// Spin: one load; retry the plain CAS if free.
    Spin,
    SpinCas,
    /// Slow loop: load and decide with `slow_step`.
    Slow,
    Cas {
        expect: u32,
        new: u32,
        sleep_after: bool,
    },
    /// futex_wait(expected): sleeps if the word still equals it.
    Wait(u32),
    Asleep(u32),
    Critical,
    Unlock,
    Wake,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MutexModel {
    word: u32,
    pcs: Vec<Pc>,
    rounds: Vec<u8>,
}

type Step = fn(u32, u32) -> SlowStep;

/// Explores every interleaving; returns the first violation found.
fn check_mutex(threads: usize, rounds: u8, step: Step, wakes: fn(u32) -> bool) -> Result<usize, String> {
    let init = MutexModel { word: 0, pcs: vec![Pc::Fast; threads], rounds: vec![rounds; threads] };
    let mut seen = HashSet::new();
    let mut stack = vec![init];
    while let Some(s) = stack.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        let in_cs = s.pcs.iter().filter(|p| matches!(p, Pc::Critical)).count();
        if in_cs > 1 {
            return Err(format!("two threads in the critical section: {s:?}"));
        }
        let runnable: Vec<usize> = (0..threads).filter(|&t| !matches!(s.pcs[t], Pc::Asleep(_) | Pc::Done)).collect();
        if runnable.is_empty() {
            if s.pcs.iter().any(|p| matches!(p, Pc::Asleep(_))) {
                return Err(format!("lost wake-up: every unfinished thread sleeps: {s:?}"));
            }
            continue;
        }
        for t in runnable {
            for next in mutex_successors(&s, t, step, wakes) {
                stack.push(next);
            }
        }
    }
    Ok(seen.len())
}

fn mutex_successors(s: &MutexModel, t: usize, step: Step, wakes: fn(u32) -> bool) -> Vec<MutexModel> {
    let me = t as u32 + 1; // a "pid"
    let mut n = s.clone();
    match s.pcs[t] {
        Pc::Fast => {
            n.pcs[t] = if n.word == 0 {
                n.word = me;
                Pc::Critical
            } else {
                Pc::Spin
            }
        }
        Pc::Spin => {
            n.pcs[t] = if n.word == 0 { Pc::SpinCas } else { Pc::Slow };
        }
        Pc::SpinCas => {
            n.pcs[t] = if n.word == 0 {
                n.word = me;
                Pc::Critical
            } else {
                Pc::Slow
            }
        }
        Pc::Slow => {
            n.pcs[t] = match step(n.word, me) {
                SlowStep::Take(new) => Pc::Cas { expect: 0, new, sleep_after: false },
                SlowStep::Mark(new) => Pc::Cas { expect: n.word, new, sleep_after: true },
                SlowStep::Sleep(e) => Pc::Wait(e),
            }
        }
        Pc::Cas { expect, new, sleep_after } => {
            n.pcs[t] = if n.word == expect {
                n.word = new;
                if sleep_after { Pc::Wait(new) } else { Pc::Critical }
            } else {
                Pc::Slow
            }
        }
        Pc::Wait(e) => n.pcs[t] = if n.word == e { Pc::Asleep(e) } else { Pc::Slow },
        Pc::Critical => n.pcs[t] = Pc::Unlock,
        Pc::Unlock => {
            let old = std::mem::replace(&mut n.word, 0);
            n.pcs[t] = if wakes(old) { Pc::Wake } else { finish_round(&mut n, t) };
        }
        Pc::Wake => {
            // FUTEX_WAKE(1) wakes any one sleeper: branch over each choice.
            let sleepers: Vec<usize> = (0..n.pcs.len()).filter(|&u| matches!(n.pcs[u], Pc::Asleep(_))).collect();
            n.pcs[t] = finish_round(&mut n, t);
            if sleepers.is_empty() {
                return vec![n];
            }
            return sleepers
                .into_iter()
                .map(|u| {
                    let mut m = n.clone();
                    m.pcs[u] = Pc::Slow;
                    m
                })
                .collect();
        }
        Pc::Asleep(_) | Pc::Done => {}
    }
    vec![n]
}

fn finish_round(n: &mut MutexModel, t: usize) -> Pc {
    n.rounds[t] -= 1;
    if n.rounds[t] == 0 { Pc::Done } else { Pc::Fast }
}

#[test]
fn mutex_state_machine_is_correct() {
    // Under Miri (scripts/miri.sh, which checks for undefined behaviour, 1000x slower) the
    // smallest models only.
    let configs: &[(usize, u8)] = if cfg!(miri) { &[(2, 1)] } else { &[(2, 3), (3, 2)] };
    for &(threads, rounds) in configs {
        let states = check_mutex(threads, rounds, slow_step, unlock_wakes).unwrap();
        assert!(states > 10, "the model explored only {states} states");
    }
}

/// A slow path that takes a free lock without re-setting CONTENDED loses the wake-up of the
/// threads still asleep: the checker must find it.
#[test]
fn mutex_checker_catches_a_broken_transition() {
    fn forgets_sleepers(w: u32, me: u32) -> SlowStep {
        match slow_step(w, me) {
            SlowStep::Take(_) => SlowStep::Take(me),
            other => other,
        }
    }
    let err = check_mutex(3, 2, forgets_sleepers, unlock_wakes).unwrap_err();
    assert!(err.contains("lost wake-up"), "{err}");
    // And an unlock that never wakes.
    let err = check_mutex(2, 1, slow_step, |_| false).unwrap_err();
    assert!(err.contains("lost wake-up"), "{err}");
}

// ---- the semaphore: value, sleepers, and the Dekker pair ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SemPc {
    // acquirer
    Try,
    Register,
    Load,
    Cas(u32),
    Wait,
    Asleep,
    Unregister,
    // releaser
    Add,
    ReadSleepers,
    WakeOne,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SemModel {
    value: u32,
    sleepers: u32,
    pcs: Vec<SemPc>,
}

/// `acquirers` take one permit each, `releasers` give one each; `broken` makes the releaser
/// read `sleepers` before adding the permit (the order the code must not use).
fn check_semaphore(acquirers: usize, releasers: usize, broken: bool) -> Result<usize, String> {
    let mut pcs = vec![SemPc::Try; acquirers];
    pcs.extend(std::iter::repeat_n(if broken { SemPc::ReadSleepers } else { SemPc::Add }, releasers));
    let init = SemModel { value: 0, sleepers: 0, pcs };
    let mut seen = HashSet::new();
    let mut stack = vec![init];
    while let Some(s) = stack.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        let runnable: Vec<usize> =
            (0..s.pcs.len()).filter(|&t| !matches!(s.pcs[t], SemPc::Asleep | SemPc::Done)).collect();
        if runnable.is_empty() {
            if s.pcs.contains(&SemPc::Asleep) {
                return Err(format!("lost wake-up: a permit is free but its acquirer sleeps: {s:?}"));
            }
            continue;
        }
        for t in runnable {
            let mut n = s.clone();
            let mut extra = Vec::new();
            match s.pcs[t] {
                SemPc::Try => {
                    n.pcs[t] = if n.value > 0 {
                        n.value -= 1;
                        SemPc::Done
                    } else {
                        SemPc::Register
                    }
                }
                SemPc::Register => {
                    n.sleepers += 1;
                    n.pcs[t] = SemPc::Load;
                }
                SemPc::Load => n.pcs[t] = if n.value > 0 { SemPc::Cas(n.value) } else { SemPc::Wait },
                SemPc::Cas(v) => {
                    n.pcs[t] = if n.value == v {
                        n.value -= 1;
                        SemPc::Unregister
                    } else {
                        SemPc::Load
                    }
                }
                SemPc::Wait => n.pcs[t] = if n.value == 0 { SemPc::Asleep } else { SemPc::Load },
                SemPc::Unregister => {
                    n.sleepers -= 1;
                    n.pcs[t] = SemPc::Done;
                }
                SemPc::Add => {
                    n.value += 1;
                    n.pcs[t] = if broken { SemPc::Done } else { SemPc::ReadSleepers };
                }
                SemPc::ReadSleepers => {
                    let wake = n.sleepers > 0;
                    n.pcs[t] = match (wake, broken) {
                        (true, _) => SemPc::WakeOne,
                        (false, true) => SemPc::Add,
                        (false, false) => SemPc::Done,
                    };
                }
                SemPc::WakeOne => {
                    n.pcs[t] = if broken { SemPc::Add } else { SemPc::Done };
                    let sleepers: Vec<usize> = (0..n.pcs.len()).filter(|&u| n.pcs[u] == SemPc::Asleep).collect();
                    for u in sleepers {
                        let mut m = n.clone();
                        m.pcs[u] = SemPc::Load;
                        extra.push(m);
                    }
                }
                SemPc::Asleep | SemPc::Done => {}
            }
            if extra.is_empty() {
                stack.push(n);
            } else {
                stack.extend(extra);
            }
        }
    }
    Ok(seen.len())
}

#[test]
fn semaphore_state_machine_is_correct() {
    // With more releasers than acquirers a permit is left over; still no sleeper may stay.
    let configs: &[(usize, usize)] = if cfg!(miri) { &[(1, 1)] } else { &[(1, 1), (2, 2), (2, 3)] };
    for &(a, r) in configs {
        check_semaphore(a, r, false).unwrap();
    }
    if !cfg!(miri) {
        assert!(check_semaphore(3, 3, false).unwrap() > 100);
    }
}

#[test]
fn semaphore_checker_catches_a_broken_order() {
    let err = check_semaphore(1, 1, true).unwrap_err();
    assert!(err.contains("lost wake-up"), "{err}");
}
