//! The wait core: how every blocking path of the crate spends the time until what it waits
//! for happens, and the named policies saying how long each phase lasts on each path.
//!
//! Waking a thread that sleeps in the kernel costs tens of microseconds on the 2-vCPU
//! machines here, because its virtual CPU halts (DESIGN.md, "Wake-up cost decides latency on
//! these machines"); a peer that is awake answers in well under one. So a waiter first looks
//! without sleeping for a bounded time, and sleeps only when that fails. [`run`] carries a
//! [`Waiter`] (the path's own looks and sleeps) through three phases; a [`Policy`] says how
//! long each lasts; [`SpinBudget`] adapts the spin of one handle to what its peer does.
//!
//! # Phases
//!
//! | phase | one step | on to the next phase when | the wait ends when |
//! |---|---|---|---|
//! | spin | [`Waiter::look`], then a gap of `spin_loop` hints | the [`Spin`] is used up, or `look` says [`Look::Sleep`] (straight to sleep) | `look` is [`Look::Done`] |
//! | yield | `sched_yield`, then `look` | [`Policy::yield_for`] has passed (or the deadline) | `look` is `Done` |
//! | sleep | [`Waiter::prepare`] (register, set a flag, look again), then a futex wait ([`Next::Futex`]) or the waiter's own sleep ([`Next::Sleep`]: `poll`) until the deadline or the slice's end | - | `prepare` is [`Next::Done`]; the deadline passed ([`Waiter::deadline_passed`]: a last look); a slice ended and [`Waiter::slice_ended`] (looking around, e.g. for a dead owner) says so |
//!
//! - A deadline that has already passed when the wait starts skips the spin and yield phases:
//!   a zero timeout only looks (once, in `deadline_passed`).
//! - Slices are wall-clock: with [`Policy::slice`] set, `slice_ended` runs once per slice of
//!   the sleep phase, however many wake-ups (or signals interrupting the futex wait) came in
//!   between, so a stream of spurious wake-ups cannot postpone the look around.
//! - The clock is read only in the sleep phase and only when there is a deadline or a slice:
//!   an untimed wait on a futex makes no clock call at all.
//!
//! # Policies
//!
//! | policy | spin | yield | slice | path |
//! |---|---|---|---|---|
//! | [`SYNC`] | 30 rounds, gaps 1-4 (115 hints, ~3 µs) | - | - | `Semaphore`, `Event` (adaptive), `Condition` waits, `Barrier` |
//! | [`MUTEX`] | as `SYNC` | - | 100 ms | the robust mutex (`Lock`, `RLock`, a `Condition`'s lock) |
//! | [`REGISTRANT`] | - | - | 10 ms | a `Condition` registrant waiting for older signals to drain |
//! | [`RING`] | 200 hints, gaps 1-16 | 50 µs | 100 ms | the queue ring waiting for data or room |
//! | [`RING_STREAM`] | 4000 hints, gaps 1-16 | 50 µs | 10 ms | a consumer waiting for the next fragment of a streamed item |
//! | [`RING_LOCK`] | 200 rounds, gap 1 | - | 10 ms | the ring's producer and consumer locks |
//! | [`RING_JOIN`] | - | - | 100 ms | `JoinableQueue::join` |
//! | [`CONNECTION_READ`] | one look | 20 µs | - (the caller's blocking read) | a `Connection` waiting for the first bytes of a message |
//! | [`CHILD_LEAVING`], [`SERVER_STATUS`] | checks for 50 µs, 200 µs | - | - | a fork-server child that reported its exit; the server's status for a reaped child |
//!
//! Each constant's doc says what was measured for it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sys::futex;

