//! [`SimpleQueue`]: Python's `multiprocessing.SimpleQueue`, on the same ring as [`Queue`].

use std::fmt;
use std::io;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::err::{GetError, PutError};
use super::queue::Queue;

/// A queue with no size limit and only `put`, `get`, `is_empty` and `close` (Python's
/// `multiprocessing.SimpleQueue`). The same shared ring as [`Queue`].
///
/// # Examples
/// ```
/// let q = multiproc::SimpleQueue::new()?;
/// assert!(q.is_empty());
/// q.put(3u8).unwrap();
/// assert!(!q.is_empty());
/// assert_eq!(q.get()?, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub struct SimpleQueue<T> {
    q: Queue<T>,
}

impl<T> Clone for SimpleQueue<T> {
    /// Another handle on the same queue.
    fn clone(&self) -> Self {
        SimpleQueue { q: self.q.clone() }
    }
}

impl<T> SimpleQueue<T> {
    /// A new, empty queue.
    ///
    /// # Errors
    /// Fails when the shared segment cannot be created.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::SimpleQueue<u8> = multiproc::SimpleQueue::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<SimpleQueue<T>> {
        Ok(SimpleQueue { q: Queue::new()? })
    }

    /// Is the queue empty?
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::SimpleQueue<u8> = multiproc::SimpleQueue::new()?;
    /// assert!(q.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Closes this handle (idempotent): its puts and gets fail with `Closed` afterwards.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::SimpleQueue<u8> = multiproc::SimpleQueue::new()?;
    /// q.close();
    /// assert!(q.get().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(&self) {
        self.q.close();
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// Puts `value` at the end (see [`Queue::put`]).
    ///
    /// # Errors
    /// As [`Queue::put`].
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::SimpleQueue::new()?;
    /// q.put("x".to_string()).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.q.put(value)
    }

    /// Takes the front item, waiting for one (see [`Queue::get`]).
    ///
    /// # Errors
    /// As [`Queue::get`].
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::SimpleQueue::new()?;
    /// q.put(1u8).unwrap();
    /// assert_eq!(q.get()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.q.get()
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue").field("empty", &self.is_empty()).field("closed", &self.q.is_closed()).finish()
    }
}
