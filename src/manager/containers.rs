//! Proxies of the managed containers: [`DictProxy`], [`NamespaceProxy`], [`ValueProxy`]
//! and [`SetProxy`] (lists and arrays are in `sequences.rs`).
//!
//! Keys and values are compared on the server by their encoded bytes: two keys are the same
//! key when they encode the same (true of integers, strings, tuples and derived types;
//! floats compare bit for bit, so `0.0` and `-0.0` are two keys).
//!
//! A value fetched from a container is a copy: changing it changes nothing on the server
//! until it is stored back (Python's nested-mutable caveat). A proxy stored as a value is a
//! reference: changes through it are seen by everyone.

use std::fmt::Debug;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::base::{BaseProxy, blob, typed_proxy, unblob};
use super::error::{ManagerError, ManagerErrorKind as K};
use super::protocol::{Blob, BlobRef, method::map, method::value};

/// Adds what was missing to a server's `KeyError`.
fn missing<Q: Debug + ?Sized>(e: ManagerError, key: &Q, what: &str) -> ManagerError {
    if e.kind() == K::KeyError || e.kind() == K::AttributeError {
        return ManagerError::new(e.kind(), format!("{key:?} is not in the managed {what}"));
    }
    e
}

pub(crate) fn decode_all<T: DeserializeOwned>(reply: &[u8]) -> Result<Vec<T>, ManagerError> {
    let items: Vec<BlobRef<'_>> = crate::codec::decode_borrowed(reply)?;
    items.iter().map(|b| unblob(b.0)).collect()
}

/// Values encoded one after another into one buffer, serialized as a sequence of byte
/// strings (or of pairs of them), as `Vec<Blob>` (or `Vec<(Blob, Blob)>`) is: no allocation
/// per item.
pub(crate) struct Packed {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    pairs: bool,
}

impl Packed {
    fn new(pairs: bool) -> Packed {
        Packed { bytes: Vec::new(), ends: Vec::new(), pairs }
    }

    fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ManagerError> {
        crate::codec::encode_into(v, &mut self.bytes)?;
        self.ends.push(self.bytes.len());
        Ok(())
    }

    fn slices(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(a, b)| &self.bytes[a..b])
    }
}

impl Serialize for Packed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let n = if self.pairs { self.ends.len() / 2 } else { self.ends.len() };
        let mut seq = s.serialize_seq(Some(n))?;
        let mut it = self.slices();
        while let Some(a) = it.next() {
            if self.pairs {
                let b = it.next().unwrap_or_default();
                seq.serialize_element(&(BlobRef(a), BlobRef(b)))?;
            } else {
                seq.serialize_element(&BlobRef(a))?;
            }
        }
        seq.end()
    }
}

pub(crate) fn encode_all<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<Packed, ManagerError> {
    let mut p = Packed::new(false);
    for x in items {
        p.push(&x)?;
    }
    Ok(p)
}

/// A managed dict (`Manager.dict()`), made by [`Manager::dict`](super::Manager::dict).
///
/// # Examples
/// ```no_run
/// let m = multiproc::manager::Manager::start()?;
/// let d = m.dict::<String, u32>()?;
/// d.set("a".into(), 1)?;
/// d.update([("b".to_string(), 2), ("c".to_string(), 3)])?; // one round trip
/// assert_eq!(d.get(&"b".into())?, 2);
/// assert_eq!(d.get_many(&["a".into(), "z".into()])?, vec![Some(1), None]);
/// assert_eq!(d.len()?, 3);
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct DictProxy<K, V> {
    base: BaseProxy,
    _t: PhantomData<fn() -> (K, V)>,
}

typed_proxy!(DictProxy<K, V>, "dict");

