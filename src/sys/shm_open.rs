//! Named POSIX shared memory: `shm_open`/`shm_unlink` on `/dev/shm`.
//!
//! Names are given without the leading slash (as Python's `SharedMemory.name`); a single
//! leading slash is accepted and ignored. Segments are created with `O_CREAT | O_EXCL` and mode
//! `0600` (forced with `fchmod`, whatever the umask), opened close-on-exec.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::Mode;
use rustix::shm::OFlags;

/// The longest segment name Linux accepts (`NAME_MAX`), without the leading slash.
pub(crate) const MAX_NAME: usize = 255;

/// Checks a segment name and returns it without a leading slash.
///
/// Rejects the empty name, `.`/`..`, names containing NUL or a slash after the first
/// character, and names over [`MAX_NAME`] bytes, with `InvalidInput`.
pub(crate) fn check_name(name: &str) -> io::Result<&str> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let bad = |why: &str| {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid shared memory name {name:?}: {why}")))
    };
    if bare.is_empty() || bare == "." || bare == ".." {
        return bad("the name is empty (or `.`/`..`); give a name such as \"my_segment\"");
    }
    if bare.contains('\0') {
        return bad("it contains a NUL byte");
    }
    if bare.contains('/') {
        return bad("it contains a `/` (only one leading slash is allowed)");
    }
    if bare.len() > MAX_NAME {
        return bad("it is longer than 255 bytes");
    }
    Ok(bare)
}

fn path(bare: &str) -> String {
    format!("/{bare}")
}

/// Sizes a new segment to `len` bytes and reserves them in `/dev/shm`, so that a full
/// `/dev/shm` is an error here (`StorageFull`, saying so) rather than a SIGBUS at the first
/// write to a page the filesystem cannot back (what a CPython writer gets).
///
/// # References
/// - [fallocate(2)](https://man7.org/linux/man-pages/man2/fallocate.2.html)
fn size_and_reserve(fd: &OwnedFd, len: usize) -> io::Result<()> {
    rustix::fs::ftruncate(fd, len as u64)?;
    if len == 0 {
        return Ok(());
    }
    match super::fd::retry(|| rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), 0, len as u64)) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "no space in {SHM_DIR} for a shared segment of {len} bytes (the tmpfs is full or too small); \
                 free space there, unlink segments no longer used, or ask for less"
            ),
        )),
        // A filesystem without fallocate: the segment stays sparse, as CPython's are.
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the segment `name` (which must not exist) with mode 0600 and `len` bytes.
///
/// Fails with `AlreadyExists` when the name is taken. On a failure after creation the name
/// is unlinked again, so nothing is left behind.
///
/// # References
/// - [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html)
/// - [ftruncate(2)](https://man7.org/linux/man-pages/man2/ftruncate.2.html),
///   [fallocate(2)](https://man7.org/linux/man-pages/man2/fallocate.2.html)
pub(crate) fn create_excl(name: &str, len: usize) -> io::Result<OwnedFd> {
    let bare = check_name(name)?;
    let p = path(bare);
    let fd = rustix::shm::open(p.as_str(), OFlags::CREATE | OFlags::EXCL | OFlags::RDWR, Mode::RUSR | Mode::WUSR)?;
    let fd = super::fd::off_stdio(fd)?;
    let setup = (|| -> io::Result<()> {
        rustix::fs::fchmod(&fd, Mode::RUSR | Mode::WUSR)?;
        size_and_reserve(&fd, len)
    })();
    if let Err(e) = setup {
        let _ = rustix::shm::unlink(p.as_str());
        return Err(e);
    }
    Ok(fd)
}

