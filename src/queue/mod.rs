//! Queues between processes: [`Queue`], [`SimpleQueue`] and [`JoinableQueue`].
//!
//! Python's queues, without the feeder thread. An item is serialized in the caller of `put`
//! (so a serialization error comes back from `put`), then copied into a ring buffer in shared
//! memory before `put` returns. Consequences:
//!
//! - when `put` has returned, the item is in the queue, even if the producer exits at once
//!   (`std::process::exit`, [`exit`](crate::exit), a crash, SIGKILL);
//! - a child that put items can exit without waiting for anyone to `get` them, so joining it
//!   before draining the queue does not deadlock;
//! - there is no `join_thread` / `cancel_join_thread`: there is no thread to join, and nothing
//!   is ever buffered in the producer.
//!
//! A producer or consumer killed in the middle of a `put` or `get` never corrupts the queue,
//! never hands anyone a torn item and never blocks the others: every internal lock records its
//! owner, and waiters take a lock over from a dead owner. An item whose `get` was interrupted
//! by the consumer's death is handed to the next consumer, unless it was larger than a quarter
//! of the ring (streamed in fragments), in which case it is lost. The protocol is in
//! `src/queue/README.md`.
//!
//! Items of any size pass: items up to a quarter of the ring (1 MiB by default, see
//! [`QueueBuilder::capacity`]) are copied in one piece, larger ones stream through the ring in
//! fragments while the consumer reads them. Items that carry file descriptors (a
//! [`Fd`](crate::handle::Fd), a connection, another queue) cannot go through a queue: `put`
//! fails with [`PutError::Encode`].
//!
//! | Python | multiproc |
//! |---|---|
//! | `Queue(maxsize)` | [`Queue::new`], [`Queue::with_maxsize`], [`Queue::builder`] |
//! | `put(x)`, `put(x, True, t)`, `put_nowait(x)` | [`put`](Queue::put), [`put_timeout`](Queue::put_timeout), [`try_put`](Queue::try_put) |
//! | `get()`, `get(True, t)`, `get_nowait()` | [`get`](Queue::get), [`get_timeout`](Queue::get_timeout), [`try_get`](Queue::try_get) |
//! | `qsize()`, `empty()`, `full()` | [`qsize`](Queue::qsize), [`is_empty`](Queue::is_empty), [`is_full`](Queue::is_full) |
//! | `close()` | [`close`](Queue::close) |
//! | `join_thread()`, `cancel_join_thread()` | nothing to do: no feeder thread |
//! | `JoinableQueue.task_done()`, `.join()` | [`JoinableQueue::task_done`], [`JoinableQueue::join`] |
//! | `SimpleQueue()` | [`SimpleQueue`] |
//!
//! # Examples
//!
//! ```no_run
//! use multiproc::{Process, Queue};
//!
//! fn worker(q: Queue<String>) {
//!     q.put(format!("hello from {}", std::process::id())).unwrap();
//! }
//!
//! let q = Queue::new()?;
//! let p = Process::new(worker, q.clone());
//! p.start()?;
//! println!("{}", q.get()?);
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod err;
mod ring;

use std::cell::Cell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use self::err::{GetError, PutError, TaskDoneError};
use self::ring::{PopFail, PushFail, Ring, Sink};
use crate::error::CodecError;
use crate::shm::Segment;
use crate::sync::Timeout;

const FD_IN_QUEUE: &str = "the item holds file descriptors (a handle such as Fd, a Connection or a \
     queue), which cannot travel through a queue's shared memory; pass handles in a Process's \
     arguments or send them over a Connection";

/// Default size of the ring's data area.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

