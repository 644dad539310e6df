//! Proxies of the managed synchronization objects and queues. Their blocking calls follow
//! the crate's convention: `x()` waits as long as it takes, `try_x()` never waits
//! (`WouldBlock`, `Empty`, `Full`), `x_timeout(d)` waits at most `d` (`Timeout`).
//!
//! A lock or rlock held by a process that dies (its connections close) is released by the
//! server, so the others do not deadlock (CPython's managed locks stay locked forever).

use std::marker::PhantomData;
use std::ops::Deref;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::base::{BaseProxy, blob, typed_proxy, unblob};
use super::error::ManagerError;
use super::link::owner_token;
use super::protocol::{Wait, method::barrier, method::event, method::lock, method::queue};

/// Holds a managed lock, rlock, semaphore or condition; releases it when dropped.
///
/// # Examples
/// ```no_run
/// let m = multiproc::manager::Manager::start()?;
/// let l = m.lock()?;
/// {
///     let _g = l.acquire()?;
///     assert!(l.is_locked()?);
/// }
/// assert!(!l.is_locked()?);
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct ManagedGuard<'a> {
    base: &'a BaseProxy,
    owner: u64,
}

impl ManagedGuard<'_> {
    /// Releases now, reporting a failure (dropping the guard releases too, silently).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.lock()?;
    /// l.acquire()?.release()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn release(self) -> Result<(), ManagerError> {
        let r = self.base.call(lock::RELEASE, &self.owner);
        std::mem::forget(self);
        r
    }

    /// Keeps it held after the guard is gone (release it later with the proxy's
    /// `release`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.lock()?;
    /// l.acquire()?.leak();
    /// l.release()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for ManagedGuard<'_> {
    fn drop(&mut self) {
        let _ = self.base.call::<_, ()>(lock::RELEASE, &self.owner);
    }
}

fn acquire(base: &BaseProxy, w: Wait) -> Result<ManagedGuard<'_>, ManagerError> {
    let owner = owner_token();
    base.call::<_, ()>(lock::ACQUIRE, &(owner, w))?;
    Ok(ManagedGuard { base, owner })
}

/// The acquire/release vocabulary shared by locks, rlocks, semaphores and conditions.
macro_rules! lock_methods {
    ($ctor:literal) => {
        /// Acquires, waiting as long as it takes.
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        #[doc = concat!("let l = m.", $ctor, ";")]
        /// let _g = l.acquire()?;
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn acquire(&self) -> Result<ManagedGuard<'_>, ManagerError> {
            acquire(&self.base, Wait::Forever)
        }

        /// Acquires if that needs no wait.
        ///
        /// # Errors
        /// [`ManagerErrorKind::WouldBlock`](super::ManagerErrorKind::WouldBlock) when taken.
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        #[doc = concat!("let l = m.", $ctor, ";")]
        /// let _g = l.try_acquire()?;
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn try_acquire(&self) -> Result<ManagedGuard<'_>, ManagerError> {
            acquire(&self.base, Wait::Never)
        }

        /// Acquires, waiting at most `timeout`.
        ///
        /// # Errors
        /// [`ManagerErrorKind::Timeout`](super::ManagerErrorKind::Timeout).
        ///
        /// # Examples
        /// ```no_run
        /// use std::time::Duration;
        /// let m = multiproc::manager::Manager::start()?;
        #[doc = concat!("let l = m.", $ctor, ";")]
        /// let _g = l.acquire_timeout(Duration::from_secs(1))?;
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn acquire_timeout(&self, timeout: Duration) -> Result<ManagedGuard<'_>, ManagerError> {
            acquire(&self.base, Wait::timeout(timeout))
        }

        /// Releases once without a guard (after [`ManagedGuard::leak`], or from another
        /// process where the kind allows it).
        ///
        /// # Errors
        /// [`ManagerErrorKind::NotHeld`](super::ManagerErrorKind::NotHeld) (or `ValueError`
        /// for a bounded semaphore released past its bound).
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        #[doc = concat!("let l = m.", $ctor, ";")]
        /// l.acquire()?.leak();
        /// l.release()?;
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn release(&self) -> Result<(), ManagerError> {
            self.base.call(lock::RELEASE, &owner_token())
        }

        /// Is it held (for a semaphore: is its value zero)?
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        #[doc = concat!("let l = m.", $ctor, ";")]
        /// assert!(!l.is_locked()?);
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn is_locked(&self) -> Result<bool, ManagerError> {
            self.base.call(lock::LOCKED, &())
        }
    };
}

