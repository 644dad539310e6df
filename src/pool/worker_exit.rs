//! Worker-exit functions (mpire's `worker_exit`): a function each worker runs as it leaves
//! cleanly, whose result comes back to the pool ([`Pool::exit_results`]).
//!
//! A worker leaves cleanly when the pool is closed and has nothing more for it (`STOP`), and
//! when it retires after `maxtasksperchild` tasks or above `max_memory_per_child`. It then
//! runs the exit function and sends what it returned as one `EXIT_VALUE` record, before it
//! exits (so before its `EXITED`). A worker that is killed (terminate, a hard timeout, a
//! signal) or dies runs nothing, and sends nothing.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::builder::{PoolBuilder, spec};
use super::error::{PoolError, PoolErrorKind, TaskFailure};
use super::pool::Pool;
use super::state::StateExit;
use super::stateful::{StatefulPoolBuilder, TaskData};
use super::task::{ExitEntry, ExitType};
use crate::func::Target;
use crate::sys;

fn exit_entry<F, A, M>() -> i64
where
    F: Target<A, M>,
    F::Output: Serialize,
    A: DeserializeOwned,
{
    const { assert!(std::mem::size_of::<F>() == 0, "a worker-exit function must capture nothing") };
    sys::exe::fn_offset(run_exit::<F, A, M> as ExitEntry) as i64
}

fn run_exit<F, A, M>(args: Vec<u8>) -> Result<Vec<u8>, TaskFailure>
where
    F: Target<A, M>,
    F::Output: Serialize,
    A: DeserializeOwned,
{
    let a: A = crate::codec::decode(&args)
        .map_err(|e| TaskFailure::Decode(format!("the worker-exit function's arguments: {e}")))?;
    let f: F = sys::exe::conjure_fn::<F>();
    let scope = crate::process::runtime::TaskScope::enter();
    let value = scope.catch(move || f.call(a)).map_err(TaskFailure::panic)?;
    match scope.catch(|| crate::codec::encode(&value)) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(TaskFailure::ResultEncode(e.to_string())),
        Err(p) => Err(TaskFailure::ResultEncode(format!("the result's Serialize panicked: {}", p.message))),
    }
}

impl PoolBuilder {
    /// A function every worker runs with `args` as it leaves cleanly, whose result comes back
    /// to the pool: read them with [`Pool::exit_results`] after [`join`](Pool::join) (mpire's
    /// `worker_exit`). It has the shape of a task ([`Target`]).
    ///
    /// A worker leaves cleanly after `close` once nothing is left for it, and when it retires
    /// ([`maxtasksperchild`](PoolBuilder::maxtasksperchild),
    /// [`max_memory_per_child`](PoolBuilder::max_memory_per_child)); so a pool gets one
    /// result per worker that left, several per slot when workers were replaced. A worker
    /// that is killed (terminate, a hard timeout, a signal) or crashes runs nothing. The
    /// function has no timeout: one that never returns keeps `join` waiting (`terminate`
    /// ends it). If it panics, [`Pool::exit_results`] returns the panic.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::pool::Pool;
    ///
    /// fn goodbye(tag: String) -> String {
    ///     format!("{tag} {}", std::process::id())
    /// }
    /// let pool = Pool::builder().processes(2).worker_exit(goodbye, "left:".to_string()).build()?;
    /// pool.map(|x: u32| x, 0..100)?;
    /// pool.close();
    /// pool.join()?;
    /// let byes: Vec<String> = pool.exit_results()?;
    /// assert_eq!(byes.len(), 2);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn worker_exit<F, A, M>(mut self, f: F, args: A) -> PoolBuilder
    where
        F: Target<A, M, Output: TaskData>,
        A: TaskData,
        M: 'static,
    {
        let _ = f; // zero-sized: rebuilt in each worker from its type
        self.exit = Some(spec(exit_entry::<F, A, M>(), &args, "the worker-exit function"));
        self.exit_type = Some(ExitType::of::<F::Output>());
        self
    }
}

impl<S: 'static> StatefulPoolBuilder<S> {
    /// A function every worker runs on its state as it leaves cleanly, whose result comes
    /// back to the pool (see [`PoolBuilder::worker_exit`]): `f(&mut state)`. The state is
    /// dropped after it.
    ///
    /// # Examples
    /// ```
    /// use multiproc::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder()
    ///     .processes(2)
    ///     .worker_state(|| 0u64, ())
    ///     .worker_exit(|total: &mut u64| *total)
    ///     .build()?;
    /// pool.map(|total: &mut u64, x: u64| *total += x, 1..=100)?;
    /// pool.close();
    /// pool.join()?;
    /// let totals: Vec<u64> = pool.exit_results()?;
    /// assert_eq!(totals.iter().sum::<u64>(), 5050);
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn worker_exit<R: TaskData>(
        mut self,
        f: impl Fn(&mut S) -> R + Send + Sync + 'static,
    ) -> StatefulPoolBuilder<S> {
        self.inner = self.inner.worker_exit(StateExit::<_, S>::new(f), ());
        self
    }
}

impl Pool {
    /// What the workers' exit functions returned (see [`PoolBuilder::worker_exit`]), one per
    /// worker that has left cleanly so far, in the order of the workers' slots and then of
    /// their replacements. After [`close`](Pool::close) and [`join`](Pool::join), that is
    /// every worker's.
    ///
    /// # Errors
    /// [`InvalidArgument`](PoolErrorKind::InvalidArgument) when `R` is not the type the exit
    /// function returns, or the pool has none; the first exit function's failure (a
    /// [`Panic`](PoolErrorKind::Panic), a result that could not be encoded).
    ///
    /// # Examples
    /// ```
    /// use multiproc::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().processes(3).worker_exit(|| 1u8, ()).build()?;
    /// pool.close();
    /// pool.join()?;
    /// assert_eq!(pool.exit_results::<u8>()?, [1, 1, 1]);
    /// assert!(pool.exit_results::<String>().is_err()); // not what it returns
    /// # Ok::<(), multiproc::pool::PoolError>(())
    /// ```
    pub fn exit_results<R: DeserializeOwned + 'static>(&self) -> Result<Vec<R>, PoolError> {
        let want = ExitType::of::<R>();
        match self.core().cfg.exit_type {
            None => {
                return Err(PoolError::new(
                    PoolErrorKind::InvalidArgument,
                    "the pool has no worker-exit function (PoolBuilder::worker_exit)",
                ));
            }
            Some(t) if t.id != want.id => {
                return Err(PoolError::new(
                    PoolErrorKind::InvalidArgument,
                    format!("the worker-exit function returns {}, not {}", t.name, want.name),
                ));
            }
            Some(_) => {}
        }
        let mut out = Vec::new();
        for value in self.core().exit_values() {
            let bytes = value.map_err(|f| PoolError::from_failure(f, "the worker-exit function"))?;
            let v = crate::codec::decode::<R>(&bytes).map_err(|e| {
                PoolError::new(PoolErrorKind::Decode, format!("cannot decode a worker-exit result: {e}")).with_source(e)
            })?;
            out.push(v);
        }
        Ok(out)
    }
}