thread_local! {
    /// Reused buffers: serialization output and received bytes.
    static ENC: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static DEC: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

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
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Default for QueueBuilder<T> {
    fn default() -> Self {
        QueueBuilder::new()
    }
}

impl<T> Clone for QueueBuilder<T> {
    fn clone(&self) -> Self {
        QueueBuilder { maxsize: self.maxsize, capacity: self.capacity, _t: PhantomData }
    }
}

impl<T> fmt::Debug for QueueBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueBuilder").field("maxsize", &self.maxsize).field("capacity", &self.capacity).finish()
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
        QueueBuilder { maxsize: 0, capacity: DEFAULT_CAPACITY, _t: PhantomData }
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
        Ok(Queue::from_ring(self.ring()?))
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

/// A multi-producer, multi-consumer FIFO queue between processes (Python's
/// `multiprocessing.Queue`).
///
/// A `Queue` is a handle: clone it or pass it in the arguments of
/// [`Process::new`](crate::Process::new) (under every start method), and every copy, in any
/// process, sees the same queue. Items put by one producer come out in the order it put them;
/// items of different producers interleave. See the [module documentation](self) for what is
/// guaranteed when processes die.
///
/// # Examples
/// ```
/// use multiproc::Queue;
///
/// let q = Queue::new()?;
/// q.put("one".to_string()).unwrap();
/// q.put("two".to_string()).unwrap();
/// assert_eq!(q.qsize(), 2);
/// assert_eq!(q.get()?, "one");
/// assert_eq!(q.get()?, "two");
/// assert!(q.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Queue<T> {
    ring: Ring,
    closed: AtomicBool,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Queue<T> {
    fn from_ring(ring: Ring) -> Queue<T> {
        Queue { ring, closed: AtomicBool::new(false), _t: PhantomData }
    }

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

    /// The number of items in the queue (exact at the instant it is read; others may change
    /// it right after).
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::Queue::new()?;
    /// q.put(1u8).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn qsize(&self) -> usize {
        self.ring.len() as usize
    }

    /// Is the queue empty? Unlike Python, this still answers after `close()` (reading the
    /// shared counters needs nothing that `close` releases).
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u8> = multiproc::Queue::new()?;
    /// assert!(q.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// Does the queue hold `maxsize` items? Always `false` for an unbounded queue.
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::Queue::with_maxsize(1)?;
    /// q.put(1u8).unwrap();
    /// assert!(q.is_full());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_full(&self) -> bool {
        let m = self.ring.maxsize();
        m > 0 && self.ring.len() >= m
    }

    /// The `maxsize` given at creation (0: unbounded).
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u8> = multiproc::Queue::new()?;
    /// assert_eq!(q.maxsize(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn maxsize(&self) -> usize {
        self.ring.maxsize() as usize
    }

    /// Bytes of the shared ring.
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u8> = multiproc::Queue::new()?;
    /// assert_eq!(q.capacity(), multiproc::queue::DEFAULT_CAPACITY);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Closes this handle: afterwards its puts and gets fail with `Closed`. Other handles (in
    /// this or other processes) are not affected, and items already put stay in the queue.
    /// Idempotent. There is no feeder thread to flush, so nothing is waited for.
    ///
    /// # Examples
    /// ```
    /// use multiproc::{PutError, Queue};
    /// let q = Queue::new()?;
    /// q.close();
    /// q.close();
    /// assert!(matches!(q.put(1u8), Err(PutError::Closed(1))));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Was [`close`](Self::close) called on this handle?
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u8> = multiproc::Queue::new()?;
    /// assert!(!q.is_closed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn push_raw(&self, parts: &[&[u8]], deadline: Option<Instant>) -> Result<(), PushFail> {
        self.ring.push(parts, deadline)
    }

    /// Shuts the queue down for every handle in every process (CPython's `shutdown`, on its
    /// main branch): from now on puts fail with [`PutError::ShutDown`]; gets take the items
    /// that are left and then fail with [`GetError::ShutDown`], or, with `immediate`, the items
    /// left are dropped (and count as done for [`JoinableQueue::join`]) and gets fail at once.
    /// Every put, get and join waiting in any process wakes up. Returns the number of items
    /// dropped. Unlike [`close`](Self::close), which only retires this handle, it cannot be
    /// undone.
    ///
    /// # Examples
    /// ```
    /// use multiproc::{GetError, PutError, Queue};
    /// let q = Queue::new()?;
    /// q.put(1u8).unwrap();
    /// q.shutdown(false);
    /// assert!(matches!(q.put(2), Err(PutError::ShutDown(2))));
    /// assert_eq!(q.get()?, 1); // what was left still comes out
    /// assert!(matches!(q.get(), Err(GetError::ShutDown)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self, immediate: bool) -> usize {
        self.ring.shutdown(immediate) as usize
    }

    /// Has the queue been shut down (by any process)?
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u8> = multiproc::Queue::new()?;
    /// assert!(!q.is_shutdown());
    /// q.shutdown(true);
    /// assert!(q.is_shutdown());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.ring.is_shut_down()
    }

    /// Raw records for the pool, which frames its own messages: pushes the concatenation of
    /// `parts` as one message, waiting until `deadline` for room; `false` if there was none.
    /// With a deadline in the past it never waits, unless the message is longer than
    /// [`max_whole_record`](Self::max_whole_record) and has to stream.
    pub(crate) fn push_record(&self, parts: &[&[u8]], deadline: Option<Instant>) -> bool {
        self.push_raw(parts, deadline).is_ok()
    }

    /// Raw records for the pool: takes one message into `buf` (replacing its contents),
    /// waiting until `deadline`; `false` if none arrived.
    pub(crate) fn pop_record(&self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> bool {
        self.ring.pop(buf, deadline).is_ok()
    }

    /// Takes the page faults of the ring now, in this process: a pool starting a worker does
    /// this so that its first tasks do not pay them.
    pub(crate) fn populate(&self) {
        self.ring.segment().populate();
    }

    /// The longest message that goes into the ring in one piece (longer ones stream, and a
    /// push of one waits for the consumer). The ring's own limit is a quarter of the capacity
    /// minus its record header; this stays below it.
    pub(crate) fn max_whole_record(&self) -> usize {
        self.ring.capacity() / 4 - 64
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    fn put_inner(&self, value: T, deadline: Option<Instant>, timeout_kind: bool) -> Result<(), PutError<T>> {
        if self.is_closed() {
            return Err(PutError::Closed(value));
        }
        let mut buf = ENC.take();
        buf.clear();
        let buf = match crate::codec::encode_into(&value, &mut buf) {
            Ok(()) => buf,
            Err(e) => {
                ENC.set(buf);
                // Failed because it holds handles? Serializing where handles are allowed tells.
                let e = match crate::handle::to_bytes_with_fds(&value) {
                    Ok((_, fds)) if !fds.is_empty() => CodecError::new(false, FD_IN_QUEUE),
                    _ => e,
                };
                return Err(PutError::Encode(value, e));
            }
        };
        let r = self.push_raw(&[&buf], deadline);
        ENC.set(buf);
        match r {
            Ok(()) => Ok(()),
            Err(PushFail::Full) if timeout_kind => Err(PutError::Timeout(value)),
            Err(PushFail::Full) => Err(PutError::Full(value)),
            Err(PushFail::ShutDown) => Err(PutError::ShutDown(value)),
        }
    }

    /// Puts `value` at the end of the queue, waiting while the queue is full.
    ///
    /// When this returns `Ok`, the item is in shared memory: it will be delivered even if this
    /// process exits or is killed right after.
    ///
    /// # Errors
    /// [`PutError::Closed`] after [`close`](Self::close); [`PutError::Encode`] when `value`
    /// cannot be serialized (including values holding file descriptors). The value comes back.
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::Queue::new()?;
    /// q.put(vec![1, 2, 3]).unwrap();
    /// assert_eq!(q.get()?, vec![1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.put_inner(value, None, true)
    }

    /// Puts `value`, waiting at most `timeout` for room (Python's `put(x, True, t)`). A zero
    /// timeout only checks; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`PutError::Timeout`] when the queue stayed full; otherwise as [`put`](Self::put).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let q = multiproc::Queue::with_maxsize(1)?;
    /// q.put(1u8).unwrap();
    /// assert!(q.put_timeout(2, Duration::from_millis(10)).unwrap_err().is_full());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn put_timeout(&self, value: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_inner(value, crate::deadline::after(timeout), true)
    }

    /// Puts `value` only if there is room now (Python's `put_nowait`).
    ///
    /// # Errors
    /// [`PutError::Full`] when the queue is full; otherwise as [`put`](Self::put).
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::Queue::with_maxsize(1)?;
    /// q.try_put(1u8).unwrap();
    /// assert_eq!(q.try_put(2).unwrap_err().into_inner(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_put(&self, value: T) -> Result<(), PutError<T>> {
        self.put_inner(value, Some(Instant::now()), false)
    }

    fn get_inner(&self, deadline: Option<Instant>, empty: GetError) -> Result<T, GetError> {
        if self.is_closed() {
            return Err(GetError::Closed);
        }
        let mut buf = DEC.take();
        let r = self.ring.pop(&mut buf, deadline);
        let out = match r {
            // An item that does not decode is not lost: its bytes come back in the error.
            Ok(()) => crate::codec::decode(&buf).map_err(|e| GetError::Decode(std::mem::take(&mut buf), e)),
            Err(PopFail::Empty) => Err(empty),
            Err(PopFail::ShutDown) => Err(GetError::ShutDown),
        };
        if buf.capacity() > 8 << 20 {
            buf = Vec::new(); // do not keep a huge buffer per thread
        }
        DEC.set(buf);
        out
    }

    /// Takes the item at the front of the queue, waiting until there is one.
    ///
    /// # Errors
    /// [`GetError::Closed`] after [`close`](Self::close); [`GetError::Decode`] when the item
    /// does not decode as `T`.
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::Queue::new()?;
    /// q.put(7u8).unwrap();
    /// assert_eq!(q.get()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.get_inner(None, GetError::Timeout)
    }

    /// Takes the front item, waiting at most `timeout` for one to start arriving (Python's
    /// `get(True, t)`). A zero timeout only checks; `Duration::MAX` waits forever.
    ///
    /// The timeout bounds the wait for an item to *begin*. An item larger than a quarter of the
    /// ring streams through it, and one that has begun arriving is read to its end however long
    /// its producer takes (a producer stopped with SIGSTOP, say), as long as that producer
    /// lives: giving up half-way would lose the item. CPython's `get` also reads a begun
    /// message to its end. If the producer dies in the middle, the torn item is dropped and
    /// the wait goes on within the timeout.
    ///
    /// # Errors
    /// [`GetError::Timeout`] when nothing arrived; otherwise as [`get`](Self::get).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let q: multiproc::Queue<u8> = multiproc::Queue::new()?;
    /// assert!(q.get_timeout(Duration::from_millis(10)).unwrap_err().is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_inner(crate::deadline::after(timeout), GetError::Timeout)
    }

    /// Takes the front item if there is one now (Python's `get_nowait`).
    ///
    /// # Errors
    /// [`GetError::Empty`] when the queue is empty; otherwise as [`get`](Self::get).
    ///
    /// # Examples
    /// ```
    /// let q: multiproc::Queue<u8> = multiproc::Queue::new()?;
    /// assert!(matches!(q.try_get(), Err(multiproc::GetError::Empty)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_get(&self) -> Result<T, GetError> {
        self.get_inner(Some(Instant::now()), GetError::Empty)
    }
}