macro_rules! lock_proxy {
    ($(#[$doc:meta])* $name:ident, $type_name:literal, $ctor:literal) => {
        $(#[$doc])*
        pub struct $name {
            base: BaseProxy,
            _t: PhantomData<()>,
        }

        typed_proxy!($name<>, $type_name);

        impl $name {
            lock_methods!($ctor);
        }
    };
}

lock_proxy!(
    /// A managed lock (`Manager.Lock()`), made by [`Manager::lock`](super::Manager::lock).
    /// Any process may release it; one whose holder died is released by the server.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.lock()?;
    /// let g = l.acquire()?;
    /// assert!(l.try_acquire().unwrap_err().is_would_block());
    /// drop(g);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    LockProxy, "lock", "lock()?"
);

lock_proxy!(
    /// A managed recursive lock (`Manager.RLock()`), made by
    /// [`Manager::rlock`](super::Manager::rlock): the thread that holds it may acquire it
    /// again; only that thread may release it.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let r = m.rlock()?;
    /// let a = r.acquire()?;
    /// let b = r.acquire()?;
    /// drop((b, a));
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    RLockProxy, "rlock", "rlock()?"
);

lock_proxy!(
    /// A managed semaphore (`Manager.Semaphore(n)`), made by
    /// [`Manager::semaphore`](super::Manager::semaphore).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let s = m.semaphore(2)?;
    /// let (_a, _b) = (s.acquire()?, s.acquire()?);
    /// assert!(s.try_acquire().unwrap_err().is_would_block());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    SemaphoreProxy, "semaphore", "semaphore(1)?"
);

lock_proxy!(
    /// A managed bounded semaphore (`Manager.BoundedSemaphore(n)`), made by
    /// [`Manager::bounded_semaphore`](super::Manager::bounded_semaphore): releasing it past
    /// its initial value is a `ValueError`.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let s = m.bounded_semaphore(1)?;
    /// assert!(s.release().unwrap_err().is_value_error());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    BoundedSemaphoreProxy, "bounded_semaphore", "bounded_semaphore(1)?"
);

lock_proxy!(
    /// A managed condition variable (`Manager.Condition()`) with its own recursive lock,
    /// made by [`Manager::condition`](super::Manager::condition).
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let m = multiproc::manager::Manager::start()?;
    /// let c = m.condition()?;
    /// let _g = c.acquire()?;
    /// assert!(c.wait_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// c.notify_all()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    ConditionProxy, "condition", "condition()?"
);

impl SemaphoreProxy {
    /// The semaphore's value.
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::manager::Manager::start()?.semaphore(3)?.get_value()?, 3);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn get_value(&self) -> Result<u64, ManagerError> {
        self.base.call(lock::VALUE, &())
    }
}

impl BoundedSemaphoreProxy {
    /// The semaphore's value.
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::manager::Manager::start()?.bounded_semaphore(3)?.get_value()?, 3);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn get_value(&self) -> Result<u64, ManagerError> {
        self.base.call(lock::VALUE, &())
    }
}

impl ConditionProxy {
    fn wait_with(&self, w: Wait) -> Result<(), ManagerError> {
        self.base.call(lock::WAIT, &(owner_token(), w))
    }

    /// Releases the lock, waits for a notification, takes the lock back. The caller must
    /// hold the lock.
    ///
    /// # Errors
    /// `NotHeld` when the caller does not hold the lock.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let c = m.condition()?;
    /// assert!(c.wait().unwrap_err().is_not_held());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn wait(&self) -> Result<(), ManagerError> {
        self.wait_with(Wait::Forever)
    }

    /// [`wait`](ConditionProxy::wait) for at most `timeout` (the lock is taken back either
    /// way).
    ///
    /// # Errors
    /// `Timeout`, `NotHeld`.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let m = multiproc::manager::Manager::start()?;
    /// let c = m.condition()?;
    /// let _g = c.acquire()?;
    /// assert!(c.wait_timeout(Duration::ZERO).unwrap_err().is_timeout());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), ManagerError> {
        self.wait_with(Wait::timeout(timeout))
    }

    /// Waits until `pred()` holds, checking it after each notification (the caller holds
    /// the lock).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let (c, v) = (m.condition()?, m.value(1u8)?);
    /// let _g = c.acquire()?;
    /// c.wait_for(|| v.get().map(|x| x == 1).unwrap_or(true))?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn wait_for(&self, mut pred: impl FnMut() -> bool) -> Result<(), ManagerError> {
        while !pred() {
            self.wait()?;
        }
        Ok(())
    }

    /// Wakes up to `n` waiters (the caller holds the lock).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let c = m.condition()?;
    /// let _g = c.acquire()?;
    /// c.notify(1)?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn notify(&self, n: usize) -> Result<(), ManagerError> {
        self.base.call(lock::NOTIFY, &(owner_token(), n as u64))
    }

    /// Wakes every waiter (the caller holds the lock).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let c = m.condition()?;
    /// let _g = c.acquire()?;
    /// c.notify_all()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn notify_all(&self) -> Result<(), ManagerError> {
        self.base.call(lock::NOTIFY, &(owner_token(), u64::MAX))
    }
}