/// How a waiter spins before it yields or sleeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spin {
    /// `rounds` looks, each followed by a gap of `spin_loop` hints that starts at one and
    /// doubles up to `max_gap`, then one last look. A larger gap looks less often: every look
    /// at a word the peer writes pulls its cache line here, and the peer's next write must
    /// fetch it back.
    Rounds {
        /// Looks before the last one.
        rounds: u32,
        /// Most hints between two looks.
        max_gap: u32,
    },
    /// Looks with one hint between them for this long (for looks that are syscalls, where a
    /// round count would say little about the time spent).
    For(Duration),
}

impl Spin {
    /// The rounds whose gaps (1, 2, 4, ... up to `max_gap`) add up to at least `hints`
    /// `spin_loop` hints: a spin specified, as measured, by its total of hints.
    pub(crate) const fn hints(hints: u32, max_gap: u32) -> Spin {
        let (mut rounds, mut spent, mut gap) = (0, 0, 1);
        while spent < hints {
            spent += gap;
            gap = if gap * 2 < max_gap { gap * 2 } else { max_gap };
            rounds += 1;
        }
        Spin::Rounds { rounds, max_gap }
    }
}

/// How long each phase of a wait lasts (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// The spin phase.
    pub(crate) spin: Spin,
    /// How long the yield phase lasts (zero: none).
    pub(crate) yield_for: Duration,
    /// Longest sleep before [`Waiter::slice_ended`] runs (`None`: sleep until the deadline).
    pub(crate) slice: Option<Duration>,
}

impl Policy {
    /// Checks with one hint between them for `spin`, then sleeps until the deadline:
    /// `sys::fd::spin_then_poll`, whose callers choose the time.
    pub(crate) const fn busy(spin: Duration) -> Policy {
        Policy { spin: Spin::For(spin), yield_for: Duration::ZERO, slice: None }
    }
}

/// The sync primitives' waits (`Semaphore`, `Event`, a `Condition` waiting for a signal, a
/// `Barrier`): about 3 µs of spinning, then a futex sleep until the deadline.
///
/// Measured on the 2-vCPU machine through `Event::wait_timeout` (when a zero timeout still
/// spun): 30 rounds of 1-4 `pause`s are about 3 µs. Event ping-pong between two processes
/// (`mpbench --only event`) with this spin and the adaptive budget ([`SpinBudget`]): 4.87 µs
/// against 4.89 µs for bare futexes (0.99x), 27.0 against 21.2 µs under load (1.17x).
pub(crate) const SYNC: Policy =
    Policy { spin: Spin::Rounds { rounds: 30, max_gap: 4 }, yield_for: Duration::ZERO, slice: None };

/// The robust mutex (`Lock`, `RLock`, a `Condition`'s lock): [`SYNC`]'s spin, which ends
/// early once others sleep on the word (they queue up behind them), then sleeps in slices of
/// 100 ms, after each of which the owner's liveness is probed.
///
/// The slice bounds how late a blocked acquirer learns that the owner died (the fault tests
/// see it within about a tenth of a second); a probe is a `pidfd_open` and a `poll`, so paying
/// it ten times a second while blocked costs nothing measurable. `lock_uncontended` (12-14
/// ns) never leaves the fast path; `lock_contended_2proc`: 7-28 M increments/s.
pub(crate) const MUTEX: Policy = Policy { slice: Some(Duration::from_millis(100)), ..SYNC };

/// A `Condition` registrant (holding the lock) waiting for earlier signals to be taken: no
/// spin (the takers must first wake up), sleeps of at most 10 ms: a taker that dies after
/// taking the last signal but before waking the registrant costs at most that.
pub(crate) const REGISTRANT: Policy = Policy {
    spin: Spin::Rounds { rounds: 0, max_gap: 1 },
    yield_for: Duration::ZERO,
    slice: Some(Duration::from_millis(10)),
};

