//! Contexts: Python's `get_context(method)`, the start method bound to the factories, on top
//! of everything else.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connection::Connection;
use crate::func::Target;
use crate::pool::{ExecutorBuilder, Pool, PoolBuilder, PoolError, ProcessPoolExecutor};
use crate::process::{Process, Run, StartMethod, TargetResult, get_start_method};
use crate::queue::{JoinableQueue, Queue, SimpleQueue};
use crate::shared::{Array, RawArray, RawValue, Value};
use crate::shm::ShmSafe;
use crate::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};

/// A start method bound to the factories, as Python's `get_context(method)`.
///
/// # Examples
/// ```no_run
/// use multiproc::{get_context, StartMethod};
/// let ctx = get_context(Some(StartMethod::Fork));
/// let p = ctx.process(|x: u32| assert_eq!(x, 3), 3);
/// p.start()?;
/// p.join()?;
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

/// The context for `method`, or for the global start method when `None`.
///
/// # Examples
/// ```
/// use multiproc::{get_context, StartMethod};
/// assert_eq!(get_context(Some(StartMethod::Spawn)).get_start_method(), StartMethod::Spawn);
/// ```
pub fn get_context(method: Option<StartMethod>) -> Context {
    Context { method: method.unwrap_or_else(get_start_method) }
}

impl Context {
    /// The context's start method.
    ///
    /// # Examples
    /// ```
    /// use multiproc::{get_context, StartMethod};
    /// assert_eq!(get_context(Some(StartMethod::Fork)).get_start_method(), StartMethod::Fork);
    /// ```
    pub fn get_start_method(&self) -> StartMethod {
        self.method
    }

    /// A process that will run `target(args)` started by this context's method.
    ///
    /// # Examples
    /// ```
    /// use multiproc::{get_context, StartMethod};
    /// let p = get_context(Some(StartMethod::ForkServer)).process(|n: u8| println!("{n}"), 1);
    /// assert_eq!(p.start_method(), StartMethod::ForkServer);
    /// ```
    pub fn process<F, A, M>(&self, target: F, args: A) -> Process
    where
        F: Target<A, M>,
        F::Output: TargetResult,
        A: Serialize + serde::de::DeserializeOwned + Send + 'static,
        M: 'static,
    {
        let p = Process::new(target, args);
        p.set_start_method(self.method).expect("fresh process");
        p
    }

    /// A process running a [`Run`] job, started by this context's method.
    ///
    /// # Examples
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Job;
    /// impl multiproc::Run for Job {
    ///     type Output = ();
    ///     fn run(self) {}
    /// }
    /// let p = multiproc::get_context(Some(multiproc::StartMethod::Fork)).process_from_run(Job);
    /// assert_eq!(p.name().split('-').next(), Some("Job"));
    /// ```
    pub fn process_from_run<J: Run>(&self, job: J) -> Process {
        let p = Process::from_run(job);
        p.set_start_method(self.method).expect("fresh process");
        p
    }

