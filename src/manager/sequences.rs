//! Proxies of the managed sequences: [`ListProxy`] and [`ArrayProxy`] (a list of fixed
//! length). Indexes are Python's: a negative index counts from the end.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::base::{BaseProxy, blob, typed_proxy, unblob};
use super::containers::{decode_all, encode_all};
use super::error::ManagerError;
use super::protocol::method::seq;

/// A managed list (`Manager.list()`), made by [`Manager::list`](super::Manager::list).
///
/// Indexes are Python's: a negative index counts from the end.
///
/// # Examples
/// ```no_run
/// let m = multiproc::manager::Manager::start()?;
/// let l = m.list::<i32>()?;
/// l.extend([1, 2, 3])?; // one round trip
/// l.append(4)?;
/// assert_eq!(l.get(-1)?, 4);
/// assert_eq!(l.slice(Some(1), Some(3))?, vec![2, 3]);
/// assert_eq!(l.to_vec()?, vec![1, 2, 3, 4]);
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct ListProxy<T> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

typed_proxy!(ListProxy<T>, "list");

/// The methods lists and arrays share.
macro_rules! seq_methods {
    ($what:literal) => {
        /// The number of items (`len(l)`).
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        /// assert_eq!(m.list::<u8>()?.len()?, 0);
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn len(&self) -> Result<usize, ManagerError> {
            Ok(self.base.call::<_, u64>(seq::LEN, &())? as usize)
        }

        /// Is it empty?
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        /// assert!(m.list::<u8>()?.is_empty()?);
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn is_empty(&self) -> Result<bool, ManagerError> {
            Ok(self.len()? == 0)
        }

        /// The item at `index` (`l[index]`; negative counts from the end).
        ///
        /// # Errors
        /// [`ManagerErrorKind::IndexError`](super::ManagerErrorKind::IndexError) out of range.
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        /// let l = m.list_from([1u8, 2])?;
        /// assert_eq!(l.get(-2)?, 1);
        /// assert!(l.get(2).unwrap_err().is_index_error());
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn get(&self, index: i64) -> Result<T, ManagerError> {
            unblob(&self.base.call_raw(seq::GET, crate::codec::encode(&index)?)?)
        }

        /// Replaces the item at `index` (`l[index] = value`).
        ///
        /// # Errors
        /// `IndexError` out of range.
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        /// let l = m.list_from([1u8, 2])?;
        /// l.set(0, 7)?;
        /// assert_eq!(l.to_vec()?, vec![7, 2]);
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn set(&self, index: i64, value: T) -> Result<(), ManagerError> {
            self.base.call(seq::SET, &(index, blob(&value)?))
        }

        /// Every item, in order (a copy: `l[:]`, `list(l)`).
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        /// assert_eq!(m.list_from([1u8, 2])?.to_vec()?, vec![1, 2]);
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
            self.slice(None, None)
        }

        /// The items from `start` to `end` (`l[start:end]`, bounds clamped, negative from
        /// the end).
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        /// let l = m.list_from([1u8, 2, 3])?;
        /// assert_eq!(l.slice(Some(-2), None)?, vec![2, 3]);
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn slice(&self, start: Option<i64>, end: Option<i64>) -> Result<Vec<T>, ManagerError> {
            decode_all(&self.base.call_bytes(seq::SLICE, &(start, end))?)
        }

        /// Replaces every item at once (`l[:] = values`; an array needs as many).
        ///
        /// # Examples
        /// ```no_run
        /// let m = multiproc::manager::Manager::start()?;
        /// let l = m.list_from([1u8, 2, 3])?;
        /// l.replace([9])?;
        /// assert_eq!(l.to_vec()?, vec![9]);
        /// # Ok::<(), multiproc::manager::ManagerError>(())
        /// ```
        pub fn replace(&self, values: impl IntoIterator<Item = T>) -> Result<(), ManagerError> {
            self.base.call(seq::REPLACE, &encode_all(values)?)
        }
    };
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    seq_methods!("list");

    /// Appends `value` (`l.append(value)`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.list::<u8>()?;
    /// l.append(1)?;
    /// assert_eq!(l.to_vec()?, vec![1]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn append(&self, value: T) -> Result<(), ManagerError> {
        self.base.call(seq::APPEND, &blob(&value)?)
    }

    /// Appends many values in one round trip (`l.extend(values)`, `l += values`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.list::<u32>()?;
    /// l.extend(0..1000)?;
    /// assert_eq!(l.len()?, 1000);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn extend(&self, values: impl IntoIterator<Item = T>) -> Result<(), ManagerError> {
        self.base.call(seq::EXTEND, &encode_all(values)?)
    }

    /// Inserts `value` before `index` (`l.insert(index, value)`, clamped like Python's).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.list_from([1u8, 3])?;
    /// l.insert(1, 2)?;
    /// assert_eq!(l.to_vec()?, vec![1, 2, 3]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn insert(&self, index: i64, value: T) -> Result<(), ManagerError> {
        self.base.call(seq::INSERT, &(index, blob(&value)?))
    }

    /// Removes and returns the last item (`l.pop()`).
    ///
    /// # Errors
    /// `IndexError` when the list is empty.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.list_from([1u8, 2])?;
    /// assert_eq!(l.pop()?, 2);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn pop(&self) -> Result<T, ManagerError> {
        unblob(&self.base.call_raw(seq::POP, crate::codec::encode(&None::<i64>)?)?)
    }

    /// Removes and returns the item at `index` (`l.pop(index)`).
    ///
    /// # Errors
    /// `IndexError` out of range.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.list_from([1u8, 2])?;
    /// assert_eq!(l.pop_at(0)?, 1);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn pop_at(&self, index: i64) -> Result<T, ManagerError> {
        unblob(&self.base.call_raw(seq::POP, crate::codec::encode(&Some(index))?)?)
    }

    /// Removes the item at `index` (`del l[index]`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.list_from([1u8, 2])?;
    /// l.delete(0)?;
    /// assert_eq!(l.to_vec()?, vec![2]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn delete(&self, index: i64) -> Result<(), ManagerError> {
        self.base.call(seq::DEL, &index)
    }

    /// Removes the first item equal to `value` (`l.remove(value)`).
    ///
    /// # Errors
    /// [`ManagerErrorKind::ValueError`](super::ManagerErrorKind::ValueError) when there is
    /// none.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.list_from([1u8, 2, 1])?;
    /// l.remove(&1)?;
    /// assert_eq!(l.to_vec()?, vec![2, 1]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn remove(&self, value: &T) -> Result<(), ManagerError> {
        self.base.call(seq::REMOVE, &blob(value)?)
    }

    /// The index of the first item equal to `value` (`l.index(value)`).
    ///
    /// # Errors
    /// `ValueError` when there is none.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert_eq!(m.list_from([5u8, 6])?.index(&6)?, 1);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn index(&self, value: &T) -> Result<usize, ManagerError> {
        Ok(self.base.call::<_, u64>(seq::INDEX, &blob(value)?)? as usize)
    }

    /// How many items equal `value` (`l.count(value)`).
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::manager::Manager::start()?.list_from([1u8, 1, 2])?.count(&1)?, 2);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn count(&self, value: &T) -> Result<usize, ManagerError> {
        Ok(self.base.call::<_, u64>(seq::COUNT, &blob(value)?)? as usize)
    }

    /// Is an item equal to `value` there (`value in l`)?
    ///
    /// # Examples
    /// ```no_run
    /// assert!(multiproc::manager::Manager::start()?.list_from([1u8])?.contains(&1)?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn contains(&self, value: &T) -> Result<bool, ManagerError> {
        self.base.call(seq::CONTAINS, &blob(value)?)
    }

    /// Removes every item.
    ///
    /// # Examples
    /// ```no_run
    /// let l = multiproc::manager::Manager::start()?.list_from([1u8])?;
    /// l.clear()?;
    /// assert!(l.is_empty()?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.base.call(seq::CLEAR, &())
    }

    /// Reverses the list in place.
    ///
    /// # Examples
    /// ```no_run
    /// let l = multiproc::manager::Manager::start()?.list_from([1u8, 2])?;
    /// l.reverse()?;
    /// assert_eq!(l.to_vec()?, vec![2, 1]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn reverse(&self) -> Result<(), ManagerError> {
        self.base.call(seq::REVERSE, &())
    }

    /// Repeats the contents in place, `n` times in all (`l *= n`).
    ///
    /// # Examples
    /// ```no_run
    /// let l = multiproc::manager::Manager::start()?.list_from([1u8, 2])?;
    /// l.repeat(2)?;
    /// assert_eq!(l.to_vec()?, vec![1, 2, 1, 2]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn repeat(&self, n: usize) -> Result<(), ManagerError> {
        self.base.call(seq::REPEAT, &(n as u64))
    }

    /// Sorts the list: fetches it, sorts here, stores it back (two round trips, not atomic
    /// against other writers).
    ///
    /// # Examples
    /// ```no_run
    /// let l = multiproc::manager::Manager::start()?.list_from([3u8, 1, 2])?;
    /// l.sort()?;
    /// assert_eq!(l.to_vec()?, vec![1, 2, 3]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn sort(&self) -> Result<(), ManagerError>
    where
        T: Ord,
    {
        let mut v = self.to_vec()?;
        v.sort();
        self.replace(v)
    }

    /// Iterates by index, one round trip per item, as Python's list proxies do: an item
    /// appended meanwhile is seen, and the iteration ends at the first index out of range.
    /// (For speed, take [`to_vec`](ListProxy::to_vec).)
    ///
    /// # Examples
    /// ```no_run
    /// let l = multiproc::manager::Manager::start()?.list_from([1u8, 2])?;
    /// let v: Vec<u8> = l.iter().collect::<Result<_, _>>()?;
    /// assert_eq!(v, vec![1, 2]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = Result<T, ManagerError>> + '_ {
        let mut i = 0;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            match self.get(i) {
                Ok(x) => {
                    i += 1;
                    Some(Ok(x))
                }
                Err(e) if e.is_index_error() => {
                    done = true;
                    None
                }
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        })
    }
}

/// A managed array (`Manager.Array(typecode, seq)`): a list whose length is fixed, made by
/// [`Manager::array`](super::Manager::array).
///
/// # Examples
/// ```no_run
/// let m = multiproc::manager::Manager::start()?;
/// let a = m.array(vec![0i32; 4])?;
/// a.set(1, 5)?;
/// assert_eq!(a.to_vec()?, vec![0, 5, 0, 0]);
/// assert_eq!(a.len()?, 4);
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct ArrayProxy<T> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

typed_proxy!(ArrayProxy<T>, "array");

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    seq_methods!("array");
}
