//! [`ManagerError`]: every failure of a manager, a proxy or the server behind them.

use std::error::Error;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure a [`ManagerError`] is.
///
/// The kinds that start with the server's side of a call (`KeyError` to `RemotePanic`) come
/// back from the server with its message; the server goes on serving.
///
/// # Examples
/// ```
/// use multiproc::manager::ManagerErrorKind;
/// fn retry_later(kind: ManagerErrorKind) -> bool {
///     matches!(kind, ManagerErrorKind::Timeout | ManagerErrorKind::WouldBlock)
/// }
/// assert!(retry_later(ManagerErrorKind::Timeout));
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ManagerErrorKind {
    /// The server process could not be started or did not answer its start.
    Start,
    /// Connecting to the server failed (refused, unreachable, or the handshake broke).
    Connect,
    /// The server refused the authkey, or the client refused the server's.
    Authentication,
    /// The server went away (it exited, was killed, or the connection broke mid-call).
    ServerGone,
    /// The server at the proxy's address is a new run: the objects of the old one are gone.
    ServerRestarted,
    /// A peer sent something that is not this protocol (or another version of it).
    Protocol,
    /// A value could not be encoded, or a reply not decoded into the proxy's type.
    Codec,
    /// A request or reply is larger than the connection's limit.
    TooLarge,
    /// A missing key (Python's `KeyError`).
    KeyError,
    /// An index out of range (Python's `IndexError`).
    IndexError,
    /// A value not present where it had to be, or an argument out of range (`ValueError`).
    ValueError,
    /// A namespace has no such attribute (`AttributeError`).
    AttributeError,
    /// The server has no object with the proxy's number (released, or another server's).
    NoSuchObject,
    /// The object's type has no method with that number.
    NoSuchMethod,
    /// No type of that name was registered with the manager.
    NoSuchType,
    /// A proxy of one type was asked to stand for an object of another.
    TypeMismatch,
    /// A custom type's method returned an error (the message is its text).
    Remote,
    /// A custom type's method or constructor panicked (the message is the panic's).
    RemotePanic,
    /// A `try_` get found the queue empty.
    Empty,
    /// A `try_` put found the queue full.
    Full,
    /// A `_timeout` call ran out of time.
    Timeout,
    /// A `try_` acquire found the lock or semaphore taken.
    WouldBlock,
    /// A release of a lock that is not held (or of a semaphore past its bound).
    NotHeld,
    /// The barrier was broken (aborted, reset, or a waiter timed out).
    BrokenBarrier,
    /// The manager was shut down.
    Shutdown,
}