/// The queue ring waiting for data (consumers) or room (producers): about 200 `spin_loop`
/// hints (~10-40 ns each: a few µs) looking less and less often (gaps up to 16 hints: a
/// producer left alone commits several items per transfer of its cache line), then yields the
/// CPU for up to 50 µs (on 2 shared vCPUs the peer may be runnable on this very CPU: give it
/// the CPU before paying for a sleep and a wake-up), then sleeps on the wake word in slices of
/// 100 ms (only a wake-up lost to a process killed between its commit and its wake depends on
/// them).
///
/// With this policy and the sleeper flags of the ring (`queue/README.md`), `mpbench --only
/// queue`: `queue_64B` 6-10 M items/s, `queue_1MiB` 6-50 GB/s, swinging with the load.
pub(crate) const RING: Policy = Policy {
    spin: Spin::hints(200, 16),
    yield_for: Duration::from_micros(50),
    slice: Some(Duration::from_millis(100)),
};

/// A consumer assembling a streamed item, waiting for its next fragment: the producer is
/// copying it right now, so spin longer (about 4000 hints), yield as [`RING`], then sleep in
/// slices of 10 ms, after each of which the producer's liveness and `stream_id` are checked
/// (a dead or give-up producer's item is dropped within about a slice).
pub(crate) const RING_STREAM: Policy =
    Policy { spin: Spin::hints(4000, 16), slice: Some(Duration::from_millis(10)), ..RING };

/// The ring's producer and consumer locks (`queue::ring::RingLock`): about 200 looks with one
/// hint between them (critical sections are a copy of one record), then sleeps in slices of
/// 10 ms, after each of which the owner's liveness is probed.
pub(crate) const RING_LOCK: Policy = Policy {
    spin: Spin::Rounds { rounds: 200, max_gap: 1 },
    yield_for: Duration::ZERO,
    slice: Some(Duration::from_millis(10)),
};

/// A connection receiver waiting for the first bytes of a message: one look, then it yields
/// the CPU between looks for 20 µs (each look a nonblocking `recv` or a zero-timeout `poll`,
/// then `sched_yield`, so a peer waiting for this CPU gets it at once); the sleep is the
/// caller's blocking read. Measured with `mpbench --only pipe` (64-byte round trips, 2 vCPUs):
/// peers on different CPUs 5-8 µs with it against 45-55 µs without; both pinned to one CPU
/// 10 µs, the same as bare blocking `read`/`write` (a spin without the yield: 48 µs).
pub(crate) const CONNECTION_READ: Policy =
    Policy { spin: Spin::Rounds { rounds: 0, max_gap: 1 }, yield_for: Duration::from_micros(20), slice: None };

/// A fork-server child that told its exit code as it left, awaited until it is really gone
/// (its pidfd turns readable a few microseconds after the report): a 50 µs check, then a
/// sleep. The child is exiting, so the wait is short; sleeping at once would cost a wake-up.
pub(crate) const CHILD_LEAVING: Policy = Policy::busy(Duration::from_micros(50));

/// The fork server's status record for a child it reaped, awaited by the client after the
/// child's report socket closed: the server reaps on SIGCHLD and writes at once, so a 200 µs
/// check, then a sleep.
pub(crate) const SERVER_STATUS: Policy = Policy::busy(Duration::from_micros(200));

/// `JoinableQueue::join`: no spin (tasks take long), sleeps on the `done` word in slices of
/// 100 ms (as [`RING`]'s, a guard against a wake-up lost to a killed process).
pub(crate) const RING_JOIN: Policy =
    Policy { spin: Spin::Rounds { rounds: 0, max_gap: 1 }, yield_for: Duration::ZERO, ..RING };

/// What a look of the spin and yield phases found.
#[derive(Debug)]
pub(crate) enum Look<T> {
    /// The wait is over.
    Done(T),
    /// Not yet: keep looking.
    NotYet,
    /// Not yet, and spinning is pointless (others already sleep): go to sleep now.
    Sleep,
}

/// What the sleep phase does next, as [`Waiter::prepare`] says.
#[derive(Debug)]
pub(crate) enum Next<'a, T> {
    /// The wait is over.
    Done(T),
    /// The state changed under the waiter (a compare-and-swap lost): prepare again at once.
    Again,
    /// Sleep while `*word == value` (shared futex), until woken, the deadline or the slice's
    /// end.
    Futex(&'a AtomicU32, u32),
    /// Sleep in [`Waiter::sleep`] (a `poll`, say).
    Sleep,
}

