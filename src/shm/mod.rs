//! Shared memory, the bottom layer: anonymous segments (memfd) that cross into children as
//! handles, named segments ([`SharedMemory`]), the arena that packs small blocks into shared
//! segments, the [`ShmSafe`] contract for types placed in them, and a single-writer log
//! (`spool.rs`, where a pool worker keeps the results of a chunk until it sends them).
//!
//! The primitives of `sync/` live in these segments, and `shared/` (`Value`, `Array`,
//! `ShareableList`) builds on both; this module imports neither.
//!
//! Everything mapped into shared memory is `#[repr(C)]`, fixed-size and free of pointers: a
//! pointer means nothing in another process's address space. Synchronisation inside a segment
//! uses atomics and shared futexes ([`crate::sys::futex`]), never process-private ones.
#![allow(unsafe_code)]

pub(crate) mod heap;
mod region;
mod segment;
mod shm_safe;
mod spool;

pub(crate) use self::region::ShmBox;
pub(crate) use self::segment::Segment;
pub(crate) use self::spool::Spool;

mod shared_memory;
pub(crate) mod tracker;

pub use self::shared_memory::SharedMemory;
pub use self::shm_safe::ShmSafe;
