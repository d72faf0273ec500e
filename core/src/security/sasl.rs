//! SASL authentication over a fresh connection: SaslHandshake v1 names the mechanism, then
//! SaslAuthenticate carries its messages in Kafka frames (KIP-152). The broker may give the
//! session a lifetime (KIP-368); the caller re-authenticates before it ends.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::SaslMechanism;
use super::scram::ScramClient;
use crate::connection::BrokerConnection;
use crate::error::{Error, Result};

/// Authenticates `conn`; returns the session lifetime the broker granted, if any.
pub(crate) async fn authenticate(conn: &BrokerConnection, mechanism: &SaslMechanism) -> Result<Option<Duration>> {
    let auth_error = |reason: String| Error::Authentication {
        broker: conn.addr().to_owned(),
        mechanism: mechanism.name().to_owned(),
        reason,
    };
    let handshake: SaslHandshakeResponse = conn
        .send_at(&SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism.name())), 1)
        .await?;
    if handshake.error_code != 0 {
        let enabled: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(auth_error(format!("broker does not enable this mechanism (enabled: {})", enabled.join(", "))));
    }
    let step = |bytes: Vec<u8>| async move {
        let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes));
        let resp: SaslAuthenticateResponse = conn.send(&req).await?;
        if resp.error_code != 0 {
            let code = ResponseError::try_from_code(resp.error_code).unwrap_or(ResponseError::Unknown(resp.error_code));
            let message = resp.error_message.as_deref().unwrap_or("no message").to_owned();
            return Err(auth_error(format!("{message} ({code:?})")));
        }
        Ok(resp)
    };
    let last = match mechanism {
        SaslMechanism::Plain { username, password } => {
            let mut msg = Vec::with_capacity(username.len() + password.len() + 2);
            msg.push(0);
            msg.extend_from_slice(username.as_bytes());
            msg.push(0);
            msg.extend_from_slice(password.as_bytes());
            step(msg).await?
        }
        SaslMechanism::Scram { mechanism, username, password } => {
            let mut client = ScramClient::new(*mechanism, username, password);
            let server_first = step(client.first()).await?;
            let client_final = client.respond(&server_first.auth_bytes).map_err(auth_error)?;
            let server_final = step(client_final).await?;
            client.verify(&server_final.auth_bytes).map_err(auth_error)?;
            server_final
        }
        SaslMechanism::OAuthBearer(provider) => {
            let token = provider.token().map_err(|e| auth_error(format!("token provider failed: {e}")))?;
            // RFC 7628 client response: GS2 header, then kvpairs separated by 0x01.
            let mut msg = format!("n,,\x01auth=Bearer {}\x01", token.value);
            for (k, v) in &token.extensions {
                msg.push_str(&format!("{k}={v}\x01"));
            }
            msg.push('\x01');
            step(msg.into_bytes()).await?
        }
    };
    Ok((last.session_lifetime_ms > 0).then(|| Duration::from_millis(last.session_lifetime_ms as u64)))
}
