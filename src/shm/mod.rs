//! Shared memory: anonymous segments (memfd) that cross into children as handles, and the
//! [`ShmSafe`] contract for types placed in them.
//!
//! Everything mapped into shared memory is `#[repr(C)]`, fixed-size and free of pointers: a
//! pointer means nothing in another process's address space. Synchronisation inside a segment
//! uses atomics and shared futexes ([`crate::sys::futex`]), never process-private ones.
#![allow(unsafe_code)]

pub(crate) mod heap;
mod region;
mod segment;
mod shm_safe;

pub(crate) use self::region::ShmBox;
pub(crate) use self::segment::Segment;

mod array;
mod locked;
mod shareable_list;
mod shared_memory;
mod tracker;
mod value;

pub use self::array::{Array, RawArray};
pub use self::locked::{ArrayGuard, SharedGuard, ValueGuard, ValueLock};
pub use self::shareable_list::{Item, ShareableList, ShareableListError};
pub use self::shared_memory::SharedMemory;
pub use self::shm_safe::ShmSafe;
pub use self::value::{RawValue, Value};
