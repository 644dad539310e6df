//! The start methods, and the error for an unknown one or a refused change.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
pub struct ContextError(pub(crate) String);

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
            other => Err(ContextError(format!(
                "cannot find context for {other:?}: the start methods are \"spawn\", \"forkserver\" and \"fork\""
            ))),
        }
    }
}
