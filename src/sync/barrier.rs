//! [`Barrier`]: `parties` processes wait for each other, generation after generation.
//!
//! # Protocol
//!
//! One futex word:
//!
//! | bits | field |
//! |---|---|
//! | 0-14 | `count`: parties arrived in this generation (`== parties` while the action runs) |
//! | 15-30 | `gen`: the generation, wrapping |
//! | 31 | `BROKEN` |
//!
//! - `wait`: CAS `count += 1`; the arrival index is the old count. The last arrival (count
//!   reaches `parties`, which also turns away further arrivals) runs the action, then stores
//!   `gen + 1, count 0` and wakes everyone. The others sleep until `gen` changes (passed) or
//!   `BROKEN` is set (error). A waiter whose timeout passes breaks the barrier.
//! - `abort`: set `BROKEN`, wake everyone. `reset`: record "generation `gen` was reset" in
//!   `reset_gen`, then store `gen + 1, count 0` without `BROKEN` and wake everyone: the waiters
//!   of `gen` see the generation change, find it recorded as reset, and report
//!   [`BarrierError::Broken`]; the barrier is fresh for new arrivals.
//! - Limits: the 16-bit generation wraps, and `reset_gen` remembers only the latest reset, so
//!   a waiter of a reset generation that sleeps through a *second* reset and a pass would
//!   report success. Both need many scheduling events while one waiter stays descheduled.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::raw::BarrierState;
use crate::shm::ShmBox;
use crate::sys::exe::{fn_at, fn_offset};
use crate::sys::futex;
use crate::wait::{self, Look, Next, Waiter};

const COUNT: u32 = 0x7fff;
const GEN_SHIFT: u32 = 15;
const GEN_MASK: u32 = 0xffff;
const BROKEN: u32 = 1 << 31;

fn gen_of(w: u32) -> u32 {
    (w >> GEN_SHIFT) & GEN_MASK
}

fn next_gen(w: u32) -> u32 {
    ((gen_of(w) + 1) & GEN_MASK) << GEN_SHIFT
}

/// Why a party did not pass a [`Barrier`]: both variants are Python's
/// `threading.BrokenBarrierError`, and after either the barrier is broken for every party
/// until [`reset`](Barrier::reset).
///
/// | variant | when |
/// |---|---|
/// | `Broken` | the barrier was or became broken: aborted, reset while this party waited, another party timed out, or the action panicked |
/// | `Timeout` | this party's own timeout passed ([`Barrier::wait_timeout`], or the default timeout of [`Barrier::wait`]); as in Python, that breaks the barrier for everyone |
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use multiproc::sync::{Barrier, BarrierError};
///
/// let b = Barrier::new(2)?;
/// assert_eq!(b.wait_timeout(Duration::ZERO), Err(BarrierError::Timeout)); // nobody else came
/// assert_eq!(b.wait(), Err(BarrierError::Broken)); // the timeout broke it
/// assert!(b.wait().unwrap_err().is_broken());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BarrierError {
    /// The barrier is broken (aborted, reset while waiting, another party timed out, or the
    /// action panicked).
    Broken,
    /// This party's timeout passed before every party arrived; the barrier is now broken.
    Timeout,
}

impl BarrierError {
    /// Is the barrier broken? True for both variants (Python raises `BrokenBarrierError` for
    /// both), as [`PutError::is_full`](crate::PutError::is_full) is for `Full` and `Timeout`.
    ///
    /// # Examples
    /// ```
    /// use multiproc::sync::BarrierError;
    /// assert!(BarrierError::Broken.is_broken() && BarrierError::Timeout.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(self, BarrierError::Broken | BarrierError::Timeout)
    }

    /// Is this [`BarrierError::Timeout`]: this party's own timeout passed?
    ///
    /// # Examples
    /// ```
    /// use multiproc::sync::BarrierError;
    /// assert!(BarrierError::Timeout.is_timeout() && !BarrierError::Broken.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, BarrierError::Timeout)
    }
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BarrierError::Broken => {
                "the barrier is broken (aborted, reset, a party timed out, or the action panicked); call reset() to reuse it"
            }
            BarrierError::Timeout => {
                "timed out waiting at the barrier before every party arrived, which broke it for every party; call \
                 reset() to reuse it, or give the parties a longer timeout"
            }
        })
    }
}

