//! SaslHandshake and SaslAuthenticate (KIP-43, KIP-152): the mechanism is named once, then
//! its messages travel in SaslAuthenticate frames. A failed authentication is answered with
//! SASL_AUTHENTICATION_FAILED and the connection closed, as Kafka does; the broker logs the
//! real cause (unknown user, wrong password), the client learns only that its credentials
//! were refused. KIP-368: with `connections.max.reauth.ms` the session gets a lifetime and
//! the client authenticates again on the same connection before it ends.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};

use super::{Ctx, NONE, Outcome, Session, str_bytes};
use crate::security::scram::{Mechanism, ScramServer};
use crate::security::user_principal;
use crate::server::BrokerState;

/// Where a connection is in its SASL exchange.
#[derive(Debug, Default)]
pub(crate) enum SaslStep {
    #[default]
    Idle,
    /// SaslHandshake accepted this mechanism; its first message is next.
    Handshaken(String),
    /// SCRAM server-first sent; client-final is next.
    Scram(Box<ScramServer>, String),
}

/// A v0 handshake is followed by bare SASL tokens outside Kafka framing (see
/// [`serve_bare_token`]); v1 by SaslAuthenticate requests. Kafka 4.1 still serves both.
pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[(ApiKey::SaslHandshake, 0, 1), (ApiKey::SaslAuthenticate, 0, 2)];

pub(super) fn serve_handshake(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, SaslHandshakeRequest);
    match handshake(cx.state, cx.session, req) {
        (resp, true) => {
            cx.session.sasl_bare_tokens = cx.version == 0;
            cx.reply(resp)
        }
        (resp, false) => cx.reply(resp).then_close("SASL handshake refused"),
    }
}

/// One SASL token after a v0 handshake (KIP-43's original exchange): the mechanism's messages
/// arrive as bare size-prefixed frames and are answered the same way (PLAIN's success is an
/// empty token). The exchange has no place for an error, so a failure closes the connection,
/// as Kafka does.
pub(crate) fn serve_bare_token(state: &BrokerState, session: &mut Session, token: BytesMut) -> Outcome {
    let req = SaslAuthenticateRequest::default().with_auth_bytes(token.freeze());
    let (resp, ok) = authenticate(state, session, req);
    if !ok {
        let reason = resp.error_message.as_deref().unwrap_or("refused").to_owned();
        return Outcome::Close(format!("SASL authentication (v0 handshake) failed: {reason}"));
    }
    session.sasl_bare_tokens = !matches!(session.sasl, SaslStep::Idle);
    let mut frame = BytesMut::with_capacity(4 + resp.auth_bytes.len());
    frame.put_i32(resp.auth_bytes.len() as i32);
    frame.extend_from_slice(&resp.auth_bytes);
    Outcome::Respond(frame.freeze())
}

pub(super) fn serve_authenticate(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, SaslAuthenticateRequest);
    match authenticate(cx.state, cx.session, req) {
        (resp, true) => cx.reply(resp),
        (resp, false) => cx.reply(resp).then_close("SASL authentication failed"),
    }
}

pub(super) fn handshake(
    state: &BrokerState,
    session: &mut Session,
    req: SaslHandshakeRequest,
) -> (SaslHandshakeResponse, bool) {
    let enabled: Vec<_> = state.config.sasl_mechanisms.iter().map(|m| str_bytes(m.clone())).collect();
    let resp = SaslHandshakeResponse::default().with_mechanisms(enabled);
    if !session.listener.protocol.sasl() {
        return (resp.with_mechanisms(vec![]).with_error_code(ResponseError::IllegalSaslState.code()), false);
    }
    let mechanism = req.mechanism.to_string();
    if !state.config.sasl_mechanisms.contains(&mechanism) {
        tracing::warn!(peer = %session.peer, listener = %session.listener.name, %mechanism, "SASL mechanism not enabled");
        return (resp.with_error_code(ResponseError::UnsupportedSaslMechanism.code()), false);
    }
    if session.authenticated_as.is_some() && session.mechanism.as_deref() != Some(mechanism.as_str()) {
        // KIP-368: re-authentication keeps the mechanism.
        return (resp.with_error_code(ResponseError::IllegalSaslState.code()), false);
    }
    session.sasl = SaslStep::Handshaken(mechanism);
    (resp.with_error_code(NONE), true)
}

