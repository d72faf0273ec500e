//! The client's TLS settings (rustls, ring provider) and the TLS handshake.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::ClientConfig;
use crate::error::{Error, Result};

/// Where CA bundles live on common Linux distributions and macOS, tried when neither
/// `ssl.ca.location` nor `ssl.ca.pem` is set (as librdkafka falls back to the system store).
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(key: &str, reason: impl Into<String>) -> Error {
    Error::Config { key: key.to_owned(), reason: reason.into() }
}

/// PEM text from `<key>.location` (a file) or `<key>.pem` (inline), whichever is set.
fn pem_source(config: &ClientConfig, location_key: &str, pem_key: &str) -> Result<Option<(String, Vec<u8>)>> {
    match (config.get(location_key), config.get(pem_key)) {
        (Some(_), Some(_)) => Err(config_error(pem_key, format!("set either {location_key} or {pem_key}, not both"))),
        (Some(path), None) => std::fs::read(path)
            .map(|bytes| Some((location_key.to_owned(), bytes)))
            .map_err(|e| config_error(location_key, format!("cannot read {path}: {e}"))),
        (None, Some(pem)) => Ok(Some((pem_key.to_owned(), pem.as_bytes().to_vec()))),
        (None, None) => Ok(None),
    }
}

fn certificates(key: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(key, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(key, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(certs)
}

fn roots(config: &ClientConfig) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    let (key, pem) = match pem_source(config, "ssl.ca.location", "ssl.ca.pem")? {
        Some(found) => found,
        None => {
            let Some(path) = SYSTEM_CA_BUNDLES.iter().find(|p| std::path::Path::new(p).exists()) else {
                return Err(config_error("ssl.ca.location", "required: no system CA bundle found"));
            };
            let bytes =
                std::fs::read(path).map_err(|e| config_error("ssl.ca.location", format!("cannot read {path}: {e}")))?;
            ("ssl.ca.location".to_owned(), bytes)
        }
    };
    for cert in certificates(&key, &pem)? {
        store.add(cert).map_err(|e| config_error(&key, format!("unusable CA certificate: {e}")))?;
    }
    Ok(store)
}

/// Builds the rustls client config from `ssl.*`.
pub(crate) fn client_config(config: &ClientConfig) -> Result<rustls::ClientConfig> {
    let roots = Arc::new(roots(config)?);
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error("security.protocol", format!("TLS setup: {e}")))?;
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| config_error("ssl.ca.location", format!("TLS setup: {e}")))?;
    let verify_hostname = config.get("ssl.endpoint.identification.algorithm") != Some("none");
    let builder = if verify_hostname {
        builder.with_webpki_verifier(verifier)
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoHostnameVerifier(verifier)))
    };
    let cert = pem_source(config, "ssl.certificate.location", "ssl.certificate.pem")?;
    let key = pem_source(config, "ssl.key.location", "ssl.key.pem")?;
    match (cert, key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some((cert_key, cert_pem)), Some((key_key, key_pem))) => {
            let chain = certificates(&cert_key, &cert_pem)?;
            let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                config_error(&key_key, format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1; unencrypted): {e}"))
            })?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| config_error(&key_key, format!("does not match the certificate: {e}")))
        }
        (Some((k, _)), None) => Err(config_error("ssl.key.location", format!("required with {k}"))),
        (None, Some((k, _))) => Err(config_error("ssl.certificate.location", format!("required with {k}"))),
    }
}

/// Chain verification as usual, but a certificate for another name is accepted
/// (`ssl.endpoint.identification.algorithm=none`).
#[derive(Debug)]
struct NoHostnameVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NoHostnameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Runs the TLS handshake over an open TCP connection to `addr` (host:port).
pub(crate) async fn handshake(
    config: Arc<rustls::ClientConfig>,
    addr: &str,
    tcp: TcpStream,
    timeout: std::time::Duration,
) -> Result<TlsStream<TcpStream>> {
    let tls_error = |reason: String| Error::Tls { broker: addr.to_owned(), reason };
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr).trim_matches(['[', ']']);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| tls_error(format!("{host:?} is not a valid server name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => Err(tls_error(format!("no TLS handshake within {} ms", timeout.as_millis()))),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(tls_error(describe(&e))),
    }
}

/// Names the cause of a failed handshake in words an operator can act on.
fn describe(e: &std::io::Error) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => format!("broker certificate rejected: {c:?}"),
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("broker refused the handshake ({alert:?}); a client certificate may be missing or untrusted")
        }
        Some(other) => format!("TLS handshake failed: {other}"),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof || e.kind() == std::io::ErrorKind::ConnectionReset => {
            "broker closed the connection during the TLS handshake: is this a TLS listener?".into()
        }
        None => format!("TLS handshake failed: {e}"),
    }
}
