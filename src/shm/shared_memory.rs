//! `SharedMemory`: a block of bytes shared between processes, named (`/dev/shm`) or
//! anonymous (memfd). Python's `multiprocessing.shared_memory.SharedMemory`.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::AtomicU8;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::tracker;
use crate::sys;
use crate::sys::mem::Mapping;

/// A block of shared memory: Python's `multiprocessing.shared_memory.SharedMemory`.
///
/// | Python | multiproc |
/// |---|---|
/// | `SharedMemory(create=True, size=n)` | [`SharedMemory::create`]`(None, n)` |
/// | `SharedMemory(name="x", create=True, size=n)` | [`SharedMemory::create`]`(Some("x"), n)` |
/// | `SharedMemory(name="x")` | [`SharedMemory::open`]`("x")` |
/// | `shm.buf[a:b] = data`, `bytes(shm.buf[a:b])` | [`write_at`](Self::write_at), [`read_at`](Self::read_at), [`as_atomic_bytes`](Self::as_atomic_bytes) |
/// | `shm.close()`, `shm.unlink()` | [`close`](Self::close), [`unlink`](Self::unlink) |
/// | `track=False` | [`persist`](Self::persist) |
///
/// # Ownership
///
/// A named segment is owned by the process that created it. The owner's tracker (see the
/// module `shm::tracker`) unlinks it if the owner ends without calling [`unlink`](Self::unlink),
/// including when the owner is killed, at any point (the segment is registered with the tracker
/// before it gets its name, and the tracker checks the inode before it unlinks). A process
/// that only attached never unlinks it implicitly, whatever happens to that process. Dropping a handle unmaps it (Python's
/// `close`); it never unlinks.
///
/// Anonymous segments ([`SharedMemory::anonymous`]) have no name: they live as long as some
/// process maps them or holds their descriptor, and cannot leak.
///
/// # Crossing into a child
///
/// `SharedMemory` is `Serialize`: a named segment travels by name and the child attaches to
/// it (an error if it was unlinked meanwhile); an anonymous one travels as a descriptor. Under
/// `Fork` the mapping is inherited. In every case the child is not the owner.
///
/// # Data races
///
/// Other processes can write the bytes at any moment, so safe access copies them
/// ([`read_at`](Self::read_at), [`write_at`](Self::write_at)) or goes through atomics
/// ([`as_atomic_bytes`](Self::as_atomic_bytes)). Plain slices are available through `unsafe`
/// methods for code that synchronises by other means (a `Lock`, a barrier, a join).
///
/// # Examples
/// ```
/// use multiproc::SharedMemory;
///
/// let shm = SharedMemory::create(None, 16)?;
/// assert!(shm.name().unwrap().starts_with("psm_"));
/// shm.write_at(0, b"hello")?;
///
/// let other = SharedMemory::open(shm.name().unwrap())?; // a second attach, as another process would
/// let mut buf = [0u8; 5];
/// other.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// assert!(!other.is_owner());
///
/// shm.unlink()?;
/// assert_eq!(shm.unlink().unwrap_err().kind(), std::io::ErrorKind::NotFound);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct SharedMemory {
    inner: Arc<Inner>,
}

