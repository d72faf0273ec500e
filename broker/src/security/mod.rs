//! Listener security: which protocol each listener speaks (Kafka's `listeners` and
//! `listener.security.protocol.map`), the TLS server settings, the SASL users with their
//! salted SCRAM credentials, and the principal a connection acts as.

pub(crate) mod acl;
pub(crate) mod credentials;
pub(crate) mod oauth;
pub(crate) mod scram;
mod x509;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore};

use crate::error::{Error, Result};
pub use scram::ScramCredential;

/// Kafka's four security protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// One entry of `listeners`: `NAME://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    pub name: String,
    pub protocol: SecurityProtocol,
    pub addr: String,
}

/// Parses `listeners` (`NAME://host:port,...`) with `listener.security.protocol.map`
/// (`NAME:PROTOCOL,...`); a name that is itself a protocol needs no map entry, as in Kafka.
pub fn parse_listeners(listeners: &str, map: &str) -> Result<Vec<ListenerSpec>> {
    let bad = |what: String| Error::Config(format!("listeners: {what}"));
    let protocols = parse_protocol_map(map)?;
    let mut out: Vec<ListenerSpec> = Vec::new();
    for entry in listeners.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, addr) = entry.split_once("://").ok_or_else(|| bad(format!("{entry:?} is not NAME://host:port")))?;
        let name = name.trim().to_ascii_uppercase();
        let protocol = match protocols.get(&name) {
            Some(p) => *p,
            None => SecurityProtocol::parse(&name).ok_or_else(|| {
                bad(format!("listener {name} is not a security protocol and not in listener.security.protocol.map"))
            })?,
        };
        if out.iter().any(|l| l.name == name) {
            return Err(bad(format!("listener {name} is given twice")));
        }
        // Kafka writes an empty host for "all interfaces".
        let addr = match addr.strip_prefix(':') {
            Some(port) => format!("0.0.0.0:{port}"),
            None => addr.to_owned(),
        };
        out.push(ListenerSpec { name, protocol, addr });
    }
    if out.is_empty() {
        return Err(bad("no listener given".into()));
    }
    Ok(out)
}

/// Parses `listener.security.protocol.map`.
pub(crate) fn parse_protocol_map(map: &str) -> Result<BTreeMap<String, SecurityProtocol>> {
    let mut protocols = BTreeMap::new();
    for entry in map.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, proto) = entry
            .split_once(':')
            .ok_or_else(|| Error::Config(format!("listener.security.protocol.map: {entry:?} is not NAME:PROTOCOL")))?;
        let proto = SecurityProtocol::parse(proto).ok_or_else(|| {
            Error::Config(format!(
                "listener.security.protocol.map: {proto:?} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
            ))
        })?;
        protocols.insert(name.trim().to_ascii_uppercase(), proto);
    }
    Ok(protocols)
}

/// `ssl.client.auth`: whether TLS clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    #[default]
    None,
    Requested,
    Required,
}

/// The TLS server settings shared by every TLS listener.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsSettings {
    /// `ssl.certificate.location`: PEM certificate chain.
    pub certificate: Option<PathBuf>,
    /// `ssl.key.location`: PEM private key.
    pub key: Option<PathBuf>,
    /// `ssl.ca.location`: PEM CA certificates that client certificates must chain to.
    pub ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

fn read_pem(key: &str, path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Config(format!("{key}: cannot read {}: {e}", path.display())))
}

