//! [`ThreadPool`]: the same pool over threads (Python's `multiprocessing.pool.ThreadPool`).

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::builder::PoolBuilder;
use super::error::PoolError;
use super::pool::Pool;
use super::stateful::{StatefulPoolBuilder, TaskData};
use crate::func::Target;

/// A pool whose workers are threads of this process (Python's
/// `multiprocessing.pool.ThreadPool`): the API of [`Pool`], which it dereferences to.
///
/// Tasks are the same functions, and arguments and results go through the same codec, so
/// code moves between the two unchanged. What differs is what a thread cannot do: it cannot
/// be killed, so a task past its hard timeout fails with
/// [`TimedOut`](super::PoolErrorKind::TimedOut) and its thread is abandoned (it finishes the
/// item unseen) while a new thread takes its place; `terminate` abandons the threads the same
/// way; and `exit(n)` in a task ends the whole program, as a crash does.
///
/// # Examples
/// ```
/// use multiproc::pool::ThreadPool;
///
/// let pool = ThreadPool::new(4)?;
/// assert_eq!(pool.map(|x: u32| x + 1, 0..4)?, [1, 2, 3, 4]);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub struct ThreadPool {
    pool: Pool,
}

impl ThreadPool {
    /// A pool of `threads` worker threads (Python's `ThreadPool(processes)`).
    ///
    /// # Errors
    /// [`InvalidArgument`](super::PoolErrorKind::InvalidArgument) for 0 threads.
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::new(2)?;
    /// assert_eq!(pool.apply(|a: u8, b: u8| a + b, (1, 2))?, 3);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn new(threads: usize) -> Result<ThreadPool, PoolError> {
        ThreadPool::builder().processes(threads).build()
    }

    /// A builder for the settings a thread pool has.
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().processes(2).build()?;
    /// assert_eq!(pool.processes(), 2);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder { inner: PoolBuilder::new() }
    }

    /// The pool underneath.
    ///
    /// # Examples
    /// ```
    /// let pool: multiproc::pool::Pool = multiproc::pool::ThreadPool::new(1)?.into_pool();
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn into_pool(self) -> Pool {
        self.pool
    }
}

impl Deref for ThreadPool {
    type Target = Pool;
    fn deref(&self) -> &Pool {
        &self.pool
    }
}

impl From<ThreadPool> for Pool {
    fn from(p: ThreadPool) -> Pool {
        p.pool
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool").field("threads", &self.processes()).field("running", &self.is_running()).finish()
    }
}

/// Configures a [`ThreadPool`]: the settings of [`PoolBuilder`] that threads have.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let pool = multiproc::pool::ThreadPool::builder().processes(2).timeout(Duration::from_secs(5)).build()?;
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ThreadPoolBuilder {
    inner: PoolBuilder,
}

impl ThreadPoolBuilder {
    /// The number of threads (default: [`process_cpu_count`](crate::process_cpu_count)).
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().processes(3).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn processes(mut self, n: usize) -> ThreadPoolBuilder {
        self.inner = self.inner.processes(n);
        self
    }

    /// A function each thread runs first (see [`PoolBuilder::initializer`]).
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().initializer(|n: u8| assert_eq!(n, 1), 1).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn initializer<F, A, M>(mut self, f: F, args: A) -> ThreadPoolBuilder
    where
        F: Target<A, M>,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        self.inner = self.inner.initializer(f, args);
        self
    }

    /// Each thread leaves after this many tasks (see [`PoolBuilder::maxtasksperchild`]).
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().maxtasksperchild(10).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn maxtasksperchild(mut self, n: usize) -> ThreadPoolBuilder {
        self.inner = self.inner.maxtasksperchild(n);
        self
    }

    /// The default hard timeout of each item (see [`ThreadPool`] for what it means here).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let pool = multiproc::pool::ThreadPool::builder().timeout(Duration::from_secs(1)).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn timeout(mut self, d: Duration) -> ThreadPoolBuilder {
        self.inner = self.inner.timeout(d);
        self
    }

    /// The default soft timeout of each item (see [`PoolBuilder::soft_timeout`]).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let pool = multiproc::pool::ThreadPool::builder().soft_timeout(Duration::from_secs(1)).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn soft_timeout(mut self, d: Duration) -> ThreadPoolBuilder {
        self.inner = self.inner.soft_timeout(d);
        self
    }

    /// A function each thread runs as it leaves cleanly, whose result comes back (see
    /// [`PoolBuilder::worker_exit`]).
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().processes(2).worker_exit(|| "bye".to_string(), ()).build()?;
    /// pool.close();
    /// pool.join()?;
    /// assert_eq!(pool.exit_results::<String>()?, ["bye", "bye"]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn worker_exit<F, A, M>(mut self, f: F, args: A) -> ThreadPoolBuilder
    where
        F: Target<A, M, Output: TaskData>,
        A: TaskData,
        M: 'static,
    {
        self.inner = self.inner.worker_exit(f, args);
        self
    }

    /// Shows a progress bar on each `map` and `imap` (see [`PoolBuilder::progress_bar`]).
    /// Needs the `progress` feature.
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().progress_bar(true).build()?;
    /// assert_eq!(pool.map(|x: u32| x, 0..1000)?.len(), 1000);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    #[cfg(feature = "progress")]
    pub fn progress_bar(mut self, on: bool) -> ThreadPoolBuilder {
        self.inner = self.inner.progress_bar(on);
        self
    }

    /// Pins each thread to a set of CPUs (see [`PoolBuilder::cpu_pinning`]).
    ///
    /// # Examples
    /// ```
    /// let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// let pool = multiproc::pool::ThreadPool::builder().processes(2).cpu_pinning([0..cpus]).build()?;
    /// assert_eq!(pool.apply(|x: u8| x, 1)?, 1);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn cpu_pinning<I, C>(mut self, sets: I) -> ThreadPoolBuilder
    where
        I: IntoIterator<Item = C>,
        C: IntoIterator<Item = usize>,
    {
        self.inner = self.inner.cpu_pinning(sets);
        self
    }

    /// Each thread builds a state once and lends it to every task (see
    /// [`PoolBuilder::worker_state`]); call it last.
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().processes(2).worker_state(|n: usize| vec![0u8; n], 64).build()?;
    /// assert_eq!(pool.apply(|buf: &mut Vec<u8>, ()| buf.len(), ())?, 64);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn worker_state<F, A, M>(self, init: F, args: A) -> StatefulPoolBuilder<F::Output>
    where
        F: Target<A, M>,
        F::Output: 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        let mut b = self.inner.worker_state(init, args);
        b.threads = true;
        b
    }

    /// Starts the threads.
    ///
    /// # Errors
    /// As [`PoolBuilder::build`].
    ///
    /// # Examples
    /// ```
    /// assert!(multiproc::pool::ThreadPool::builder().processes(0).build().is_err());
    /// ```
    pub fn build(self) -> Result<ThreadPool, PoolError> {
        Ok(ThreadPool { pool: self.inner.build_threads()? })
    }
}
