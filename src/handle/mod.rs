//! How a resource crosses into another process ("reduction" in Python's terms).
//!
//! A handle type (a `Connection`, a lock, a shared segment,
//! a queue, or a plain [`Fd`]) implements `Serialize` by writing the *index* of its file
//! descriptor into the message and recording the descriptor itself in a per-thread side
//! table. The transport then carries the descriptors next to the bytes:
//!
//! | start method / transport | how the descriptors travel |
//! |---|---|
//! | `Spawn`, `ForkServer` (process arguments) | `SCM_RIGHTS` on the bootstrap socket |
//! | `Fork` | not at all: the child inherits them, the arguments are moved in memory |
//! | a `Connection` over a Unix socket | `SCM_RIGHTS` with the message |
//! | a `Queue` item | `SCM_RIGHTS` on a socket pair beside the ring, one datagram per item |
//!
//! On the receiving side `Deserialize` takes the descriptor back out of the side table by
//! index. Serializing a handle anywhere else (for example into a file with `serde_json`) fails
//! with a clear error instead of writing a number that means nothing elsewhere.
//!
//! One mechanism serves every handle type under every start method; the types only call
//! [`serialize_fd`] and [`deserialize_fd`].
//!
//! # Examples
//!
//! A pipe's write end handed to a child, which writes through it:
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use multiproc::handle::Fd;
//! use multiproc::Process;
//!
//! let (mut reader, writer) = std::io::pipe()?;
//! let p = Process::new(
//!     |fd: Fd| {
//!         let mut w = std::fs::File::from(fd.into_owned());
//!         w.write_all(b"hello from the child").unwrap();
//!     },
//!     Fd::from(std::os::fd::OwnedFd::from(writer)),
//! );
//! p.start()?;
//! p.join()?;
//! let mut got = String::new();
//! reader.read_to_string(&mut got)?;
//! assert_eq!(got, "hello from the child");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::RefCell;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::ser::{Error as _, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::CodecError;

enum Table {
    /// Serializing: descriptors collected so far (duplicated, so they outlive the value), and
    /// which source descriptors went in as shared ones (sent once per message).
    Out(Vec<OwnedFd>, Vec<(RawFd, u32)>),
    /// Deserializing: descriptors received, taken out by index.
    In(Vec<Option<OwnedFd>>),
}

thread_local! {
    static TABLE: RefCell<Vec<Table>> = const { RefCell::new(Vec::new()) };
}

/// Sets up this thread's handle table now. The fork server calls it once, so that its
/// children inherit a ready table instead of each registering the thread-local.
pub(crate) fn warm_up() {
    TABLE.with(|t| t.borrow().len());
}

struct Pop;
impl Drop for Pop {
    fn drop(&mut self) {
        TABLE.with(|t| t.borrow_mut().pop());
    }
}

/// Serializes `value` with the crate's codec, collecting the descriptors of any handles inside it.
pub(crate) fn to_bytes_with_fds<T: Serialize + ?Sized>(value: &T) -> Result<(Vec<u8>, Vec<OwnedFd>), CodecError> {
    TABLE.with(|t| t.borrow_mut().push(Table::Out(Vec::new(), Vec::new())));
    let pop = Pop;
    let bytes = crate::codec::encode(value);
    let fds = TABLE.with(|t| match t.borrow_mut().last_mut() {
        Some(Table::Out(v, _)) => std::mem::take(v),
        _ => Vec::new(),
    });
    drop(pop);
    Ok((bytes?, fds))
}

/// Deserializes a value written by [`to_bytes_with_fds`], handing it the received descriptors.
///
/// Descriptors the value did not claim are closed.
pub(crate) fn from_bytes_with_fds<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T, CodecError> {
    TABLE.with(|t| t.borrow_mut().push(Table::In(fds.into_iter().map(Some).collect())));
    let _pop = Pop;
    crate::codec::decode(bytes)
}

/// Writes `fd` into the message being serialized (for `Serialize` impls of handle types).
///
/// # Errors
/// Fails when the value is not being serialized by this crate's transports, or when the
/// descriptor cannot be duplicated.
///
/// # Examples
/// ```
/// use std::os::fd::{AsFd, OwnedFd};
/// use serde::{Serialize, Serializer};
///
/// struct MyHandle(OwnedFd);
/// impl Serialize for MyHandle {
///     fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
///         multiproc::handle::serialize_fd(self.0.as_fd(), s)
///     }
/// }
/// ```
pub fn serialize_fd<S: Serializer>(fd: BorrowedFd<'_>, serializer: S) -> Result<S::Ok, S::Error> {
    write_fd(fd, false, serializer)
}

/// Like [`serialize_fd`] for a descriptor that many handles in one message may share (the
/// arena of small shared objects): it travels once per message, however many handles name
/// it. The receiver reads it with [`with_shared_fd`] (borrowed, never taken).
pub(crate) fn serialize_shared_fd<S: Serializer>(fd: BorrowedFd<'_>, serializer: S) -> Result<S::Ok, S::Error> {
    write_fd(fd, true, serializer)
}