impl<K: Serialize + DeserializeOwned + Debug, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// The number of items (`len(d)`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert_eq!(m.dict::<u8, u8>()?.len()?, 0);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn len(&self) -> Result<usize, ManagerError> {
        Ok(self.base.call::<_, u64>(map::LEN, &())? as usize)
    }

    /// Is the dict empty?
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert!(m.dict::<u8, u8>()?.is_empty()?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// The value of `key` (`d[key]`).
    ///
    /// # Errors
    /// [`ManagerErrorKind::KeyError`](super::ManagerErrorKind::KeyError) when it is missing.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, String>()?;
    /// d.set(1, "one".into())?;
    /// assert_eq!(d.get(&1)?, "one");
    /// assert!(d.get(&2).unwrap_err().is_key_error());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn get(&self, key: &K) -> Result<V, ManagerError> {
        let out =
            self.base.call_raw(map::GET, crate::codec::encode(&blob(key)?)?).map_err(|e| missing(e, key, "dict"))?;
        unblob(&out)
    }

    /// The value of `key`, or `None` (`d.get(key)`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert_eq!(m.dict::<u8, u8>()?.get_opt(&1)?, None);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn get_opt(&self, key: &K) -> Result<Option<V>, ManagerError> {
        let b: Option<Blob> = self.base.call(map::GET_OPT, &blob(key)?)?;
        b.map(|b| unblob(&b.0)).transpose()
    }

    /// Sets `key` to `value` (`d[key] = value`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// d.set(1, 2)?;
    /// assert_eq!(d.get(&1)?, 2);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn set(&self, key: K, value: V) -> Result<(), ManagerError> {
        self.base.call(map::SET, &(blob(&key)?, blob(&value)?))
    }

    /// Is `key` there (`key in d`)?
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// d.set(1, 2)?;
    /// assert!(d.contains(&1)? && !d.contains(&2)?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn contains(&self, key: &K) -> Result<bool, ManagerError> {
        self.base.call(map::CONTAINS, &blob(key)?)
    }

    /// Removes `key` (`del d[key]`).
    ///
    /// # Errors
    /// `KeyError` when it is missing.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// d.set(1, 2)?;
    /// d.remove(&1)?;
    /// assert!(d.remove(&1).unwrap_err().is_key_error());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn remove(&self, key: &K) -> Result<(), ManagerError> {
        self.base.call_raw(map::DEL, crate::codec::encode(&blob(key)?)?).map_err(|e| missing(e, key, "dict"))?;
        Ok(())
    }

    /// Removes `key` and returns its value (`d.pop(key)`).
    ///
    /// # Errors
    /// `KeyError` when it is missing.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// d.set(1, 2)?;
    /// assert_eq!(d.pop(&1)?, 2);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn pop(&self, key: &K) -> Result<V, ManagerError> {
        let out =
            self.base.call_raw(map::POP, crate::codec::encode(&blob(key)?)?).map_err(|e| missing(e, key, "dict"))?;
        unblob(&out)
    }

    /// Removes and returns the last inserted item (`d.popitem()`).
    ///
    /// # Errors
    /// `KeyError` when the dict is empty.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// d.update([(1, 10), (2, 20)])?;
    /// assert_eq!(d.popitem()?, (2, 20));
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn popitem(&self) -> Result<(K, V), ManagerError> {
        let (k, v): (Blob, Blob) = self.base.call(map::POPITEM, &())?;
        Ok((unblob(&k.0)?, unblob(&v.0)?))
    }

    /// The value of `key`, storing `default` first if it is missing (`d.setdefault`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// assert_eq!(d.setdefault(1, 5)?, 5);
    /// assert_eq!(d.setdefault(1, 6)?, 5);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn setdefault(&self, key: K, default: V) -> Result<V, ManagerError> {
        let out = self.base.call_raw(map::SETDEFAULT, crate::codec::encode(&(blob(&key)?, blob(&default)?))?)?;
        unblob(&out)
    }

    /// The keys, in insertion order (`list(d.keys())`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// d.update([(2, 0), (1, 0)])?;
    /// assert_eq!(d.keys()?, vec![2, 1]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn keys(&self) -> Result<Vec<K>, ManagerError> {
        decode_all(&self.base.call_bytes(map::KEYS, &())?)
    }

    /// The values, in insertion order.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// d.update([(2, 20), (1, 10)])?;
    /// assert_eq!(d.values()?, vec![20, 10]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn values(&self) -> Result<Vec<V>, ManagerError> {
        decode_all(&self.base.call_bytes(map::VALUES, &())?)
    }

    /// The items, in insertion order (a copy: `d.copy()`, `list(d.items())`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// d.set(1, 10)?;
    /// assert_eq!(d.items()?, vec![(1, 10)]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn items(&self) -> Result<Vec<(K, V)>, ManagerError> {
        let items: Vec<(Blob, Blob)> = self.base.call(map::ITEMS, &())?;
        items.iter().map(|(k, v)| Ok((unblob(&k.0)?, unblob(&v.0)?))).collect()
    }

    /// Removes every item.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u8, u8>()?;
    /// d.set(1, 10)?;
    /// d.clear()?;
    /// assert!(d.is_empty()?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.base.call(map::CLEAR, &())
    }

    /// Sets many items in one round trip (`d.update(...)`, `d |= ...`).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u32, u32>()?;
    /// d.update((0..1000).map(|i| (i, i * i)))?;
    /// assert_eq!(d.len()?, 1000);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn update(&self, items: impl IntoIterator<Item = (K, V)>) -> Result<(), ManagerError> {
        let mut packed = Packed::new(true);
        for (k, v) in items {
            packed.push(&k)?;
            packed.push(&v)?;
        }
        self.base.call(map::UPDATE, &packed)
    }

    /// [`update`](DictProxy::update) under the name of the batch API.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u32, u32>()?;
    /// d.set_many([(1, 2), (3, 4)])?;
    /// assert_eq!(d.get_many(&[1, 3])?, vec![Some(2), Some(4)]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn set_many(&self, items: impl IntoIterator<Item = (K, V)>) -> Result<(), ManagerError> {
        self.update(items)
    }

    /// The values of many keys in one round trip, `None` where a key is missing.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let d = m.dict::<u32, u32>()?;
    /// d.set(1, 2)?;
    /// assert_eq!(d.get_many(&[1, 9])?, vec![Some(2), None]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn get_many(&self, keys: &[K]) -> Result<Vec<Option<V>>, ManagerError> {
        let out = self.base.call_bytes(map::GET_MANY, &encode_all(keys)?)?;
        let got: Vec<Option<BlobRef<'_>>> = crate::codec::decode_borrowed(&out)?;
        got.iter().map(|b| b.map(|b| unblob(b.0)).transpose()).collect()
    }
}

