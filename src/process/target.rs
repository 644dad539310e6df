//! What a child runs: serializable targets found by entry offset, and fork-only closures.

use std::any::{TypeId, type_name};
use std::cell::RefCell;
use std::collections::HashSet;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::runtime::{ChildCtx, Entry, run_caught};
use crate::error::CodecError;
use crate::func::Target;

/// What a target's return value means as an exit code, as Python reports a child's end.
///
/// | the target returns | exit code | [`Process::failure`](crate::Process::failure) |
/// |---|---|---|
/// | `()` | 0 | `None` |
/// | an `i32` `n` | `n` (Python's `sys.exit(n)`) | `None` |
/// | `Ok(())` / `Ok(n)` | 0 / `n` | `None` |
/// | `Err(e)` (any `E: Display`) | 1, after printing `Error: {e}` to the child's stderr | [`FailureKind::Error`](crate::FailureKind::Error) with `e`'s text |
/// | `!` (it never returns: [`exit`](fn@crate::exit), a panic, a loop) | as it ends | |
///
/// # Examples
/// ```
/// use multiproc::TargetResult;
/// assert_eq!(().into_exit_code(), 0);
/// assert_eq!(3.into_exit_code(), 3);
/// assert_eq!(Err::<(), &str>("boom").into_exit_code(), 1);
/// ```
pub trait TargetResult: 'static {
    /// The exit code the child reports (and, for an error, the report it leaves).
    ///
    /// # Examples
    /// ```
    /// use multiproc::TargetResult;
    /// assert_eq!(Ok::<(), String>(()).into_exit_code(), 0);
    /// assert_eq!(Ok::<i32, String>(4).into_exit_code(), 4);
    /// ```
    fn into_exit_code(self) -> i32;
}

impl TargetResult for () {
    fn into_exit_code(self) -> i32 {
        0
    }
}

/// Names `!`, the return type of a target that never returns (`|| multiproc::exit(3)`,
/// `|| panic!(..)`, `|| loop {}`: in Rust 2024 such a closure returns `!`), on stable Rust.
#[doc(hidden)]
pub trait FnOutput {
    type Output;
}
impl<O> FnOutput for fn() -> O {
    type Output = O;
}
type Never = <fn() -> ! as FnOutput>::Output;

impl TargetResult for Never {
    fn into_exit_code(self) -> i32 {
        self
    }
}

impl TargetResult for i32 {
    fn into_exit_code(self) -> i32 {
        self
    }
}

impl<T: TargetResult, E: std::fmt::Display + 'static> TargetResult for Result<T, E> {
    fn into_exit_code(self) -> i32 {
        match self {
            Ok(v) => v.into_exit_code(),
            Err(e) => {
                super::runtime::report_error(e.to_string());
                1
            }
        }
    }
}

/// The "subclass overriding `run()`" pattern: a serializable job that runs in the child.
///
/// # Examples
/// ```no_run
/// use serde::{Deserialize, Serialize};
/// use multiproc::{Process, Run};
///
/// #[derive(Serialize, Deserialize)]
/// struct Greeter { greeting: String }
///
/// impl Run for Greeter {
///     type Output = ();
///     fn run(self) {
///         println!("{} from {}", self.greeting, multiproc::current_process().name());
///     }
/// }
///
/// let p = Process::from_run(Greeter { greeting: "hello".into() });
/// assert_eq!(p.name(), "Greeter-1");
/// p.start()?;
/// p.join()?;
/// # Ok::<(), multiproc::ProcessError>(())
/// ```
pub trait Run: Serialize + DeserializeOwned + Send + 'static {
    /// The result of [`run`](Run::run), turned into the exit code.
    type Output: TargetResult;
    /// The work done in the child.
    ///
    /// # Examples
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Hello;
    /// impl multiproc::Run for Hello {
    ///     type Output = ();
    ///     fn run(self) {
    ///         println!("hello");
    ///     }
    /// }
    /// multiproc::Run::run(Hello); // runs here; Process::from_run(Hello) runs it in a child
    /// ```
    fn run(self) -> Self::Output;

    /// The prefix of the default process name (Python uses the class name): the type's name.
    ///
    /// # Examples
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Loader;
    /// impl multiproc::Run for Loader {
    ///     type Output = ();
    ///     fn run(self) {}
    /// }
    /// assert_eq!(<Loader as multiproc::Run>::name_prefix(), "Loader");
    /// ```
    fn name_prefix() -> String {
        let full = type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base).to_string()
    }
}

