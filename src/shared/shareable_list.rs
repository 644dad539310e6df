//! `ShareableList`: a fixed-length list of small items in one named segment, with CPython's
//! memory layout (a Python process can attach to it by name, and the other way round).

use std::fmt;
use std::io;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::shm::SharedMemory;

/// One item of a [`ShareableList`]: Python's `int`, `float`, `bool`, `None`, `str`, `bytes`.
///
/// Equality is structural (`Int(1) != Float(1.0)`, unlike Python's `1 == 1.0`).
///
/// # Examples
/// ```
/// use multiproc::Item;
/// assert_eq!(Item::from(3), Item::Int(3));
/// assert_eq!(Item::from("hi"), Item::Str("hi".into()));
/// assert_eq!(Item::from(()), Item::None);
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Item {
    /// A 64-bit integer (`q`).
    Int(i64),
    /// A double (`d`).
    Float(f64),
    /// A boolean (`xxxxxxx?`).
    Bool(bool),
    /// Python's `None` (`xxxxxx?x`).
    None,
    /// A UTF-8 string in a fixed-size slot (`Ns`); trailing NUL bytes are not kept.
    Str(String),
    /// Bytes in a fixed-size slot (`Ns`); trailing NUL bytes are not kept.
    Bytes(Vec<u8>),
}

macro_rules! item_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => { $(
        impl From<$t> for Item {
            fn from($v: $t) -> Item { $e }
        }
    )* };
}
item_from!(
    i64 => |v| Item::Int(v),
    i32 => |v| Item::Int(v.into()),
    u32 => |v| Item::Int(v.into()),
    f64 => |v| Item::Float(v),
    bool => |v| Item::Bool(v),
    () => |_v| Item::None,
    &str => |v| Item::Str(v.to_string()),
    String => |v| Item::Str(v),
    &[u8] => |v| Item::Bytes(v.to_vec()),
    Vec<u8> => |v| Item::Bytes(v),
);

impl<const N: usize> From<&[u8; N]> for Item {
    fn from(v: &[u8; N]) -> Item {
        Item::Bytes(v.to_vec())
    }
}

impl From<Option<Item>> for Item {
    fn from(v: Option<Item>) -> Item {
        v.unwrap_or(Item::None)
    }
}

/// Errors of [`ShareableList`] operations.
///
/// # Examples
/// ```
/// use multiproc::{ShareableList, ShareableListError};
/// let sl = ShareableList::create(None, ["abc"])?;
/// assert!(matches!(sl.set(0, "far too many"), Err(ShareableListError::ExceedsStorage { .. })));
/// assert!(matches!(sl.get(1), Err(ShareableListError::IndexOutOfRange { .. })));
/// sl.shm().unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ShareableListError {
    /// The index is not below the list's length, or a negative index reaches before the start
    /// (Python's `IndexError`).
    IndexOutOfRange {
        /// The index asked for (negative ones count from the end).
        index: isize,
        /// The list's length.
        len: usize,
    },
    /// A str or bytes item does not fit the slot reserved at creation (Python's
    /// `ValueError("bytes/str item exceeds available storage")`).
    ExceedsStorage {
        /// The slot.
        index: usize,
        /// Bytes the item needs.
        needed: usize,
        /// Bytes the slot has.
        available: usize,
    },
    /// `index()` found no such item (Python's `ValueError`).
    NotInList,
    /// The segment's contents are not a valid list (written by something else, or damaged).
    Corrupt(String),
}

/// An index into a [`ShareableList`]: unsigned, or signed with negative values counting from
/// the end as in Python (`sl.get(-1)` is the last item).
///
/// # Examples
/// ```
/// let sl = multiproc::ShareableList::create(None, [1, 2, 3])?;
/// let i: usize = 0;
/// assert_eq!(sl.get(i)?, sl.get(-3)?);
/// sl.shm().unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ListIndex: Copy {
    /// The index as a signed number (indexes too large for one are out of range anyway).
    ///
    /// # Examples
    /// ```
    /// use multiproc::ListIndex;
    /// assert_eq!((-2i32).as_isize(), -2);
    /// ```
    fn as_isize(self) -> isize;
}

macro_rules! list_index {
    ($($t:ty),*) => { $(
        impl ListIndex for $t {
            fn as_isize(self) -> isize {
                isize::try_from(self).unwrap_or(isize::MAX)
            }
        }
    )* };
}
list_index!(usize, u8, u16, u32, u64, isize, i8, i16, i32, i64);