/// A managed namespace (`Manager.Namespace()`): named attributes of any serde type, made
/// by [`Manager::namespace`](super::Manager::namespace).
///
/// # Examples
/// ```no_run
/// let m = multiproc::manager::Manager::start()?;
/// let ns = m.namespace()?;
/// ns.set("name", &"Bob".to_string())?;
/// ns.set("age", &42u32)?;
/// assert_eq!(ns.get::<String>("name")?, "Bob");
/// assert!(ns.get::<u32>("height").unwrap_err().kind() == multiproc::manager::ManagerErrorKind::AttributeError);
/// assert_eq!(ns.names()?, vec!["name", "age"]);
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct NamespaceProxy {
    base: BaseProxy,
    _t: PhantomData<()>,
}

typed_proxy!(NamespaceProxy, "namespace");

impl NamespaceProxy {
    /// The attribute `name` (`ns.name`), decoded as `T`.
    ///
    /// # Errors
    /// [`ManagerErrorKind::AttributeError`](super::ManagerErrorKind::AttributeError) when it
    /// is not set; `Codec` when it is not a `T`.
    ///
    /// # Examples
    /// ```no_run
    /// let ns = multiproc::manager::Manager::start()?.namespace()?;
    /// ns.set("x", &1.5f64)?;
    /// assert_eq!(ns.get::<f64>("x")?, 1.5);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, ManagerError> {
        let out = self
            .base
            .call_raw(map::GET, crate::codec::encode(&Blob(name.as_bytes().to_vec()))?)
            .map_err(|e| missing(e, name, "namespace"))?;
        unblob(&out)
    }

    /// Sets the attribute `name` (`ns.name = value`).
    ///
    /// # Examples
    /// ```no_run
    /// let ns = multiproc::manager::Manager::start()?.namespace()?;
    /// ns.set("x", &vec![1, 2])?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<(), ManagerError> {
        self.base.call(map::SET, &(Blob(name.as_bytes().to_vec()), blob(value)?))
    }

    /// Removes the attribute `name` (`del ns.name`).
    ///
    /// # Errors
    /// `AttributeError` when it is not set.
    ///
    /// # Examples
    /// ```no_run
    /// let ns = multiproc::manager::Manager::start()?.namespace()?;
    /// ns.set("x", &1)?;
    /// ns.remove("x")?;
    /// assert!(!ns.contains("x")?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn remove(&self, name: &str) -> Result<(), ManagerError> {
        self.base
            .call_raw(map::DEL, crate::codec::encode(&Blob(name.as_bytes().to_vec()))?)
            .map_err(|e| missing(e, name, "namespace"))?;
        Ok(())
    }

    /// Is the attribute `name` set (`hasattr(ns, name)`)?
    ///
    /// # Examples
    /// ```no_run
    /// let ns = multiproc::manager::Manager::start()?.namespace()?;
    /// assert!(!ns.contains("x")?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn contains(&self, name: &str) -> Result<bool, ManagerError> {
        self.base.call(map::CONTAINS, &Blob(name.as_bytes().to_vec()))
    }

    /// The names of the attributes set, in the order they were first set.
    ///
    /// # Examples
    /// ```no_run
    /// let ns = multiproc::manager::Manager::start()?.namespace()?;
    /// ns.set("b", &1)?;
    /// ns.set("a", &2)?;
    /// assert_eq!(ns.names()?, vec!["b", "a"]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn names(&self) -> Result<Vec<String>, ManagerError> {
        let keys: Vec<Blob> = self.base.call(map::KEYS, &())?;
        Ok(keys.into_iter().map(|k| String::from_utf8_lossy(&k.0).into_owned()).collect())
    }
}