    /// A [`Queue`] (Python's `ctx.Queue(maxsize)`; `0` is unbounded). Every object works with
    /// every start method, so the context only carries over code written against it.
    ///
    /// # Examples
    /// ```
    /// let ctx = multiproc::get_context(None);
    /// let q = ctx.queue::<u32>(0)?;
    /// q.put(1).unwrap();
    /// assert_eq!(q.get()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queue<T: Serialize + DeserializeOwned>(&self, maxsize: usize) -> io::Result<Queue<T>> {
        if maxsize == 0 { Queue::new() } else { Queue::with_maxsize(maxsize) }
    }

    /// A [`JoinableQueue`] (Python's `ctx.JoinableQueue(maxsize)`).
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::get_context(None).joinable_queue::<u32>(0)?;
    /// q.put(1).unwrap();
    /// q.get()?;
    /// q.task_done()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn joinable_queue<T: Serialize + DeserializeOwned>(&self, maxsize: usize) -> io::Result<JoinableQueue<T>> {
        if maxsize == 0 { JoinableQueue::new() } else { JoinableQueue::with_maxsize(maxsize) }
    }

    /// A [`SimpleQueue`] (Python's `ctx.SimpleQueue()`).
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::get_context(None).simple_queue::<String>()?;
    /// assert!(q.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn simple_queue<T: Serialize + DeserializeOwned>(&self) -> io::Result<SimpleQueue<T>> {
        SimpleQueue::new()
    }

    /// A pair of connections (Python's `ctx.Pipe(duplex)`); see [`pipe`](crate::pipe).
    ///
    /// # Examples
    /// ```
    /// let (a, b) = multiproc::get_context(None).pipe(true)?;
    /// a.send(&5u8)?;
    /// assert_eq!(b.recv::<u8>()?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pipe(&self, duplex: bool) -> io::Result<(Connection, Connection)> {
        crate::connection::pipe(duplex)
    }

    /// A [`Lock`] (Python's `ctx.Lock()`).
    ///
    /// # Examples
    /// ```
    /// let lock = multiproc::get_context(None).lock()?;
    /// drop(lock.acquire());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn lock(&self) -> io::Result<Lock> {
        Lock::new()
    }

    /// An [`RLock`] (Python's `ctx.RLock()`).
    ///
    /// # Examples
    /// ```
    /// let r = multiproc::get_context(None).rlock()?;
    /// drop(r.acquire());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn rlock(&self) -> io::Result<RLock> {
        RLock::new()
    }

    /// A [`Semaphore`] (Python's `ctx.Semaphore(value)`).
    ///
    /// # Examples
    /// ```
    /// let s = multiproc::get_context(None).semaphore(2)?;
    /// assert_eq!(s.get_value(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn semaphore(&self, value: u32) -> io::Result<Semaphore> {
        Semaphore::new(value)
    }

    /// A [`BoundedSemaphore`] (Python's `ctx.BoundedSemaphore(value)`).
    ///
    /// # Examples
    /// ```
    /// let s = multiproc::get_context(None).bounded_semaphore(1)?;
    /// assert_eq!(s.get_value(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bounded_semaphore(&self, value: u32) -> io::Result<BoundedSemaphore> {
        BoundedSemaphore::new(value)
    }

    /// An [`Event`] (Python's `ctx.Event()`).
    ///
    /// # Examples
    /// ```
    /// let e = multiproc::get_context(None).event()?;
    /// assert!(!e.is_set());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn event(&self) -> io::Result<Event> {
        Event::new()
    }

    /// A [`Condition`] over a new [`RLock`] (Python's `ctx.Condition()`).
    ///
    /// # Examples
    /// ```
    /// let c = multiproc::get_context(None).condition()?;
    /// let _g = c.acquire();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn condition(&self) -> io::Result<Condition<RLock>> {
        Condition::new()
    }

    /// A [`Barrier`] for `parties` (Python's `ctx.Barrier(parties)`).
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::get_context(None).barrier(2)?;
    /// assert_eq!(b.parties(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn barrier(&self, parties: u32) -> io::Result<Barrier> {
        Barrier::new(parties)
    }

    /// A [`Value`] with a new lock (Python's `ctx.Value(typecode, value)`).
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::get_context(None).value(7i64)?;
    /// assert_eq!(v.get(), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn value<T: ShmSafe + Copy>(&self, value: T) -> io::Result<Value<T>> {
        Value::new(value)
    }

    /// An [`Array`] holding `items`, with a new lock (Python's `ctx.Array(typecode, items)`).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::get_context(None).array(&[1.5f64, 2.5])?;
    /// assert_eq!(a.to_vec(), [1.5, 2.5]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn array<T: ShmSafe + Copy>(&self, items: &[T]) -> io::Result<Array<T>> {
        Array::from_slice(items)
    }

    /// A [`RawValue`] (Python's `ctx.RawValue(typecode, value)`).
    ///
    /// # Examples
    /// ```
    /// let v = multiproc::get_context(None).raw_value(3u8)?;
    /// assert_eq!(v.get(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn raw_value<T: ShmSafe + Copy>(&self, value: T) -> io::Result<RawValue<T>> {
        RawValue::new(value)
    }

    /// A [`RawArray`] holding `items` (Python's `ctx.RawArray(typecode, items)`).
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::get_context(None).raw_array(&[1u32, 2, 3])?;
    /// assert_eq!(a.len(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn raw_array<T: ShmSafe + Copy>(&self, items: &[T]) -> io::Result<RawArray<T>> {
        RawArray::from_slice(items)
    }

    /// A pool of `processes` worker processes started by this context's method (Python's
    /// `ctx.Pool(processes)`).
    ///
    /// # Errors
    /// As [`PoolBuilder::build`].
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::{get_context, StartMethod};
    /// let pool = get_context(Some(StartMethod::ForkServer)).pool(2)?;
    /// assert_eq!(pool.map(|x: u8| x + 1, [1, 2])?, [2, 3]);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn pool(&self, processes: usize) -> Result<Pool, PoolError> {
        self.pool_builder().processes(processes).build()
    }

    /// A [`PoolBuilder`] whose workers start by this context's method (Python's
    /// `Pool(context=ctx)`).
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::{get_context, StartMethod};
    /// let pool = get_context(Some(StartMethod::Spawn)).pool_builder().processes(2).maxtasksperchild(10).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn pool_builder(&self) -> PoolBuilder {
        Pool::builder().start_method(self.method)
    }

    /// An [`ExecutorBuilder`] whose workers start by this context's method (Python's
    /// `ProcessPoolExecutor(mp_context=ctx)`).
    ///
    /// # Examples
    /// ```no_run
    /// let ex = multiproc::get_context(Some(multiproc::StartMethod::Fork)).executor_builder().max_workers(2).build()?;
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn executor_builder(&self) -> ExecutorBuilder {
        ProcessPoolExecutor::builder().start_method(self.method)
    }
}
