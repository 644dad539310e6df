//! [`BaseProxy`], what every proxy is underneath, and the [`ManagedProxy`] trait the typed
//! proxies share.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{ManagerError, ManagerErrorKind as K};
use super::link::{Key, Link};
use super::protocol::Blob;
use super::tls::TlsClient;
use crate::connection::Address;

/// What every proxy holds: the server's link, the object's number and its type's name.
///
/// Serializing a proxy writes a token (address, server instance, object number, type name,
/// and the authkey only when it is not the process's own); deserializing it in another
/// process, or reading it back from a managed container, gives a proxy of the same object.
///
/// # Examples
/// ```no_run
/// use multiproc::manager::{Manager, ManagedProxy};
/// let m = Manager::start()?;
/// let d = m.dict::<u8, u8>()?;
/// assert_eq!(d.base().type_name(), "dict");
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
#[derive(Clone)]
pub struct BaseProxy {
    pub(crate) link: Arc<Link>,
    pub(crate) object: u64,
    pub(crate) type_name: String,
}

impl fmt::Debug for BaseProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} proxy, object {} at {}>", self.type_name, self.object, self.link.address)
    }
}

impl BaseProxy {
    /// The object's number on its server.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::manager::{Manager, ManagedProxy};
    /// let m = Manager::start()?;
    /// let (a, b) = (m.list::<u8>()?, m.list::<u8>()?);
    /// assert_ne!(a.base().object_id(), b.base().object_id());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn object_id(&self) -> u64 {
        self.object
    }

    /// The name of the object's type on the server (`"dict"`, `"lock"`, a custom type's
    /// name).
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::manager::{Manager, ManagedProxy};
    /// let m = Manager::start()?;
    /// assert_eq!(m.lock()?.base().type_name(), "lock");
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The server's address.
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::manager::{Manager, ManagedProxy};
    /// let m = Manager::start()?;
    /// assert_eq!(m.event()?.base().address(), m.address());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn address(&self) -> &Address {
        &self.link.address
    }

    /// Calls `method` with already encoded arguments.
    pub(crate) fn call_raw(&self, method: u16, args: Vec<u8>) -> Result<Vec<u8>, ManagerError> {
        self.link.call(self.object, method, args)
    }

    /// Calls `method` with `args`; returns the encoded result.
    pub(crate) fn call_bytes<A: Serialize + ?Sized>(&self, method: u16, args: &A) -> Result<Vec<u8>, ManagerError> {
        self.call_raw(method, crate::codec::encode(args)?)
    }

    /// Calls `method` with `args`; decodes the result as `R`.
    pub(crate) fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: u16,
        args: &A,
    ) -> Result<R, ManagerError> {
        let out = self.call_raw(method, crate::codec::encode(args)?)?;
        Ok(crate::codec::decode(&out)?)
    }
}

/// The token a proxy is serialized as.
#[derive(Serialize, Deserialize)]
struct Token {
    address: Address,
    key: Key,
    tls: Option<TlsClient>,
    instance: u64,
    object: u64,
    type_name: String,
}

impl Serialize for BaseProxy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Token {
            address: self.link.address.clone(),
            key: self.link.key().clone(),
            tls: self.link.tls().cloned(),
            instance: self.link.instance,
            object: self.object,
            type_name: self.type_name.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for BaseProxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BaseProxy, D::Error> {
        let t = Token::deserialize(d)?;
        Ok(BaseProxy {
            link: Link::find(t.address, t.key, t.tls, t.instance),
            object: t.object,
            type_name: t.type_name,
        })
    }
}

/// What every typed proxy is: a [`BaseProxy`] with the types of what it holds. Proxies are
/// `Send + Sync` (use one from many threads at once), `Clone` (a clone names the same
/// object) and serde values (pass one to a child process, or store one in a managed
/// container).
///
/// # Examples
/// ```no_run
/// use multiproc::manager::{DictProxy, Manager, ManagedProxy};
/// fn describe<P: ManagedProxy>(p: &P) -> String {
///     format!("{} #{}", P::TYPE_NAME, p.base().object_id())
/// }
/// let m = Manager::start()?;
/// println!("{}", describe(&m.dict::<u8, u8>()?));
/// # Ok::<(), multiproc::manager::ManagerError>(())
/// ```
pub trait ManagedProxy: Sized + Clone + Send + Sync + Serialize + DeserializeOwned {
    /// The name of the server-side type this proxy stands for.
    const TYPE_NAME: &'static str;

    /// The untyped proxy underneath.
    fn base(&self) -> &BaseProxy;

    /// A typed proxy over `base`; fails unless `base` names an object of
    /// [`TYPE_NAME`](ManagedProxy::TYPE_NAME).
    ///
    /// # Errors
    /// [`ManagerErrorKind::TypeMismatch`](super::ManagerErrorKind::TypeMismatch).
    fn from_base(base: BaseProxy) -> Result<Self, ManagerError>;
}

/// The check every `from_base` makes.
pub(crate) fn check_type(base: &BaseProxy, want: &str) -> Result<(), ManagerError> {
    if base.type_name != want {
        return Err(ManagerError::new(
            K::TypeMismatch,
            format!("object {} is a {}, not a {want}; use the proxy type of its type", base.object, base.type_name),
        ));
    }
    Ok(())
}

/// Encodes `v` as a blob.
pub(crate) fn blob<T: Serialize + ?Sized>(v: &T) -> Result<Blob, ManagerError> {
    Ok(Blob(crate::codec::encode(v)?))
}

/// Decodes a blob.
pub(crate) fn unblob<T: DeserializeOwned>(b: &[u8]) -> Result<T, ManagerError> {
    Ok(crate::codec::decode(b)?)
}

/// Implements `Clone`, `Debug`, serde and [`ManagedProxy`] for a typed proxy struct with a
/// `base` field and a `PhantomData` `_t` field.
macro_rules! typed_proxy {
    ($name:ident, $type_name:expr) => {
        $crate::manager::base::typed_proxy!($name<>, $type_name);
    };
    ($name:ident < $($g:ident),* >, $type_name:expr) => {
        impl<$($g),*> Clone for $name<$($g),*> {
            fn clone(&self) -> Self {
                $name { base: self.base.clone(), _t: std::marker::PhantomData }
            }
        }
        impl<$($g),*> std::fmt::Debug for $name<$($g),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.base, f)
            }
        }
        impl<$($g),*> serde::Serialize for $name<$($g),*> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.base.serialize(s)
            }
        }
        impl<'de, $($g),*> serde::Deserialize<'de> for $name<$($g),*> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let base = $crate::manager::BaseProxy::deserialize(d)?;
                Ok($name { base, _t: std::marker::PhantomData })
            }
        }
        impl<$($g),*> $crate::manager::ManagedProxy for $name<$($g),*> {
            const TYPE_NAME: &'static str = $type_name;
            fn base(&self) -> &$crate::manager::BaseProxy {
                &self.base
            }
            fn from_base(base: $crate::manager::BaseProxy) -> Result<Self, $crate::manager::ManagerError> {
                $crate::manager::base::check_type(&base, $type_name)?;
                Ok($name { base, _t: std::marker::PhantomData })
            }
        }
    };
}
pub(crate) use typed_proxy;