/// Records `fd` in the message's table (once per message when `shared`) and writes its index.
fn write_fd<S: Serializer>(fd: BorrowedFd<'_>, shared: bool, serializer: S) -> Result<S::Ok, S::Error> {
    let index = TABLE.with(|t| -> Result<u32, String> {
        let mut t = t.borrow_mut();
        let Some(Table::Out(v, seen)) = t.last_mut() else { return Err(NOT_IN_TRANSPORT.to_string()) };
        if shared && let Some(&(_, i)) = seen.iter().find(|(raw, _)| *raw == fd.as_raw_fd()) {
            return Ok(i);
        }
        let dup = crate::sys::fd::dup_cloexec(fd)
            .map_err(|e| format!("cannot duplicate descriptor {}: {e}", fd.as_raw_fd()))?;
        v.push(dup);
        let i = (v.len() - 1) as u32;
        if shared {
            seen.push((fd.as_raw_fd(), i));
        }
        Ok(i)
    });
    match index {
        Ok(i) => serializer.serialize_u32(i),
        Err(msg) => {
            crate::error::note_codec_detail(&msg);
            Err(S::Error::custom(msg))
        }
    }
}

/// Runs `f` on the shared descriptor at `index` of the message being deserialized (see
/// [`serialize_shared_fd`]); the descriptor stays in the table for the other handles that
/// name it, and is closed with the table unless `f` duplicates it.
pub(crate) fn with_shared_fd<R>(index: u32, f: impl FnOnce(BorrowedFd<'_>) -> R) -> Result<R, String> {
    TABLE.with(|t| match t.borrow().last() {
        Some(Table::In(v)) => match v.get(index as usize).and_then(Option::as_ref) {
            Some(fd) => Ok(f(fd.as_fd())),
            None => Err(format!("the message refers to shared file descriptor #{index}, which it did not carry")),
        },
        _ => Err(NOT_IN_TRANSPORT.to_string()),
    })
}

const NOT_IN_TRANSPORT: &str = "a file descriptor handle can only be serialized into a multiproc message \
     (process arguments, Connection::send, a queue that carries handles); it means nothing in a file or elsewhere";

/// Takes the descriptor a message carried for this handle (for `Deserialize` impls).
///
/// # Errors
/// Fails when the message did not carry a descriptor at that index, or when called outside
/// this crate's transports.
///
/// # Examples
/// ```
/// use std::os::fd::OwnedFd;
/// use serde::{Deserialize, Deserializer};
///
/// struct MyHandle(OwnedFd);
/// impl<'de> Deserialize<'de> for MyHandle {
///     fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
///         multiproc::handle::deserialize_fd(d).map(MyHandle)
///     }
/// }
/// ```
pub fn deserialize_fd<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OwnedFd, D::Error> {
    let index = u32::deserialize(deserializer)? as usize;
    TABLE.with(|t| match t.borrow_mut().last_mut() {
        Some(Table::In(v)) => match v.get_mut(index).and_then(Option::take) {
            Some(fd) => Ok(fd),
            None => {
                let msg = format!("the message refers to file descriptor #{index}, which it did not carry (or which was already taken)");
                crate::error::note_codec_detail(&msg);
                Err(D::Error::custom(msg))
            }
        },
        _ => {
            crate::error::note_codec_detail(NOT_IN_TRANSPORT);
            Err(D::Error::custom(NOT_IN_TRANSPORT))
        }
    })
}

/// A file descriptor that can be passed to another process: Python's `DupFd` /
/// `reduction.send_handle`.
///
/// # Examples
/// ```
/// use multiproc::handle::Fd;
/// let (r, _w) = std::io::pipe()?;
/// let fd = Fd::from(std::os::fd::OwnedFd::from(r));
/// let owned: std::os::fd::OwnedFd = fd.into_owned();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Fd(OwnedFd);

impl Fd {
    /// The descriptor, to use as a file, socket or pipe.
    ///
    /// # Examples
    /// ```
    /// let (r, _w) = std::io::pipe()?;
    /// let fd = multiproc::handle::Fd::from(std::os::fd::OwnedFd::from(r));
    /// let _file = std::fs::File::from(fd.into_owned());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_owned(self) -> OwnedFd {
        self.0
    }
}

impl From<OwnedFd> for Fd {
    fn from(fd: OwnedFd) -> Fd {
        Fd(fd)
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fd").field(&self.0.as_raw_fd()).finish()
    }
}

impl Serialize for Fd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fd(self.0.as_fd(), s)
    }
}

impl<'de> Deserialize<'de> for Fd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_fd(d).map(Fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_round_trip_through_side_table() {
        let (r, w) = crate::sys::socket::pipe().unwrap();
        let (bytes, fds) = to_bytes_with_fds(&(7u8, Fd(w), Fd(r))).unwrap();
        assert_eq!(fds.len(), 2);
        let (n, w2, r2): (u8, Fd, Fd) = from_bytes_with_fds(&bytes, fds).unwrap();
        assert_eq!(n, 7);
        crate::sys::fd::write_all(w2.as_fd(), b"x").unwrap();
        let mut b = [0u8; 1];
        assert!(crate::sys::fd::read_exact_or_eof(r2.as_fd(), &mut b).unwrap());
        assert_eq!(&b, b"x");
    }

    #[test]
    fn fd_outside_transport_is_a_clear_error() {
        let (r, _w) = crate::sys::socket::pipe().unwrap();
        assert!(crate::codec::encode(&Fd(r)).is_err());
        let bytes = crate::codec::encode(&3u32).unwrap();
        assert!(crate::codec::decode::<Fd>(&bytes).is_err());
        let (b, fds) = to_bytes_with_fds(&5u32).unwrap();
        assert!(fds.is_empty());
        assert!(from_bytes_with_fds::<Fd>(&b, Vec::new()).is_err());
    }
}
