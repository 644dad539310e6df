//! [`Queue`]: Python's `multiprocessing.Queue`, a handle on a ring in shared memory.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::err::{GetError, PutError};
use super::ring::{HAS_FDS, PopFail, PushFail, Ring, Sink};
use crate::error::CodecError;
use crate::shm::Segment;

const NO_CHANNEL: &str = "the item holds file descriptors (a handle such as Fd, a Connection or a \
     queue), and this queue was built without the channel that carries them beside its shared \
     memory";

/// Default size of the ring's data area.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

thread_local! {
    /// Reused buffers: serialization output and received bytes.
    static ENC: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static DEC: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A multi-producer, multi-consumer FIFO queue between processes (Python's
/// `multiprocessing.Queue`).
///
/// A `Queue` is a handle: clone it or pass it in the arguments of
/// [`Process::new`](crate::Process::new) (under every start method), and every copy, in any
/// process, sees the same queue. Items put by one producer come out in the order it put them;
/// items of different producers interleave. See the [module documentation](crate::queue) for what is
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
    pub(super) ring: Ring,
    /// Where the descriptors of items that hold handles travel (see "Handles in items").
    fds: Option<Arc<FdChannel>>,
    closed: AtomicBool,
    _t: PhantomData<fn(T) -> T>,
}

/// Handles in items: a queue's shared memory can hold bytes but not file descriptors, so an
/// item that holds handles (a `Connection`, an `Fd`, a `Lock`, another queue...) sends its
/// descriptors beside the ring, as one datagram with `SCM_RIGHTS` on a socket pair every handle
/// of the queue shares, in flight in the kernel until a consumer takes them (so they survive
/// their producer's exit, as the item does).
///
/// The producer sends the datagram under the producer lock, once the ring has room, just
/// before it writes the item's first record, which is flagged and names the datagram (the
/// message's index and an id). A consumer, under the consumer lock, takes the item and then its
/// datagram: datagrams older than the item (left by a producer that died between sending and
/// writing, or by a push that failed half-way) are dropped, their descriptors closed. If a
/// consumer died after taking the datagram and before the item, the next one finds the item
/// without its descriptors and reports `Decode` with the item's bytes.
#[derive(Debug)]
pub(super) struct FdChannel {
    /// Producers send here...
    tx: OwnedFd,
    /// ... consumers receive here.
    rx: OwnedFd,
}

/// The datagram's header: the message's index and id, `u32` LE each.
const TICKET: usize = 8;

impl FdChannel {
    pub(super) fn new() -> io::Result<FdChannel> {
        let (tx, rx) = crate::sys::socket::socketpair(crate::sys::socket::PairKind::SeqPacket)?;
        Ok(FdChannel { tx, rx })
    }

    /// Sends the descriptors of message `index`/`id`, waiting until `deadline` for room in the
    /// socket's buffer (`Err(WouldBlock)` when there was none: as many items with handles wait
    /// in the queue as the kernel holds in flight).
    fn send(&self, index: u32, id: u32, fds: &[OwnedFd], deadline: Option<Instant>) -> io::Result<()> {
        let mut t = [0u8; TICKET];
        t[..4].copy_from_slice(&index.to_le_bytes());
        t[4..].copy_from_slice(&id.to_le_bytes());
        let fds = crate::sys::socket::borrow_all(fds);
        crate::sys::socket::send_with_fds_until(self.tx.as_fd(), &t, &fds, deadline).map(drop).map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::TOOMANYREFS.raw_os_error()) {
                let why = "more descriptors are in flight (sent and not yet received, by this user, in any \
                           socket) than RLIMIT_NOFILE allows: let consumers take items, or raise the limit";
                io::Error::new(e.kind(), why)
            } else {
                e
            }
        })
    }

    /// The descriptors of message `index`/`id`, dropping older datagrams; `None` if they are
    /// gone (taken by a consumer that died before it took the item).
    fn take(&self, index: u32, id: u32) -> io::Result<Option<Vec<OwnedFd>>> {
        loop {
            let mut t = [0u8; TICKET];
            let Some(n) = crate::sys::socket::peek_datagram(self.rx.as_fd(), &mut t)? else { return Ok(None) };
            let (i, d) = (u32::from_le_bytes([t[0], t[1], t[2], t[3]]), u32::from_le_bytes([t[4], t[5], t[6], t[7]]));
            // Wrapping order: an index before this message's is an orphan.
            let before = (i.wrapping_sub(index) as i32) < 0;
            if n == TICKET && !before && !(i == index && d != id) {
                if i != index {
                    return Ok(None); // a later message's: ours is gone
                }
                let (_, fds) =
                    crate::sys::socket::recv_with_fds(self.rx.as_fd(), &mut t, crate::sys::socket::MAX_FDS_PER_MSG)?;
                return Ok(Some(fds));
            }
            // An orphan, or garbage: take it and close what it carried.
            let _ = crate::sys::socket::recv_with_fds(self.rx.as_fd(), &mut t, crate::sys::socket::MAX_FDS_PER_MSG)?;
        }
    }
}