/// A managed event (`Manager.Event()`), made by [`Manager::event`](super::Manager::event).
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// let m = multiproc::manager::Manager::start()?;
/// let e = m.event()?;
/// assert!(e.wait_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
/// e.set()?;
/// e.wait()?;
/// assert!(e.is_set()?);
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct EventProxy {
    base: BaseProxy,
    _t: PhantomData<()>,
}

typed_proxy!(EventProxy, "event");

impl EventProxy {
    /// Sets the flag, waking every waiter.
    ///
    /// # Examples
    /// ```no_run
    /// multiproc::manager::Manager::start()?.event()?.set()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn set(&self) -> Result<(), ManagerError> {
        self.base.call(event::SET, &())
    }

    /// Clears the flag.
    ///
    /// # Examples
    /// ```no_run
    /// multiproc::manager::Manager::start()?.event()?.clear()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.base.call(event::CLEAR, &())
    }

    /// Is the flag set?
    ///
    /// # Examples
    /// ```no_run
    /// assert!(!multiproc::manager::Manager::start()?.event()?.is_set()?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn is_set(&self) -> Result<bool, ManagerError> {
        self.base.call(event::IS_SET, &())
    }

    /// Waits until the flag is set.
    ///
    /// # Examples
    /// ```no_run
    /// let e = multiproc::manager::Manager::start()?.event()?;
    /// e.set()?;
    /// e.wait()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn wait(&self) -> Result<(), ManagerError> {
        self.base.call(event::WAIT, &Wait::Forever)
    }

    /// Waits at most `timeout` for the flag.
    ///
    /// # Errors
    /// `Timeout`.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let e = multiproc::manager::Manager::start()?.event()?;
    /// assert!(e.wait_timeout(Duration::ZERO).unwrap_err().is_timeout());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), ManagerError> {
        self.base.call(event::WAIT, &Wait::timeout(timeout))
    }
}

/// A managed barrier (`Manager.Barrier(n)`), made by
/// [`Manager::barrier`](super::Manager::barrier).
///
/// # Examples
/// ```no_run
/// let m = multiproc::manager::Manager::start()?;
/// let b = m.barrier(1)?;
/// assert_eq!(b.wait()?, 0);
/// assert_eq!(b.parties()?, 1);
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct BarrierProxy {
    base: BaseProxy,
    _t: PhantomData<()>,
}

typed_proxy!(BarrierProxy, "barrier");