/// One path's looks and sleeps, carried through the phases by [`run`].
pub(crate) trait Waiter {
    /// What the wait returns.
    type Output;

    /// Looks without sleeping (spin and yield phases).
    fn look(&mut self) -> Look<Self::Output>;

    /// Before each sleep: register as a sleeper, set a flag, look again, and say what to sleep
    /// on. A registration that must be withdrawn when the wait ends is withdrawn by the
    /// waiter's `Drop`.
    fn prepare(&mut self) -> Next<'_, Self::Output>;

    /// Sleeps until woken or `until` (`None`: no limit), for a [`Next::Sleep`]; returns
    /// whether it was woken. Waiters that only ever sleep on futexes keep this default, which
    /// does not sleep at all.
    fn sleep(&mut self, until: Option<Instant>) -> bool {
        let _ = until;
        true
    }

    /// A slice of the sleep phase ended: look around (is the owner dead?). `Some` ends the wait.
    fn slice_ended(&mut self) -> Option<Self::Output> {
        None
    }

    /// The deadline passed: a last look decides the outcome.
    fn deadline_passed(&mut self) -> Self::Output;
}

/// Has `deadline` passed?
#[inline]
pub(crate) fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// Waits the way `policy` says (see the module doc): spin and yield while looking, then sleep
/// as `waiter` prepares, until it is done or `deadline` passes. `budget` (per handle) replaces
/// the spin's round count by an adaptive one.
#[inline]
pub(crate) fn run<W: Waiter>(
    policy: &Policy,
    budget: Option<&SpinBudget>,
    deadline: Option<Instant>,
    mut waiter: W,
) -> W::Output {
    if !expired(deadline)
        && let Some(done) = spin(policy, budget, deadline, || waiter.look())
    {
        return done;
    }
    sleep(policy, deadline, &mut waiter)
}

/// The spin and yield phases alone: `Some` if `look` said done, `None` when the policy's
/// looking time is over (or `look` said sleep). For paths whose sleep is not a [`Waiter`]'s
/// (a blocking read, say).
#[inline]
pub(crate) fn spin<T>(
    policy: &Policy,
    budget: Option<&SpinBudget>,
    deadline: Option<Instant>,
    mut look: impl FnMut() -> Look<T>,
) -> Option<T> {
    match policy.spin {
        Spin::Rounds { rounds, max_gap } => {
            let rounds = budget.map_or(rounds, |b| b.rounds(rounds));
            let mut gap = 1;
            let mut i = 0;
            loop {
                match look() {
                    Look::Done(t) => {
                        if let Some(b) = budget {
                            b.record(i < rounds, rounds);
                        }
                        return Some(t);
                    }
                    Look::Sleep => {
                        if let Some(b) = budget {
                            b.record(false, rounds);
                        }
                        return None;
                    }
                    Look::NotYet if i == rounds => break,
                    Look::NotYet => {}
                }
                for _ in 0..gap {
                    std::hint::spin_loop();
                }
                gap = (gap * 2).min(max_gap);
                i += 1;
            }
            if let Some(b) = budget {
                b.record(false, rounds);
            }
        }
        Spin::For(d) => {
            let start = Instant::now();
            loop {
                match look() {
                    Look::Done(t) => return Some(t),
                    Look::Sleep => return None,
                    Look::NotYet => {}
                }
                if start.elapsed() >= d || expired(deadline) {
                    break;
                }
                std::hint::spin_loop();
            }
        }
    }
    if !policy.yield_for.is_zero() {
        let start = Instant::now();
        while start.elapsed() < policy.yield_for && !expired(deadline) {
            std::thread::yield_now();
            match look() {
                Look::Done(t) => return Some(t),
                Look::Sleep => return None,
                Look::NotYet => {}
            }
        }
    }
    None
}

