//! [`Batch`]: calls on several objects of one manager, sent in one round trip and run in
//! order by the server (a general pipeline, beside the per-object batches such as
//! [`DictProxy::update`]).

use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::base::{BaseProxy, ManagedProxy, blob};
use super::containers::{DictProxy, ValueProxy};
use super::custom::{Managed, Proxy};
use super::error::{ManagerError, ManagerErrorKind as K};
use super::link::{Link, unexpected};
use super::protocol::{Blob, Call, Fault, Reply, Request, method};
use super::sequences::ListProxy;

/// Calls on objects of one manager, queued here and sent together by [`run`](Batch::run):
/// one round trip for all of them. Made by [`Manager::batch`](super::Manager::batch).
///
/// Each queued call gives a [`Pending`] ticket; [`BatchResults::get`] turns it into that
/// call's result. The calls run in order; one that fails does not stop the others.
///
/// # Examples
/// ```no_run
/// use multiproc::manager::Manager;
/// let m = Manager::start()?;
/// let (d, l, v) = (m.dict::<String, u32>()?, m.list::<u32>()?, m.value(0u32)?);
/// let mut b = m.batch();
/// b.dict_set(&d, &"a".into(), &1);
/// let a = b.dict_get(&d, &"a".into());
/// let missing = b.dict_get(&d, &"zz".into());
/// b.list_append(&l, &7);
/// b.value_set(&v, &9);
/// let r = b.run()?; // one round trip
/// assert_eq!(r.get(a)?, 1);
/// assert!(r.get(missing).unwrap_err().is_key_error());
/// assert_eq!((l.len()?, v.get()?), (1, 9));
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
#[derive(Debug)]
#[must_use = "a batch does nothing until it is run"]
pub struct Batch {
    link: Arc<Link>,
    calls: Vec<Call>,
    error: Option<ManagerError>,
}

/// A ticket for the result of one call queued in a [`Batch`], of type `T`.
///
/// # Examples
/// See [`Batch`].
#[derive(Debug)]
pub struct Pending<T> {
    index: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Pending<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Pending<T> {}

/// The results of a [`Batch`] that ran.
///
/// # Examples
/// See [`Batch`].
#[derive(Debug)]
pub struct BatchResults {
    results: Vec<Result<Blob, Fault>>,
}

impl Batch {
    pub(crate) fn new(link: Arc<Link>) -> Batch {
        Batch { link, calls: Vec::new(), error: None }
    }

    fn push<T>(&mut self, base: &BaseProxy, method: u16, args: Result<Vec<u8>, ManagerError>) -> Pending<T> {
        let index = self.calls.len();
        let same = base.link.instance == self.link.instance && base.link.address == self.link.address;
        if !same && self.error.is_none() {
            self.error = Some(ManagerError::new(
                K::TypeMismatch,
                format!(
                    "a batch of the manager at {} was given a proxy of another manager ({})",
                    self.link.address, base.link.address
                ),
            ));
        }
        match args {
            Ok(a) => self.calls.push(Call { object: base.object, method, args: Blob(a) }),
            Err(e) => {
                self.error.get_or_insert(e);
                self.calls.push(Call { object: base.object, method, args: Blob::default() });
            }
        }
        Pending { index, _t: PhantomData }
    }

    /// Queues `d[key]` (a `KeyError` result when missing).
    ///
    /// # Examples
    /// See [`Batch`].
    pub fn dict_get<K: Serialize, V: DeserializeOwned>(&mut self, d: &DictProxy<K, V>, key: &K) -> Pending<V> {
        let args = blob(key).and_then(|k| Ok(crate::codec::encode(&k)?));
        self.push(d.base(), method::map::GET, args)
    }

    /// Queues `d[key] = value`.
    ///
    /// # Examples
    /// See [`Batch`].
    pub fn dict_set<K: Serialize, V: Serialize>(&mut self, d: &DictProxy<K, V>, key: &K, value: &V) -> Pending<()> {
        let args = blob(key).and_then(|k| Ok(crate::codec::encode(&(k, blob(value)?))?));
        self.push(d.base(), method::map::SET, args)
    }

    /// Queues `l.append(value)`.
    ///
    /// # Examples
    /// See [`Batch`].
    pub fn list_append<T: Serialize>(&mut self, l: &ListProxy<T>, value: &T) -> Pending<()> {
        let args = blob(value).and_then(|v| Ok(crate::codec::encode(&v)?));
        self.push(l.base(), method::seq::APPEND, args)
    }

