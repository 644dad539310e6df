//! Start methods and contexts: `get_context`, `set_start_method`, `get_start_method`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::process::lock;
use crate::process::{Process, Run};

/// How a child process is created.
///
/// | method | what happens | closures that capture | cost |
/// |---|---|---|---|
/// | `Spawn` (default) | re-executes the running binary (`/proc/self/exe`); the child is diverted to the target before `main` | no | an `exec` |
/// | `ForkServer` | a single-threaded server process, itself spawned once, forks each child | no | a `fork` of a small process |
/// | `Fork` | `fork()` of the calling process | yes | a `fork` |
///
/// `Fork` copies the whole process, including locks held by other threads at that instant:
/// if the parent has threads, a child that touches a lock one of them held (the allocator's,
/// stdout's, a mutex of yours) can deadlock. Prefer `Spawn` or `ForkServer` in programs with
/// threads; that is why `Spawn` is the default, as in Python 3.14 on macOS and Windows.
///
/// # Examples
/// ```
/// use multiproc::StartMethod;
/// assert_eq!("forkserver".parse::<StartMethod>().unwrap(), StartMethod::ForkServer);
/// assert_eq!(StartMethod::Spawn.to_string(), "spawn");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StartMethod {
    /// Re-execute the binary (Python's `spawn`).
    Spawn,
    /// Ask the fork server to fork a child (Python's `forkserver`).
    ForkServer,
    /// `fork()` the calling process (Python's `fork`).
    Fork,
}

impl StartMethod {
    /// Python's name for the method.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(multiproc::StartMethod::ForkServer.as_str(), "forkserver");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Spawn => "spawn",
            StartMethod::ForkServer => "forkserver",
            StartMethod::Fork => "fork",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown start method name, or a refused change of the global start method.
///
/// # Examples
/// ```
/// assert!("threads".parse::<multiproc::StartMethod>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextError(String);

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ContextError {}

impl FromStr for StartMethod {
    type Err = ContextError;
    fn from_str(s: &str) -> Result<StartMethod, ContextError> {
        match s {
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::ForkServer),
            "fork" => Ok(StartMethod::Fork),
            other => Err(ContextError(format!("cannot find context for {other:?}"))),
        }
    }
}

/// Sets the start method used by [`Process::new`] and friends.
///
/// # Errors
/// A second call without `force` fails, as in Python (`context has already been set`).
///
/// # Examples
/// ```
/// use multiproc::{set_start_method, get_start_method, StartMethod};
/// set_start_method(Some(StartMethod::ForkServer), true).unwrap();
/// assert_eq!(get_start_method(), StartMethod::ForkServer);
/// assert!(set_start_method(Some(StartMethod::Fork), false).is_err());
/// set_start_method(None, true).unwrap(); // back to "not set"
/// ```
pub fn set_start_method(method: Option<StartMethod>, force: bool) -> Result<(), ContextError> {
    let mut g = lock(&crate::process::globals::G.method);
    if g.is_some() && !force {
        return Err(ContextError("context has already been set".into()));
    }
    *g = method;
    Ok(())
}

/// The global start method, fixing it to the default ([`StartMethod::Spawn`]) if unset.
///
/// # Examples
/// ```
/// let m = multiproc::get_start_method();
/// assert!(multiproc::get_all_start_methods().contains(&m));
/// ```
pub fn get_start_method() -> StartMethod {
    let mut g = lock(&crate::process::globals::G.method);
    *g.get_or_insert(StartMethod::Spawn)
}

/// The global start method, or `None` if nothing set it yet (Python's `allow_none=True`).
///
/// # Examples
/// ```
/// let _ = multiproc::get_start_method_opt();
/// ```
pub fn get_start_method_opt() -> Option<StartMethod> {
    *lock(&crate::process::globals::G.method)
}

/// Every start method this platform supports, the default first.
///
/// # Examples
/// ```
/// use multiproc::StartMethod;
/// assert_eq!(multiproc::get_all_start_methods()[0], StartMethod::Spawn);
/// ```
pub fn get_all_start_methods() -> Vec<StartMethod> {
    vec![StartMethod::Spawn, StartMethod::ForkServer, StartMethod::Fork]
}

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
    pub fn process<F, A>(&self, target: F, args: A) -> Process
    where
        F: Fn(A) + Send + Sync + 'static,
        A: Serialize + serde::de::DeserializeOwned + Send + 'static,
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
}
