//! What a child runs: serializable targets found by entry offset, and fork-only closures.

use std::any::type_name;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::runtime::{ChildCtx, Entry, run_caught};
use crate::error::CodecError;

/// What a target's return value means as an exit code.
///
/// `()` exits with 0. `Result<(), E>` exits with 0 for `Ok` and, for `Err`, prints
/// `Error: {e:?}` to the child's stderr and exits with 1, like a `main` returning a `Result`.
///
/// # Examples
/// ```
/// use multiproc::TargetResult;
/// assert_eq!(().into_exit_code(), 0);
/// assert_eq!(Err::<(), &str>("boom").into_exit_code(), 1);
/// ```
pub trait TargetResult: 'static {
    /// The exit code the child reports.
    ///
    /// # Examples
    /// ```
    /// use multiproc::TargetResult;
    /// assert_eq!(Ok::<(), String>(()).into_exit_code(), 0);
    /// ```
    fn into_exit_code(self) -> i32;
}

impl TargetResult for () {
    fn into_exit_code(self) -> i32 {
        0
    }
}

impl<E: std::fmt::Debug + 'static> TargetResult for Result<(), E> {
    fn into_exit_code(self) -> i32 {
        match self {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("Error: {e:?}");
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

pub(crate) struct FnTarget<F, A, R> {
    pub(crate) f: F,
    pub(crate) args: A,
    pub(crate) _r: PhantomData<fn() -> R>,
}

impl<F, A, R> Portable for FnTarget<F, A, R>
where
    F: Fn(A) -> R + Send + Sync + 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
    R: TargetResult,
{
    fn entry(&self) -> Entry {
        trampoline::<F, A, R>
    }

    fn encode(&self) -> Result<(Vec<u8>, Vec<OwnedFd>), CodecError> {
        crate::handle::to_bytes_with_fds(&self.args)
    }

    fn run_here(self: Box<Self>) -> i32 {
        let FnTarget { f, args, .. } = *self;
        run_caught(move || f(args).into_exit_code())
    }
}

/// The monomorphised entry point a spawned or fork-server child jumps to.
fn trampoline<F, A, R>(mut ctx: ChildCtx) -> i32
where
    F: Fn(A) -> R + Send + Sync + 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
    R: TargetResult,
{
    let args: A = match crate::handle::from_bytes_with_fds(&ctx.payload, std::mem::take(&mut ctx.fds)) {
        Ok(a) => a,
        Err(e) => {
            ctx.fail_bootstrap(format!("cannot decode the arguments of {}: {e}", type_name::<A>()));
            return 1;
        }
    };
    let f: F = crate::sys::exe::conjure_fn::<F, A, R>();
    run_caught(move || f(args).into_exit_code())
}

/// The target of a process: portable (any start method) or a closure (fork only).
pub(crate) enum Target {
    Portable(Box<dyn Portable>),
    Closure(Box<dyn FnOnce() -> i32 + Send>),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Portable(_) => f.write_str("Target::Portable"),
            Target::Closure(_) => f.write_str("Target::Closure"),
        }
    }
}

impl Target {
    pub(crate) fn run_here(self) -> i32 {
        match self {
            Target::Portable(p) => p.run_here(),
            Target::Closure(c) => run_caught(c),
        }
    }
}