/// The consumer's sink for one item: its bytes and, for one that holds handles, their
/// descriptors, taken under the consumer lock.
struct ItemSink<'a> {
    buf: &'a mut Vec<u8>,
    chan: Option<&'a FdChannel>,
    fds: Result<Vec<OwnedFd>, String>,
}

impl Sink for ItemSink<'_> {
    fn begin(&mut self, total: usize) {
        Sink::begin(self.buf, total);
        self.fds = Ok(Vec::new());
    }
    fn chunk(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    fn done(&mut self, index: u32, id: u32, flags: u32) {
        if flags & HAS_FDS == 0 {
            return;
        }
        self.fds = match self.chan.map(|c| c.take(index, id)) {
            Some(Ok(Some(fds))) => Ok(fds),
            Some(Ok(None)) => Err("the item's descriptors are gone: a consumer died after taking them and \
                                   before taking the item"
                .to_string()),
            Some(Err(e)) => Err(format!("the item's descriptors could not be received: {e}")),
            None => Err("the item holds descriptors, but this handle of the queue has no channel for them".to_string()),
        };
    }
}

impl<T> Queue<T> {
    pub(super) fn with_channel(ring: Ring, fds: Option<Arc<FdChannel>>) -> Queue<T> {
        Queue { ring, fds, closed: AtomicBool::new(false), _t: PhantomData }
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
    /// left are dropped (and count as done for [`JoinableQueue::join`](crate::JoinableQueue::join)) and gets fail at once.
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
                // Failed because it holds handles? Then it goes with its descriptors.
                return match crate::handle::to_bytes_with_fds(&value) {
                    Ok((bytes, fds)) if !fds.is_empty() => {
                        self.put_with_fds(value, &bytes, fds, deadline, timeout_kind)
                    }
                    _ => Err(PutError::Encode(value, e)),
                };
            }
        };
        let r = self.push_raw(&[&buf], deadline);
        ENC.set(buf);
        Self::put_result(value, r, timeout_kind)
    }

    fn put_result(value: T, r: Result<(), PushFail>, timeout_kind: bool) -> Result<(), PutError<T>> {
        match r {
            Ok(()) => Ok(()),
            Err(PushFail::Full) if timeout_kind => Err(PutError::Timeout(value)),
            Err(PushFail::Full) => Err(PutError::Full(value)),
            Err(PushFail::ShutDown) => Err(PutError::ShutDown(value)),
            // The channel's buffer stayed full: as full a queue as any other.
            Err(PushFail::Handles(io::ErrorKind::WouldBlock, _)) if timeout_kind => Err(PutError::Timeout(value)),
            Err(PushFail::Handles(io::ErrorKind::WouldBlock, _)) => Err(PutError::Full(value)),
            Err(PushFail::Handles(_, why)) => Err(PutError::Encode(
                value,
                CodecError::new(false, format!("the item's descriptors could not be sent beside the queue: {why}")),
            )),
        }
    }

    /// An item that holds handles: its bytes go into the ring, its descriptors beside it.
    fn put_with_fds(
        &self,
        value: T,
        bytes: &[u8],
        fds: Vec<OwnedFd>,
        deadline: Option<Instant>,
        timeout_kind: bool,
    ) -> Result<(), PutError<T>> {
        let Some(chan) = self.fds.as_deref() else {
            return Err(PutError::Encode(value, CodecError::new(false, NO_CHANNEL)));
        };
        if fds.len() > crate::sys::socket::MAX_FDS_PER_MSG {
            let why = format!(
                "the item holds {} file descriptors; at most {} travel with one item",
                fds.len(),
                crate::sys::socket::MAX_FDS_PER_MSG
            );
            return Err(PutError::Encode(value, CodecError::new(false, why)));
        }
        let mut send = |index: u32, id: u32| chan.send(index, id, &fds, deadline);
        let r = self.ring.push_ex(&[bytes], deadline, Some(&mut send));
        Self::put_result(value, r, timeout_kind)
    }

    /// Puts `value` at the end of the queue, waiting while the queue is full.
    ///
    /// When this returns `Ok`, the item is in shared memory: it will be delivered even if this
    /// process exits or is killed right after.
    ///
    /// # Errors
    /// [`PutError::Closed`] after [`close`](Self::close); [`PutError::Encode`] when `value`
    /// cannot be serialized, or holds handles this queue cannot carry (see
    /// [`QueueBuilder::handles`](crate::QueueBuilder::handles)). The value comes back.
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
        let mut sink = ItemSink { buf: &mut buf, chan: self.fds.as_deref(), fds: Ok(Vec::new()) };
        let r = self.ring.pop(&mut sink, deadline);
        let fds = std::mem::replace(&mut sink.fds, Ok(Vec::new()));
        let out = match (r, fds) {
            // An item that does not decode is not lost: its bytes come back in the error.
            (Ok(()), Ok(fds)) if fds.is_empty() => {
                crate::codec::decode(&buf).map_err(|e| GetError::Decode(std::mem::take(&mut buf), e))
            }
            (Ok(()), Ok(fds)) => {
                crate::handle::from_bytes_with_fds(&buf, fds).map_err(|e| GetError::Decode(std::mem::take(&mut buf), e))
            }
            (Ok(()), Err(why)) => Err(GetError::Decode(std::mem::take(&mut buf), CodecError::new(true, why))),
            (Err(r), _) => Err(match r {
                PopFail::Empty => empty,
                PopFail::ShutDown => GetError::ShutDown,
                PopFail::Corrupt(why) => GetError::Corrupt(why),
            }),
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
            Err(PopFail::Corrupt(why)) => Err(GetError::Corrupt(why)),
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
        Queue::with_channel(self.ring.clone(), self.fds.clone())
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

/// A descriptor of the channel, as a handle in a message.
struct ChanFd<'a>(BorrowedFd<'a>);