/// A managed value (`Manager.Value(typecode, value)`), made by
/// [`Manager::value`](super::Manager::value).
///
/// # Examples
/// ```no_run
/// let m = multiproc::manager::Manager::start()?;
/// let v = m.value(1.5f64)?;
/// v.set(2.5)?;
/// assert_eq!(v.get()?, 2.5);
/// assert_eq!(v.swap(3.5)?, 2.5);
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct ValueProxy<T> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

typed_proxy!(ValueProxy<T>, "value");

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// The value (`v.value`, `v.get()`).
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::manager::Manager::start()?.value(7u8)?.get()?, 7);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn get(&self) -> Result<T, ManagerError> {
        unblob(&self.base.call_raw(value::GET, Vec::new())?)
    }

    /// Sets the value (`v.value = x`, `v.set(x)`).
    ///
    /// # Examples
    /// ```no_run
    /// let v = multiproc::manager::Manager::start()?.value(7u8)?;
    /// v.set(8)?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn set(&self, x: T) -> Result<(), ManagerError> {
        self.base.call(value::SET, &blob(&x)?)
    }

    /// Sets the value and returns the old one, atomically.
    ///
    /// # Examples
    /// ```no_run
    /// let v = multiproc::manager::Manager::start()?.value(7u8)?;
    /// assert_eq!(v.swap(8)?, 7);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn swap(&self, x: T) -> Result<T, ManagerError> {
        unblob(&self.base.call_raw(value::SWAP, crate::codec::encode(&blob(&x)?)?)?)
    }
}

/// A managed set (`Manager.set()`, Python 3.14), made by [`Manager::set`](super::Manager::set).
/// Set algebra (union, difference, ...) is done on [`to_vec`](SetProxy::to_vec)'s copy.
///
/// # Examples
/// ```no_run
/// let m = multiproc::manager::Manager::start()?;
/// let s = m.set::<u32>()?;
/// assert!(s.add(1)?);
/// assert!(!s.add(1)?);
/// s.update([2, 3])?;
/// assert!(s.contains(&2)?);
/// assert!(s.remove(&9).unwrap_err().is_key_error());
/// assert_eq!(s.len()?, 3);
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub struct SetProxy<T> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

