//! The global start method: Python's `set_start_method`, `get_start_method` and
//! `get_all_start_methods`.

use super::globals::G;
use super::method::{ContextError, StartMethod};
use crate::util::lock;

/// Sets the start method used by [`Process::new`](crate::Process::new) and friends.
///
/// # Errors
/// A second call without `force` fails, as in Python (`context has already been set`).
///
/// # Examples
/// ```
/// use multiproc::{set_start_method, get_start_method, StartMethod};
/// set_start_method(Some(StartMethod::ForkServer), true).unwrap();
/// assert_eq!(get_start_method(), StartMethod::ForkServer);
/// assert!(set_start_method(Some(StartMethod::Fork), false).is_err());
/// set_start_method(None, true).unwrap(); // back to "not set"
/// ```
pub fn set_start_method(method: Option<StartMethod>, force: bool) -> Result<(), ContextError> {
    let mut g = lock(&G.method);
    if g.is_some() && !force {
        return Err(ContextError(format!(
            "context has already been set (to {}); pass force = true to change it",
            g.map(StartMethod::as_str).unwrap_or("none")
        )));
    }
    *g = method;
    Ok(())
}

/// The global start method, fixing it to the default ([`StartMethod::Spawn`]) if unset.
///
/// # Examples
/// ```
/// let m = multiproc::get_start_method();
/// assert!(multiproc::get_all_start_methods().contains(&m));
/// ```
pub fn get_start_method() -> StartMethod {
    let mut g = lock(&G.method);
    *g.get_or_insert(StartMethod::Spawn)
}

/// The global start method, or `None` if nothing set it yet (Python's `allow_none=True`).
///
/// # Examples
/// ```
/// let _ = multiproc::get_start_method_opt();
/// ```
pub fn get_start_method_opt() -> Option<StartMethod> {
    *lock(&G.method)
}

/// Every start method this platform supports, the default first.
///
/// # Examples
/// ```
/// use multiproc::StartMethod;
/// assert_eq!(multiproc::get_all_start_methods()[0], StartMethod::Spawn);
/// ```
pub fn get_all_start_methods() -> Vec<StartMethod> {
    vec![StartMethod::Spawn, StartMethod::ForkServer, StartMethod::Fork]
}
