//! [`StatefulPool`]: a pool whose workers each build a state once and lend it to every task
//! (mpire's `worker_state` and `use_worker_state`), and its builder.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::builder::{PoolBuilder, spec};
use super::error::PoolError;
use super::imap::IMap;
use super::options::TaskOptions;
use super::pool::Pool;
use super::result::AsyncResult;
use super::state::{StateFn, state_entry};
use crate::func::Target;

/// A task of a [`StatefulPool<S>`]: a function `f(&mut S, a) -> R` (a `fn` item or a
/// closure that captures nothing), given the worker's state first and its argument `a` (one
/// value, a tuple for several). Implemented for every such function; never by hand.
///
/// # Examples
/// ```
/// use multiproc::pool::StateTask;
///
/// fn bump(total: &mut u64, by: u64) -> u64 {
///     *total += by;
///     *total
/// }
/// fn takes<T: StateTask<u64, u64, u64>>(_: T) {}
/// takes(bump);
/// takes(|t: &mut u64, x: u64| *t * x);
/// ```
pub trait StateTask<S, A, R>: Fn(&mut S, A) -> R + Send + Sync + 'static {}

impl<F, S, A, R> StateTask<S, A, R> for F where F: Fn(&mut S, A) -> R + Send + Sync + 'static {}

/// What a pool task's arguments and results are: values serde carries between processes,
/// which can go to another thread. Implemented for every such type; never by hand.
///
/// # Examples
/// ```
/// fn portable<T: multiproc::pool::TaskData>() {}
/// portable::<(u32, String, Vec<f64>)>();
/// ```
pub trait TaskData: Serialize + DeserializeOwned + Send + 'static {}

impl<T> TaskData for T where T: Serialize + DeserializeOwned + Send + 'static {}

impl PoolBuilder {
    /// Each worker builds a state by calling `init` with `args` once, after the
    /// [`initializer`](PoolBuilder::initializer), and lends it to every task it runs (mpire's
    /// `worker_state`): load a model, open a connection, fill a cache once per worker instead
    /// of once per task. `init` has the shape of a task ([`Target`]); what it returns is the
    /// state `S`, which stays in the worker and needs neither `Serialize` nor `Send`.
    ///
    /// This ends the pool's settings: call it last, then [`build`](StatefulPoolBuilder::build)
    /// a [`StatefulPool<S>`], whose tasks take `&mut S` first.
    ///
    /// A worker that replaces another (after a death, `maxtasksperchild`, a hard timeout)
    /// builds a state of its own. If `init` panics, the worker fails to start as with a
    /// panicking initializer: after three such failures in a row the pool breaks with the
    /// panic message.
    ///
    /// # Examples
    /// ```no_run
    /// use std::collections::HashMap;
    /// use multiproc::pool::Pool;
    ///
    /// fn load(n: u64) -> HashMap<u64, u64> {
    ///     (0..n).map(|k| (k, k * k)).collect() // something slow, once per worker
    /// }
    /// fn lookup(table: &mut HashMap<u64, u64>, k: u64) -> Option<u64> {
    ///     table.get(&k).copied()
    /// }
    ///
    /// let pool = Pool::builder().processes(2).worker_state(load, 1000).build()?;
    /// assert_eq!(pool.map(lookup, [3, 5, 5000])?, [Some(9), Some(25), None]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn worker_state<F, A, M>(mut self, init: F, args: A) -> StatefulPoolBuilder<F::Output>
    where
        F: Target<A, M>,
        F::Output: 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        let _ = init; // zero-sized: rebuilt in each worker from its type
        self.state = Some(spec(state_entry::<F, A, M>(), &args, "the worker-state function"));
        StatefulPoolBuilder { inner: self, threads: false, _state: PhantomData }
    }
}