impl std::error::Error for BarrierError {}

/// Python's `multiprocessing.Barrier`: `parties` processes (or threads) block in `wait` until
/// all have arrived, then all continue; the barrier is then ready for the next round.
///
/// The optional action is a plain `fn()` run once per generation, by the party whose arrival
/// completes it, before the others are released. It travels to other processes as an offset
/// into the binary, checked against the binary's identity, so every process must run the same
/// executable (as with process targets). A panicking action breaks the barrier and the panic
/// continues in the party that ran it.
///
/// # Examples
/// ```no_run
/// use multiproc::{Process, sync::Barrier};
///
/// fn party(b: Barrier) {
///     let i = b.wait().unwrap();
///     println!("passed with index {i}");
/// }
///
/// let b = Barrier::new(3)?;
/// let ps: Vec<Process> = (0..2).map(|_| Process::new(party, b.clone())).collect();
/// for p in &ps { p.start()?; }
/// b.wait()?;
/// for p in &ps { p.join()?; }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Barrier {
    state: ShmBox<BarrierState>,
    action: Option<fn()>,
}

/// Configures a [`Barrier`]: the action and the default timeout.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// fn announce() { println!("all arrived"); }
/// let b = multiproc::sync::Barrier::builder(1).action(announce).timeout(Duration::from_secs(5)).build()?;
/// assert_eq!(b.wait(), Ok(0));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BarrierBuilder {
    parties: u32,
    action: Option<fn()>,
    timeout: Option<Duration>,
}

impl BarrierBuilder {
    /// The action run once per generation (see [`Barrier`]).
    ///
    /// # Examples
    /// See [`BarrierBuilder`].
    pub fn action(mut self, action: fn()) -> Self {
        self.action = Some(action);
        self
    }

    /// The timeout of [`Barrier::wait`] (none by default; `Duration::MAX` is none too).
    ///
    /// # Examples
    /// See [`BarrierBuilder`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Creates the barrier.
    ///
    /// # Errors
    /// `parties` is 0 or above 32766 (`InvalidInput`), or the shared segment cannot be created.
    ///
    /// # Examples
    /// See [`BarrierBuilder`].
    pub fn build(self) -> io::Result<Barrier> {
        if self.parties == 0 || self.parties >= COUNT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a barrier needs between 1 and {} parties, not {}", COUNT - 1, self.parties),
            ));
        }
        // `u64::MAX` means none: a timeout too long for 64-bit nanoseconds waits forever.
        let timeout_ns = self.timeout.map_or(u64::MAX, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let state = BarrierState {
            word: AtomicU32::new(0),
            reset_gen: AtomicU32::new(0),
            parties: self.parties,
            _pad: 0,
            timeout_ns,
        };
        Ok(Barrier { state: ShmBox::new("multiproc-barrier", state)?, action: self.action })
    }
}