impl BarrierProxy {
    /// Waits until every party waits; returns this waiter's arrival index.
    ///
    /// # Errors
    /// [`ManagerErrorKind::BrokenBarrier`](super::ManagerErrorKind::BrokenBarrier).
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::manager::Manager::start()?.barrier(1)?.wait()?, 0);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn wait(&self) -> Result<u64, ManagerError> {
        self.base.call(barrier::WAIT, &Wait::Forever)
    }

    /// [`wait`](BarrierProxy::wait) for at most `timeout`; on timeout the barrier breaks.
    ///
    /// # Errors
    /// `Timeout`, `BrokenBarrier`.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let b = multiproc::manager::Manager::start()?.barrier(2)?;
    /// assert!(b.wait_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// assert!(b.is_broken()?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u64, ManagerError> {
        self.base.call(barrier::WAIT, &Wait::timeout(timeout))
    }

    /// Back to the empty, unbroken state; current waiters get `BrokenBarrier`.
    ///
    /// # Examples
    /// ```no_run
    /// let b = multiproc::manager::Manager::start()?.barrier(2)?;
    /// b.abort()?;
    /// b.reset()?;
    /// assert!(!b.is_broken()?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn reset(&self) -> Result<(), ManagerError> {
        self.base.call(barrier::RESET, &())
    }

    /// Breaks the barrier: current and later waiters get `BrokenBarrier`.
    ///
    /// # Examples
    /// ```no_run
    /// let b = multiproc::manager::Manager::start()?.barrier(2)?;
    /// b.abort()?;
    /// assert!(b.wait().unwrap_err().is_broken_barrier());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn abort(&self) -> Result<(), ManagerError> {
        self.base.call(barrier::ABORT, &())
    }

    /// How many parties it waits for.
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::manager::Manager::start()?.barrier(5)?.parties()?, 5);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn parties(&self) -> Result<u64, ManagerError> {
        self.base.call(barrier::PARTIES, &())
    }

    /// How many wait now.
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::manager::Manager::start()?.barrier(5)?.n_waiting()?, 0);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn n_waiting(&self) -> Result<u64, ManagerError> {
        self.base.call(barrier::N_WAITING, &())
    }

    /// Is it broken?
    ///
    /// # Examples
    /// ```no_run
    /// assert!(!multiproc::manager::Manager::start()?.barrier(5)?.is_broken()?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn is_broken(&self) -> Result<bool, ManagerError> {
        self.base.call(barrier::BROKEN, &())
    }
}

/// A managed queue (`Manager.Queue(maxsize)`), made by [`Manager::queue`](super::Manager::queue)
/// or [`Manager::queue_bounded`](super::Manager::queue_bounded).
///
/// # Examples
/// ```no_run
/// let m = multiproc::manager::Manager::start()?;
/// let q = m.queue::<String>()?;
/// q.put("hello".into())?;
/// assert_eq!(q.qsize()?, 1);
/// assert_eq!(q.get()?, "hello");
/// assert!(q.try_get().unwrap_err().is_empty());
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct QueueProxy<T> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

typed_proxy!(QueueProxy<T>, "queue");

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    fn put_with(&self, item: &T, w: Wait) -> Result<(), ManagerError> {
        self.base.call(queue::PUT, &(blob(item)?, w))
    }

    fn get_with(&self, w: Wait) -> Result<T, ManagerError> {
        unblob(&self.base.call_raw(queue::GET, crate::codec::encode(&w)?)?)
    }

    /// Puts `item`, waiting for room as long as it takes.
    ///
    /// # Examples
    /// ```no_run
    /// multiproc::manager::Manager::start()?.queue::<u8>()?.put(1)?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn put(&self, item: T) -> Result<(), ManagerError> {
        self.put_with(&item, Wait::Forever)
    }

    /// Puts `item` if there is room now.
    ///
    /// # Errors
    /// [`ManagerErrorKind::Full`](super::ManagerErrorKind::Full).
    ///
    /// # Examples
    /// ```no_run
    /// let q = multiproc::manager::Manager::start()?.queue_bounded::<u8>(1)?;
    /// q.try_put(1)?;
    /// assert!(q.try_put(2).unwrap_err().is_full());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), ManagerError> {
        self.put_with(&item, Wait::Never)
    }

    /// Puts `item`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// `Timeout`.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let q = multiproc::manager::Manager::start()?.queue_bounded::<u8>(1)?;
    /// q.put(1)?;
    /// assert!(q.put_timeout(2, Duration::from_millis(10)).unwrap_err().is_timeout());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), ManagerError> {
        self.put_with(&item, Wait::timeout(timeout))
    }

    /// Takes the oldest item, waiting as long as it takes.
    ///
    /// # Examples
    /// ```no_run
    /// let q = multiproc::manager::Manager::start()?.queue::<u8>()?;
    /// q.put(1)?;
    /// assert_eq!(q.get()?, 1);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn get(&self) -> Result<T, ManagerError> {
        self.get_with(Wait::Forever)
    }

    /// Takes the oldest item if there is one.
    ///
    /// # Errors
    /// [`ManagerErrorKind::Empty`](super::ManagerErrorKind::Empty).
    ///
    /// # Examples
    /// ```no_run
    /// let q = multiproc::manager::Manager::start()?.queue::<u8>()?;
    /// assert!(q.try_get().unwrap_err().is_empty());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn try_get(&self) -> Result<T, ManagerError> {
        self.get_with(Wait::Never)
    }

    /// Takes the oldest item, waiting at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let q = multiproc::manager::Manager::start()?.queue::<u8>()?;
    /// assert!(q.get_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, ManagerError> {
        self.get_with(Wait::timeout(timeout))
    }

    /// How many items are in the queue.
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::manager::Manager::start()?.queue::<u8>()?.qsize()?, 0);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn qsize(&self) -> Result<usize, ManagerError> {
        Ok(self.base.call::<_, u64>(queue::QSIZE, &())? as usize)
    }

    /// Is it empty?
    ///
    /// # Examples
    /// ```no_run
    /// assert!(multiproc::manager::Manager::start()?.queue::<u8>()?.is_empty()?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.qsize()? == 0)
    }

    /// Is it full (never, for an unbounded queue)?
    ///
    /// # Examples
    /// ```no_run
    /// let q = multiproc::manager::Manager::start()?.queue_bounded::<u8>(1)?;
    /// q.put(1)?;
    /// assert!(q.is_full()?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn is_full(&self) -> Result<bool, ManagerError> {
        let max: u64 = self.base.call(queue::MAXSIZE, &())?;
        Ok(max != 0 && self.qsize()? as u64 >= max)
    }
}