fn certificates(key: &str, path: &PathBuf) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read_pem(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("{key}: {} is not PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!("{key}: {} holds no PEM certificate", path.display())));
    }
    Ok(certs)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // ring: a small C/asm build, where aws-lc-rs compiles all of AWS-LC with cmake.
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsSettings {
    /// The rustls server config, checked at start-up so a bad file fails the start.
    pub(crate) fn server_config(&self, client_auth: Option<ClientAuth>) -> Result<Arc<rustls::ServerConfig>> {
        let cert_path = self.certificate.as_ref().ok_or_else(|| {
            Error::Config("ssl.certificate.location is required by an SSL or SASL_SSL listener".into())
        })?;
        let key_path = self
            .key
            .as_ref()
            .ok_or_else(|| Error::Config("ssl.key.location is required by an SSL or SASL_SSL listener".into()))?;
        let chain = certificates("ssl.certificate.location", cert_path)?;
        let key = PrivateKeyDer::from_pem_slice(&read_pem("ssl.key.location", key_path)?).map_err(|e| {
            Error::Config(format!("ssl.key.location: {} holds no unencrypted PEM private key: {e}", key_path.display()))
        })?;
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS setup: {e}")))?;
        let builder = match client_auth.unwrap_or(self.client_auth) {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let ca_path = self.ca.as_ref().ok_or_else(|| {
                    Error::Config("ssl.ca.location is required when ssl.client.auth is requested or required".into())
                })?;
                let mut roots = RootCertStore::empty();
                for cert in certificates("ssl.ca.location", ca_path)? {
                    roots
                        .add(cert)
                        .map_err(|e| Error::Config(format!("ssl.ca.location: unusable CA certificate: {e}")))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
                let verifier = if auth == ClientAuth::Requested { verifier.allow_unauthenticated() } else { verifier };
                builder.with_client_cert_verifier(
                    verifier.build().map_err(|e| Error::Config(format!("ssl.ca.location: {e}")))?,
                )
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| Error::Config(format!("ssl.key.location does not match ssl.certificate.location: {e}")))?;
        Ok(Arc::new(config))
    }
}

/// `KafkaPrincipal` text: `User:<name>`.
pub(crate) fn user_principal(name: &str) -> String {
    format!("User:{name}")
}

/// The principal of a TLS client: its certificate's subject DN, as Kafka's default
/// `ssl.principal.mapping.rules` gives it; `User:ANONYMOUS` without a certificate.
pub(crate) fn tls_principal(peer_certs: Option<&[CertificateDer<'_>]>) -> String {
    match peer_certs.and_then(|c| c.first()).and_then(|c| x509::subject_dn(c.as_ref())) {
        Some(dn) => user_principal(&dn),
        None => ANONYMOUS.to_owned(),
    }
}

pub(crate) const ANONYMOUS: &str = "User:ANONYMOUS";

/// SASL users with salted SCRAM credentials (never the passwords).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Users {
    pub(crate) by_name: BTreeMap<String, UserCredentials>,
}

/// A user's credential for each SCRAM mechanism it has (a user added in the config file has
/// both; AlterUserScramCredentials may give or take away one).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct UserCredentials {
    pub(crate) sha256: Option<ScramCredential>,
    pub(crate) sha512: Option<ScramCredential>,
}

impl UserCredentials {
    pub(crate) fn get(&self, mechanism: scram::Mechanism) -> Option<&ScramCredential> {
        match mechanism {
            scram::Mechanism::Sha256 => self.sha256.as_ref(),
            scram::Mechanism::Sha512 => self.sha512.as_ref(),
        }
    }

    pub(crate) fn slot(&mut self, mechanism: scram::Mechanism) -> &mut Option<ScramCredential> {
        match mechanism {
            scram::Mechanism::Sha256 => &mut self.sha256,
            scram::Mechanism::Sha512 => &mut self.sha512,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sha256.is_none() && self.sha512.is_none()
    }
}

impl Users {
    /// Adds (or replaces) a user, salting its password for both SCRAM mechanisms.
    pub fn add(&mut self, name: &str, password: &str) -> Result<()> {
        if name.is_empty() || password.is_empty() {
            return Err(Error::Config(format!("users.{name}: user name and password must not be empty")));
        }
        let sha256 = ScramCredential::new(scram::Mechanism::Sha256, password, scram::DEFAULT_ITERATIONS);
        let sha512 = ScramCredential::new(scram::Mechanism::Sha512, password, scram::DEFAULT_ITERATIONS);
        self.by_name.insert(name.to_owned(), UserCredentials { sha256: Some(sha256), sha512: Some(sha512) });
        Ok(())
    }

    pub(crate) fn scram(&self, name: &str, mechanism: scram::Mechanism) -> Option<&ScramCredential> {
        self.by_name.get(name).and_then(|u| u.get(mechanism))
    }

    /// PLAIN: checks the password against the user's stored SCRAM credential (SHA-256's, or
    /// SHA-512's for a user that has only that one).
    pub(crate) fn check_password(&self, name: &str, password: &str) -> Result<(), &'static str> {
        let Some(u) = self.by_name.get(name) else { return Err("unknown user") };
        match u.sha256.as_ref().or(u.sha512.as_ref()) {
            None => Err("unknown user"),
            Some(c) if c.matches_password(password) => Ok(()),
            Some(_) => Err("wrong password"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_parse_with_and_without_a_protocol_map() {
        let l = parse_listeners("PLAINTEXT://127.0.0.1:0, SECURE://127.0.0.1:0", "SECURE:SASL_SSL").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!((l[1].name.as_str(), l[1].protocol), ("SECURE", SecurityProtocol::SaslSsl));
        let e = parse_listeners("INTERNAL://127.0.0.1:0", "").unwrap_err().to_string();
        assert!(e.contains("INTERNAL"), "{e}");
        assert!(parse_listeners("SSL://a:1,SSL://b:2", "").is_err());
        assert!(parse_listeners("A://x:1", "A:TLS").is_err());
        assert_eq!(parse_listeners("SSL://:9093", "").unwrap()[0].addr, "0.0.0.0:9093");
    }

    #[test]
    fn plain_checks_against_the_salted_credential() {
        let mut users = Users::default();
        users.add("alice", "alice-pw").unwrap();
        assert!(users.check_password("alice", "alice-pw").is_ok());
        assert_eq!(users.check_password("alice", "nope"), Err("wrong password"));
        assert_eq!(users.check_password("bob", "alice-pw"), Err("unknown user"));
        assert!(!format!("{users:?}").contains("alice-pw"));
    }
}