impl Barrier {
    /// A barrier for `parties` parties, without action or timeout.
    ///
    /// # Errors
    /// As [`BarrierBuilder::build`].
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::sync::Barrier::new(1)?;
    /// assert_eq!(b.wait(), Ok(0));
    /// assert_eq!(b.parties(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(parties: u32) -> io::Result<Barrier> {
        Barrier::builder(parties).build()
    }

    /// A builder for a barrier of `parties` parties.
    ///
    /// # Examples
    /// See [`BarrierBuilder`].
    pub fn builder(parties: u32) -> BarrierBuilder {
        BarrierBuilder { parties, action: None, timeout: None }
    }

    fn word(&self) -> &AtomicU32 {
        &self.state.word
    }

    /// The number of parties.
    ///
    /// # Examples
    /// See [`Barrier::new`].
    pub fn parties(&self) -> u32 {
        self.state.parties
    }

    /// The default timeout of [`wait`](Self::wait), if any.
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::sync::Barrier::new(2)?;
    /// assert_eq!(b.timeout(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        match self.state.timeout_ns {
            u64::MAX => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// How many parties wait in the current generation.
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::sync::Barrier::new(2)?;
    /// assert_eq!(b.n_waiting(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn n_waiting(&self) -> u32 {
        let c = self.word().load(Ordering::Relaxed) & COUNT;
        if c >= self.parties() { 0 } else { c }
    }

    /// Is the barrier broken? (Python's `broken` attribute.)
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::sync::Barrier::new(2)?;
    /// assert!(!b.is_broken());
    /// b.abort();
    /// assert!(b.is_broken());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_broken(&self) -> bool {
        self.word().load(Ordering::Relaxed) & BROKEN != 0
    }

    /// Breaks the barrier: current and future waiters get [`BarrierError::Broken`] until
    /// [`reset`](Self::reset).
    ///
    /// # Examples
    /// See [`Barrier::is_broken`].
    pub fn abort(&self) {
        self.word().fetch_or(BROKEN, Ordering::AcqRel);
        futex::wake(self.word(), i32::MAX as u32);
    }

    /// Returns the barrier to its initial state; parties waiting now get
    /// [`BarrierError::Broken`].
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::sync::Barrier::new(1)?;
    /// b.abort();
    /// b.reset();
    /// assert!(!b.is_broken());
    /// assert_eq!(b.wait(), Ok(0));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reset(&self) {
        let w = self.word();
        let mut v = w.load(Ordering::Acquire);
        loop {
            self.state.reset_gen.store(gen_of(v) + 1, Ordering::Release);
            match w.compare_exchange_weak(v, next_gen(v), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        futex::wake(w, i32::MAX as u32);
    }

    /// Waits for all parties, up to the barrier's default timeout (none unless set with
    /// [`BarrierBuilder::timeout`]); returns this party's arrival index in `0..parties`
    /// (exactly one party gets 0 each generation).
    ///
    /// # Errors
    /// [`BarrierError::Broken`] if the barrier is or becomes broken;
    /// [`BarrierError::Timeout`] if the default timeout passes, which breaks the barrier for
    /// every party (as in Python).
    ///
    /// # Examples
    /// See [`Barrier`].
    pub fn wait(&self) -> Result<u32, BarrierError> {
        self.wait_deadline(self.timeout().and_then(crate::deadline::after))
    }

    /// Like [`wait`](Self::wait), for at most `timeout` instead of the default timeout
    /// (Python's `wait(timeout)`). A zero timeout passes only if this party is the last to
    /// arrive; `Duration::MAX` waits forever.
    ///
    /// As in Python, a party whose timeout passes **breaks the barrier**: the parties waiting
    /// with it, and every later arrival until [`reset`](Self::reset), get
    /// [`BarrierError::Broken`].
    ///
    /// # Errors
    /// [`BarrierError::Timeout`] when this party's timeout passed (the barrier is now broken);
    /// [`BarrierError::Broken`] if it is or becomes broken otherwise.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use multiproc::sync::{Barrier, BarrierError};
    /// let b = Barrier::new(2)?;
    /// assert_eq!(b.wait_timeout(Duration::from_millis(10)), Err(BarrierError::Timeout)); // nobody else came
    /// assert!(b.is_broken());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BarrierError> {
        self.wait_deadline(crate::deadline::after(timeout))
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> Result<u32, BarrierError> {
        let w = self.word();
        let parties = self.parties();
        let mut v = w.load(Ordering::Acquire);
        let (idx, generation) = loop {
            if v & BROKEN != 0 {
                return Err(BarrierError::Broken);
            }
            let count = v & COUNT;
            if count >= parties {
                // The action of the previous generation runs: wait for it to finish.
                if !wait::run(&wait::SYNC, None, deadline, Changes { word: w, from: v }) {
                    self.abort();
                    return Err(BarrierError::Timeout);
                }
                v = w.load(Ordering::Acquire);
                continue;
            }
            match w.compare_exchange_weak(v, v + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break (count, gen_of(v)),
                Err(now) => v = now,
            }
        };
        if idx + 1 == parties {
            if let Some(action) = self.action
                && let Err(panic) = std::panic::catch_unwind(action)
            {
                self.abort();
                std::panic::resume_unwind(panic);
            }
            let mut v = w.load(Ordering::Acquire);
            loop {
                let new = next_gen(v) | (v & BROKEN);
                match w.compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(now) => v = now,
                }
            }
            futex::wake(w, i32::MAX as u32);
            return Ok(idx);
        }
        wait::run(&wait::SYNC, None, deadline, Passing { barrier: self, generation }).map(|()| idx)
    }

    /// How generation `generation` ended, as the word `v` tells (`None`: not yet).
    fn outcome(&self, v: u32, generation: u32) -> Option<Result<(), BarrierError>> {
        if gen_of(v) != generation {
            let reset = self.state.reset_gen.load(Ordering::Acquire) == generation + 1;
            return Some(if reset { Err(BarrierError::Broken) } else { Ok(()) });
        }
        if v & BROKEN != 0 {
            return Some(Err(BarrierError::Broken));
        }
        None
    }
}

