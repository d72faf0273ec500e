//! OAUTHBEARER (RFC 7628, KIP-255) with unsecured JSON Web Tokens, as Kafka's default
//! validator (`OAuthBearerUnsecuredValidatorCallbackHandler`) checks them: the signature is
//! not verified, so this is for tests and development, not for production. The principal is
//! the `sub` claim; `exp` must lie in the future.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

/// Checks a client's initial response; returns the user and the milliseconds until the
/// token expires.
pub(crate) fn validate_unsecured(message: &[u8]) -> Result<(String, i64), String> {
    let text = std::str::from_utf8(message).map_err(|_| "message is not UTF-8".to_owned())?;
    // GS2 header "n,," (or "n,a=authzid,"), then key=value pairs separated by 0x01.
    let rest = text.strip_prefix("n,").ok_or("no GS2 header")?;
    let (_authzid, pairs) = rest.split_once(',').ok_or("no GS2 header")?;
    let auth = pairs.split('\x01').find_map(|kv| kv.strip_prefix("auth=")).ok_or("no auth= value")?;
    let token = auth.strip_prefix("Bearer ").ok_or("auth is not a Bearer token")?;
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("token is not a JWT (header.payload.signature)".into());
    };
    let claims: serde_json::Value = B64URL
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or("token payload is not base64url JSON")?;
    let sub = claims.get("sub").and_then(|s| s.as_str()).filter(|s| !s.is_empty()).ok_or("token has no sub claim")?;
    let exp = claims.get("exp").and_then(|e| e.as_f64()).ok_or("token has no exp claim")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let remaining_ms = ((exp - now) * 1000.0) as i64;
    if remaining_ms <= 0 {
        return Err("token expired".into());
    }
    Ok((sub.to_owned(), remaining_ms))
}
