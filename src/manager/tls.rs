//! TLS for remote managers: the settings ([`Tls`]), and the handshakes on each side (TLS
//! first, then the authkey handshake inside it).

use std::fmt;
use std::net::TcpStream;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ManagerError, ManagerErrorKind as K};
use crate::connection::tls::{TlsStream, client_config};
use crate::connection::{Address, Connection, answer_challenge, deliver_challenge};

/// How long a TLS handshake may take, on either side.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS settings of a remote manager: a server's certificate chain and key, and what a
/// client trusts and expects the server to be named.
///
/// The authkey handshake still runs, inside TLS: TLS makes the link private and proves the
/// server's identity, the authkey proves the client's.
///
/// # Examples
/// ```no_run
/// use multiproc::manager::{Manager, Tls};
/// let cert = std::fs::read("server.pem")?; // a chain of PEM certificates
/// let key = std::fs::read("server.key")?; // its PEM private key
/// let server = Manager::builder().address("0.0.0.0:50000").authkey(b"secret").tls(Tls::server(&cert, &key)).start()?;
/// let ca = std::fs::read("ca.pem")?;
/// let client = Manager::connect_tls("manager.example.org:50000", b"secret", Tls::client(&ca, "manager.example.org"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Tls {
    pub(crate) identity: Option<(Vec<u8>, Vec<u8>)>,
    pub(crate) client: TlsClient,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server", &self.identity.is_some())
            .field("server_name", &self.client.server_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// A server's settings: its PEM certificate chain and PEM private key. Its own clients
    /// (the starting manager, and the processes its proxies are passed to) trust that chain
    /// and expect the name `localhost`; change those with [`trust`](Tls::trust) and
    /// [`server_name`](Tls::server_name).
    ///
    /// # Examples
    /// ```no_run
    /// let tls = multiproc::manager::Tls::server(b"-----BEGIN CERTIFICATE-----...", b"-----BEGIN PRIVATE KEY-----...");
    /// ```
    pub fn server(cert_chain_pem: &[u8], key_pem: &[u8]) -> Tls {
        Tls {
            identity: Some((cert_chain_pem.to_vec(), key_pem.to_vec())),
            client: TlsClient::new(cert_chain_pem.to_vec(), "localhost".into()),
        }
    }

    /// A client's settings: the PEM certificates it trusts (a CA's, or the server's own
    /// self-signed one) and the name the server's certificate must carry.
    ///
    /// # Examples
    /// ```no_run
    /// let tls = multiproc::manager::Tls::client(b"-----BEGIN CERTIFICATE-----...", "manager.example.org");
    /// ```
    pub fn client(trust_pem: &[u8], server_name: &str) -> Tls {
        Tls { identity: None, client: TlsClient::new(trust_pem.to_vec(), server_name.into()) }
    }

    /// The certificates clients trust (PEM).
    ///
    /// # Examples
    /// ```no_run
    /// let tls = multiproc::manager::Tls::server(b"cert", b"key").trust(b"ca");
    /// ```
    pub fn trust(mut self, trust_pem: &[u8]) -> Tls {
        self.client = TlsClient::new(trust_pem.to_vec(), self.client.server_name);
        self
    }

    /// The name clients expect in the server's certificate.
    ///
    /// # Examples
    /// ```no_run
    /// let tls = multiproc::manager::Tls::server(b"cert", b"key").server_name("manager.internal");
    /// ```
    pub fn server_name(mut self, name: &str) -> Tls {
        self.client = TlsClient::new(self.client.trust_pem, name.into());
        self
    }
}

/// What a client needs to reach a TLS server; travels inside proxies' tokens.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct TlsClient {
    trust_pem: Vec<u8>,
    server_name: String,
    #[serde(skip)]
    config: Arc<OnceLock<Arc<rustls::ClientConfig>>>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

impl PartialEq for TlsClient {
    fn eq(&self, other: &TlsClient) -> bool {
        self.trust_pem == other.trust_pem && self.server_name == other.server_name
    }
}

impl TlsClient {
    fn new(trust_pem: Vec<u8>, server_name: String) -> TlsClient {
        TlsClient { trust_pem, server_name, config: Arc::default() }
    }

    fn config(&self) -> Result<Arc<rustls::ClientConfig>, ManagerError> {
        if let Some(c) = self.config.get() {
            return Ok(c.clone());
        }
        let c = client_config(&self.trust_pem).map_err(|e| ManagerError::new(K::Connect, e.to_string()))?;
        Ok(self.config.get_or_init(|| c).clone())
    }
}

/// Connects to a TLS manager: TCP, the TLS handshake, then the authkey handshake (the
/// client's half first, as `Client` does).
pub(crate) fn dial(address: &Address, tls: &TlsClient, key: &[u8]) -> Result<Connection, ManagerError> {
    let Address::Tcp(sa) = address else {
        return Err(ManagerError::new(K::Connect, format!("TLS needs a TCP address, not {address}")));
    };
    let fail = |what: &str, e: &dyn fmt::Display| {
        ManagerError::new(K::Connect, format!("could not connect to the manager at {address}: {what}: {e}"))
    };
    let sock = TcpStream::connect_timeout(sa, HANDSHAKE_TIMEOUT).map_err(|e| fail("connect", &e))?;
    let _ = sock.set_nodelay(true);
    let stream = TlsStream::connect(sock, tls.config()?, &tls.server_name, HANDSHAKE_TIMEOUT)
        .map_err(|e| fail("the TLS handshake failed (check the trusted certificates and the server name)", &e))?;
    let conn = Connection::tls(stream);
    answer_challenge(&conn, key).and_then(|()| deliver_challenge(&conn, key)).map_err(|e| {
        if e.is_authentication() {
            let msg = format!("the manager at {address} refused this client's authkey ({e}); use the authkey the server was started with");
            ManagerError::with_source(K::Authentication, msg, e)
        } else {
            ManagerError::with_source(K::Connect, format!("the authkey handshake with {address} failed: {e}"), e)
        }
    })?;
    Ok(conn)
}

/// The server's side for one accepted socket: the TLS handshake, then the authkey
/// handshake (the server's half first, as `Listener::accept` does).
pub(crate) fn accept(
    sock: TcpStream,
    config: Arc<rustls::ServerConfig>,
    key: &[u8],
    max_message: usize,
) -> Result<Connection, String> {
    let _ = sock.set_nodelay(true);
    let stream = TlsStream::accept(sock, config, HANDSHAKE_TIMEOUT).map_err(|e| e.to_string())?;
    let mut conn = Connection::tls(stream);
    deliver_challenge(&conn, key).and_then(|()| answer_challenge(&conn, key)).map_err(|e| e.to_string())?;
    conn.set_max_message(max_message);
    Ok(conn)
}