/// A failure of a manager, a proxy or the server behind them.
///
/// Opaque: ask [`kind`](ManagerError::kind) or an `is_*` helper, read the message with
/// `Display`, and the underlying cause (a connection error, say) with [`Error::source`].
///
/// # Examples
/// ```no_run
/// use multiproc::manager::Manager;
/// let m = Manager::start()?;
/// let d = m.dict::<String, u32>()?;
/// let e = d.get(&"missing".to_string()).unwrap_err();
/// assert!(e.is_key_error());
/// assert!(e.to_string().contains("missing"));
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct ManagerError {
    kind: ManagerErrorKind,
    message: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl ManagerError {
    pub(crate) fn new(kind: ManagerErrorKind, message: impl Into<String>) -> ManagerError {
        ManagerError { kind, message: message.into(), source: None }
    }

    pub(crate) fn with_source(
        kind: ManagerErrorKind,
        message: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> ManagerError {
        ManagerError { kind, message: message.into(), source: Some(Box::new(source)) }
    }

    /// What kind of failure this is.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::manager::{Manager, ManagerErrorKind};
    /// let m = Manager::start()?;
    /// let l = m.list::<u8>()?;
    /// assert_eq!(l.get(3).unwrap_err().kind(), ManagerErrorKind::IndexError);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn kind(&self) -> ManagerErrorKind {
        self.kind
    }

    /// The message alone, without the kind.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// assert!(d.get(&1).unwrap_err().message().contains("1"));
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

macro_rules! predicates {
    ($($(#[$doc:meta])* $name:ident => $kind:ident;)*) => {
        impl ManagerError {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> bool {
                    self.kind == ManagerErrorKind::$kind
                }
            )*
        }
    };
}

predicates! {
    /// A missing key ([`ManagerErrorKind::KeyError`]).
    ///
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert!(m.dict::<u8, u8>()?.pop(&1).unwrap_err().is_key_error());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    is_key_error => KeyError;
    /// An index out of range ([`ManagerErrorKind::IndexError`]).
    ///
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert!(m.list::<u8>()?.pop().unwrap_err().is_index_error());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    is_index_error => IndexError;
    /// A value missing or out of range ([`ManagerErrorKind::ValueError`]).
    ///
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert!(m.list::<u8>()?.remove(&1).unwrap_err().is_value_error());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    is_value_error => ValueError;
    /// A custom method's error ([`ManagerErrorKind::Remote`]).
    ///
    /// ```
    /// fn user_failure(e: &multiproc::manager::ManagerError) -> bool { e.is_remote() }
    /// ```
    is_remote => Remote;
    /// A custom method's panic ([`ManagerErrorKind::RemotePanic`]).
    ///
    /// ```
    /// fn crashed(e: &multiproc::manager::ManagerError) -> bool { e.is_remote_panic() }
    /// ```
    is_remote_panic => RemotePanic;
    /// The server went away ([`ManagerErrorKind::ServerGone`]).
    ///
    /// ```
    /// fn gone(e: &multiproc::manager::ManagerError) -> bool { e.is_server_gone() }
    /// ```
    is_server_gone => ServerGone;
    /// The server restarted ([`ManagerErrorKind::ServerRestarted`]).
    ///
    /// ```
    /// fn restarted(e: &multiproc::manager::ManagerError) -> bool { e.is_server_restarted() }
    /// ```
    is_server_restarted => ServerRestarted;
    /// A refused authkey ([`ManagerErrorKind::Authentication`]).
    ///
    /// ```
    /// fn bad_key(e: &multiproc::manager::ManagerError) -> bool { e.is_authentication() }
    /// ```
    is_authentication => Authentication;
    /// A `_timeout` call ran out of time ([`ManagerErrorKind::Timeout`]).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let m = multiproc::manager::Manager::start()?;
    /// let q = m.queue::<u8>()?;
    /// assert!(q.get_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    is_timeout => Timeout;
    /// A `try_` call would have had to wait ([`ManagerErrorKind::WouldBlock`]).
    ///
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.lock()?;
    /// let _g = l.acquire()?;
    /// assert!(l.try_acquire().unwrap_err().is_would_block());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    is_would_block => WouldBlock;
    /// A `try_` get found the queue empty ([`ManagerErrorKind::Empty`]).
    ///
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert!(m.queue::<u8>()?.try_get().unwrap_err().is_empty());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    is_empty => Empty;
    /// A `try_` put found the queue full ([`ManagerErrorKind::Full`]).
    ///
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let q = m.queue_bounded::<u8>(1)?;
    /// q.put(1)?;
    /// assert!(q.try_put(2).unwrap_err().is_full());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    is_full => Full;
    /// A release of something not held ([`ManagerErrorKind::NotHeld`]).
    ///
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert!(m.lock()?.release().unwrap_err().is_not_held());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    is_not_held => NotHeld;
    /// A broken barrier ([`ManagerErrorKind::BrokenBarrier`]).
    ///
    /// ```
    /// fn broken(e: &multiproc::manager::ManagerError) -> bool { e.is_broken_barrier() }
    /// ```
    is_broken_barrier => BrokenBarrier;
    /// Bytes that are not this protocol ([`ManagerErrorKind::Protocol`]).
    ///
    /// ```
    /// fn garbage(e: &multiproc::manager::ManagerError) -> bool { e.is_protocol() }
    /// ```
    is_protocol => Protocol;
}

impl fmt::Debug for ManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for ManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for ManagerError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<crate::CodecError> for ManagerError {
    fn from(e: crate::CodecError) -> ManagerError {
        let msg = format!(
            "a manager value could not be encoded or decoded ({e}); check that the proxy's types match the object's"
        );
        ManagerError::with_source(ManagerErrorKind::Codec, msg, e)
    }
}