/// Starts a [`StatefulPool<S>`]: made by [`PoolBuilder::worker_state`] or
/// [`ThreadPoolBuilder::worker_state`](super::ThreadPoolBuilder::worker_state).
///
/// # Examples
/// ```
/// use multiproc::pool::ThreadPool;
///
/// let pool = ThreadPool::builder().processes(2).worker_state(|| 0u64, ()).build()?;
/// assert_eq!(pool.apply(|count: &mut u64, x: u64| { *count += 1; x * 2 }, 21)?, 42);
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub struct StatefulPoolBuilder<S> {
    pub(super) inner: PoolBuilder,
    pub(super) threads: bool,
    pub(super) _state: PhantomData<fn() -> S>,
}

impl<S> fmt::Debug for StatefulPoolBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatefulPoolBuilder")
            .field("inner", &self.inner)
            .field("threads", &self.threads)
            .field("state", &std::any::type_name::<S>())
            .finish()
    }
}

impl<S: 'static> StatefulPoolBuilder<S> {
    /// Starts the pool (its workers are processes, or threads when the builder came from a
    /// [`ThreadPoolBuilder`](super::ThreadPoolBuilder)).
    ///
    /// # Errors
    /// As [`PoolBuilder::build`]; [`Encode`](super::PoolErrorKind::Encode) when the arguments
    /// of the worker-state function cannot be encoded.
    ///
    /// # Examples
    /// ```no_run
    /// let pool = multiproc::pool::Pool::builder().worker_state(|| vec![0u8; 1 << 20], ()).build()?;
    /// assert_eq!(pool.apply(|buf: &mut Vec<u8>, ()| buf.len(), ())?, 1 << 20);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn build(self) -> Result<StatefulPool<S>, PoolError> {
        let pool = if self.threads { self.inner.build_threads()? } else { self.inner.build()? };
        Ok(StatefulPool { pool, _state: PhantomData })
    }
}

/// A pool whose workers each hold a state `S`, built once per worker (see
/// [`PoolBuilder::worker_state`]), and whose tasks take it first: `f(&mut S, a)`.
///
/// The task functions have the shape `Fn(&mut S, A) -> R` (a `fn` item or a closure that
/// captures nothing); `A` is one argument, a tuple for several. The state is the worker's
/// own: tasks on one worker see what the tasks before them left in it, tasks on another
/// worker see another state. A task that panics leaves the state as the panic found it.
///
/// Everything else is the [`Pool`] underneath, which this dereferences to (`close`, `join`,
/// `terminate`, and stateless tasks through [`pool`](StatefulPool::pool)).
///
/// # Examples
/// ```
/// use multiproc::pool::ThreadPool;
///
/// fn count(seen: &mut u32, _x: u8) -> u32 {
///     *seen += 1;
///     *seen
/// }
/// let pool = ThreadPool::builder().processes(1).worker_state(|| 0u32, ()).build()?;
/// assert_eq!(pool.map(count, [7, 7, 7])?, [1, 2, 3]); // one worker, one state
/// # Ok::<(), multiproc::pool::PoolError>(())
/// ```
pub struct StatefulPool<S> {
    pool: Pool,
    _state: PhantomData<fn() -> S>,
}

