//! Queues between processes: [`Queue`], [`SimpleQueue`] and [`JoinableQueue`].
//!
//! Python's queues, without the feeder thread. An item is serialized in the caller of `put`
//! (so a serialization error comes back from `put`), then copied into a ring buffer in shared
//! memory before `put` returns. Consequences:
//!
//! - when `put` has returned, the item is in the queue, even if the producer exits at once
//!   (`std::process::exit`, [`exit`](fn@crate::exit), a crash, SIGKILL);
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
//! fragments while the consumer reads them. Items may hold handles (an
//! [`Fd`](crate::handle::Fd), a connection, a lock, shared memory, another queue): their
//! descriptors travel beside the ring and arrive with the item, also when the producer has
//! exited (see [`QueueBuilder::handles`]).
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

mod builder;
mod err;
mod joinable;
#[allow(clippy::module_inception)]
mod queue;
pub(crate) mod ring;
mod ring_lock;
mod simple;

pub use self::builder::QueueBuilder;
pub use self::err::{GetError, PutError, TaskDoneError};
pub use self::joinable::JoinableQueue;
pub use self::queue::{DEFAULT_CAPACITY, Queue};
pub use self::simple::SimpleQueue;
