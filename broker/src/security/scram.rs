//! SCRAM-SHA-256 / SCRAM-SHA-512 server side (RFC 5802, RFC 7677). The broker keeps only the
//! salted credential (salt, iterations, StoredKey, ServerKey), as Kafka does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

pub(crate) const DEFAULT_ITERATIONS: u32 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mechanism {
    Sha256,
    Sha512,
}

impl Mechanism {
    /// Kafka's ScramMechanism code on the wire (AlterUserScramCredentials and friends).
    pub(crate) fn from_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(Mechanism::Sha256),
            2 => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    pub(crate) fn code(self) -> i8 {
        match self {
            Mechanism::Sha256 => 1,
            Mechanism::Sha512 => 2,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(Mechanism::Sha256),
            "SCRAM-SHA-512" => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Mechanism::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => Sha256::digest(data).to_vec(),
            Mechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; if self == Mechanism::Sha256 { 32 } else { 64 }];
        match self {
            Mechanism::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out),
            Mechanism::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut out),
        }
        out
    }
}

/// A user's stored SCRAM credential for one mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    mechanism: Mechanism,
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish()
    }
}

/// Equal-length comparison whose time does not depend on where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ScramCredential {
    pub(crate) fn new(mechanism: Mechanism, password: &str, iterations: u32) -> Self {
        let salt: [u8; 16] = rand_salt();
        let salted = mechanism.salted_password(password, &salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        ScramCredential {
            mechanism,
            salt: salt.to_vec(),
            iterations,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(&salted, b"Server Key"),
        }
    }

    /// A credential from what AlterUserScramCredentials carries: the client salted the
    /// password itself (KIP-554), so the password never reaches the broker.
    pub(crate) fn from_salted_password(mechanism: Mechanism, salt: &[u8], iterations: u32, salted: &[u8]) -> Self {
        let client_key = mechanism.hmac(salted, b"Client Key");
        ScramCredential {
            mechanism,
            salt: salt.to_vec(),
            iterations,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted, b"Server Key"),
        }
    }

    pub(crate) fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The parts kept on disk (salt, iterations and the two derived keys; never a password).
    pub(crate) fn to_stored(&self) -> StoredCredential {
        let b64 = |b: &[u8]| B64.encode(b);
        StoredCredential {
            salt: b64(&self.salt),
            iterations: self.iterations,
            stored_key: b64(&self.stored_key),
            server_key: b64(&self.server_key),
        }
    }

    pub(crate) fn from_stored(mechanism: Mechanism, s: &StoredCredential) -> Option<Self> {
        let de = |t: &str| B64.decode(t).ok();
        Some(ScramCredential {
            mechanism,
            salt: de(&s.salt)?,
            iterations: s.iterations,
            stored_key: de(&s.stored_key)?,
            server_key: de(&s.server_key)?,
        })
    }

    /// For SASL PLAIN: whether `password` derives this credential.
    pub(crate) fn matches_password(&self, password: &str) -> bool {
        let m = self.mechanism;
        let salted = m.salted_password(password, &self.salt, self.iterations);
        same(&m.hash(&m.hmac(&salted, b"Client Key")), &self.stored_key)
    }
}

/// A credential as `scram-credentials.json` keeps it (base64 byte strings).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredCredential {
    salt: String,
    iterations: u32,
    stored_key: String,
    server_key: String,
}

fn rand_salt() -> [u8; 16] {
    rand::random()
}

/// The salt shown for a user that does not exist: the same on every attempt (keyed by a
/// per-process secret), so a prober cannot tell unknown users by a salt that changes.
fn fake_salt(user: &str) -> Vec<u8> {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(rand::random);
    Mechanism::Sha256.hmac(key, user.as_bytes())[..16].to_vec()
}

/// Why a SCRAM exchange failed: what the broker logs, and whether the client is told its
/// credentials were wrong (unknown users and wrong passwords look the same to the client).
#[derive(Debug)]
pub(crate) enum ScramFailure {
    Malformed(String),
    UnknownUser(String),
    WrongPassword(String),
}

impl ScramFailure {
    pub(crate) fn log_reason(&self) -> String {
        match self {
            ScramFailure::Malformed(m) => format!("malformed SCRAM message: {m}"),
            ScramFailure::UnknownUser(u) => format!("unknown user {u:?}"),
            ScramFailure::WrongPassword(u) => format!("wrong password for user {u:?}"),
        }
    }

    pub(crate) fn client_message(&self, mechanism: &str) -> String {
        match self {
            ScramFailure::Malformed(m) => format!("malformed {mechanism} message: {m}"),
            _ => format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
            ),
        }
    }
}

/// The server's half of one exchange, between client-first and client-final.
#[derive(Debug)]
pub(crate) struct ScramServer {
    user: String,
    credential: Option<ScramCredential>,
    nonce: String,
    client_first_bare: String,
    server_first: String,
}