/// Receives postcard's encoding of a `Vec<u8>` (varint length, bytes) as the bytes alone.
struct BytesSink {
    out: Vec<u8>,
    /// Still reading the varint length prefix.
    in_prefix: bool,
}

impl Sink for BytesSink {
    fn begin(&mut self, total: usize) {
        self.out.clear();
        self.out.reserve(total.saturating_sub(1));
        self.in_prefix = true;
    }
    fn chunk(&mut self, mut bytes: &[u8]) {
        while self.in_prefix && !bytes.is_empty() {
            self.in_prefix = bytes[0] & 0x80 != 0;
            bytes = &bytes[1..];
        }
        self.out.extend_from_slice(bytes);
    }
}

impl Queue<Vec<u8>> {
    /// Puts a byte string without building a `Vec` first: one copy, into shared memory. The
    /// item is the same as `put(bytes.to_vec())` and comes out of `get` and
    /// [`get_bytes`](Self::get_bytes) alike.
    ///
    /// # Errors
    /// As [`put`](Self::put) (never `Encode`); the slice comes back.
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::Queue::<Vec<u8>>::new()?;
    /// q.put_bytes(b"abc").unwrap();
    /// assert_eq!(q.get()?, b"abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_bytes<'a>(&self, bytes: &'a [u8]) -> Result<(), PutError<&'a [u8]>> {
        if self.is_closed() {
            return Err(PutError::Closed(bytes));
        }
        let mut len = [0u8; 10];
        let mut n = bytes.len() as u64;
        let mut k = 0;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                len[k] = b;
                k += 1;
                break;
            }
            len[k] = b | 0x80;
            k += 1;
        }
        self.push_raw(&[&len[..k], bytes], None).map_err(|_| PutError::Timeout(bytes))
    }

    fn get_bytes_inner(&self, deadline: Option<Instant>, empty: GetError) -> Result<Vec<u8>, GetError> {
        if self.is_closed() {
            return Err(GetError::Closed);
        }
        let mut sink = BytesSink { out: Vec::new(), in_prefix: true };
        match self.ring.pop(&mut sink, deadline) {
            Ok(()) => Ok(sink.out),
            Err(PopFail::Empty) => Err(empty),
            Err(PopFail::ShutDown) => Err(GetError::ShutDown),
        }
    }

    /// Takes the front item as bytes, copied once out of shared memory.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::Queue::<Vec<u8>>::new()?;
    /// q.put(vec![1, 2]).unwrap();
    /// assert_eq!(q.get_bytes()?, [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_bytes(&self) -> Result<Vec<u8>, GetError> {
        self.get_bytes_inner(None, GetError::Timeout)
    }

    /// [`get_bytes`](Self::get_bytes) waiting at most `timeout` (zero only checks,
    /// `Duration::MAX` waits forever).
    ///
    /// # Errors
    /// As [`get_timeout`](Self::get_timeout).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let q = multiproc::Queue::<Vec<u8>>::new()?;
    /// assert!(q.get_bytes_timeout(Duration::from_millis(5)).unwrap_err().is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>, GetError> {
        self.get_bytes_inner(crate::deadline::after(timeout), GetError::Timeout)
    }

    /// [`get_bytes`](Self::get_bytes) only if an item is there now.
    ///
    /// # Errors
    /// As [`try_get`](Self::try_get).
    ///
    /// # Examples
    /// ```
    /// let q = multiproc::Queue::<Vec<u8>>::new()?;
    /// q.put_bytes(b"x").unwrap();
    /// assert_eq!(q.try_get_bytes()?, b"x");
    /// assert!(matches!(q.try_get_bytes(), Err(multiproc::GetError::Empty)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get_bytes(&self) -> Result<Vec<u8>, GetError> {
        self.get_bytes_inner(Some(Instant::now()), GetError::Empty)
    }
}

impl<T> Clone for Queue<T> {
    /// Another handle on the same queue (open, even if `self` was closed).
    fn clone(&self) -> Self {
        Queue::from_ring(self.ring.clone())
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.ring.segment().serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let seg = Segment::deserialize(d)?;
        Ring::from_segment(seg).map(Queue::from_ring).map_err(serde::de::Error::custom)
    }
}

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
    q: Queue<T>,
}

impl<T> Clone for JoinableQueue<T> {
    /// Another handle on the same queue.
    fn clone(&self) -> Self {
        JoinableQueue { q: self.q.clone() }
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
