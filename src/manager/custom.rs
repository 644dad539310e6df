//! Custom managed types (`BaseManager.register`): a type implements [`Managed`], is
//! registered on the [`ManagerBuilder`](super::ManagerBuilder) that starts the server, and
//! is used through a [`Proxy`].
//!
//! The server runs only the registered type's own `create` and `call`, on requests it
//! decodes as the type's `Request` enum: a method is a variant, so no bytes can name
//! anything else. An `Err` from `call` comes back as [`ManagerErrorKind::Remote`], a panic
//! as [`ManagerErrorKind::RemotePanic`]; the object stays, and the server goes on.
//!
//! [`ManagerErrorKind::Remote`]: super::ManagerErrorKind::Remote
//! [`ManagerErrorKind::RemotePanic`]: super::ManagerErrorKind::RemotePanic

use std::marker::PhantomData;
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::base::{BaseProxy, blob, unblob};
use super::error::{ManagerError, ManagerErrorKind as K};
use super::link::unexpected;
use super::object::{Cx, Object, args, lock, ok};
use super::protocol::{Blob, Call, Fault, Reply, Request, method};

/// A type whose values live in a manager's server and are used through a [`Proxy`].
///
/// Its methods are the variants of [`Request`](Managed::Request); [`call`](Managed::call)
/// runs one in the server and answers with a [`Reply`](Managed::Reply).
///
/// # Examples
/// ```no_run
/// use multiproc::manager::{Managed, Manager, Proxy};
/// use serde::{Deserialize, Serialize};
///
/// struct Counter(i64);
///
/// #[derive(Serialize, Deserialize)]
/// enum CounterOp { Add(i64), Get }
///
/// impl Managed for Counter {
///     const NAME: &'static str = "Counter";
///     type Init = i64;
///     type Request = CounterOp;
///     type Reply = i64;
///     fn create(start: i64) -> Result<Counter, String> {
///         Ok(Counter(start))
///     }
///     fn call(&mut self, op: CounterOp) -> Result<i64, String> {
///         match op {
///             CounterOp::Add(n) => {
///                 self.0 = self.0.checked_add(n).ok_or("the counter would overflow")?;
///                 Ok(self.0)
///             }
///             CounterOp::Get => Ok(self.0),
///         }
///     }
/// }
///
/// // A typed face for the proxy, written against the trait.
/// trait CounterProxy {
///     fn add(&self, n: i64) -> Result<i64, multiproc::manager::ManagerError>;
/// }
/// impl CounterProxy for Proxy<Counter> {
///     fn add(&self, n: i64) -> Result<i64, multiproc::manager::ManagerError> {
///         self.call(CounterOp::Add(n))
///     }
/// }
///
/// let m = Manager::builder().register::<Counter>().start()?;
/// let c = m.create::<Counter>(10)?;
/// assert_eq!(c.add(5)?, 15);
/// assert!(c.add(i64::MAX).unwrap_err().is_remote());
/// assert_eq!(c.call(CounterOp::Get)?, 15);
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub trait Managed: Send + Sized + 'static {
    /// The type's name on the server (unique among the manager's registered types).
    const NAME: &'static str;
    /// The constructor's arguments.
    type Init: Serialize + DeserializeOwned;
    /// The methods, as one request type (an enum, one variant per method).
    type Request: Serialize + DeserializeOwned;
    /// What a method answers.
    type Reply: Serialize + DeserializeOwned;

    /// Makes a value in the server.
    ///
    /// # Errors
    /// A message, returned to the creator as a `Remote` error.
    fn create(init: Self::Init) -> Result<Self, String>;

    /// Runs one method in the server.
    ///
    /// # Errors
    /// A message, returned to the caller as a `Remote` error.
    fn call(&mut self, request: Self::Request) -> Result<Self::Reply, String>;
}

/// The server side of a custom type.
struct Custom<T>(Mutex<T>);

impl<T: Managed> Object for Custom<T> {
    fn type_name(&self) -> &str {
        T::NAME
    }