fn unescape_username(s: &str) -> Result<String, ScramFailure> {
    if s.is_empty() {
        return Err(ScramFailure::Malformed("empty user name".into()));
    }
    Ok(s.replace("=2C", ",").replace("=3D", "="))
}

impl ScramServer {
    /// Handles client-first and returns server-first. An unknown user still gets a
    /// server-first (with a made-up salt), so the exchange does not reveal which users exist.
    pub(crate) fn start(
        mechanism: Mechanism,
        client_first: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<(ScramServer, Vec<u8>), ScramFailure> {
        let text = std::str::from_utf8(client_first).map_err(|_| ScramFailure::Malformed("not UTF-8".into()))?;
        // GS2 header: "n," or "y," (no channel binding), optional "a=authzid", then ",".
        let mut parts = text.splitn(3, ',');
        let cb = parts.next().unwrap_or_default();
        let _authzid = parts.next();
        let bare = parts.next().ok_or_else(|| ScramFailure::Malformed("no GS2 header".into()))?;
        if cb != "n" && cb != "y" {
            return Err(ScramFailure::Malformed("channel binding is not supported".into()));
        }
        let (mut user, mut nonce) = (None, None);
        for attr in bare.split(',') {
            match attr.split_once('=') {
                Some(("n", v)) => user = Some(unescape_username(v)?),
                Some(("r", v)) if !v.is_empty() => nonce = Some(v),
                Some(("m", _)) => return Err(ScramFailure::Malformed("mandatory extensions are not supported".into())),
                _ => {}
            }
        }
        let (Some(user), Some(client_nonce)) = (user, nonce) else {
            return Err(ScramFailure::Malformed("client-first lacks n= or r=".into()));
        };
        let credential = lookup(&user);
        let (salt, iterations) = match &credential {
            Some(c) => (c.salt.clone(), c.iterations),
            None => (fake_salt(&user), DEFAULT_ITERATIONS),
        };
        let server_nonce = B64.encode(rand::random::<[u8; 18]>());
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(salt));
        let _ = mechanism;
        let reply = server_first.clone().into_bytes();
        Ok((ScramServer { user, credential, nonce, client_first_bare: bare.to_owned(), server_first }, reply))
    }

    /// Handles client-final: checks the proof and returns server-final and the user name.
    pub(crate) fn finish(self, client_final: &[u8]) -> Result<(String, Vec<u8>), ScramFailure> {
        let text = std::str::from_utf8(client_final).map_err(|_| ScramFailure::Malformed("not UTF-8".into()))?;
        let (without_proof, proof) =
            text.rsplit_once(",p=").ok_or_else(|| ScramFailure::Malformed("client-final lacks p=".into()))?;
        let mut nonce = None;
        for attr in without_proof.split(',') {
            if let Some(v) = attr.strip_prefix("r=") {
                nonce = Some(v);
            }
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(ScramFailure::Malformed("nonce does not match".into()));
        }
        let proof = B64.decode(proof).map_err(|_| ScramFailure::Malformed("proof is not base64".into()))?;
        let Some(cred) = self.credential else {
            return Err(ScramFailure::UnknownUser(self.user));
        };
        let m = cred.mechanism;
        let auth_message = format!("{},{},{without_proof}", self.client_first_bare, self.server_first);
        let client_signature = m.hmac(&cred.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(ScramFailure::WrongPassword(self.user));
        }
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        if !same(&m.hash(&client_key), &cred.stored_key) {
            return Err(ScramFailure::WrongPassword(self.user));
        }
        let server_signature = m.hmac(&cred.server_key, auth_message.as_bytes());
        Ok((self.user, format!("v={}", B64.encode(server_signature)).into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn salt_of(server_first: &[u8]) -> String {
        let text = std::str::from_utf8(server_first).unwrap();
        text.split(',').find_map(|a| a.strip_prefix("s=")).unwrap().to_owned()
    }

    #[test]
    fn unknown_users_see_a_stable_salt_and_fail_at_the_proof() {
        let first = b"n,,n=mallory,r=abcdefgh";
        let (_, a) = ScramServer::start(Mechanism::Sha256, first, |_| None).unwrap();
        let (server, b) = ScramServer::start(Mechanism::Sha256, first, |_| None).unwrap();
        assert_eq!(salt_of(&a), salt_of(&b), "the same made-up salt every time");
        let nonce = std::str::from_utf8(&b).unwrap().split(',').next().unwrap().to_owned();
        let client_final = format!("c=biws,{nonce},p={}", B64.encode([0u8; 32]));
        assert!(matches!(server.finish(client_final.as_bytes()), Err(ScramFailure::UnknownUser(u)) if u == "mallory"));
    }

    #[test]
    fn malformed_client_messages_are_refused() {
        assert!(ScramServer::start(Mechanism::Sha256, b"p=tls-unique,,n=a,r=x", |_| None).is_err());
        assert!(ScramServer::start(Mechanism::Sha256, b"n,,r=x", |_| None).is_err());
        assert!(ScramServer::start(Mechanism::Sha256, &[0xff, 0xfe], |_| None).is_err());
    }
}