impl fmt::Display for ShareableListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShareableListError::IndexOutOfRange { index, len } => {
                write!(f, "index {index} out of range for a ShareableList of length {len}")
            }
            ShareableListError::ExceedsStorage { index, needed, available } => write!(
                f,
                "bytes/str item exceeds available storage: slot {index} holds {available} bytes, the item needs {needed}; \
                 slots are sized at creation, so create the list with a longer placeholder"
            ),
            ShareableListError::NotInList => write!(f, "the item is not in the ShareableList"),
            ShareableListError::Corrupt(why) => {
                write!(f, "the shared segment does not hold a valid ShareableList: {why}")
            }
        }
    }
}

impl std::error::Error for ShareableListError {}

impl From<ShareableListError> for io::Error {
    fn from(e: ShareableListError) -> io::Error {
        let kind = match e {
            ShareableListError::IndexOutOfRange { .. } | ShareableListError::ExceedsStorage { .. } => {
                io::ErrorKind::InvalidInput
            }
            ShareableListError::NotInList => io::ErrorKind::NotFound,
            ShareableListError::Corrupt(_) => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

const ALIGN: usize = 8;
const FMT_INT: &str = "q";
const FMT_FLOAT: &str = "d";
const FMT_BOOL: &str = "xxxxxxx?";
const FMT_NONE: &str = "xxxxxx?x";
const CODE_PLAIN: u8 = 0;
const CODE_STR: u8 = 1;
const CODE_BYTES: u8 = 2;
const CODE_NONE: u8 = 3;

fn slot_for(item: &Item) -> (String, usize) {
    match item {
        Item::Int(_) => (FMT_INT.into(), ALIGN),
        Item::Float(_) => (FMT_FLOAT.into(), ALIGN),
        Item::Bool(_) => (FMT_BOOL.into(), ALIGN),
        Item::None => (FMT_NONE.into(), ALIGN),
        Item::Str(s) => {
            let n = ALIGN * (s.len() / ALIGN + 1);
            (format!("{n}s"), n)
        }
        Item::Bytes(b) => {
            let n = ALIGN * (b.len() / ALIGN + 1);
            (format!("{n}s"), n)
        }
    }
}

fn code_for(item: &Item) -> u8 {
    match item {
        Item::Str(_) => CODE_STR,
        Item::Bytes(_) => CODE_BYTES,
        Item::None => CODE_NONE,
        _ => CODE_PLAIN,
    }
}

/// A fixed-length list of ints, floats, bools, `None`s, strs and bytes in one named shared
/// segment: Python's `multiprocessing.shared_memory.ShareableList`, with the same memory
/// layout, so CPython can attach to a list made here by name and vice versa.
///
/// Each str/bytes slot is sized at creation to `8 * (len / 8 + 1)` bytes (here `len` is the
/// UTF-8 byte length; CPython counts characters, which can silently truncate non-ASCII
/// strings); a later value that does not fit is refused with
/// [`ShareableListError::ExceedsStorage`]. Any item can be replaced by one of another type.
///
/// There is no lock, as in Python: concurrent writers to one slot race (each item is copied
/// in or out as bytes, so a racing reader may see a mix). The segment is owned by the
/// creating process (see [`SharedMemory`]): call `sl.shm().unlink()` when done, or let the
/// tracker remove it when the creator ends. Serializing a list sends only its name.
///
/// # Examples
/// ```
/// use multiproc::{Item, ShareableList};
///
/// let sl = ShareableList::create(None, [Item::from("howdy"), Item::from(&b"HoWdY"[..]), Item::from(-273.154),
///     Item::from(100), Item::None, Item::from(true), Item::from(42)])?;
/// assert_eq!(sl.format(), "8s8sdqxxxxxx?xxxxxxxx?q");
/// assert_eq!(sl.len(), 7);
/// assert_eq!(sl.index(&Item::Int(100))?, 3);
/// assert!(sl.set(2, "a str now").is_err()); // 9 bytes do not fit the 8-byte slot
/// sl.shm().unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShareableList {
    shm: SharedMemory,
    len: usize,
    /// `len + 1` offsets of the slots into the data area (the last is its size).
    offsets: Vec<usize>,
}

impl ShareableList {
    /// Creates a list holding `items` in a new named segment (`name` as for
    /// [`SharedMemory::create`]; `None` picks a free name).
    ///
    /// # Errors
    /// As [`SharedMemory::create`] (`AlreadyExists` for a taken name).
    ///
    /// # Examples
    /// ```
    /// let sl = multiproc::ShareableList::create(None, [1, 2, 3])?;
    /// assert_eq!(sl.to_vec(), [1.into(), 2.into(), 3.into()]);
    /// sl.shm().unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create<I: Into<Item>>(name: Option<&str>, items: impl IntoIterator<Item = I>) -> io::Result<ShareableList> {
        let items: Vec<Item> = items.into_iter().map(Into::into).collect();
        let n = items.len();
        let slots: Vec<(String, usize)> = items.iter().map(slot_for).collect();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0usize);
        for (_, size) in &slots {
            offsets.push(offsets.last().expect("not empty") + size);
        }
        let data = *offsets.last().expect("not empty");
        let total = 8 + 8 * (n + 1) + data + 8 * n + n;
        let shm = SharedMemory::create(name, total)?;
        let sl = ShareableList { shm, len: n, offsets };
        sl.shm.write_at(0, &(n as i64).to_ne_bytes())?;
        for (i, off) in sl.offsets.iter().enumerate() {
            sl.shm.write_at(8 + 8 * i, &(*off as i64).to_ne_bytes())?;
        }
        for (i, (item, (fmt, _))) in items.iter().zip(&slots).enumerate() {
            sl.write_item(i, fmt, item)?;
        }
        Ok(sl)
    }

