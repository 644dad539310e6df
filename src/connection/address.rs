//! Addresses: Python's `address` and `family` of `multiprocessing.connection`, and what can
//! be turned into one ([`ToAddress`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::error::ConnectionError;

/// Where a [`Listener`] listens and a [`Client`] connects.
///
/// Strings are read as CPython reads them, plus `host:port` for TCP (Python uses a tuple,
/// which works too: `("localhost", 6000)`): `"\0name"` is a Linux abstract socket, a socket
/// address (`"127.0.0.1:6000"`, `"[::1]:6000"`) or a host name and port without a `/`
/// (`"localhost:6000"`, resolved to its first address) is TCP, and any other string is a
/// Unix socket path (write `"./name:80"` for a relative path of that shape). A Windows pipe
/// name (`\\.\pipe\x`) is rejected.
///
/// # Examples
/// ```
/// use multiproc::connection::{Address, ToAddress};
/// assert!(matches!("127.0.0.1:6000".to_address()?, Address::Tcp(_)));
/// assert!(matches!("localhost:6000".to_address()?, Address::Tcp(a) if a.ip().is_loopback()));
/// assert_eq!(("127.0.0.1", 6000).to_address()?.to_string(), "127.0.0.1:6000");
/// assert!(matches!("./localhost:6000".to_address()?, Address::Unix(_)));
/// assert!(matches!("\0my-service".to_address()?, Address::Abstract(_)));
/// assert!(matches!("/tmp/my.sock".to_address()?, Address::Unix(_)));
/// assert!(r"\\.\pipe\x".to_address().is_err());
/// # Ok::<(), multiproc::connection::ConnectionError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Address {
    /// A Unix socket at a filesystem path.
    Unix(PathBuf),
    /// A Linux abstract Unix socket name (without the leading NUL).
    Abstract(Vec<u8>),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl Address {
    /// The family this address belongs to.
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::{Family, ToAddress};
    /// assert_eq!("/tmp/x.sock".to_address()?.family(), Family::Unix);
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    pub fn family(&self) -> Family {
        match self {
            Address::Unix(_) | Address::Abstract(_) => Family::Unix,
            Address::Tcp(_) => Family::Tcp,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "{}", p.display()),
            Address::Abstract(n) => write!(f, "\\0{}", String::from_utf8_lossy(n)),
            Address::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// An address family (Python: `'AF_UNIX'`, `'AF_INET'`/`'AF_INET6'`).
///
/// # Examples
/// ```
/// use multiproc::connection::{Family, Listener};
/// let l = Listener::builder().family(Family::Unix).bind()?;
/// assert_eq!(l.address().family(), Family::Unix);
/// # Ok::<(), multiproc::connection::ConnectionError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Unix-domain sockets (paths and abstract names).
    Unix,
    /// TCP over IPv4 or IPv6.
    Tcp,
}

/// Anything that names an [`Address`].
///
/// # Examples
/// ```
/// use multiproc::connection::ToAddress;
/// let a = std::net::SocketAddr::from(([127, 0, 0, 1], 0)).to_address()?;
/// assert_eq!(a.to_string(), "127.0.0.1:0");
/// # Ok::<(), multiproc::connection::ConnectionError>(())
/// ```
pub trait ToAddress {
    /// Converts to an [`Address`].
    ///
    /// # Examples
    /// ```
    /// use multiproc::connection::{Address, ToAddress};
    /// assert_eq!("/run/app.sock".to_address()?, Address::Unix("/run/app.sock".into()));
    /// # Ok::<(), multiproc::connection::ConnectionError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConnectionError::InvalidArgument`] for an address no family on this platform accepts.
    fn to_address(&self) -> Result<Address, ConnectionError>;
}

impl ToAddress for Address {
    fn to_address(&self) -> Result<Address, ConnectionError> {
        Ok(self.clone())
    }
}

impl ToAddress for str {
    fn to_address(&self) -> Result<Address, ConnectionError> {
        if let Some(name) = self.strip_prefix('\0') {
            return Ok(Address::Abstract(name.as_bytes().to_vec()));
        }
        if self.starts_with("\\\\") {
            return Err(ConnectionError::InvalidArgument(format!(
                "{self:?} is a Windows named-pipe address (AF_PIPE), which this platform does not support; use a Unix path, \"\\0name\" or host:port"
            )));
        }
        if let Ok(a) = self.parse::<SocketAddr>() {
            return Ok(Address::Tcp(a));
        }
        if let Some((host, port)) = host_and_port(self) {
            return (host, port).to_address();
        }
        if self.is_empty() {
            return Err(ConnectionError::InvalidArgument("an empty address".into()));
        }
        Ok(Address::Unix(PathBuf::from(self)))
    }
}

/// `"name:port"` with a plausible host name (letters, digits, `-`, `.`) and a port number.
fn host_and_port(s: &str) -> Option<(&str, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let host_ok = !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && host.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !host_ok || port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

/// Python's `(host, port)` tuple: the host is resolved, and its first address is used.
impl ToAddress for (&str, u16) {
    fn to_address(&self) -> Result<Address, ConnectionError> {
        let (host, port) = *self;
        let mut addrs = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
            .map_err(|e| ConnectionError::InvalidArgument(format!("cannot resolve host {host:?}: {e}")))?;
        addrs
            .next()
            .map(Address::Tcp)
            .ok_or_else(|| ConnectionError::InvalidArgument(format!("host {host:?} has no address")))
    }
}

impl ToAddress for (String, u16) {
    fn to_address(&self) -> Result<Address, ConnectionError> {
        (self.0.as_str(), self.1).to_address()
    }
}

impl ToAddress for (std::net::IpAddr, u16) {
    fn to_address(&self) -> Result<Address, ConnectionError> {
        Ok(Address::Tcp(SocketAddr::from(*self)))
    }
}

impl ToAddress for String {
    fn to_address(&self) -> Result<Address, ConnectionError> {
        self.as_str().to_address()
    }
}

impl ToAddress for SocketAddr {
    fn to_address(&self) -> Result<Address, ConnectionError> {
        Ok(Address::Tcp(*self))
    }
}

impl ToAddress for Path {
    fn to_address(&self) -> Result<Address, ConnectionError> {
        Ok(Address::Unix(self.to_path_buf()))
    }
}

impl ToAddress for PathBuf {
    fn to_address(&self) -> Result<Address, ConnectionError> {
        Ok(Address::Unix(self.clone()))
    }
}

impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_address(&self) -> Result<Address, ConnectionError> {
        (**self).to_address()
    }
}
