//! TLS (rustls) under a [`Connection`](super::Connection): the second [`Transport`] flavor,
//! for links that leave the machine (remote managers).
//!
//! A [`TlsStream`] is a TCP socket and a rustls session. Framing sees plaintext: `write_all`
//! puts the parts into the session and writes the records out; `read` returns plaintext the
//! session holds, reading and decrypting records as needed; a message's bytes that the
//! session has already decrypted count as readable ([`TlsStream::readable_now`]). There is no
//! cheap non-blocking read (`try_read` answers `None`, as a pipe does). Descriptors cannot
//! travel, and a TLS connection cannot be cloned or sent to another process (the session's
//! keys live in this one).
//!
//! [`Transport`]: super::transport::Transport

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::error::ConnectionError;

/// A TCP socket with a rustls session on it.
pub(crate) struct TlsStream {
    sock: TcpStream,
    session: RefCell<rustls::Connection>,
}

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

impl TlsStream {
    /// Runs the TLS handshake on `sock` as `session`'s side, within `timeout`.
    fn handshake(sock: TcpStream, mut session: rustls::Connection, timeout: Duration) -> io::Result<TlsStream> {
        let deadline = Instant::now().checked_add(timeout);
        let mut io = &sock;
        while session.is_handshaking() {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake took too long"));
            }
            sock.set_read_timeout(left)?;
            sock.set_write_timeout(left)?;
            session.complete_io(&mut io)?;
        }
        while session.wants_write() {
            session.write_tls(&mut io)?;
        }
        sock.set_read_timeout(None)?;
        sock.set_write_timeout(None)?;
        Ok(TlsStream { sock, session: RefCell::new(session) })
    }

    /// The server side of a handshake on an accepted socket.
    pub(crate) fn accept(
        sock: TcpStream,
        config: Arc<rustls::ServerConfig>,
        timeout: Duration,
    ) -> io::Result<TlsStream> {
        let session = rustls::ServerConnection::new(config).map_err(tls_err)?;
        TlsStream::handshake(sock, session.into(), timeout)
    }

    /// The client side of a handshake, checking that the server's certificate is valid for
    /// `server_name`.
    pub(crate) fn connect(
        sock: TcpStream,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
        timeout: Duration,
    ) -> io::Result<TlsStream> {
        let name = ServerName::try_from(server_name.to_string()).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad TLS server name {server_name:?}: {e}"))
        })?;
        let session = rustls::ClientConnection::new(config, name).map_err(tls_err)?;
        TlsStream::handshake(sock, session.into(), timeout)
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    fn flush(&self, s: &mut rustls::Connection) -> io::Result<()> {
        let mut io = &self.sock;
        while s.wants_write() {
            s.write_tls(&mut io)?;
        }
        Ok(())
    }

    pub(crate) fn write_all(&self, parts: &[&[u8]]) -> io::Result<()> {
        let mut s = self.session.borrow_mut();
        for part in parts {
            let mut rest = *part;
            while !rest.is_empty() {
                let n = s.writer().write(rest)?;
                rest = &rest[n..];
                if n == 0 || s.wants_write() {
                    self.flush(&mut s)?;
                }
            }
        }
        self.flush(&mut s)
    }

    /// Blocks until plaintext (returns how much it copied) or the end (`Ok(0)`).
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.session.borrow_mut();
        loop {
            match s.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed the socket without a close_notify: the end, as for TCP.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            let mut io = &self.sock;
            if s.read_tls(&mut io)? == 0 {
                return Ok(0);
            }
            s.process_new_packets().map_err(tls_err)?;
            self.flush(&mut s)?;
        }
    }

    /// Does the session hold plaintext (or the peer's close) now?
    fn buffered(&self) -> io::Result<bool> {
        let mut s = self.session.borrow_mut();
        let state = s.process_new_packets().map_err(tls_err)?;
        Ok(state.plaintext_bytes_to_read() > 0 || state.peer_has_closed())
    }

    pub(crate) fn readable_now(&self) -> io::Result<bool> {
        Ok(self.buffered()? || crate::sys::net::readable_now(self.sock.as_fd())?)
    }

    pub(crate) fn wait_readable(&self, deadline: Option<Instant>) -> io::Result<bool> {
        if self.buffered()? {
            return Ok(true);
        }
        Ok(!crate::sys::net::poll_raw(&[self.sock.as_raw_fd()], deadline)?.is_empty())
    }
}

/// A server's TLS settings from a PEM certificate chain and a PEM private key.
pub(crate) fn server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, ConnectionError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| ConnectionError::InvalidArgument(format!("TLS {what}: {e}"));
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate chain (PEM)", &e))?;
    if certs.is_empty() {
        return Err(bad("certificate chain", &"no certificate in the PEM text"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad("private key (PEM)", &e))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("settings", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate and key", &e))?;
    Ok(Arc::new(config))
}

/// A client's TLS settings trusting the PEM certificates in `ca_pem` (a CA, or the server's
/// own self-signed certificate).
pub(crate) fn client_config(ca_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, ConnectionError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| ConnectionError::InvalidArgument(format!("TLS {what}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(cert.map_err(|e| bad("trusted certificate (PEM)", &e))?)
            .map_err(|e| bad("trusted certificate", &e))?;
    }
    if roots.is_empty() {
        return Err(bad("trusted certificates", &"no certificate in the PEM text"));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("settings", &e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