    /// Attaches to the list in the segment `name` (created here or by CPython).
    ///
    /// # Errors
    /// `NotFound` when there is no such segment; `InvalidData` when it does not hold a list.
    ///
    /// # Examples
    /// ```
    /// let a = multiproc::ShareableList::create(None, ["x"])?;
    /// let b = multiproc::ShareableList::open(a.shm().name().unwrap())?;
    /// b.set(0, "y")?;
    /// assert_eq!(a.get(0)?, "y".into());
    /// a.shm().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(name: &str) -> io::Result<ShareableList> {
        ShareableList::from_shm(SharedMemory::open(name)?)
    }

    /// Opens a list over `data` as a segment's contents and reads every item (fuzzing).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn fuzz(data: &[u8]) {
        let Ok(shm) = SharedMemory::anonymous(data.len().max(1)) else { return };
        if shm.write_at(0, data).is_err() {
            return;
        }
        if let Ok(sl) = ShareableList::from_shm(shm) {
            let _ = (sl.format(), sl.to_vec(), sl.get(-1));
            for i in 0..sl.len() {
                let _ = sl.set(i, 7i64);
            }
        }
    }

    fn from_shm(shm: SharedMemory) -> io::Result<ShareableList> {
        let corrupt = |why: String| io::Error::from(ShareableListError::Corrupt(why));
        let size = shm.size();
        let mut b = [0u8; 8];
        shm.read_at(0, &mut b)?;
        let n = i64::from_ne_bytes(b);
        let n = usize::try_from(n).ok().filter(|&n| n <= size / 8).ok_or_else(|| corrupt(format!("length {n}")))?;
        let mut offsets = Vec::with_capacity(n + 1);
        for i in 0..=n {
            shm.read_at(8 + 8 * i, &mut b)?;
            let off = i64::from_ne_bytes(b);
            let off = usize::try_from(off).map_err(|_| corrupt(format!("offset {off}")))?;
            if offsets.last().is_some_and(|&prev| off < prev) {
                return Err(corrupt("offsets go backwards".into()));
            }
            offsets.push(off);
        }
        let need = 8 + 8 * (n + 1) + offsets[n] + 8 * n + n;
        if need > size {
            return Err(corrupt(format!("needs {need} bytes, the segment has {size}")));
        }
        Ok(ShareableList { shm, len: n, offsets })
    }

    fn data_start(&self) -> usize {
        (self.len + 2) * 8
    }

    fn formats_start(&self) -> usize {
        self.data_start() + self.offsets[self.len]
    }

    fn codes_start(&self) -> usize {
        self.formats_start() + 8 * self.len
    }

    /// The slot `index` names: counted from the end when negative, as in Python.
    fn resolve(&self, index: impl ListIndex) -> Result<usize, ShareableListError> {
        let i = index.as_isize();
        let len = self.len as isize;
        let at = if i < 0 { i + len } else { i };
        if at < 0 || at >= len {
            return Err(ShareableListError::IndexOutOfRange { index: i, len: self.len });
        }
        Ok(at as usize)
    }

    fn packing_format(&self, i: usize) -> String {
        let mut b = [0u8; 8];
        self.shm.read_at(self.formats_start() + 8 * i, &mut b).expect("checked at open");
        let end = b.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
        String::from_utf8_lossy(&b[..end]).into_owned()
    }

    fn write_item(&self, i: usize, fmt: &str, item: &Item) -> io::Result<()> {
        let at = self.data_start() + self.offsets[i];
        match item {
            Item::Int(v) => self.shm.write_at(at, &v.to_ne_bytes())?,
            Item::Float(v) => self.shm.write_at(at, &v.to_ne_bytes())?,
            Item::Bool(v) => self.shm.write_at(at, &[0, 0, 0, 0, 0, 0, 0, u8::from(*v)])?,
            Item::None => self.shm.write_at(at, &[0; 8])?,
            Item::Str(_) | Item::Bytes(_) => {
                let bytes = match item {
                    Item::Str(s) => s.as_bytes(),
                    Item::Bytes(b) => b.as_slice(),
                    _ => unreachable!("matched above"),
                };
                let width: usize = fmt.trim_end_matches('s').parse().unwrap_or(0);
                let mut padded = vec![0u8; width];
                padded[..bytes.len()].copy_from_slice(bytes);
                self.shm.write_at(at, &padded)?;
            }
        }
        let mut f = [0u8; 8];
        f[..fmt.len()].copy_from_slice(fmt.as_bytes());
        self.shm.write_at(self.formats_start() + 8 * i, &f)?;
        self.shm.write_at(self.codes_start() + i, &[code_for(item)])?;
        Ok(())
    }

    /// Number of items.
    ///
    /// # Examples
    /// ```
    /// let sl = multiproc::ShareableList::create(None, [1.5, 2.5])?;
    /// assert_eq!(sl.len(), 2);
    /// sl.shm().unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Is the list empty?
    ///
    /// # Examples
    /// ```
    /// let sl = multiproc::ShareableList::create(None, Vec::<i64>::new())?;
    /// assert!(sl.is_empty());
    /// assert_eq!(sl.format(), "");
    /// sl.shm().unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of item `index`.
    ///
    /// # Errors
    /// [`ShareableListError::IndexOutOfRange`].
    ///
    /// # Examples
    /// ```
    /// let sl = multiproc::ShareableList::create(None, [true, false])?;
    /// assert_eq!(sl.get(0)?, multiproc::Item::Bool(true));
    /// assert_eq!(sl.get(-1)?, multiproc::Item::Bool(false)); // from the end, as in Python
    /// assert!(sl.get(2).is_err() && sl.get(-3).is_err());
    /// sl.shm().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, index: impl ListIndex) -> Result<Item, ShareableListError> {
        let index = self.resolve(index)?;
        let at = self.data_start() + self.offsets[index];
        let slot = self.offsets[index + 1] - self.offsets[index];
        let mut code = [0u8; 1];
        self.shm.read_at(self.codes_start() + index, &mut code).expect("checked at open");
        let fmt = self.packing_format(index);
        let mut b8 = [0u8; 8];
        let read8 = |b: &mut [u8; 8]| -> Result<(), ShareableListError> {
            if slot < 8 {
                return Err(ShareableListError::Corrupt(format!("slot {index} is {slot} bytes")));
            }
            self.shm.read_at(at, b).map_err(|e| ShareableListError::Corrupt(e.to_string()))
        };
        Ok(match code[0] {
            CODE_NONE => Item::None,
            CODE_STR | CODE_BYTES => {
                let width = fmt.trim_end_matches('s').parse::<usize>().unwrap_or(slot).min(slot);
                let mut v = vec![0u8; width];
                self.shm.read_at(at, &mut v).expect("checked at open");
                let end = v.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
                v.truncate(end);
                if code[0] == CODE_STR { Item::Str(String::from_utf8_lossy(&v).into_owned()) } else { Item::Bytes(v) }
            }
            _ => {
                read8(&mut b8)?;
                match fmt.as_str() {
                    FMT_FLOAT => Item::Float(f64::from_ne_bytes(b8)),
                    FMT_BOOL => Item::Bool(b8[7] != 0),
                    FMT_INT => Item::Int(i64::from_ne_bytes(b8)),
                    other => {
                        return Err(ShareableListError::Corrupt(format!("unknown format {other:?} in slot {index}")));
                    }
                }
            }
        })
    }

    /// Replaces item `index` with `value`, possibly of another type.
    ///
    /// # Errors
    /// [`ShareableListError::IndexOutOfRange`]; [`ShareableListError::ExceedsStorage`] when a
    /// str or bytes value is longer than the slot (nothing is written then).
    ///
    /// # Examples
    /// ```
    /// use multiproc::{Item, ShareableList};
    /// let sl = ShareableList::create(None, ["howdy"])?; // an 8-byte slot
    /// sl.set(0, 3.5)?;
    /// assert_eq!(sl.format(), "d");
    /// sl.set(0, "encodés")?; // 8 bytes of UTF-8: fits
    /// assert!(sl.set(0, "encodées").is_err()); // 9 bytes: does not
    /// assert_eq!(sl.get(0)?, Item::from("encodés"));
    /// sl.shm().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set(&self, index: impl ListIndex, value: impl Into<Item>) -> Result<(), ShareableListError> {
        let index = self.resolve(index)?;
        let value = value.into();
        let fmt = match &value {
            Item::Str(_) | Item::Bytes(_) => {
                let available = self.offsets[index + 1] - self.offsets[index];
                let needed = match &value {
                    Item::Str(s) => s.len(),
                    Item::Bytes(b) => b.len(),
                    _ => 0,
                };
                if needed > available {
                    return Err(ShareableListError::ExceedsStorage { index, needed, available });
                }
                let current = self.packing_format(index);
                if current.ends_with('s') { current } else { format!("{available}s") }
            }
            other => slot_for(other).0,
        };
        self.write_item(index, &fmt, &value).map_err(|e| ShareableListError::Corrupt(e.to_string()))
    }

    /// The items as a vector (Python's `list(sl)`).
    ///
    /// # Examples
    /// ```
    /// let sl = multiproc::ShareableList::create(None, [1, 2])?;
    /// assert_eq!(sl.to_vec().len(), 2);
    /// sl.shm().unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn to_vec(&self) -> Vec<Item> {
        self.iter().collect()
    }

    /// Iterates over copies of the items (an unreadable item reads as `None`).
    ///
    /// # Examples
    /// ```
    /// let sl = multiproc::ShareableList::create(None, [1, 2, 3])?;
    /// let sum: i64 = sl.iter().map(|i| match i { multiproc::Item::Int(v) => v, _ => 0 }).sum();
    /// assert_eq!(sum, 6);
    /// sl.shm().unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = Item> + '_ {
        (0..self.len).map(|i| self.get(i).unwrap_or(Item::None))
    }

    /// How many items equal `value`.
    ///
    /// # Examples
    /// ```
    /// use multiproc::Item;
    /// let sl = multiproc::ShareableList::create(None, [Item::from(b"x"), Item::from("x"), Item::from(b"x")])?;
    /// assert_eq!(sl.count(&Item::from(b"x")), 2);
    /// sl.shm().unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn count(&self, value: &Item) -> usize {
        self.iter().filter(|i| i == value).count()
    }

    /// Position of the first item equal to `value`.
    ///
    /// # Errors
    /// [`ShareableListError::NotInList`].
    ///
    /// # Examples
    /// ```
    /// use multiproc::Item;
    /// let sl = multiproc::ShareableList::create(None, [7, 100])?;
    /// assert_eq!(sl.index(&Item::Int(100))?, 1);
    /// assert!(sl.index(&Item::from("100")).is_err());
    /// sl.shm().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn index(&self, value: &Item) -> Result<usize, ShareableListError> {
        self.iter().position(|i| &i == value).ok_or(ShareableListError::NotInList)
    }

    /// The packing format, as Python's `ShareableList.format` (for example
    /// `"8s8sdqxxxxxx?xxxxxxxx?q"`).
    ///
    /// # Examples
    /// ```
    /// let sl = multiproc::ShareableList::create(None, [1])?;
    /// assert_eq!(sl.format(), "q");
    /// sl.shm().unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn format(&self) -> String {
        (0..self.len).map(|i| self.packing_format(i)).collect()
    }

    /// The segment holding the list (its name, and `unlink` when done).
    ///
    /// # Examples
    /// ```
    /// let sl = multiproc::ShareableList::create(None, [1])?;
    /// assert!(sl.shm().is_owner());
    /// sl.shm().unlink()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }
}

impl Clone for ShareableList {
    fn clone(&self) -> Self {
        ShareableList { shm: self.shm.clone(), len: self.len, offsets: self.offsets.clone() }
    }
}

impl fmt::Debug for ShareableList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShareableList({:?}, name={:?})", self.to_vec(), self.shm.name().unwrap_or(""))
    }
}

impl Serialize for ShareableList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ShareableList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shm = SharedMemory::deserialize(d)?;
        ShareableList::from_shm(shm).map_err(serde::de::Error::custom)
    }
}