typed_proxy!(SetProxy<T>, "set");

impl<T: Serialize + DeserializeOwned + Debug> SetProxy<T> {
    /// Adds `x`; true if it was not there.
    ///
    /// # Examples
    /// ```no_run
    /// assert!(multiproc::manager::Manager::start()?.set::<u8>()?.add(1)?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn add(&self, x: T) -> Result<bool, ManagerError> {
        self.base.call(map::ADD, &blob(&x)?)
    }

    /// Removes `x`.
    ///
    /// # Errors
    /// `KeyError` when it is not there.
    ///
    /// # Examples
    /// ```no_run
    /// let s = multiproc::manager::Manager::start()?.set::<u8>()?;
    /// s.add(1)?;
    /// s.remove(&1)?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn remove(&self, x: &T) -> Result<(), ManagerError> {
        self.base.call(map::DEL, &blob(x)?).map_err(|e| missing(e, x, "set"))
    }

    /// Removes `x` if it is there; true if it was.
    ///
    /// # Examples
    /// ```no_run
    /// assert!(!multiproc::manager::Manager::start()?.set::<u8>()?.discard(&1)?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn discard(&self, x: &T) -> Result<bool, ManagerError> {
        self.base.call(map::DISCARD, &blob(x)?)
    }

    /// Is `x` there?
    ///
    /// # Examples
    /// ```no_run
    /// assert!(!multiproc::manager::Manager::start()?.set::<u8>()?.contains(&1)?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn contains(&self, x: &T) -> Result<bool, ManagerError> {
        self.base.call(map::CONTAINS, &blob(x)?)
    }

    /// The number of elements.
    ///
    /// # Examples
    /// ```no_run
    /// assert_eq!(multiproc::manager::Manager::start()?.set::<u8>()?.len()?, 0);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn len(&self) -> Result<usize, ManagerError> {
        Ok(self.base.call::<_, u64>(map::LEN, &())? as usize)
    }

    /// Is the set empty?
    ///
    /// # Examples
    /// ```no_run
    /// assert!(multiproc::manager::Manager::start()?.set::<u8>()?.is_empty()?);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// Removes and returns an element.
    ///
    /// # Errors
    /// `KeyError` when the set is empty.
    ///
    /// # Examples
    /// ```no_run
    /// let s = multiproc::manager::Manager::start()?.set::<u8>()?;
    /// s.add(4)?;
    /// assert_eq!(s.pop()?, 4);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn pop(&self) -> Result<T, ManagerError> {
        unblob(&self.base.call_raw(map::POPITEM, crate::codec::encode(&())?)?)
    }

    /// Adds many elements in one round trip (`s.update(...)`, `s |= ...`).
    ///
    /// # Examples
    /// ```no_run
    /// let s = multiproc::manager::Manager::start()?.set::<u8>()?;
    /// s.update([1, 2, 2])?;
    /// assert_eq!(s.len()?, 2);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn update(&self, xs: impl IntoIterator<Item = T>) -> Result<(), ManagerError> {
        self.base.call(map::UPDATE, &encode_all(xs)?)
    }

    /// Removes every element.
    ///
    /// # Examples
    /// ```no_run
    /// let s = multiproc::manager::Manager::start()?.set::<u8>()?;
    /// s.clear()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.base.call(map::CLEAR, &())
    }

    /// The elements (a copy), in the order they were added.
    ///
    /// # Examples
    /// ```no_run
    /// let s = multiproc::manager::Manager::start()?.set::<u8>()?;
    /// s.update([2, 1])?;
    /// assert_eq!(s.to_vec()?, vec![2, 1]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        decode_all(&self.base.call_bytes(map::KEYS, &())?)
    }
}