/// Answers one SaslAuthenticate; the bool is false when the connection must close after it.
pub(super) fn authenticate(
    state: &BrokerState,
    session: &mut Session,
    req: SaslAuthenticateRequest,
) -> (SaslAuthenticateResponse, bool) {
    let fail = |session: &Session, mechanism: &str, log: String, client: String| {
        tracing::warn!(peer = %session.peer, listener = %session.listener.name, %mechanism, reason = %log, "SASL authentication failed");
        let resp = SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::SaslAuthenticationFailed.code())
            .with_error_message(Some(str_bytes(client)));
        (resp, false)
    };
    match std::mem::take(&mut session.sasl) {
        SaslStep::Idle => {
            let resp = SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::IllegalSaslState.code())
                .with_error_message(Some(str_bytes("SaslAuthenticate without a SaslHandshake")));
            (resp, false)
        }
        SaslStep::Handshaken(mechanism) if mechanism == "PLAIN" => {
            let mut parts = req.auth_bytes.split(|b| *b == 0);
            let (_authzid, user, password) = (parts.next(), parts.next(), parts.next());
            let (Some(user), Some(password), None) = (user, password, parts.next()) else {
                return fail(
                    session,
                    &mechanism,
                    "malformed PLAIN message".into(),
                    "malformed SASL PLAIN message".into(),
                );
            };
            let (Ok(user), Ok(password)) = (std::str::from_utf8(user), std::str::from_utf8(password)) else {
                return fail(
                    session,
                    &mechanism,
                    "PLAIN message is not UTF-8".into(),
                    "malformed SASL PLAIN message".into(),
                );
            };
            let checked = state.credentials.users().check_password(user, password);
            match checked {
                Ok(()) => success(state, session, mechanism, user.to_owned(), Bytes::new()),
                Err(cause) => fail(
                    session,
                    &mechanism,
                    format!("{cause} {user:?}"),
                    "Authentication failed: Invalid username or password".into(),
                ),
            }
        }
        SaslStep::Handshaken(mechanism) if mechanism == "OAUTHBEARER" => {
            match crate::security::oauth::validate_unsecured(&req.auth_bytes) {
                Ok((user, expires_in_ms)) => {
                    let (resp, ok) = success(state, session, mechanism, user, Bytes::new());
                    // KIP-368: the session ends no later than the token.
                    let lifetime = match resp.session_lifetime_ms {
                        0 => expires_in_ms,
                        configured => configured.min(expires_in_ms),
                    };
                    if ok {
                        session.expires = Some(Instant::now() + Duration::from_millis(lifetime.max(0) as u64));
                    }
                    (resp.with_session_lifetime_ms(lifetime), ok)
                }
                Err(reason) => {
                    fail(session, &mechanism, reason.clone(), format!("invalid OAUTHBEARER token: {reason}"))
                }
            }
        }
        SaslStep::Handshaken(mechanism) => {
            let Some(m) = Mechanism::from_name(&mechanism) else {
                return fail(
                    session,
                    &mechanism,
                    "mechanism not implemented".into(),
                    "mechanism not implemented".into(),
                );
            };
            let users = state.credentials.users();
            match ScramServer::start(m, &req.auth_bytes, |user| users.scram(user, m).cloned()) {
                Ok((server, reply)) => {
                    session.sasl = SaslStep::Scram(Box::new(server), mechanism);
                    let resp =
                        SaslAuthenticateResponse::default().with_error_code(NONE).with_auth_bytes(Bytes::from(reply));
                    (resp, true)
                }
                Err(f) => fail(session, &mechanism, f.log_reason(), f.client_message(&mechanism)),
            }
        }
        SaslStep::Scram(server, mechanism) => match server.finish(&req.auth_bytes) {
            Ok((user, reply)) => success(state, session, mechanism, user, Bytes::from(reply)),
            Err(f) => fail(session, &mechanism, f.log_reason(), f.client_message(&mechanism)),
        },
    }
}

fn success(
    state: &BrokerState,
    session: &mut Session,
    mechanism: String,
    user: String,
    reply: Bytes,
) -> (SaslAuthenticateResponse, bool) {
    let principal = user_principal(&user);
    if let Some(previous) = &session.authenticated_as {
        if *previous != principal {
            tracing::warn!(peer = %session.peer, %previous, %principal, "re-authentication as another principal refused");
            let resp = SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                .with_error_message(Some(str_bytes("re-authentication must keep the principal")));
            return (resp, false);
        }
    }
    tracing::debug!(peer = %session.peer, %principal, %mechanism, "SASL authenticated");
    let lifetime = state.config.max_reauth_ms.max(0);
    session.expires = (lifetime > 0).then(|| Instant::now() + Duration::from_millis(lifetime as u64));
    session.principal = principal.clone();
    session.authenticated_as = Some(principal);
    session.mechanism = Some(mechanism);
    let resp = SaslAuthenticateResponse::default()
        .with_error_code(NONE)
        .with_auth_bytes(reply)
        .with_session_lifetime_ms(lifetime);
    (resp, true)
}