impl<S: 'static> StatefulPool<S> {
    /// The pool underneath, for stateless tasks.
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().worker_state(|| (), ()).build()?;
    /// assert_eq!(pool.pool().apply(|x: u8| x + 1, 1)?, 2);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Runs `f(&mut state, args)` in a worker and waits for its result (see [`Pool::apply`]).
    ///
    /// # Errors
    /// As [`Pool::apply`].
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().worker_state(|| 10u32, ()).build()?;
    /// assert_eq!(pool.apply(|base: &mut u32, x: u32| *base + x, 5)?, 15);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn apply<A: TaskData, R: TaskData>(&self, f: impl StateTask<S, A, R>, args: A) -> Result<R, PoolError> {
        self.pool.apply(StateFn::<_, S>::new(f), args)
    }

    /// [`apply`](StatefulPool::apply) with options (see [`Pool::apply_with`]).
    ///
    /// # Errors
    /// As [`Pool::apply_with`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use multiproc::pool::{TaskOptions, ThreadPool};
    /// let pool = ThreadPool::builder().worker_state(|| 1u8, ()).build()?;
    /// let opts = TaskOptions::new().timeout(Duration::from_secs(5));
    /// assert_eq!(pool.apply_with(|s: &mut u8, x: u8| *s + x, 1, &opts)?, 2);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn apply_with<A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        args: A,
        opts: &TaskOptions,
    ) -> Result<R, PoolError> {
        self.pool.apply_with(StateFn::<_, S>::new(f), args, opts)
    }

    /// Starts `f(&mut state, args)` in a worker and returns at once (see [`Pool::apply_async`]).
    ///
    /// # Errors
    /// As [`Pool::apply_async`].
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().worker_state(|| 2u64, ()).build()?;
    /// let r = pool.apply_async(|k: &mut u64, x: u64| *k * x, 21)?;
    /// assert_eq!(r.get()?, 42);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn apply_async<A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        args: A,
    ) -> Result<AsyncResult<R>, PoolError> {
        self.pool.apply_async(StateFn::<_, S>::new(f), args)
    }

    /// [`apply_async`](StatefulPool::apply_async) with options (see [`Pool::apply_async_with`]).
    ///
    /// # Errors
    /// As [`Pool::apply_async_with`].
    ///
    /// # Examples
    /// ```
    /// use multiproc::pool::{TaskOptions, ThreadPool};
    /// let pool = ThreadPool::builder().worker_state(|| 0u8, ()).build()?;
    /// let r = pool.apply_async_with(|_: &mut u8, x: u8| x, 3, &TaskOptions::new())?;
    /// assert_eq!(r.get()?, 3);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn apply_async_with<A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        args: A,
        opts: &TaskOptions,
    ) -> Result<AsyncResult<R>, PoolError> {
        self.pool.apply_async_with(StateFn::<_, S>::new(f), args, opts)
    }

    /// `f(&mut state, item)` for each item, in chunks; the results in input order (see
    /// [`Pool::map`]).
    ///
    /// # Errors
    /// As [`Pool::map`].
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().worker_state(|| 100u32, ()).build()?;
    /// assert_eq!(pool.map(|base: &mut u32, x: u32| *base + x, 0..3)?, [100, 101, 102]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map<A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, PoolError> {
        self.pool.map(StateFn::<_, S>::new(f), items)
    }

    /// [`map`](StatefulPool::map) with options (see [`Pool::map_with`]).
    ///
    /// # Errors
    /// As [`Pool::map_with`].
    ///
    /// # Examples
    /// ```
    /// use multiproc::pool::{TaskOptions, ThreadPool};
    /// let pool = ThreadPool::builder().worker_state(|| 1u64, ()).build()?;
    /// let v = pool.map_with(|k: &mut u64, x: u64| *k * x, 0..10, &TaskOptions::new().chunksize(3))?;
    /// assert_eq!(v.len(), 10);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map_with<A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        items: impl IntoIterator<Item = A>,
        opts: &TaskOptions,
    ) -> Result<Vec<R>, PoolError> {
        self.pool.map_with(StateFn::<_, S>::new(f), items, opts)
    }

    /// [`map`](StatefulPool::map) returning at once (see [`Pool::map_async`]).
    ///
    /// # Errors
    /// As [`Pool::map_async`].
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().worker_state(|| 3u8, ()).build()?;
    /// let r = pool.map_async(|k: &mut u8, x: u8| *k + x, [1, 2])?;
    /// assert_eq!(r.get()?, [4, 5]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map_async<A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<Vec<R>>, PoolError> {
        self.pool.map_async(StateFn::<_, S>::new(f), items)
    }

    /// [`map_async`](StatefulPool::map_async) with options (see [`Pool::map_async_with`]).
    ///
    /// # Errors
    /// As [`Pool::map_async_with`].
    ///
    /// # Examples
    /// ```
    /// use multiproc::pool::{TaskOptions, ThreadPool};
    /// let pool = ThreadPool::builder().worker_state(|| 0u8, ()).build()?;
    /// let r = pool.map_async_with(|_: &mut u8, x: u8| x, 0..4, &TaskOptions::new().chunksize(2))?;
    /// assert_eq!(r.get()?, [0, 1, 2, 3]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn map_async_with<A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        items: impl IntoIterator<Item = A>,
        opts: &TaskOptions,
    ) -> Result<AsyncResult<Vec<R>>, PoolError> {
        self.pool.map_async_with(StateFn::<_, S>::new(f), items, opts)
    }

    /// `f(&mut state, item)` for each item, lazily, in input order (see [`Pool::imap`]).
    ///
    /// # Errors
    /// As [`Pool::imap`].
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().worker_state(|| 2u64, ()).build()?;
    /// let v: Vec<u64> = pool.imap(|k: &mut u64, x: u64| x * *k, 0..4)?.collect::<Result<_, _>>()?;
    /// assert_eq!(v, [0, 2, 4, 6]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn imap<'a, A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        items: impl IntoIterator<Item = A, IntoIter: 'a>,
    ) -> Result<IMap<'a, R>, PoolError> {
        self.pool.imap(StateFn::<_, S>::new(f), items)
    }

    /// [`imap`](StatefulPool::imap) with options (see [`Pool::imap_with`]).
    ///
    /// # Errors
    /// As [`Pool::imap_with`].
    ///
    /// # Examples
    /// ```
    /// use multiproc::pool::{TaskOptions, ThreadPool};
    /// let pool = ThreadPool::builder().worker_state(|| (), ()).build()?;
    /// let n = pool.imap_with(|_: &mut (), x: u32| x, 0..100, &TaskOptions::new().chunksize(10))?.count();
    /// assert_eq!(n, 100);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn imap_with<'a, A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        items: impl IntoIterator<Item = A, IntoIter: 'a>,
        opts: &TaskOptions,
    ) -> Result<IMap<'a, R>, PoolError> {
        self.pool.imap_with(StateFn::<_, S>::new(f), items, opts)
    }

    /// As [`imap`](StatefulPool::imap), in the order the results finish (see
    /// [`Pool::imap_unordered`]).
    ///
    /// # Errors
    /// As [`Pool::imap_unordered`].
    ///
    /// # Examples
    /// ```
    /// let pool = multiproc::pool::ThreadPool::builder().worker_state(|| 1u8, ()).build()?;
    /// let mut v: Vec<u8> = pool.imap_unordered(|k: &mut u8, x: u8| x + *k, 0..3)?.collect::<Result<_, _>>()?;
    /// v.sort();
    /// assert_eq!(v, [1, 2, 3]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn imap_unordered<'a, A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        items: impl IntoIterator<Item = A, IntoIter: 'a>,
    ) -> Result<IMap<'a, R>, PoolError> {
        self.pool.imap_unordered(StateFn::<_, S>::new(f), items)
    }

    /// [`imap_unordered`](StatefulPool::imap_unordered) with options (see
    /// [`Pool::imap_unordered_with`]).
    ///
    /// # Errors
    /// As [`Pool::imap_unordered_with`].
    ///
    /// # Examples
    /// ```
    /// use multiproc::pool::{TaskOptions, ThreadPool};
    /// let pool = ThreadPool::builder().worker_state(|| (), ()).build()?;
    /// let n = pool.imap_unordered_with(|_: &mut (), x: u8| x, 0..50, &TaskOptions::new().chunksize(5))?.count();
    /// assert_eq!(n, 50);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn imap_unordered_with<'a, A: TaskData, R: TaskData>(
        &self,
        f: impl StateTask<S, A, R>,
        items: impl IntoIterator<Item = A, IntoIter: 'a>,
        opts: &TaskOptions,
    ) -> Result<IMap<'a, R>, PoolError> {
        self.pool.imap_unordered_with(StateFn::<_, S>::new(f), items, opts)
    }
}

impl<S> Deref for StatefulPool<S> {
    type Target = Pool;
    fn deref(&self) -> &Pool {
        &self.pool
    }
}

impl<S> fmt::Debug for StatefulPool<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatefulPool").field("pool", &self.pool).field("state", &std::any::type_name::<S>()).finish()
    }
}
