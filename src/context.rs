//! Contexts: Python's `get_context(method)`, the start method bound to the factories, on top
//! of everything else.

use serde::Serialize;

use crate::func::Target;
use crate::process::{Process, Run, StartMethod, TargetResult, get_start_method};

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
}
