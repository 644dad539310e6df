//! Error types shared across the crate.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::io;

thread_local! {
    static CODEC_DETAIL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Remembers why a serde impl of ours failed, since the codec keeps only a generic error.
pub(crate) fn note_codec_detail(msg: &str) {
    CODEC_DETAIL.with(|d| *d.borrow_mut() = Some(msg.to_string()));
}

/// Forgets a noted detail (when the caller found the message another way).
pub(crate) fn forget_codec_detail() {
    drop(take_codec_detail());
}

fn take_codec_detail() -> Option<String> {
    CODEC_DETAIL.with(|d| d.borrow_mut().take())
}

/// A value could not be encoded for another process, or bytes from another process could not
/// be decoded into the expected type.
///
/// # Examples
/// ```
/// use multiproc::CodecError;
/// fn describe(e: &CodecError) -> String { e.to_string() }
/// ```
#[derive(Debug, Clone)]
pub struct CodecError {
    decoding: bool,
    message: String,
}

impl CodecError {
    /// The codec's own error text `e`, with the detail a handle's serde impl noted, if any.
    pub(crate) fn from_codec(decoding: bool, e: String) -> CodecError {
        let message = match take_codec_detail() {
            Some(d) => format!("{e}: {d}"),
            None => e,
        };
        CodecError { decoding, message }
    }

    pub(crate) fn new(decoding: bool, message: impl Into<String>) -> CodecError {
        CodecError { decoding, message: message.into() }
    }

    /// Did this happen while decoding received bytes (rather than encoding a value)?
    ///
    /// # Examples
    /// ```
    /// fn retryable(e: &multiproc::CodecError) -> bool {
    ///     !e.is_decode() // an encode error is the caller's value; decode errors are bad input
    /// }
    /// ```
    pub fn is_decode(&self) -> bool {
        self.decoding
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.decoding {
            write!(f, "cannot decode the received message: {}", self.message)
        } else {
            write!(f, "cannot encode the value to send: {}", self.message)
        }
    }
}

impl Error for CodecError {}

impl From<CodecError> for io::Error {
    fn from(e: CodecError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// What went wrong with a [`Process`](crate::Process) operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessErrorKind {
    /// `start` was called a second time (Python: `AssertionError('cannot start a process twice')`).
    AlreadyStarted,
    /// The operation needs a started process (Python: `can only join a started process`).
    NotStarted,
    /// The process object was closed (Python: `ValueError('process object is closed')`).
    Closed,
    /// `close` on a process that is still running (Python: `ValueError`).
    StillRunning,
    /// A daemon process tried to start a child
    /// (Python: `daemonic processes are not allowed to have children`).
    DaemonChildren,
    /// Only the process that created a `Process` may start or join it.
    NotCreator,
    /// A capturing closure can only run in a child made by `fork`.
    ClosureNeedsFork,
    /// The child runs a different binary than the parent, so the target cannot be found.
    BinaryMismatch,
    /// Setting was refused because the process already started.
    AlreadyStartedSetting,
    /// The arguments could not be serialized for the child.
    Encode,
    /// The operating system refused (fork, exec, a socket, a signal...).
    Os,
    /// The fork server could not be reached or failed.
    ForkServer,
    /// `join_timeout` ran out of time with the child still running.
    Timeout,
    /// `try_join` found the child still running.
    WouldBlock,
}

/// An error from [`Process`](crate::Process) operations.
///
/// # Examples
/// ```
/// use multiproc::{Process, ProcessErrorKind};
/// let p = Process::new(|(): ()| {}, ());
/// let err = p.join().unwrap_err();
/// assert_eq!(err.kind(), ProcessErrorKind::NotStarted);
/// ```
#[derive(Debug)]
pub struct ProcessError {
    kind: ProcessErrorKind,
    message: String,
    source: Option<Box<dyn Error + Send + Sync>>,
}

impl ProcessError {
    pub(crate) fn new(kind: ProcessErrorKind, message: impl Into<String>) -> ProcessError {
        ProcessError { kind, message: message.into(), source: None }
    }

    pub(crate) fn os(context: impl Into<String>, e: io::Error) -> ProcessError {
        ProcessError {
            kind: ProcessErrorKind::Os,
            message: format!("{}: {e}", context.into()),
            source: Some(Box::new(e)),
        }
    }

    pub(crate) fn with_source(mut self, e: impl Error + Send + Sync + 'static) -> ProcessError {
        self.source = Some(Box::new(e));
        self
    }

    /// The kind of failure.
    ///
    /// # Examples
    /// ```
    /// use multiproc::{Process, ProcessErrorKind};
    /// let p = Process::new(|(): ()| {}, ());
    /// p.close().unwrap(); // closing a process that never started is allowed
    /// assert_eq!(p.start().unwrap_err().kind(), ProcessErrorKind::Closed);
    /// ```
    pub fn kind(&self) -> ProcessErrorKind {
        self.kind
    }

    /// Did a `_timeout` call run out of time ([`ProcessErrorKind::Timeout`])?
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|| std::thread::sleep(std::time::Duration::from_secs(9)), ());
    /// p.start()?;
    /// assert!(p.join_timeout(std::time::Duration::ZERO).unwrap_err().is_timeout());
    /// p.kill()?;
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn is_timeout(&self) -> bool {
        self.kind == ProcessErrorKind::Timeout
    }

    /// Did a `try_` call find that it would have to wait ([`ProcessErrorKind::WouldBlock`])?
    ///
    /// # Examples
    /// ```no_run
    /// let p = multiproc::Process::new(|| std::thread::sleep(std::time::Duration::from_secs(9)), ());
    /// p.start()?;
    /// assert!(p.try_join().unwrap_err().is_would_block());
    /// p.kill()?;
    /// # Ok::<(), multiproc::ProcessError>(())
    /// ```
    pub fn is_would_block(&self) -> bool {
        self.kind == ProcessErrorKind::WouldBlock
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for ProcessError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<ProcessError> for io::Error {
    fn from(e: ProcessError) -> io::Error {
        io::Error::other(e)
    }
}
