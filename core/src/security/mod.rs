//! Transport security for broker connections: TLS (rustls) and SASL authentication, chosen by
//! `security.protocol`. Everything that can be checked without a broker (certificate files,
//! the SASL mechanism and credentials) is checked once, when the client is built, so a
//! misconfiguration fails there with the key named instead of on every connection attempt.

pub(crate) mod sasl;
pub(crate) mod scram;
pub(crate) mod tls;

use std::fmt;
use std::sync::Arc;

use crate::config::ClientConfig;
use crate::error::{Error, Result};

/// Supplies OAUTHBEARER tokens. Called on every authentication (first connect and
/// re-authentication), so an implementation can refresh a token that is about to expire.
pub trait OAuthBearerTokenProvider: Send + Sync {
    /// The token (a JWS compact serialization or whatever the broker accepts) and optional
    /// SASL extensions (`key=value` pairs sent next to it, KIP-342).
    fn token(&self) -> std::result::Result<OAuthBearerToken, String>;
}

/// What an [`OAuthBearerTokenProvider`] returns.
#[derive(Clone, Default)]
pub struct OAuthBearerToken {
    pub value: String,
    pub extensions: Vec<(String, String)>,
}

impl<F> OAuthBearerTokenProvider for F
where
    F: Fn() -> std::result::Result<OAuthBearerToken, String> + Send + Sync,
{
    fn token(&self) -> std::result::Result<OAuthBearerToken, String> {
        self()
    }
}

/// The SASL mechanism and what it needs.
#[derive(Clone)]
pub(crate) enum SaslMechanism {
    Plain { username: String, password: String },
    Scram { mechanism: scram::ScramMechanism, username: String, password: String },
    OAuthBearer(Arc<dyn OAuthBearerTokenProvider>),
}

impl SaslMechanism {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            SaslMechanism::Plain { .. } => "PLAIN",
            SaslMechanism::Scram { mechanism, .. } => mechanism.name(),
            SaslMechanism::OAuthBearer(_) => "OAUTHBEARER",
        }
    }
}

/// How connections are secured, built from the client config.
#[derive(Clone, Default)]
pub(crate) struct Security {
    /// Present for SSL and SASL_SSL.
    pub(crate) tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    /// Present for SASL_PLAINTEXT and SASL_SSL.
    pub(crate) sasl: Option<SaslMechanism>,
}

// Hand-written so credentials never reach a log line.
impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(SaslMechanism::name))
            .finish()
    }
}

fn required<'a>(config: &'a ClientConfig, key: &str, why: &str) -> Result<&'a str> {
    config.get(key).ok_or_else(|| Error::Config { key: key.to_owned(), reason: format!("required {why}") })
}

impl Security {
    pub(crate) fn from_config(config: &ClientConfig) -> Result<Self> {
        let protocol = config.get("security.protocol").unwrap_or("PLAINTEXT").to_ascii_uppercase();
        let (use_tls, use_sasl) = match protocol.as_str() {
            "PLAINTEXT" => (false, false),
            "SSL" => (true, false),
            "SASL_PLAINTEXT" => (false, true),
            "SASL_SSL" => (true, true),
            other => {
                return Err(Error::Config {
                    key: "security.protocol".into(),
                    reason: format!("{other:?} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
                });
            }
        };
        let tls = if use_tls { Some(Arc::new(tls::client_config(config)?)) } else { None };
        let sasl = if use_sasl {
            let mechanism = config.get("sasl.mechanism").unwrap_or("PLAIN").to_ascii_uppercase();
            let why = format!("for sasl.mechanism={mechanism}");
            Some(match mechanism.as_str() {
                "PLAIN" => SaslMechanism::Plain {
                    username: required(config, "sasl.username", &why)?.to_owned(),
                    password: required(config, "sasl.password", &why)?.to_owned(),
                },
                "SCRAM-SHA-256" | "SCRAM-SHA-512" => SaslMechanism::Scram {
                    mechanism: if mechanism.ends_with("256") {
                        scram::ScramMechanism::Sha256
                    } else {
                        scram::ScramMechanism::Sha512
                    },
                    username: required(config, "sasl.username", &why)?.to_owned(),
                    password: required(config, "sasl.password", &why)?.to_owned(),
                },
                "OAUTHBEARER" => match config.oauthbearer_provider() {
                    Some(p) => SaslMechanism::OAuthBearer(p),
                    None => {
                        return Err(Error::Config {
                            key: "sasl.mechanism".into(),
                            reason: "OAUTHBEARER needs a token provider: ClientConfig::set_oauthbearer_token_provider"
                                .into(),
                        });
                    }
                },
                other => {
                    return Err(Error::Config {
                        key: "sasl.mechanism".into(),
                        reason: format!("{other:?} is not PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"),
                    });
                }
            })
        } else {
            None
        };
        Ok(Security { tls, sasl })
    }
}