struct Inner {
    name: Option<String>,
    fd: OwnedFd,
    map: Mapping,
    /// Pid of the process that created the segment, when this handle comes from `create` in
    /// it (a forked child holds a copy but a different pid, so it is not the owner).
    creator: Option<u32>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn random_name() -> io::Result<String> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| io::Error::other(format!("no randomness for a segment name: {e}")))?;
    Ok(format!("psm_{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3]))
}

/// Creates a named segment of `size` bytes under the first name from `names` that is free
/// (only the first one when `retry` is false), registered with this process's tracker.
///
/// With `O_TMPFILE` (always, on current Linux) the segment is created without a name, then
/// registered (name and inode), then named with `linkat`, which fails if the name is taken:
/// a kill at any point leaks nothing, and the tracker never unlinks a name whose inode is not
/// ours. Without `O_TMPFILE` it falls back to `shm_open(O_CREAT | O_EXCL)` followed by the
/// registration, which leaves a window of a few instructions.
fn create_named(
    mut names: impl FnMut() -> io::Result<String>,
    retry: bool,
    size: usize,
) -> io::Result<(String, OwnedFd)> {
    let tracker_err =
        |e: io::Error| io::Error::new(e.kind(), format!("cannot register with the shared memory tracker: {e}"));
    match sys::shm_open::create_unnamed(size)? {
        Some(fd) => {
            let ino = sys::shm_open::inode(fd.as_fd())?;
            loop {
                let n = names()?;
                tracker::register(&n, ino).map_err(tracker_err)?;
                match sys::shm_open::link_name(fd.as_fd(), &n) {
                    Ok(()) => return Ok((n, fd)),
                    Err(e) => {
                        let _ = tracker::unregister(&n);
                        if retry && e.kind() == io::ErrorKind::AlreadyExists {
                            continue;
                        }
                        return Err(e);
                    }
                }
            }
        }
        None => loop {
            let n = names()?;
            match sys::shm_open::create_excl(&n, size) {
                Ok(fd) => {
                    let registered = sys::shm_open::inode(fd.as_fd()).and_then(|ino| tracker::register(&n, ino));
                    if let Err(e) = registered {
                        let _ = sys::shm_open::unlink(&n);
                        return Err(tracker_err(e));
                    }
                    return Ok((n, fd));
                }
                Err(e) if retry && e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        },
    }
}

impl SharedMemory {
    /// Creates a new named segment of `size` bytes (zero-filled, mode 0600), owned by this
    /// process. With `name == None` a free name `psm_<8 hex digits>` is chosen (retried on
    /// collision).
    ///
    /// # Errors
    /// `InvalidInput` for `size == 0` or an invalid name (empty, NUL, `/`, over 255 bytes);
    /// `AlreadyExists` when `name` is taken; other OS errors as they come.
    ///
    /// # Examples
    /// ```
    /// use multiproc::SharedMemory;
    /// let name = format!("doc_create_{}", std::process::id());
    /// let shm = SharedMemory::create(Some(&name), 512)?;
    /// assert_eq!(shm.name(), Some(name.as_str()));
    /// assert_eq!(shm.size(), 512);
    /// let err = SharedMemory::create(Some(&name), 512).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    /// shm.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create(name: Option<&str>, size: usize) -> io::Result<SharedMemory> {
        if size == 0 {
            return Err(invalid("'size' must be a positive number different from zero".into()));
        }
        let (name, fd) = match name {
            Some(n) => {
                let bare = sys::shm_open::check_name(n)?.to_string();
                create_named(|| Ok(bare.clone()), false, size)?
            }
            None => create_named(random_name, true, size)?,
        };
        let map = match Mapping::map(fd.as_fd(), size) {
            Ok(m) => m,
            Err(e) => {
                let _ = sys::shm_open::unlink(&name);
                let _ = tracker::unregister(&name);
                return Err(e);
            }
        };
        let creator = Some(sys::liveness::my_pid());
        Ok(SharedMemory { inner: Arc::new(Inner { name: Some(name), fd, map, creator }) })
    }

    /// Attaches to the existing named segment `name`. Its size is the segment's real size.
    /// The caller does not own it.
    ///
    /// # Errors
    /// `NotFound` when no segment has that name; `InvalidInput` for an invalid name or an
    /// empty segment (its creator has not sized it yet).
    ///
    /// # Examples
    /// ```
    /// use multiproc::SharedMemory;
    /// let err = SharedMemory::open("no_such_segment_here").unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn open(name: &str) -> io::Result<SharedMemory> {
        let bare = sys::shm_open::check_name(name)?.to_string();
        let fd = sys::shm_open::open_existing(&bare).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                io::Error::new(io::ErrorKind::NotFound, format!("no shared memory segment named {bare:?}"))
            } else {
                e
            }
        })?;
        let size = sys::mem::file_len(fd.as_fd())?;
        if size == 0 {
            return Err(invalid(format!("shared memory segment {bare:?} is empty (size 0)")));
        }
        let map = Mapping::map(fd.as_fd(), size)?;
        Ok(SharedMemory { inner: Arc::new(Inner { name: Some(bare), fd, map, creator: None }) })
    }

    /// Creates an anonymous segment of `size` bytes (a memfd): no name, nothing to unlink,
    /// nothing that can leak. It reaches other processes only as a handle (process arguments,
    /// a `Connection`) or through `Fork`.
    ///
    /// # Errors
    /// `InvalidInput` for `size == 0`; OS errors from `memfd_create`/`mmap`.
    ///
    /// # Examples
    /// ```
    /// use multiproc::SharedMemory;
    /// let shm = SharedMemory::anonymous(4096)?;
    /// assert_eq!(shm.name(), None);
    /// shm.unlink()?; // nothing to do
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn anonymous(size: usize) -> io::Result<SharedMemory> {
        if size == 0 {
            return Err(invalid("'size' must be a positive number different from zero".into()));
        }
        let fd = sys::mem::memfd("multiproc-shm", size)?;
        let map = Mapping::map(fd.as_fd(), size)?;
        Ok(SharedMemory { inner: Arc::new(Inner { name: None, fd, map, creator: None }) })
    }

    fn from_fd(fd: OwnedFd) -> io::Result<SharedMemory> {
        let size = sys::mem::file_len(fd.as_fd())?;
        let map = Mapping::map(fd.as_fd(), size)?;
        Ok(SharedMemory { inner: Arc::new(Inner { name: None, fd, map, creator: None }) })
    }

    /// The segment's name (without a leading slash), `None` for an anonymous segment.
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::create(None, 8)?;
    /// assert_eq!(shm.name().unwrap().len(), 12); // "psm_" + 8 hex digits
    /// shm.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Size in bytes.
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::anonymous(100)?;
    /// assert_eq!(shm.size(), 100);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn size(&self) -> usize {
        self.inner.map.len()
    }

    /// Does this process own the segment (it created it, and has not given it up with
    /// [`persist`](Self::persist))? Only the owner's tracker ever unlinks a segment.
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::create(None, 8)?;
    /// assert!(shm.is_owner());
    /// shm.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_owner(&self) -> bool {
        self.inner.name.is_some() && self.inner.creator == Some(sys::liveness::my_pid())
    }

    /// Gives up ownership: the tracker forgets the segment, which then outlives this process
    /// until someone calls [`unlink`](Self::unlink). Python's `track=False`.
    ///
    /// # Errors
    /// OS errors talking to the tracker.
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::create(None, 8)?;
    /// shm.persist()?;
    /// // ... hand the name to an unrelated program, which unlinks it when done:
    /// multiproc::SharedMemory::open(shm.name().unwrap())?.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn persist(&self) -> io::Result<()> {
        match &self.inner.name {
            Some(n) if self.is_owner() => tracker::unregister(n),
            _ => Ok(()),
        }
    }

    /// Removes the segment's name (POSIX `shm_unlink`): no new process can attach; the memory
    /// lives on while someone maps it. In the owner the tracker then forgets the name. Any
    /// process may unlink explicitly; none does so implicitly except the owner's tracker.
    /// A no-op for anonymous segments.
    ///
    /// # Errors
    /// `NotFound` when the name is already gone (a second `unlink`).
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::create(None, 8)?;
    /// shm.unlink()?;
    /// assert!(shm.unlink().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unlink(&self) -> io::Result<()> {
        let Some(name) = &self.inner.name else { return Ok(()) };
        // Unlink first, then tell the tracker: a kill in between leaves the tracker a name
        // that is gone (or another segment's, with another inode), which it skips.
        let res = sys::shm_open::unlink(name);
        if self.is_owner() && !matches!(&res, Err(e) if e.kind() != io::ErrorKind::NotFound) {
            tracker::unregister(name)?;
        }
        res.map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                io::Error::new(io::ErrorKind::NotFound, format!("shared memory segment {name:?} was already unlinked"))
            } else {
                e
            }
        })
    }

    /// Drops this handle (Python's `close()`): the mapping goes away with the last clone.
    /// Never unlinks.
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::create(None, 8)?;
    /// let name = shm.name().unwrap().to_string();
    /// let attached = multiproc::SharedMemory::open(&name)?;
    /// attached.close();
    /// shm.unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(self) {}

    /// Start of the mapping (page aligned), for FFI or for building typed views.
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::anonymous(8)?;
    /// assert_eq!(shm.as_ptr() as usize % 4096, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut u8 {
        self.inner.map.as_ptr()
    }

    fn check_range(&self, offset: usize, len: usize) -> io::Result<()> {
        if offset.checked_add(len).is_none_or(|end| end > self.size()) {
            return Err(invalid(format!(
                "bytes {offset}..{} are outside the segment of {} bytes",
                offset.saturating_add(len),
                self.size()
            )));
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes from offset `offset` of the segment into `buf`.
    ///
    /// # Errors
    /// `InvalidInput` if the range is outside the segment.
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::anonymous(8)?;
    /// let mut b = [1u8; 4];
    /// shm.read_at(4, &mut b)?;
    /// assert_eq!(b, [0; 4]);
    /// assert!(shm.read_at(6, &mut b).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> io::Result<()> {
        self.check_range(offset, buf.len())?;
        // SAFETY: the range is inside the mapping (checked); `buf` is a distinct Rust
        // allocation. Concurrent writers in other processes can at worst make the copy see a
        // mix of old and new bytes, which is valid for u8.
        unsafe { std::ptr::copy_nonoverlapping(self.as_ptr().add(offset), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `data` into the segment at offset `offset`.
    ///
    /// # Errors
    /// `InvalidInput` if the range is outside the segment.
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::anonymous(8)?;
    /// shm.write_at(2, b"ab")?;
    /// assert_eq!(shm.to_vec()[..4], [0, 0, b'a', b'b']);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_at(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        self.check_range(offset, data.len())?;
        // SAFETY: the range is inside the mapping (checked) and `data` is a distinct Rust
        // allocation; any byte pattern is valid in shared memory.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.as_ptr().add(offset), data.len()) };
        Ok(())
    }

    /// A copy of the whole segment (Python's `bytes(shm.buf)`).
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::anonymous(3)?;
    /// assert_eq!(shm.to_vec(), vec![0, 0, 0]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.size()];
        self.read_at(0, &mut v).expect("the whole segment is in range");
        v
    }

    /// The bytes as atomics: a zero-copy view that is sound however other processes write.
    ///
    /// # Examples
    /// ```
    /// use std::sync::atomic::Ordering;
    /// let shm = multiproc::SharedMemory::anonymous(8)?;
    /// shm.as_atomic_bytes()[0].store(7, Ordering::Release);
    /// assert_eq!(shm.to_vec()[0], 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_atomic_bytes(&self) -> &[AtomicU8] {
        // SAFETY: AtomicU8 has the size and alignment of u8; the mapping is valid for `size`
        // bytes for as long as `self` lives, and atomics tolerate concurrent access.
        unsafe { std::slice::from_raw_parts(self.as_ptr().cast::<AtomicU8>(), self.size()) }
    }

    /// The bytes as a plain slice.
    ///
    /// # Safety
    /// No process may write the segment while the slice is alive (synchronise with a lock or
    /// by joining the writers first).
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::anonymous(4)?;
    /// // SAFETY: no other process has this segment.
    /// assert_eq!(unsafe { shm.as_slice() }, &[0, 0, 0, 0]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is valid for `size` bytes while `self` lives; the caller
        // guarantees that nobody writes it meanwhile.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.size()) }
    }

    /// The bytes as a mutable slice, for bulk writes without copies.
    ///
    /// # Safety
    /// No other process, thread or handle may access the segment while the slice is alive.
    ///
    /// # Examples
    /// ```
    /// let shm = multiproc::SharedMemory::anonymous(4)?;
    /// // SAFETY: no other process or handle uses this segment.
    /// unsafe { shm.as_mut_slice() }.copy_from_slice(b"abcd");
    /// assert_eq!(shm.to_vec(), b"abcd");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice(&self) -> &mut [u8] {
        // SAFETY: the mapping is valid for `size` bytes while `self` lives; the caller
        // guarantees exclusive access meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), self.size()) }
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedMemory({:?}, size={}", self.name().unwrap_or("<anonymous>"), self.size())?;
        if self.is_owner() {
            write!(f, ", owner")?;
        }
        write!(f, ")")
    }
}