/// The sleep phase (see the module doc).
#[cold]
fn sleep<W: Waiter>(policy: &Policy, deadline: Option<Instant>, waiter: &mut W) -> W::Output {
    let mut slice_end = policy.slice.and_then(crate::deadline::after);
    loop {
        if deadline.is_some() || slice_end.is_some() {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return waiter.deadline_passed();
            }
            if slice_end.is_some_and(|s| now >= s) {
                slice_end = policy.slice.and_then(crate::deadline::after);
                if let Some(done) = waiter.slice_ended() {
                    return done;
                }
            }
        }
        let until = match (deadline, slice_end) {
            (Some(d), Some(s)) => Some(d.min(s)),
            (d, s) => d.or(s),
        };
        match waiter.prepare() {
            Next::Done(t) => return t,
            Next::Again => {}
            Next::Futex(word, value) => {
                // Woken, timed out or interrupted: the loop looks at the clock and prepares
                // again, which looks at the state.
                let _ = futex::wait(word, value, until);
            }
            Next::Sleep => {
                waiter.sleep(until);
            }
        }
    }
}

/// A process-local, adaptive spin budget for one handle (a `Spin::Rounds` policy's rounds,
/// adapted): it grows by one round (up to the policy's) after a spin that saw the condition
/// turn true, and halves (down to 2 rounds) after one that had to give up and sleep.
///
/// When the peer answers within microseconds (both processes busy) waits stay in user space;
/// when the peer sleeps anyway, a waiter stops burning the CPU the peer needs before the
/// inevitable futex wait. Additive increase, multiplicative decrease, because doubling made
/// the budget oscillate: event ping-pong cost 14.5 µs against 13.8 µs for bare futexes under
/// load, and up to 1.5x when the peer sleeps anyway.
#[derive(Debug)]
pub(crate) struct SpinBudget(AtomicU32);

impl SpinBudget {
    /// The fewest rounds the budget shrinks to.
    const MIN: u32 = 2;

    /// A budget that starts at the policy's rounds.
    pub(crate) const fn new() -> SpinBudget {
        SpinBudget(AtomicU32::new(u32::MAX))
    }

    /// The rounds to spin now, at most `max` (the policy's).
    #[inline]
    fn rounds(&self, max: u32) -> u32 {
        self.0.load(Ordering::Relaxed).min(max)
    }

    /// Adapts the budget after a spin of `rounds` (of at most the policy's): `hit` if the
    /// condition turned true within them.
    #[inline]
    fn record(&self, hit: bool, rounds: u32) {
        let next = if hit { rounds.saturating_add(1) } else { (rounds / 2).max(Self::MIN) };
        self.0.store(next, Ordering::Relaxed);
    }
}

impl Default for SpinBudget {
    fn default() -> SpinBudget {
        SpinBudget::new()
    }
}

impl Clone for SpinBudget {
    /// A clone (and a handle received by another process) starts afresh.
    fn clone(&self) -> SpinBudget {
        SpinBudget::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_specified_by_hints_are_the_measured_ones() {
        // Gaps 1, 2, 4, 8, 16, 16, ...: 207 hints in 16 rounds, 4015 in 254.
        assert_eq!(Spin::hints(200, 16), Spin::Rounds { rounds: 16, max_gap: 16 });
        assert_eq!(Spin::hints(4000, 16), Spin::Rounds { rounds: 254, max_gap: 16 });
        // SYNC's 30 rounds of gaps 1, 2, 4, 4, ... are 115 hints.
        assert_eq!(Spin::hints(115, 4), SYNC.spin);
        assert_eq!(Spin::hints(0, 16), Spin::Rounds { rounds: 0, max_gap: 16 });
    }

    /// Counts looks; done after `done_after` of them.
    struct Counter<'a> {
        looks: u32,
        done_after: u32,
        word: &'a AtomicU32,
        slices: u32,
        give_up_after_slices: u32,
    }