/// A managed joinable queue (`Manager.JoinableQueue()`), made by
/// [`Manager::joinable_queue`](super::Manager::joinable_queue): a [`QueueProxy`] (it
/// dereferences to one) with `task_done` and `join`.
///
/// # Examples
/// ```no_run
/// let m = multiproc::manager::Manager::start()?;
/// let q = m.joinable_queue::<u8>()?;
/// q.put(1)?;
/// q.get()?;
/// q.task_done()?;
/// q.join()?;
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct JoinableQueueProxy<T> {
    base: BaseProxy,
    queue: QueueProxy<T>,
}

impl<T> Clone for JoinableQueueProxy<T> {
    fn clone(&self) -> Self {
        JoinableQueueProxy { base: self.base.clone(), queue: self.queue.clone() }
    }
}

impl<T> std::fmt::Debug for JoinableQueueProxy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.base, f)
    }
}

impl<T> Serialize for JoinableQueueProxy<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.base.serialize(s)
    }
}

impl<'de, T> serde::Deserialize<'de> for JoinableQueueProxy<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let base = BaseProxy::deserialize(d)?;
        Ok(JoinableQueueProxy { queue: QueueProxy { base: base.clone(), _t: PhantomData }, base })
    }
}

impl<T> super::ManagedProxy for JoinableQueueProxy<T> {
    const TYPE_NAME: &'static str = "joinable_queue";
    fn base(&self) -> &BaseProxy {
        &self.base
    }
    fn from_base(base: BaseProxy) -> Result<Self, ManagerError> {
        super::base::check_type(&base, Self::TYPE_NAME)?;
        Ok(JoinableQueueProxy { queue: QueueProxy { base: base.clone(), _t: PhantomData }, base })
    }
}

impl<T> Deref for JoinableQueueProxy<T> {
    type Target = QueueProxy<T>;
    fn deref(&self) -> &QueueProxy<T> {
        &self.queue
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueueProxy<T> {
    /// Marks one item taken with `get` as done.
    ///
    /// # Errors
    /// `ValueError` when called more times than items were put.
    ///
    /// # Examples
    /// ```no_run
    /// let q = multiproc::manager::Manager::start()?.joinable_queue::<u8>()?;
    /// assert!(q.task_done().unwrap_err().is_value_error());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn task_done(&self) -> Result<(), ManagerError> {
        self.base.call(queue::TASK_DONE, &())
    }

    /// Waits until every item put has been marked done.
    ///
    /// # Examples
    /// ```no_run
    /// multiproc::manager::Manager::start()?.joinable_queue::<u8>()?.join()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn join(&self) -> Result<(), ManagerError> {
        self.base.call(queue::JOIN, &Wait::Forever)
    }

    /// [`join`](JoinableQueueProxy::join) for at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// let q = multiproc::manager::Manager::start()?.joinable_queue::<u8>()?;
    /// q.put(1)?;
    /// assert!(q.join_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), ManagerError> {
        self.base.call(queue::JOIN, &Wait::timeout(timeout))
    }
}
