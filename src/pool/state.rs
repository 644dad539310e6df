//! The worker's side of per-worker state (mpire's `worker_state`): the value a worker builds
//! once, after its initializer, and lends to every stateful task it runs.
//!
//! The state lives in a thread-local of the worker (its process's main thread, or its own
//! thread in a [`ThreadPool`](super::ThreadPool)), so it never travels and needs neither
//! `Serialize` nor `Send`. A stateful task `f(&mut S, a)` goes through the pool as the
//! ordinary [`Target`] [`StateFn<F, S>`]: zero-sized like `f`, it borrows the state for the
//! call. [`StatefulPool<S>`](super::StatefulPool) fixes `S` for the pool's whole life, so a
//! task always finds a state of its type.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use super::error::TaskFailure;
use super::task::InitEntry;
use crate::func::Target;
use crate::sys;

thread_local! {
    /// The state of the worker running on this thread.
    static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// A task `F` taking the worker's state `&mut S` first, as a [`Target`] of its other argument.
pub(crate) struct StateFn<F, S>(F, PhantomData<fn(&mut S)>);

impl<F, S> StateFn<F, S> {
    pub(crate) fn new(f: F) -> StateFn<F, S> {
        StateFn(f, PhantomData)
    }
}

/// Runs `f` with this worker's state.
fn with_state<S: 'static, R>(f: impl FnOnce(&mut S) -> R) -> R {
    STATE.with(|cell| {
        let mut held = cell.borrow_mut();
        let state = held.as_mut().and_then(|b| b.downcast_mut::<S>()).unwrap_or_else(|| {
            panic!("this worker has no state of type {} (a bug in multiproc)", std::any::type_name::<S>())
        });
        f(state)
    })
}

impl<F, S, A, R> Target<A, fn(A) -> R> for StateFn<F, S>
where
    F: Fn(&mut S, A) -> R + Send + Sync + 'static,
    S: 'static,
{
    type Output = R;
    fn call(&self, a: A) -> R {
        with_state(|s| (self.0)(s, a))
    }
}

/// A worker-exit function `F` taking the worker's state, as a [`Target`] of no arguments.
pub(crate) struct StateExit<F, S>(F, PhantomData<fn(&mut S)>);

impl<F, S> StateExit<F, S> {
    pub(crate) fn new(f: F) -> StateExit<F, S> {
        StateExit(f, PhantomData)
    }
}

impl<F, S, R> Target<(), fn() -> R> for StateExit<F, S>
where
    F: Fn(&mut S) -> R + Send + Sync + 'static,
    S: 'static,
{
    type Output = R;
    fn call(&self, (): ()) -> R {
        with_state(|s| (self.0)(s))
    }
}

/// The offset of the trampoline that builds a worker's state with `F` and arguments `A`.
pub(crate) fn state_entry<F, A, M>() -> i64
where
    F: Target<A, M>,
    F::Output: 'static,
    A: DeserializeOwned,
{
    const { assert!(std::mem::size_of::<F>() == 0, "the worker-state function must capture nothing") };
    sys::exe::fn_offset(run_state_init::<F, A, M> as InitEntry) as i64
}

fn run_state_init<F, A, M>(args: Vec<u8>) -> Result<(), TaskFailure>
where
    F: Target<A, M>,
    F::Output: 'static,
    A: DeserializeOwned,
{
    let a: A = crate::codec::decode(&args)
        .map_err(|e| TaskFailure::Decode(format!("the worker-state function's arguments: {e}")))?;
    let f: F = sys::exe::conjure_fn::<F>();
    let state = crate::process::runtime::catch_task(move || f.call(a)).map_err(TaskFailure::panic)?;
    STATE.with(|cell| *cell.borrow_mut() = Some(Box::new(state)));
    Ok(())
}

/// Drops this worker's state (its `Drop` runs as the worker leaves).
pub(crate) fn drop_state() {
    let state = STATE.with(|cell| cell.borrow_mut().take());
    if let Some(s) = state {
        let _ = crate::process::runtime::catch_task(move || drop(s));
    }
}