struct FdRef<'a>(&'a OwnedFd);

impl Serialize for FdRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::handle::serialize_fd(self.0.as_fd(), s)
    }
}

#[derive(Serialize)]
enum WireOut<'a> {
    Named(&'a str),
    Anonymous(FdRef<'a>),
}

#[derive(Deserialize)]
enum WireIn {
    Named(String),
    Anonymous(crate::handle::Fd),
}

impl Serialize for SharedMemory {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.inner.name {
            Some(n) => WireOut::Named(n),
            None => WireOut::Anonymous(FdRef(&self.inner.fd)),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match WireIn::deserialize(d)? {
            WireIn::Named(n) => SharedMemory::open(&n),
            WireIn::Anonymous(fd) => SharedMemory::from_fd(fd.into_owned()),
        }
        .map_err(|e| serde::de::Error::custom(format!("cannot attach to the shared memory segment: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §2 157: a generated name that already exists is skipped, and the existing segment is
    /// left alone.
    #[test]
    fn a_taken_generated_name_is_retried() {
        let taken = SharedMemory::create(None, 16).unwrap();
        taken.write_at(0, b"keep").unwrap();
        let mut tries = vec![random_name().unwrap(), taken.name().unwrap().to_string()];
        let mut calls = 0;
        let (name, _fd) = create_named(
            || {
                calls += 1;
                Ok(tries.pop().expect("two names are enough"))
            },
            true,
            16,
        )
        .unwrap();
        assert_eq!(calls, 2);
        assert_ne!(name, taken.name().unwrap());
        assert_eq!(&SharedMemory::open(taken.name().unwrap()).unwrap().to_vec()[..4], b"keep");
        // Without retry, a taken name is an error.
        let err = create_named(|| Ok(name.clone()), false, 16).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        sys::shm_open::unlink(&name).unwrap();
        tracker::unregister(&name).unwrap();
        taken.unlink().unwrap();
    }
}