    impl Waiter for Counter<'_> {
        type Output = &'static str;
        fn look(&mut self) -> Look<&'static str> {
            self.looks += 1;
            if self.looks >= self.done_after { Look::Done("looked") } else { Look::NotYet }
        }
        fn prepare(&mut self) -> Next<'_, &'static str> {
            if self.word.load(Ordering::Acquire) != 0 {
                return Next::Done("woken");
            }
            Next::Futex(self.word, 0)
        }
        fn slice_ended(&mut self) -> Option<&'static str> {
            self.slices += 1;
            (self.slices >= self.give_up_after_slices).then_some("looked around")
        }
        fn deadline_passed(&mut self) -> &'static str {
            "deadline"
        }
    }

    fn counter(word: &AtomicU32, done_after: u32, give_up_after_slices: u32) -> Counter<'_> {
        Counter { looks: 0, done_after, word, slices: 0, give_up_after_slices }
    }

    #[test]
    fn the_phases_in_order() {
        let word = AtomicU32::new(0);
        // Spin: 30 rounds plus the last look.
        let mut c = counter(&word, 31, u32::MAX);
        assert_eq!(spin(&SYNC, None, None, || c.look()), Some("looked"));
        let mut c = counter(&word, 32, u32::MAX);
        assert_eq!(spin(&SYNC, None, None, || c.look()), None);
        assert_eq!(c.looks, 31);
        // A past deadline only looks, in deadline_passed.
        assert_eq!(run(&SYNC, None, Some(Instant::now()), counter(&word, 1, u32::MAX)), "deadline");
        // A slice that ends lets the waiter look around; three of them end this wait.
        let t = Instant::now();
        assert_eq!(run(&REGISTRANT, None, None, counter(&word, u32::MAX, 3)), "looked around");
        assert!(t.elapsed() >= Duration::from_millis(30));
        // A timed wait with nobody waking it ends at its deadline.
        let t = Instant::now();
        assert_eq!(
            run(&SYNC, None, crate::deadline::after(Duration::from_millis(20)), counter(&word, u32::MAX, 0)),
            "deadline"
        );
        assert!(t.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn a_sleeper_is_woken() {
        let word = AtomicU32::new(0);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| run(&SYNC, None, None, counter(&word, u32::MAX, u32::MAX)));
            std::thread::sleep(Duration::from_millis(20));
            word.store(1, Ordering::Release);
            futex::wake(&word, 1);
            assert_eq!(waiter.join().unwrap(), "woken");
        });
    }

    #[test]
    fn the_budget_adapts() {
        let b = SpinBudget::new();
        assert_eq!(b.rounds(30), 30);
        b.record(false, 30);
        assert_eq!(b.rounds(30), 15);
        b.record(true, 15);
        assert_eq!(b.rounds(30), 16);
        for _ in 0..10 {
            b.record(false, b.rounds(30));
        }
        assert_eq!(b.rounds(30), SpinBudget::MIN);
        for _ in 0..100 {
            b.record(true, b.rounds(30));
        }
        assert_eq!(b.rounds(30), 30, "never above the policy's rounds");
        // A spin whose condition is true at once grows it; one that gives up halves it.
        let b = SpinBudget::new();
        let word = AtomicU32::new(0);
        let mut c = counter(&word, u32::MAX, u32::MAX);
        assert_eq!(spin(&SYNC, Some(&b), None, || c.look()), None);
        assert_eq!((c.looks, b.rounds(30)), (31, 15));
        let mut c = counter(&word, u32::MAX, u32::MAX);
        spin(&SYNC, Some(&b), None, || c.look());
        assert_eq!((c.looks, b.rounds(30)), (16, 7));
        let mut c = counter(&word, 1, u32::MAX);
        spin(&SYNC, Some(&b), None, || c.look());
        assert_eq!(b.rounds(30), 8);
    }
}
