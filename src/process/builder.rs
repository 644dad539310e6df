//! [`ProcessBuilder`]: name, daemon flag and start method before the target. It sits above
//! `process.rs` (its final calls make a `Process`), which does not know about it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::method::StartMethod;
use super::process::Process;
use super::target::{Run, TargetResult};
use crate::func::Target;

impl Process {
    /// A builder to set the name, daemon flag and start method before choosing the target.
    ///
    /// # Examples
    /// ```
    /// use multiproc::{Process, StartMethod};
    /// let p = Process::builder().name("worker").daemon(true).start_method(StartMethod::Fork)
    ///     .target(|(): ()| {}, ());
    /// assert_eq!(p.name(), "worker");
    /// assert!(p.is_daemon());
    /// ```
    pub fn builder() -> ProcessBuilder {
        ProcessBuilder::default()
    }
}

/// Sets name, daemon flag and start method, then the target.
///
/// # Examples
/// ```
/// let p = multiproc::Process::builder().name("job").target(|x: i32| assert_eq!(x, 1), 1);
/// assert_eq!(p.name(), "job");
/// ```
#[derive(Debug, Default, Clone)]
pub struct ProcessBuilder {
    name: Option<String>,
    daemon: Option<bool>,
    method: Option<StartMethod>,
}

impl ProcessBuilder {
    /// The process name.
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::builder().name("loader").target(|(): ()| {}, ());
    /// assert_eq!(p.name(), "loader");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The daemon flag (default: the creator's).
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::builder().daemon(true).target(|(): ()| {}, ());
    /// assert!(p.is_daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// The start method (default: the global one at start time).
    ///
    /// # Examples
    /// ```
    /// use multiproc::{Process, StartMethod};
    /// let p = Process::builder().start_method(StartMethod::Fork).target(|(): ()| {}, ());
    /// assert_eq!(p.start_method(), StartMethod::Fork);
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    fn apply(self, p: Process) -> Process {
        p.configure(self.name, self.daemon, self.method);
        p
    }

    /// A process running `target(args)`; see [`Process::new`].
    ///
    /// # Examples
    /// ```
    /// let p = multiproc::Process::builder().name("adder").target(|(a, b): (i32, i32)| println!("{}", a + b), (1, 2));
    /// assert_eq!(p.name(), "adder");
    /// ```
    pub fn target<F, A, M>(self, target: F, args: A) -> Process
    where
        F: Target<A, M>,
        F::Output: TargetResult,
        A: Serialize + DeserializeOwned + Send + 'static,
        M: 'static,
    {
        self.apply(Process::new(target, args))
    }

    /// A process running a [`Run`] job; see [`Process::from_run`].
    ///
    /// # Examples
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Job;
    /// impl multiproc::Run for Job {
    ///     type Output = ();
    ///     fn run(self) {}
    /// }
    /// let p = multiproc::Process::builder().name("job").run(Job);
    /// assert_eq!(p.name(), "job");
    /// ```
    pub fn run<J: Run>(self, job: J) -> Process {
        self.apply(Process::from_run(job))
    }
}
