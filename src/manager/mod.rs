//! Managers: Python's `multiprocessing.Manager()` and `BaseManager`. A server process
//! holds objects (dicts, lists, namespaces, queues, locks, custom types); other processes use
//! them through typed proxies that cross into children and can be stored inside each other.
//!
//! | Python | multiproc |
//! |---|---|
//! | `with Manager() as m:` | `let m = `[`Manager::start`]`()?;` (dropping it shuts the server down) |
//! | `BaseManager(address, authkey).start()` | [`Manager::builder`]`().address(a).authkey(k).start()` |
//! | `m.dict()`, `m.list()`, `m.Namespace()`, `m.Value('i', 0)`, `m.Array('i', xs)`, `m.set()` | [`Manager::dict`], [`Manager::list`], [`Manager::namespace`], [`Manager::value`], [`Manager::array`], [`Manager::set`] |
//! | `m.Queue()`, `m.JoinableQueue()`, `m.Lock()`, `m.RLock()`, `m.Semaphore(n)`, `m.BoundedSemaphore(n)`, `m.Event()`, `m.Condition()`, `m.Barrier(n)` | [`Manager::queue`], [`Manager::joinable_queue`], [`Manager::lock`], [`Manager::rlock`], [`Manager::semaphore`], [`Manager::bounded_semaphore`], [`Manager::event`], [`Manager::condition`], [`Manager::barrier`] |
//! | `BaseManager.register('Foo', Foo)`, `m.Foo()` | `impl` [`Managed`] `for Foo`, [`ManagerBuilder::register`], [`Manager::create`] |
//! | a remote manager: `m.get_server().serve_forever()`, `m.connect()` | [`Manager::serve`], [`Manager::connect`]; [`Manager::publish`] / [`Manager::lookup`] for `register('get_queue', ...)` |
//! | (no TLS in CPython) | [`ManagerBuilder::tls`]`(`[`Tls::server`]`(..))`, [`Manager::connect_tls`] |
//! | `m.shutdown()` | [`Manager::shutdown`] |
//! | `SharedMemoryManager()`, `smm.SharedMemory(size)`, `smm.ShareableList(seq)` | [`SharedMemoryManager::start`], [`SharedMemoryManager::shared_memory`], [`SharedMemoryManager::shareable_list`] |
//!
//! Beyond CPython:
//! - proxies are `Send + Sync`: many threads may use one proxy at once (each call takes
//!   a connection of its own from a small per-process pool);
//! - batches: [`DictProxy::update`], [`DictProxy::get_many`], [`ListProxy::extend`],
//!   [`SetProxy::update`] and [`Proxy::call_many`] do many operations in one round trip, and
//!   a [`Batch`] (from [`Manager::batch`]) queues calls on several objects and sends them
//!   together;
//! - no code runs from bytes: requests are typed records, each method a number in its
//!   type's table, and custom types decode their own request enum;
//! - a client whose server died gets [`ManagerErrorKind::ServerGone`] at once, not a hang;
//!   one whose server was restarted gets [`ManagerErrorKind::ServerRestarted`];
//! - a managed lock held by a process that died is released by the server.
//!
//! Differences: objects live until the manager shuts down or [`Manager::release`] is called
//! (there is no cross-process reference count); values are compared by their encoded bytes;
//! a value fetched from a container is a copy (store it back to change it), as in Python.
//!
//! The design (threads, protocol, registry, bounds) is in `src/manager/README.md`.
//!
//! # Examples
//!
//! ```no_run
//! use multiproc::Process;
//! use multiproc::manager::{DictProxy, ListProxy, Manager};
//!
//! fn worker((d, l, i): (DictProxy<u32, String>, ListProxy<u32>, u32)) {
//!     d.set(i, format!("worker {i}")).unwrap();
//!     l.append(i * i).unwrap();
//! }
//!
//! let m = Manager::start()?;
//! let d = m.dict::<u32, String>()?;
//! let l = m.list::<u32>()?;
//! let ps: Vec<Process> = (0..4).map(|i| Process::new(worker, (d.clone(), l.clone(), i))).collect();
//! for p in &ps {
//!     p.start()?;
//! }
//! for p in &ps {
//!     p.join()?;
//! }
//! assert_eq!(d.len()?, 4);
//! let mut squares = l.to_vec()?;
//! squares.sort();
//! assert_eq!(squares, vec![0, 1, 4, 9]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod base;
mod batch;
mod containers;
mod custom;
mod error;
mod front;
mod link;
mod object;
mod protocol;
mod segments;
mod sequences;
mod server;
mod shared_memory;
mod store;
mod sync_objects;
mod sync_proxies;
mod table;
mod tls;

pub use self::base::{BaseProxy, ManagedProxy};
pub use self::batch::{Batch, BatchResults, Pending};
pub use self::containers::{DictProxy, NamespaceProxy, SetProxy, ValueProxy};
pub use self::custom::{Managed, Proxy};
pub use self::error::{ManagerError, ManagerErrorKind};
pub use self::front::{Manager, ManagerBuilder};
#[cfg(test)]
use self::protocol::{Blob, Request, TypeKey, builtin};
pub use self::sequences::{ArrayProxy, ListProxy};
pub use self::shared_memory::SharedMemoryManager;
pub use self::sync_proxies::{
    BarrierProxy, BoundedSemaphoreProxy, ConditionProxy, EventProxy, JoinableQueueProxy, LockProxy, ManagedGuard,
    QueueProxy, RLockProxy, SemaphoreProxy,
};
pub use self::tls::Tls;
#[cfg(test)]
use serde::Serialize;

/// Runs a stream of requests against a fresh server table (fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(data: &[u8]) {
    server::fuzz(data);
}

/// A seed input for [`fuzz`]: a dict, a list, a queue and a lock, a few calls on each, a
/// batch, and some that fail.
#[cfg(test)]
pub(crate) fn fuzz_seed() -> Vec<u8> {
    use self::protocol::{Call, Wait, method};
    fn e<T: Serialize>(v: &T) -> Blob {
        Blob(crate::codec::encode(v).unwrap())
    }
    let call = |object, method, args: Blob| Request::Call(Call { object, method, args });
    let reqs = vec![
        Request::Create { kind: TypeKey::Builtin(builtin::DICT), init: e(&Vec::<(Blob, Blob)>::new()) },
        call(1, method::map::SET, e(&(Blob(vec![1]), Blob(vec![2])))),
        call(1, method::map::GET, e(&Blob(vec![1]))),
        call(1, method::map::GET, e(&Blob(vec![9]))),
        Request::Create { kind: TypeKey::Builtin(builtin::LIST), init: e(&vec![Blob(vec![5])]) },
        call(2, method::seq::REPEAT, e(&3u64)),
        call(2, method::seq::SLICE, e(&(Some(-2i64), None::<i64>))),
        Request::Create { kind: TypeKey::Builtin(builtin::QUEUE), init: e(&(1u64, true)) },
        call(3, method::queue::PUT, e(&(Blob(vec![7]), Wait::Never))),
        call(3, method::queue::GET, e(&Wait::Micros(10))),
        Request::Create { kind: TypeKey::Builtin(builtin::LOCK), init: e(&()) },
        call(4, method::lock::ACQUIRE, e(&(1u64, Wait::Never))),
        Request::Batch(vec![Call { object: 1, method: method::map::LEN, args: Blob(Vec::new()) }]),
        Request::Publish { name: "d".into(), object: 1 },
        Request::Lookup { name: "d".into() },
        Request::Count,
        Request::Release { object: 2 },
    ];
    server::fuzz_input(&reqs)
}