impl Serialize for ChanFd<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::handle::serialize_fd(self.0, s)
    }
}

struct ChanFdIn(OwnedFd);

impl<'de> Deserialize<'de> for ChanFdIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::handle::deserialize_fd(d).map(ChanFdIn)
    }
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let chan = self.fds.as_deref().map(|c| (ChanFd(c.tx.as_fd()), ChanFd(c.rx.as_fd())));
        (self.ring.segment(), chan).serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (seg, chan) = <(Segment, Option<(ChanFdIn, ChanFdIn)>)>::deserialize(d)?;
        let fds = chan.map(|(tx, rx)| Arc::new(FdChannel { tx: tx.0, rx: rx.0 }));
        Ring::from_segment(seg).map(|r| Queue::with_channel(r, fds)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::{AsFd, OwnedFd};

    use super::{FdChannel, Queue, TICKET};
    use crate::GetError;
    use crate::handle::Fd;

    fn pipe_fd() -> (std::io::PipeReader, OwnedFd) {
        let (r, w) = std::io::pipe().unwrap();
        (r, OwnedFd::from(w))
    }

    fn chan<T>(q: &Queue<T>) -> &FdChannel {
        q.fds.as_deref().unwrap()
    }

    /// A datagram a dead producer left (sent, its item never written) is dropped by the next
    /// consumer that takes an item with descriptors, and what it carried is closed.
    #[test]
    fn orphan_datagrams_are_dropped_and_closed() {
        let q: Queue<Fd> = Queue::new().unwrap();
        let (mut orphan_r, orphan_w) = pipe_fd();
        // Index 0, as the next message will have, but an id no message has.
        chan(&q).send(0, u32::MAX, &[orphan_w], None).unwrap();
        let (mut r, w) = pipe_fd();
        q.put(Fd::from(w)).unwrap();
        let got = q.get().unwrap();
        drop(std::fs::File::from(got.into_owned()));
        let mut b = [0u8; 1];
        assert_eq!(r.read(&mut b).unwrap(), 0, "the item's own descriptor arrived (and closed)");
        assert_eq!(orphan_r.read(&mut b).unwrap(), 0, "the orphan's descriptor was closed");
        let mut t = [0u8; TICKET];
        assert_eq!(crate::sys::socket::peek_datagram(chan(&q).rx.as_fd(), &mut t).unwrap(), None);
    }

    /// An item whose datagram is gone (taken by a consumer that died before it took the item)
    /// is reported with its bytes, and the queue goes on.
    #[test]
    fn an_item_without_its_descriptors_is_reported() {
        let q: Queue<Fd> = Queue::new().unwrap();
        q.put(Fd::from(pipe_fd().1)).unwrap();
        let mut t = [0u8; TICKET];
        let (_, stolen) = crate::sys::socket::recv_with_fds(chan(&q).rx.as_fd(), &mut t, 4).unwrap();
        assert_eq!(stolen.len(), 1);
        match q.get() {
            Err(GetError::Decode(bytes, e)) => {
                assert!(!bytes.is_empty());
                assert!(e.to_string().contains("descriptors are gone"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let (mut r, w) = pipe_fd();
        q.put(Fd::from(w)).unwrap();
        drop(q.get().unwrap());
        assert_eq!(r.read(&mut [0u8; 1]).unwrap(), 0);
    }
}