    fn call(&self, m: u16, a: &[u8], _cx: &Cx<'_>) -> Result<Vec<u8>, Fault> {
        if m != method::CALL {
            return Err(Fault::new(K::NoSuchMethod, format!("a {} has no method number {m}", T::NAME)));
        }
        let req: T::Request = args(a)?;
        let reply = lock(&self.0).call(req).map_err(|msg| Fault::new(K::Remote, msg))?;
        ok(&reply)
    }
}

/// Makes a `T` from its encoded constructor arguments (the registered factory).
pub(crate) fn factory<T: Managed>(init: Blob) -> Result<Box<dyn Object>, Fault> {
    let init: T::Init = args(&init.0)?;
    let value = T::create(init).map_err(|msg| Fault::new(K::Remote, msg))?;
    Ok(Box::new(Custom(Mutex::new(value))))
}

/// A proxy of a custom managed type `T` (made by [`Manager::create`](super::Manager::create)).
///
/// # Examples
/// See [`Managed`].
pub struct Proxy<T> {
    base: BaseProxy,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Proxy<T> {
    fn clone(&self) -> Self {
        Proxy { base: self.base.clone(), _t: PhantomData }
    }
}

impl<T> std::fmt::Debug for Proxy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.base, f)
    }
}

impl<T> Serialize for Proxy<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.base.serialize(s)
    }
}

impl<'de, T> serde::Deserialize<'de> for Proxy<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Proxy { base: BaseProxy::deserialize(d)?, _t: PhantomData })
    }
}

impl<T: Managed> super::ManagedProxy for Proxy<T> {
    const TYPE_NAME: &'static str = T::NAME;
    fn base(&self) -> &BaseProxy {
        &self.base
    }
    fn from_base(base: BaseProxy) -> Result<Self, ManagerError> {
        super::base::check_type(&base, T::NAME)?;
        Ok(Proxy { base, _t: PhantomData })
    }
}

impl<T: Managed> Proxy<T> {
    /// Runs one method of the object in the server.
    ///
    /// # Errors
    /// `Remote` with the method's message, `RemotePanic` if it panicked, or a connection
    /// failure.
    ///
    /// # Examples
    /// See [`Managed`].
    pub fn call(&self, request: T::Request) -> Result<T::Reply, ManagerError> {
        self.base.call(method::CALL, &request)
    }

    /// Runs many methods in one round trip, in order; each has its own result.
    ///
    /// # Errors
    /// The outer error is the round trip's; the inner ones are each method's.
    ///
    /// # Examples
    /// ```no_run
    /// # use multiproc::manager::{Managed, Manager, Proxy};
    /// # struct Counter(i64);
    /// # impl Managed for Counter {
    /// #     const NAME: &'static str = "Counter";
    /// #     type Init = i64; type Request = i64; type Reply = i64;
    /// #     fn create(s: i64) -> Result<Counter, String> { Ok(Counter(s)) }
    /// #     fn call(&mut self, n: i64) -> Result<i64, String> { self.0 += n; Ok(self.0) }
    /// # }
    /// let m = Manager::builder().register::<Counter>().start()?;
    /// let c = m.create::<Counter>(0)?;
    /// let all: Vec<i64> = c.call_many([1, 2, 3])?.into_iter().collect::<Result<_, _>>()?;
    /// assert_eq!(all, vec![1, 3, 6]);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn call_many(
        &self,
        requests: impl IntoIterator<Item = T::Request>,
    ) -> Result<Vec<Result<T::Reply, ManagerError>>, ManagerError> {
        let calls = requests
            .into_iter()
            .map(|r| Ok(Call { object: self.base.object, method: method::CALL, args: blob(&r)? }))
            .collect::<Result<Vec<_>, ManagerError>>()?;
        match self.base.link.request(&Request::Batch(calls))? {
            Reply::Batch(results) => Ok(results
                .into_iter()
                .map(|r| match r {
                    Ok(b) => unblob(&b.0),
                    Err(f) => Err(ManagerError::new(f.kind, f.message)),
                })
                .collect()),
            r => Err(unexpected(&r)),
        }
    }
}
