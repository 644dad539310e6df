//! The [`Object`] trait every managed type implements on the server side, and the helpers
//! its methods share.

use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ManagerErrorKind as K;
use super::protocol::{Blob, Fault};

/// What a method call knows about its caller.
pub(crate) struct Cx<'a> {
    /// The connection the call came on (locks held by a connection are released when it
    /// closes).
    pub(crate) conn: u64,
    /// True once the caller is gone or misbehaving (its socket became readable while it
    /// waited for a reply): a blocking method gives up.
    pub(crate) abandoned: &'a dyn Fn() -> bool,
}

/// A managed object, server side.
pub(crate) trait Object: Send + Sync {
    /// The type's name, as proxies check it.
    fn type_name(&self) -> &str;
    /// Runs method `method` with encoded `args`; returns the encoded result.
    fn call(&self, method: u16, args: &[u8], cx: &Cx<'_>) -> Result<Vec<u8>, Fault>;
    /// Connection `conn` closed: give back what it held.
    fn connection_closed(&self, _conn: u64) {}
}

/// How a registered custom type is made from its encoded constructor arguments.
pub(crate) type Factory = fn(Blob) -> Result<Box<dyn Object>, Fault>;

/// Decodes a method's arguments.
pub(crate) fn args<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Fault> {
    crate::codec::decode(bytes).map_err(|e| Fault::new(K::Protocol, format!("malformed arguments: {e}")))
}

/// Decodes a method's arguments, borrowing byte strings from `bytes`.
pub(crate) fn args_ref<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Fault> {
    crate::codec::decode_borrowed(bytes).map_err(|e| Fault::new(K::Protocol, format!("malformed arguments: {e}")))
}

/// Encodes a method's result.
pub(crate) fn ok<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Fault> {
    crate::codec::encode(value).map_err(|e| Fault::new(K::Codec, format!("the result could not be encoded: {e}")))
}

/// Locks `m`, taking the data even if a panicking method poisoned it (every method leaves
/// the data consistent before it can panic: panics come only from user code).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn no_such_method(type_name: &str, m: u16) -> Fault {
    Fault::new(K::NoSuchMethod, format!("a {type_name} has no method number {m}"))
}
