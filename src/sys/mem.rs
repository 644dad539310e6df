//! Shared memory: memfd segments and `MAP_SHARED` mappings.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::MemfdFlags;
use rustix::mm::{MapFlags, ProtFlags};

/// Creates an anonymous memory file of `len` bytes (zero-filled, close-on-exec).
///
/// # References
/// - [memfd_create(2)](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
pub(crate) fn memfd(name: &str, len: usize) -> io::Result<OwnedFd> {
    let fd = super::fd::off_stdio(rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?)?;
    rustix::fs::ftruncate(&fd, len as u64)?;
    Ok(fd)
}

/// What identifies the file behind `fd` in this system, `(device, inode)`, and its size: two
/// descriptors with the same identity name the same memory.
pub(crate) fn file_identity(fd: BorrowedFd<'_>) -> io::Result<((u64, u64), usize)> {
    let st = rustix::fs::fstat(fd)?;
    Ok(((st.st_dev as u64, st.st_ino as u64), st.st_size as usize))
}

/// The size of the file behind `fd`.
pub(crate) fn file_len(fd: BorrowedFd<'_>) -> io::Result<usize> {
    Ok(rustix::fs::fstat(fd)?.st_size as usize)
}

/// A read-write `MAP_SHARED` mapping, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; synchronisation of its contents is the job of the
// types placed in it (atomics, locks), exactly as for memory shared between threads.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` from offset 0.
    ///
    /// # References
    /// - [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
    pub(crate) fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot map zero bytes"));
        }
        // SAFETY: a fresh mapping at an address chosen by the kernel aliases no Rust object.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd.as_fd(),
                0,
            )?
        };
        Ok(Mapping { ptr: NonNull::new(ptr.cast()).expect("mmap returned null"), len })
    }

    /// Takes the page faults of the whole mapping now: every page is backed and mapped
    /// writable, as if written, without touching its contents (`MADV_POPULATE_WRITE`), so
    /// that the first accesses later cost no fault. A kernel older than 5.14 refuses; then
    /// the faults simply come later.
    ///
    /// # References
    /// - [madvise(2)](https://man7.org/linux/man-pages/man2/madvise.2.html)
    pub(crate) fn populate(&self) {
        // SAFETY: the range is exactly this mapping; MADV_POPULATE_WRITE only faults its pages
        // in, it changes no byte of them.
        unsafe {
            let _ = rustix::mm::madvise(self.ptr.as_ptr().cast(), self.len, rustix::mm::Advice::LinuxPopulateWrite);
        }
    }

    /// Start of the mapping (page aligned).
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping this value created and nothing else unmaps.
        unsafe {
            let _ = rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
