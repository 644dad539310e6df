//! The contract for types placed in shared memory.

/// Types that may live in memory shared between processes.
///
/// # Safety
/// Implement only for types that are `#[repr(C)]` (or primitive), have no pointers or
/// references (including `Box`, `Vec`, `String`, `&T`), no `Drop` side effects that matter to
/// other processes, and for which every bit pattern another process may write is valid, or
/// whose invariants are kept with atomics. Plain integers, floats, `#[repr(C)]` structs of
/// them, arrays of them and the atomic integer types qualify.
///
/// `bool` and `char` (Python's `c_bool` and `c_wchar`) are implemented too, although not every
/// bit pattern is one of them: the memory of a [`Value`](crate::Value) or
/// [`Array`](crate::Array) is an anonymous memfd reachable only by this program's processes,
/// which write it only as the type says, as threads of one process share memory. Do not put
/// them in a named [`SharedMemory`](crate::SharedMemory) that another program may write.
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

// SAFETY: one byte, no pointers; only this program's processes write a Value's or Array's
// memory, and only through `bool`s (see the trait's documentation).
unsafe impl ShmSafe for bool {}
// SAFETY: four bytes, no pointers; written only as `char`s, as for `bool` above.
unsafe impl ShmSafe for char {}
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
