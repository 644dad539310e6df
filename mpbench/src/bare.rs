//! What the bare limits are made of: a shared page mapped before `fork`, a yielding CAS spin
//! lock, and forked children that run a closure and `_exit`.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A `MAP_SHARED` anonymous mapping made before `fork`: the children see the same pages.
pub(crate) struct SharedPage {
    ptr: *mut u8,
}

impl SharedPage {
    pub(crate) fn new() -> SharedPage {
        // SAFETY: an anonymous shared mapping with no address hint; checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap");
        SharedPage { ptr: ptr.cast() }
    }

    pub(crate) fn u32_at(&self, i: usize) -> &AtomicU32 {
        assert!(i < 1024);
        // SAFETY: within the page, 4-aligned, zero-initialised, lives as long as self.
        unsafe { &*self.ptr.add(i * 4).cast::<AtomicU32>() }
    }

    pub(crate) fn u64_at(&self, i: usize) -> &AtomicU64 {
        assert!(i < 512);
        // SAFETY: within the page, 8-aligned, zero-initialised, lives as long as self.
        unsafe { &*self.ptr.add(i * 8).cast::<AtomicU64>() }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe {
            libc::munmap(self.ptr.cast(), 4096);
        }
    }
}

/// A bare spin lock: CAS 0 -> 1, yielding the CPU after a few failed looks.
pub(crate) fn spin_lock(w: &AtomicU32) {
    let mut spins = 0u32;
    while w.compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Forks a child that runs `f` (which must not allocate or take locks: only atomics on shared
/// pages and raw syscalls) and `_exit`s; returns its pid.
pub(crate) fn fork_child(f: impl FnOnce()) -> i32 {
    // SAFETY: the child runs `f`, which the caller keeps to async-signal-safe work, then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        f();
        // SAFETY: ends the child without running the parent's at-exit handlers.
        unsafe { libc::_exit(0) };
    }
    pid
}

/// Waits for a child made by `fork_child`.
pub(crate) fn reap(pid: i32) {
    let mut st = 0;
    // SAFETY: reaps our own child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
}