/// Creates a segment with no name yet: an `O_TMPFILE` in `/dev/shm` of `len` bytes, mode
/// 0600. It vanishes with its last descriptor until [`link_name`] gives it a name, so a crash
/// before that leaks nothing. `Ok(None)` when the kernel or filesystem has no `O_TMPFILE`
/// (then use [`create_excl`]).
///
/// # References
/// - [open(2), O_TMPFILE](https://man7.org/linux/man-pages/man2/open.2.html)
pub(crate) fn create_unnamed(len: usize) -> io::Result<Option<OwnedFd>> {
    let fd = match rustix::fs::openat(
        rustix::fs::CWD,
        SHM_DIR,
        rustix::fs::OFlags::TMPFILE | rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        Mode::RUSR | Mode::WUSR,
    ) {
        Ok(fd) => super::fd::off_stdio(fd)?,
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::ISDIR | rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    rustix::fs::fchmod(&fd, Mode::RUSR | Mode::WUSR)?;
    size_and_reserve(&fd, len)?;
    Ok(Some(fd))
}

/// Gives the unnamed segment `fd` (from [`create_unnamed`]) the name `name`, atomically and
/// only if the name is free (`AlreadyExists` otherwise), like `O_CREAT | O_EXCL`.
///
/// # References
/// - [linkat(2)](https://man7.org/linux/man-pages/man2/linkat.2.html) (the `/proc/self/fd`
///   form with `AT_SYMLINK_FOLLOW`, which needs no capability)
pub(crate) fn link_name(fd: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let bare = check_name(name)?;
    let from = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let to = format!("{SHM_DIR}/{bare}");
    rustix::fs::linkat(
        rustix::fs::CWD,
        from.as_str(),
        rustix::fs::CWD,
        to.as_str(),
        rustix::fs::AtFlags::SYMLINK_FOLLOW,
    )?;
    Ok(())
}

/// Where Linux keeps POSIX shared memory.
const SHM_DIR: &str = "/dev/shm";

/// Opens the existing segment `name` read-write; `NotFound` when there is none.
///
/// # References
/// - [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html)
pub(crate) fn open_existing(name: &str) -> io::Result<OwnedFd> {
    let bare = check_name(name)?;
    super::fd::off_stdio(rustix::shm::open(path(bare).as_str(), OFlags::RDWR, Mode::empty())?)
}

/// Removes the name `name`; `NotFound` when there is none. Mappings stay valid.
///
/// # References
/// - [shm_unlink(3)](https://man7.org/linux/man-pages/man3/shm_unlink.3.html)
pub(crate) fn unlink(name: &str) -> io::Result<()> {
    let bare = check_name(name)?;
    Ok(rustix::shm::unlink(path(bare).as_str())?)
}

/// Inode number of the segment behind `fd`: tells a segment from a later one that reuses its
/// name.
pub(crate) fn inode(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(rustix::fs::fstat(fd)?.st_ino)
}

/// Permission bits of the file behind `fd` (for example `0o600`).
#[cfg(test)]
pub(crate) fn mode(fd: BorrowedFd<'_>) -> io::Result<u32> {
    Ok(rustix::fs::fstat(fd)?.st_mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("/abc").unwrap(), "abc");
        assert_eq!(check_name("abc").unwrap(), "abc");
        for bad in ["", "/", "a\0b", "a/b", "..", &"x".repeat(256)] {
            assert_eq!(check_name(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn unnamed_then_linked() {
        use std::os::fd::AsFd;
        let name = format!("mp_sys_tmpfile_{}", std::process::id());
        let fd = create_unnamed(100).unwrap().expect("tmpfs supports O_TMPFILE");
        assert_eq!(mode(fd.as_fd()).unwrap(), 0o600);
        assert_eq!(open_existing(&name).unwrap_err().kind(), io::ErrorKind::NotFound);
        link_name(fd.as_fd(), &name).unwrap();
        let again = open_existing(&name).unwrap();
        assert_eq!(inode(again.as_fd()).unwrap(), inode(fd.as_fd()).unwrap());
        let other = create_unnamed(10).unwrap().unwrap();
        assert_eq!(link_name(other.as_fd(), &name).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        unlink(&name).unwrap();
    }

    #[test]
    fn create_open_unlink() {
        use std::os::fd::AsFd;
        let name = format!("mp_sys_test_{}", std::process::id());
        let fd = create_excl(&name, 100).unwrap();
        assert_eq!(mode(fd.as_fd()).unwrap(), 0o600);
        assert_eq!(create_excl(&name, 100).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        let again = open_existing(&name).unwrap();
        assert_eq!(super::super::mem::file_len(again.as_fd()).unwrap(), 100);
        unlink(&name).unwrap();
        assert_eq!(unlink(&name).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(open_existing(&name).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