/// An arrival waiting for the word to change from `from` (the previous generation's action
/// runs); `false` if the deadline passed first.
struct Changes<'a> {
    word: &'a AtomicU32,
    from: u32,
}

impl Waiter for Changes<'_> {
    type Output = bool;

    fn look(&mut self) -> Look<bool> {
        if self.word.load(Ordering::Acquire) != self.from { Look::Done(true) } else { Look::NotYet }
    }

    fn prepare(&mut self) -> Next<'_, bool> {
        if self.word.load(Ordering::Acquire) != self.from {
            Next::Done(true)
        } else {
            Next::Futex(self.word, self.from)
        }
    }

    fn deadline_passed(&mut self) -> bool {
        self.word.load(Ordering::Acquire) != self.from
    }
}

/// A party that arrived, waiting for its generation to end.
struct Passing<'a> {
    barrier: &'a Barrier,
    generation: u32,
}

impl Waiter for Passing<'_> {
    type Output = Result<(), BarrierError>;

    #[inline]
    fn look(&mut self) -> Look<Result<(), BarrierError>> {
        match self.barrier.outcome(self.barrier.word().load(Ordering::Acquire), self.generation) {
            Some(done) => Look::Done(done),
            None => Look::NotYet,
        }
    }

    fn prepare(&mut self) -> Next<'_, Result<(), BarrierError>> {
        let w = self.barrier.word();
        let v = w.load(Ordering::Acquire);
        match self.barrier.outcome(v, self.generation) {
            Some(done) => Next::Done(done),
            None => Next::Futex(w, v),
        }
    }

    /// This party's timeout passed: unless the generation just ended, it breaks the barrier.
    fn deadline_passed(&mut self) -> Result<(), BarrierError> {
        let v = self.barrier.word().load(Ordering::Acquire);
        self.barrier.outcome(v, self.generation).unwrap_or_else(|| {
            self.barrier.abort();
            Err(BarrierError::Timeout)
        })
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    state: ShmBox<BarrierState>,
    /// The action's offset from the crate's anchor, and the identity of the binary it is in.
    action: Option<(i64, Vec<u8>)>,
}

impl Serialize for Barrier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            state: self.state.clone(),
            action: self.action.map(|f| (fn_offset(f) as i64, crate::sys::exe::identity().to_vec())),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Barrier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(d)?;
        let action = match wire.action {
            None => None,
            Some((off, id)) => Some(fn_at::<fn()>(off as isize, &id).map_err(serde::de::Error::custom)?),
        };
        Ok(Barrier { state: wire.state, action })
    }
}
