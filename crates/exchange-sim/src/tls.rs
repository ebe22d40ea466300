//! `--tls`: the simulator serves `wss://` and `https://` with a certificate it makes at start,
//! signed by a CA of its own whose PEM the clients are given to trust (the producer's
//! `--feed-ca-file`), so the clients' real TLS path runs locally too.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// A CA and a server certificate for `localhost` and the listening host, signed by it.
pub struct Certificates {
    /// The CA certificate, PEM: what clients trust.
    pub ca_pem: String,
    chain_pem: String,
    key_pem: String,
    server: Arc<ServerConfig>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certificates")
    }
}

impl Certificates {
    pub fn generate(host: &str) -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "tickflow exchange-sim CA");
        let ca_cert = ca.self_signed(&ca_key)?;
        let server_key = KeyPair::generate()?;
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        if !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
        let server_cert = CertificateParams::new(names)?.signed_by(&server_key, &ca_cert, &ca_key)?;
        let chain = vec![server_cert.der().clone(), ca_cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(Certificates {
            ca_pem: ca_cert.pem(),
            chain_pem: format!("{}{}", server_cert.pem(), ca_cert.pem()),
            key_pem: server_key.serialize_pem(),
            server: Arc::new(server),
        })
    }

    /// The TLS side of an accepted connection.
    pub fn accept(&self, stream: TcpStream) -> anyhow::Result<Stream> {
        Ok(Stream::Tls(Box::new(StreamOwned::new(ServerConnection::new(self.server.clone())?, stream))))
    }

    /// The REST server's certificate and key.
    pub fn https(&self) -> tiny_http::SslConfig {
        tiny_http::SslConfig {
            certificate: self.chain_pem.clone().into_bytes(),
            private_key: self.key_pem.clone().into_bytes(),
        }
    }
}

/// A server connection: plain TCP, or TLS over it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    /// The TCP connection underneath (timeouts, shutdown).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(stream) => stream,
            Stream::Tls(tls) => tls.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(stream) => stream.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}
