//! Which certificates the venue clients trust: the public web roots (Mozilla's, from
//! `webpki-roots`) by default, or instead the certificates of a PEM file (`--feed-ca-file`,
//! like curl's `--cacert`): a TLS-inspecting proxy, or a private exchange such as the simulator
//! with `--tls`. The same choice holds for the WebSocket connections and the REST calls.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_tungstenite::Connector;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::WebSocketConfig;

#[derive(Clone, Default)]
pub struct Trust {
    /// `None`: the public web roots.
    ca: Option<Arc<Vec<CertificateDer<'static>>>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.ca {
            None => f.write_str("Trust(public web roots)"),
            Some(certs) => write!(f, "Trust({} certificates of a CA file)", certs.len()),
        }
    }
}

impl Trust {
    /// The public web roots.
    pub fn public() -> Self {
        Trust { ca: None }
    }

    /// The certificates of a PEM file, instead of the public roots.
    pub fn ca_file(path: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Trust::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The certificates of PEM text, instead of the public roots.
    pub fn from_pem(pem: &[u8]) -> anyhow::Result<Self> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("not PEM certificates: {e}"))?;
        if certs.is_empty() {
            anyhow::bail!("no PEM certificates");
        }
        Ok(Trust { ca: Some(Arc::new(certs)) })
    }

    fn tls_config(&self) -> anyhow::Result<rustls::ClientConfig> {
        let mut roots = RootCertStore::empty();
        match &self.ca {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(certs) => {
                let (_, ignored) = roots.add_parsable_certificates(certs.iter().cloned());
                if ignored > 0 {
                    anyhow::bail!("{ignored} certificates of the CA file are not usable as roots");
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }

    /// Opens a WebSocket to `url` (`ws://` plain, `wss://` over TLS with these roots); the TCP
    /// connection and the handshake together may take 30 s.
    pub async fn connect(&self, url: &str, config: WebSocketConfig) -> anyhow::Result<super::Socket> {
        let request = url.into_client_request()?;
        let connector = Connector::Rustls(Arc::new(self.tls_config()?));
        let handshake = tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, Some(connector));
        let (socket, _) = tokio::time::timeout(Duration::from_secs(30), handshake)
            .await
            .map_err(|_| anyhow::anyhow!("no handshake within 30 s"))?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(socket)
    }

    /// An HTTP agent for REST calls with these roots.
    pub fn http_agent(&self, timeout: Duration) -> ureq::Agent {
        let roots = match &self.ca {
            None => ureq::tls::RootCerts::WebPki,
            Some(certs) => ureq::tls::RootCerts::new_with_certs(
                &certs.iter().map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()).collect::<Vec<_>>(),
            ),
        };
        let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
        ureq::Agent::config_builder().timeout_global(Some(timeout)).tls_config(tls).build().new_agent()
    }
}