    /// Queues `l[index]` (an `IndexError` result when out of range).
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let l = m.list_from([5u8, 6])?;
    /// let mut b = m.batch();
    /// let last = b.list_get(&l, -1);
    /// assert_eq!(b.run()?.get(last)?, 6);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn list_get<T: DeserializeOwned>(&mut self, l: &ListProxy<T>, index: i64) -> Pending<T> {
        let args = crate::codec::encode(&index).map_err(ManagerError::from);
        self.push(l.base(), method::seq::GET, args)
    }

    /// Queues `v.get()`.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// let v = m.value(3u8)?;
    /// let mut b = m.batch();
    /// let x = b.value_get(&v);
    /// assert_eq!(b.run()?.get(x)?, 3);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn value_get<T: DeserializeOwned>(&mut self, v: &ValueProxy<T>) -> Pending<T> {
        self.push(v.base(), method::value::GET, Ok(Vec::new()))
    }

    /// Queues `v.set(x)`.
    ///
    /// # Examples
    /// See [`Batch`].
    pub fn value_set<T: Serialize>(&mut self, v: &ValueProxy<T>, x: &T) -> Pending<()> {
        let args = blob(x).and_then(|b| Ok(crate::codec::encode(&b)?));
        self.push(v.base(), method::value::SET, args)
    }

    /// Queues one method of a custom managed object.
    ///
    /// # Examples
    /// ```no_run
    /// # use multiproc::manager::{Managed, Manager};
    /// # struct Counter(i64);
    /// # impl Managed for Counter {
    /// #     const NAME: &'static str = "Counter";
    /// #     type Init = i64; type Request = i64; type Reply = i64;
    /// #     fn create(s: i64) -> Result<Counter, String> { Ok(Counter(s)) }
    /// #     fn call(&mut self, n: i64) -> Result<i64, String> { self.0 += n; Ok(self.0) }
    /// # }
    /// let m = Manager::builder().register::<Counter>().start()?;
    /// let (a, b) = (m.create::<Counter>(0)?, m.create::<Counter>(10)?);
    /// let mut batch = m.batch();
    /// let (x, y) = (batch.call(&a, 1), batch.call(&b, 1));
    /// let r = batch.run()?;
    /// assert_eq!((r.get(x)?, r.get(y)?), (1, 11));
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn call<T: Managed>(&mut self, p: &Proxy<T>, request: T::Request) -> Pending<T::Reply> {
        let args = crate::codec::encode(&request).map_err(ManagerError::from);
        self.push(p.base(), method::CALL, args)
    }

    /// How many calls are queued.
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert!(m.batch().is_empty());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Is nothing queued?
    ///
    /// # Examples
    /// ```no_run
    /// let m = multiproc::manager::Manager::start()?;
    /// assert_eq!(m.batch().len(), 0);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Sends every queued call in one round trip; the server runs them in order.
    ///
    /// # Errors
    /// A value that could not be encoded, a proxy of another manager (`TypeMismatch`), or the
    /// round trip's failure. Each call's own failure is in its result.
    ///
    /// # Examples
    /// See [`Batch`].
    pub fn run(self) -> Result<BatchResults, ManagerError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.calls.is_empty() {
            return Ok(BatchResults { results: Vec::new() });
        }
        let n = self.calls.len();
        match self.link.request(&Request::Batch(self.calls))? {
            Reply::Batch(results) if results.len() == n => Ok(BatchResults { results }),
            r => Err(unexpected(&r)),
        }
    }
}

impl BatchResults {
    /// The result of the call `pending` stands for.
    ///
    /// # Errors
    /// That call's failure (`KeyError`, `IndexError`, `Remote`, ...), or `Codec` when the
    /// value is not a `T`.
    ///
    /// # Panics
    /// If `pending` came from another batch with more calls than this one.
    ///
    /// # Examples
    /// See [`Batch`].
    pub fn get<T: DeserializeOwned>(&self, pending: Pending<T>) -> Result<T, ManagerError> {
        match &self.results[pending.index] {
            Ok(b) => Ok(crate::codec::decode(&b.0)?),
            Err(f) => Err(ManagerError::new(f.kind, f.message.clone())),
        }
    }
}
