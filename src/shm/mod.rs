//! Shared memory, the bottom layer: anonymous segments (memfd) that cross into children as
//! handles, named segments ([`SharedMemory`]), the arena that packs small blocks into shared
//! segments, and the [`ShmSafe`] contract for types placed in them.
//!
//! The primitives of `sync/` live in these segments, and `shared/` (`Value`, `Array`,
//! `ShareableList`) builds on both; this module imports neither.
//!
//! Everything mapped into shared memory is `#[repr(C)]`, fixed-size and free of pointers: a
//! pointer means nothing in another process's address space. Synchronisation inside a segment
//! uses atomics and shared futexes ([`crate::sys::futex`]), never process-private ones.
#![allow(unsafe_code)]

mod heap;
mod segment;

pub(crate) use self::heap::HeapState;
pub(crate) use self::segment::{Segment, ShmBox};

mod shared_memory;
mod tracker;

pub use self::shared_memory::SharedMemory;

/// Types that may live in memory shared between processes.
///
/// # Safety
/// Implement only for types that are `#[repr(C)]` (or primitive), have no pointers or
/// references (including `Box`, `Vec`, `String`, `&T`), no `Drop` side effects that matter to
/// other processes, and for which every bit pattern another process may write is valid, or
/// whose invariants are kept with atomics. Plain integers, floats, `bool`-free `#[repr(C)]`
/// structs of them, arrays of them and the atomic integer types qualify.
///
/// # Examples
/// ```
/// #[derive(Clone, Copy)]
/// #[repr(C)]
/// struct Point { x: f64, y: f64 }
/// // SAFETY: repr(C), two f64s, no pointers; every bit pattern is a valid f64.
/// unsafe impl multiproc::ShmSafe for Point {}
/// ```
pub unsafe trait ShmSafe: Send + Sync + 'static {}

macro_rules! shm_safe {
    ($($t:ty),*) => { $(
        // SAFETY: a primitive without pointers; every bit pattern is valid.
        unsafe impl ShmSafe for $t {}
    )* };
}
shm_safe!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);
shm_safe!(
    std::sync::atomic::AtomicU8,
    std::sync::atomic::AtomicU16,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicI8,
    std::sync::atomic::AtomicI16,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicIsize,
    std::sync::atomic::AtomicBool
);
// SAFETY: an array of ShmSafe elements is laid out contiguously without pointers.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}
