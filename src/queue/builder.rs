//! [`QueueBuilder`]: a queue's `maxsize` and ring size.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use super::joinable::JoinableQueue;
use super::queue::{DEFAULT_CAPACITY, FdChannel, Queue};
use super::ring::Ring;

/// Configures a queue of `T`: `maxsize` and the size of the shared ring. Made by
/// [`Queue::builder`]; [`build`](Self::build) makes a [`Queue`],
/// [`build_joinable`](Self::build_joinable) a [`JoinableQueue`].
///
/// # Examples
/// ```
/// use multiproc::Queue;
///
/// let q: Queue<u64> = Queue::builder().maxsize(100).capacity(64 << 10).build()?;
/// assert_eq!(q.maxsize(), 100);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct QueueBuilder<T> {
    maxsize: usize,
    capacity: usize,
    handles: bool,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Default for QueueBuilder<T> {
    fn default() -> Self {
        QueueBuilder::new()
    }
}

impl<T> Clone for QueueBuilder<T> {
    fn clone(&self) -> Self {
        QueueBuilder { maxsize: self.maxsize, capacity: self.capacity, handles: self.handles, _t: PhantomData }
    }
}

impl<T> fmt::Debug for QueueBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueBuilder")
            .field("maxsize", &self.maxsize)
            .field("capacity", &self.capacity)
            .field("handles", &self.handles)
            .finish()
    }
}

impl<T> QueueBuilder<T> {
    /// Unbounded, with a ring of [`DEFAULT_CAPACITY`] bytes (the same as [`Queue::builder`]).
    ///
    /// # Examples
    /// ```
    /// let b = multiproc::QueueBuilder::<u8>::new();
    /// ```
    pub fn new() -> QueueBuilder<T> {
        QueueBuilder { maxsize: 0, capacity: DEFAULT_CAPACITY, handles: true, _t: PhantomData }
    }

    /// At most `n` items in the queue (0: unbounded, Python's `maxsize <= 0`). A queue is also
    /// full, whatever `maxsize`, when its ring has no room for the next item.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u8> = multiproc::Queue::builder().maxsize(6).build()?;
    /// assert_eq!(q.maxsize(), 6);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn maxsize(mut self, n: usize) -> QueueBuilder<T> {
        self.maxsize = n;
        self
    }

    /// Bytes of the shared ring (rounded up to a power of two, 4 KiB to 1 GiB). Items up to a
    /// quarter of it are copied in one piece; larger ones stream through it. Pages are only
    /// allocated when first written.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u8> = multiproc::Queue::builder().capacity(8 << 20).build()?;
    /// assert_eq!(q.capacity(), 8 << 20);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn capacity(mut self, bytes: usize) -> QueueBuilder<T> {
        self.capacity = bytes;
        self
    }

    /// Whether items may carry handles: descriptors, [`Connection`](crate::Connection)s, locks,
    /// shared memory, other queues (default `true`). Such an item's descriptors travel beside
    /// the ring over a socket pair the queue owns, and arrive with the item. `false` saves that
    /// pair (two descriptors per queue); a `put` of an item with handles then fails with
    /// [`PutError::Encode`](crate::queue::PutError::Encode), and the item comes back.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u8> = multiproc::Queue::builder().handles(false).build()?;
    /// q.put(7)?;
    /// assert_eq!(q.get()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handles(mut self, yes: bool) -> QueueBuilder<T> {
        self.handles = yes;
        self
    }

    fn ring(&self) -> io::Result<Ring> {
        if self.maxsize > (u32::MAX / 2) as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "maxsize must be below 2^31 (use 0 for unbounded)",
            ));
        }
        Ring::new(self.capacity, self.maxsize as u32)
    }

    /// Builds a [`Queue`].
    ///
    /// # Errors
    /// Fails when the shared segment cannot be created (memory limits), or `maxsize >= 2^31`.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u8> = multiproc::Queue::builder().build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(self) -> io::Result<Queue<T>> {
        let ring = self.ring()?;
        let fds = if self.handles { Some(std::sync::Arc::new(FdChannel::new()?)) } else { None };
        Ok(Queue::with_channel(ring, fds))
    }

    /// Builds a [`JoinableQueue`].
    ///
    /// # Errors
    /// As [`build`](Self::build).
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::JoinableQueue<u8> = multiproc::Queue::builder().maxsize(4).build_joinable()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build_joinable(self) -> io::Result<JoinableQueue<T>> {
        Ok(JoinableQueue { q: self.build()? })
    }
}

impl<T> Queue<T> {
    /// An unbounded queue.
    ///
    /// # Errors
    /// Fails when the shared segment cannot be created.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u32> = multiproc::Queue::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Queue<T>> {
        QueueBuilder::new().build()
    }

    /// A queue holding at most `maxsize` items (0: unbounded).
    ///
    /// # Errors
    /// Fails when the shared segment cannot be created, or `maxsize >= 2^31`.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u32> = multiproc::Queue::with_maxsize(6)?;
    /// assert_eq!(q.maxsize(), 6);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_maxsize(maxsize: usize) -> io::Result<Queue<T>> {
        QueueBuilder::new().maxsize(maxsize).build()
    }

    /// A builder for `maxsize` and the ring's capacity, ending in
    /// [`build`](QueueBuilder::build) or [`build_joinable`](QueueBuilder::build_joinable).
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u32> = multiproc::Queue::builder().capacity(1 << 16).build()?;
    /// assert_eq!(q.capacity(), 1 << 16);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> QueueBuilder<T> {
        QueueBuilder::new()
    }
}

impl<T> JoinableQueue<T> {
    /// An unbounded joinable queue.
    ///
    /// # Errors
    /// Fails when the shared segment cannot be created.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::JoinableQueue<u8> = multiproc::JoinableQueue::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<JoinableQueue<T>> {
        QueueBuilder::new().build_joinable()
    }

    /// A joinable queue of at most `maxsize` items (0: unbounded).
    ///
    /// # Errors
    /// As [`Queue::with_maxsize`].
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::JoinableQueue<u8> = multiproc::JoinableQueue::with_maxsize(3)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_maxsize(maxsize: usize) -> io::Result<JoinableQueue<T>> {
        QueueBuilder::new().maxsize(maxsize).build_joinable()
    }
}