/// A target the child can find on its own: a zero-sized function plus serializable arguments.
pub(crate) trait Portable: Send {
    fn entry(&self) -> Entry;
    fn encode(&self) -> Result<(Vec<u8>, Vec<OwnedFd>), CodecError>;
    fn run_here(self: Box<Self>) -> i32;
}

/// A function and the arguments it will be called with. `M` is the function's arity marker
/// (see [`Target`]).
pub(crate) struct FnTarget<F, A, M> {
    f: F,
    args: A,
    _m: PhantomData<fn() -> M>,
}

impl<F, A, M> FnTarget<F, A, M>
where
    F: Target<A, M>,
    F::Output: TargetResult,
    A: Serialize + DeserializeOwned + Send + 'static,
    M: 'static,
{
    pub(crate) fn new(f: F, args: A) -> FnTarget<F, A, M> {
        const { assert!(std::mem::size_of::<F>() == 0, "{}", NOT_ZERO_SIZED) };
        FnTarget { f, args, _m: PhantomData }
    }
}

/// The build error for a target that carries data (see [`Target`]).
const NOT_ZERO_SIZED: &str = "a process target must be a fn item or a closure that captures nothing: pass the \
     data it needs as an argument (`Process::new(f, data)`), or use `Process::with_closure`, which runs a \
     capturing closure under the Fork start method";

impl<F, A, M> Portable for FnTarget<F, A, M>
where
    F: Target<A, M>,
    F::Output: TargetResult,
    A: Serialize + DeserializeOwned + Send + 'static,
    M: 'static,
{
    fn entry(&self) -> Entry {
        trampoline::<F, A, M>
    }

    fn encode(&self) -> Result<(Vec<u8>, Vec<OwnedFd>), CodecError> {
        let (bytes, fds) = crate::handle::to_bytes_with_fds(&self.args)?;
        if fds.is_empty() {
            check_decodes::<A>(&bytes)?;
        }
        Ok((bytes, fds))
    }

    fn run_here(self: Box<Self>) -> i32 {
        let FnTarget { f, args, .. } = *self;
        run_caught(move || f.call(args).into_exit_code())
    }
}

thread_local! {
    /// The argument types this thread has seen decode (see [`check_decodes`]).
    static DECODES: RefCell<HashSet<TypeId>> = RefCell::new(HashSet::new());
}

/// Decodes `bytes` as an `A` in the parent, the first time this thread sends an `A`, so that a
/// type the codec can encode but never decode (`#[serde(untagged)]`, say) is refused by
/// `start` with the reason, instead of failing in every child. Values holding handles are
/// not tried (decoding them would take their descriptors); the child reports those.
fn check_decodes<A: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<(), CodecError> {
    let id = TypeId::of::<A>();
    if DECODES.with(|d| d.borrow().contains(&id)) {
        return Ok(());
    }
    crate::codec::decode::<A>(bytes)?;
    DECODES.with(|d| d.borrow_mut().insert(id));
    Ok(())
}

/// The monomorphised entry point a spawned or fork-server child jumps to.
fn trampoline<F, A, M>(mut ctx: ChildCtx) -> i32
where
    F: Target<A, M>,
    F::Output: TargetResult,
    A: Serialize + DeserializeOwned + Send + 'static,
{
    let args: A = match crate::handle::from_bytes_with_fds(&ctx.payload, std::mem::take(&mut ctx.fds)) {
        Ok(a) => a,
        Err(e) => {
            ctx.fail_bootstrap(format!("cannot decode the arguments of {}: {e}", type_name::<A>()));
            return 1;
        }
    };
    drop(ctx);
    let f: F = crate::sys::exe::conjure_fn::<F>();
    run_caught(move || f.call(args).into_exit_code())
}

/// The target of a process: portable (any start method) or a closure (fork only).
pub(crate) enum Work {
    Portable(Box<dyn Portable>),
    Closure(Box<dyn FnOnce() -> i32 + Send>),
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Work::Portable(_) => f.write_str("Work::Portable"),
            Work::Closure(_) => f.write_str("Work::Closure"),
        }
    }
}

impl Work {
    pub(crate) fn run_here(self) -> i32 {
        match self {
            Work::Portable(p) => p.run_here(),
            Work::Closure(c) => run_caught(c),
        }
    }
}
