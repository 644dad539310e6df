//! [`Event`]: a flag shared between processes that others can wait for.
//!
//! One futex word: bit 0 is the flag, bit 1 says someone may sleep. `set` swaps in the flag
//! alone (clearing the sleeper bit) and wakes everyone only if the bit was set; a waiter sets
//! the bit before it sleeps on exactly "unset, with sleepers"; `clear` resets only the flag.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::Timeout;
use super::raw::EventState;
use crate::shm::ShmBox;
use crate::sys::futex;
use crate::wait::{self, Look, Next, SpinBudget, Waiter};

const FLAG: u32 = 1;
const SLEEPERS: u32 = 2;

/// Python's `multiprocessing.Event`: a flag that processes set, clear, and wait for.
///
/// # Examples
/// ```no_run
/// use multiproc::{Process, sync::Event};
///
/// let ready = Event::new()?;
/// let p = Process::new(|e: Event| e.set(), ready.clone());
/// p.start()?;
/// ready.wait();
/// assert!(ready.is_set());
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Event {
    state: ShmBox<EventState>,
    /// This handle's adaptive spin (process-local; a received handle starts afresh).
    #[serde(skip)]
    spin: SpinBudget,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Errors
    /// The shared segment cannot be created.
    ///
    /// # Examples
    /// ```
    /// let e = multiproc::sync::Event::new()?;
    /// assert!(!e.is_set());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Event> {
        Ok(Event {
            state: ShmBox::new("multiproc-event", EventState { word: AtomicU32::new(0) })?,
            spin: SpinBudget::new(),
        })
    }

    fn word(&self) -> &AtomicU32 {
        &self.state.word
    }

    /// Is the flag set?
    ///
    /// # Examples
    /// See [`Event::new`].
    #[inline]
    pub fn is_set(&self) -> bool {
        self.word().load(Ordering::Acquire) & FLAG != 0
    }

    /// Sets the flag and wakes every waiter.
    ///
    /// # Examples
    /// ```
    /// let e = multiproc::sync::Event::new()?;
    /// e.set();
    /// assert!(e.is_set());
    /// e.wait(); // returns at once
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn set(&self) {
        if self.word().load(Ordering::Relaxed) == FLAG {
            return; // already set, nobody sleeps
        }
        if self.word().swap(FLAG, Ordering::Release) & SLEEPERS != 0 {
            futex::wake(self.word(), i32::MAX as u32);
        }
    }

    /// Resets the flag.
    ///
    /// # Examples
    /// ```
    /// let e = multiproc::sync::Event::new()?;
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn clear(&self) {
        self.word().fetch_and(!FLAG, Ordering::Relaxed);
    }

    /// Blocks until the flag is set.
    ///
    /// # Examples
    /// See [`Event`].
    pub fn wait(&self) {
        if !self.is_set() {
            self.wait_slow(None);
        }
    }

    /// Blocks until the flag is set or `timeout` passes (Python's `wait(timeout)`, which
    /// returns the flag). A zero timeout only checks; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`Timeout`] when the flag was still unset at the end of the timeout.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use multiproc::sync::{Event, Timeout};
    /// let e = Event::new()?;
    /// assert_eq!(e.wait_timeout(Duration::from_millis(10)), Err(Timeout));
    /// e.set();
    /// assert_eq!(e.wait_timeout(Duration::ZERO), Ok(()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
        if self.is_set() || self.wait_slow(crate::deadline::after(timeout)) { Ok(()) } else { Err(Timeout) }
    }

    #[cold]
    fn wait_slow(&self, deadline: Option<Instant>) -> bool {
        wait::run(&wait::SYNC, Some(&self.spin), deadline, Unset(self))
    }
}

/// Waits for the flag: sleeps on exactly "unset, with sleepers" after setting the sleeper bit.
struct Unset<'a>(&'a Event);

impl Waiter for Unset<'_> {
    type Output = bool;

    #[inline]
    fn look(&mut self) -> Look<bool> {
        if self.0.is_set() { Look::Done(true) } else { Look::NotYet }
    }

    fn prepare(&mut self) -> Next<'_, bool> {
        let w = self.0.word();
        let v = w.load(Ordering::Acquire);
        if v & FLAG != 0 {
            return Next::Done(true);
        }
        if v & SLEEPERS == 0 && w.compare_exchange(v, v | SLEEPERS, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return Next::Again;
        }
        Next::Futex(w, SLEEPERS)
    }

    fn deadline_passed(&mut self) -> bool {
        self.0.is_set()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({})", if self.is_set() { "set" } else { "unset" })
    }
}
