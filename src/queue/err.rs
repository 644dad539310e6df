//! Errors of queue operations. A rejected value always comes back inside the error.

use std::error::Error;
use std::fmt;

use crate::error::CodecError;

/// Why [`Queue::put`](crate::Queue::put) and its `try_`/`_timeout` forms did not enqueue the
/// value. The value comes back inside.
///
/// | variant | returned by | Python |
/// |---|---|---|
/// | `Full` | `try_put` on a full queue | `queue.Full` from `put(x, False)` |
/// | `Timeout` | `put_timeout` when the queue stayed full | `queue.Full` from `put(x, True, t)` |
/// | `Closed` | any put on a handle after `close()` | `ValueError: Queue ... is closed` |
/// | `ShutDown` | any put after `shutdown()` (in any process) | `queue.ShutDown` |
/// | `Encode` | any put when serializing the value failed | the feeder thread's traceback |
///
/// # Examples
/// ```
/// use multiproc::{PutError, Queue};
///
/// let q = Queue::with_maxsize(1)?;
/// q.put(1u32).unwrap();
/// match q.try_put(2) {
///     Err(PutError::Full(v)) => assert_eq!(v, 2),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[non_exhaustive]
pub enum PutError<T> {
    /// The queue holds `maxsize` items (or its ring has no room for this one).
    Full(T),
    /// The queue stayed full for the whole timeout.
    Timeout(T),
    /// This handle was closed with `close()`.
    Closed(T),
    /// The queue was shut down with `shutdown()`, by this or another process.
    ShutDown(T),
    /// The value could not be serialized; nothing was enqueued and the queue keeps working.
    Encode(T, CodecError),
}

impl<T> PutError<T> {
    /// The value that was not enqueued.
    ///
    /// # Examples
    /// ```
    /// use multiproc::PutError;
    /// assert_eq!(PutError::Full(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(v)
            | PutError::Timeout(v)
            | PutError::Closed(v)
            | PutError::ShutDown(v)
            | PutError::Encode(v, _) => v,
        }
    }

    /// Is this `Full` or `Timeout` (Python's `queue.Full`)?
    ///
    /// # Examples
    /// ```
    /// use multiproc::PutError;
    /// assert!(PutError::Timeout(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_) | PutError::Timeout(_))
    }

    /// Is this `Closed`?
    ///
    /// # Examples
    /// ```
    /// use multiproc::PutError;
    /// assert!(PutError::Closed(()).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, PutError::Closed(_))
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Timeout(_) => f.write_str("Timeout(..)"),
            PutError::Closed(_) => f.write_str("Closed(..)"),
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
            PutError::Encode(_, e) => write!(f, "Encode(.., {e:?})"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("the queue is full; get items out or use put/put_timeout to wait"),
            PutError::Timeout(_) => {
                f.write_str("the queue stayed full for the whole timeout; get items out or wait longer")
            }
            PutError::Closed(_) => f.write_str("the queue is closed: close() was called on this handle"),
            PutError::ShutDown(_) => {
                f.write_str("the queue was shut down (shutdown() was called): it takes no more items")
            }
            PutError::Encode(_, e) => write!(f, "the item was not enqueued: {e}"),
        }
    }
}

impl<T> Error for PutError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PutError::Encode(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Why [`Queue::get`](crate::Queue::get) and its `try_`/`_timeout` forms returned no item.
///
/// | variant | returned by | Python |
/// |---|---|---|
/// | `Empty` | `try_get` on an empty queue | `queue.Empty` from `get(False)` |
/// | `Timeout` | `get_timeout` when nothing arrived | `queue.Empty` from `get(True, t)` |
/// | `Closed` | any get on a handle after `close()` | `ValueError: Queue ... is closed` |
/// | `ShutDown` | a get after `shutdown()` once the items left are taken (at once after `shutdown(true)`) | `queue.ShutDown` |
/// | `Decode` | the message did not decode as `T` (it was taken; its bytes come back) | an unpickling error |
/// | `Corrupt` | the shared ring holds bytes that are not records (another process wrote over it) | a torn pickle or a hang |
///
/// # Examples
/// ```
/// use multiproc::{GetError, Queue};
///
/// let q: Queue<u32> = Queue::new()?;
/// assert!(matches!(q.try_get(), Err(GetError::Empty)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum GetError {
    /// No item was ready.
    Empty,
    /// No item arrived within the timeout.
    Timeout,
    /// This handle was closed with `close()`.
    Closed,
    /// The queue was shut down and holds nothing (more) for this get.
    ShutDown,
    /// The queue's shared memory holds bytes that are not items: another process wrote over
    /// it. What the queue held was dropped; the queue goes on with what is put next.
    Corrupt(&'static str),
    /// An item was taken but did not decode as the queue's item type (a producer with a
    /// different type, or a different binary). The item's bytes are handed back, so nothing is
    /// lost: decode them as the right type, or hand them to whoever can.
    Decode(Vec<u8>, CodecError),
}

impl fmt::Debug for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("Empty"),
            GetError::Timeout => f.write_str("Timeout"),
            GetError::Closed => f.write_str("Closed"),
            GetError::ShutDown => f.write_str("ShutDown"),
            GetError::Corrupt(why) => write!(f, "Corrupt({why:?})"),
            GetError::Decode(b, e) => write!(f, "Decode(<{} bytes>, {e:?})", b.len()),
        }
    }
}

impl GetError {
    /// Is this `Empty` or `Timeout` (Python's `queue.Empty`)?
    ///
    /// # Examples
    /// ```
    /// assert!(multiproc::GetError::Timeout.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, GetError::Empty | GetError::Timeout)
    }

    /// Is this `ShutDown` (Python's `queue.ShutDown`)?
    ///
    /// # Examples
    /// ```
    /// assert!(multiproc::GetError::ShutDown.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self, GetError::ShutDown)
    }

    /// The bytes of an item that did not decode (`Decode`), so that it is not lost.
    ///
    /// # Examples
    /// ```
    /// fn keep(e: multiproc::GetError) -> Vec<u8> {
    ///     e.into_bytes().unwrap_or_default() // decode as the type that was sent, or store
    /// }
    /// assert!(keep(multiproc::GetError::Empty).is_empty());
    /// ```
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self {
            GetError::Decode(b, _) => Some(b),
            _ => None,
        }
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("the queue is empty; use get/get_timeout to wait for an item"),
            GetError::Timeout => f.write_str("no item arrived within the timeout"),
            GetError::Closed => f.write_str("the queue is closed: close() was called on this handle"),
            GetError::ShutDown => {
                f.write_str("the queue was shut down (shutdown() was called) and holds nothing more to get")
            }
            GetError::Corrupt(why) => write!(
                f,
                "the queue's shared memory was written over by something else ({why}): what it held was dropped, \
                 and it takes new items again"
            ),
            GetError::Decode(_, e) => {
                write!(f, "an item was taken from the queue but {e} (its bytes come back with the error)")
            }
        }
    }
}

impl Error for GetError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            GetError::Decode(_, e) => Some(e),
            _ => None,
        }
    }
}

/// [`JoinableQueue::task_done`](crate::JoinableQueue::task_done) was called more times than
/// items were put (Python's `ValueError: task_done() called too many times`).
///
/// # Examples
/// ```
/// let q = multiproc::JoinableQueue::<u8>::new()?;
/// assert!(q.task_done().is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times: every item put is already marked done")
    }
}

impl Error for TaskDoneError {}
