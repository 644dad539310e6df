//! [`JoinableQueue`]: a [`Queue`] that counts unfinished tasks.

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::err::TaskDoneError;
use super::queue::Queue;
use crate::sync::Timeout;

/// A [`Queue`] that also counts unfinished tasks (Python's `multiprocessing.JoinableQueue`):
/// every item put is a task; consumers call [`task_done`](Self::task_done) for each item they
/// finished; [`join`](Self::join) waits until every task is done.
///
/// Every `Queue` method is available through `Deref`.
///
/// # Examples
/// ```
/// let q = multiproc::JoinableQueue::new()?;
/// q.put(1u8).unwrap();
/// let _item = q.get()?;
/// q.task_done()?;
/// q.join();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub struct JoinableQueue<T> {
    pub(super) q: Queue<T>,
}

impl<T> Clone for JoinableQueue<T> {
    /// Another handle on the same queue.
    fn clone(&self) -> Self {
        JoinableQueue { q: self.q.clone() }
    }
}

impl<T> JoinableQueue<T> {
    /// Marks one task done.
    ///
    /// # Errors
    /// [`TaskDoneError`] when every item put is already marked done.
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::JoinableQueue::new()?;
    /// q.put(1u8).unwrap();
    /// q.task_done()?;
    /// assert!(q.task_done().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        if self.q.ring.task_done() { Ok(()) } else { Err(TaskDoneError) }
    }

    /// Items put and not yet marked done.
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::JoinableQueue::new()?;
    /// q.put(1u8).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.q.ring.unfinished() as usize
    }

    /// Waits until every item put has been marked done.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::JoinableQueue<u8> = multiproc::JoinableQueue::new()?;
    /// q.join(); // nothing was put
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join(&self) {
        self.q.ring.join(None);
    }

    /// Waits at most `timeout` for every task to be done. A zero timeout only checks;
    /// `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`Timeout`] when tasks were still unfinished at the end of the timeout.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use multiproc::sync::Timeout;
    /// let q = multiproc::JoinableQueue::new()?;
    /// q.put(1u8).unwrap();
    /// assert_eq!(q.join_timeout(Duration::from_millis(10)), Err(Timeout));
    /// q.task_done().unwrap();
    /// assert_eq!(q.join_timeout(Duration::ZERO), Ok(()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
        if self.q.ring.join(crate::deadline::after(timeout)) { Ok(()) } else { Err(Timeout) }
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.q
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("qsize", &self.q.qsize())
            .field("unfinished", &self.unfinished_tasks())
            .field("closed", &self.q.is_closed())
            .finish()
    }
}
