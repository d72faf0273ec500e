//! DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554): SCRAM users managed
//! through the API, as `kafka-configs.sh --entity-type users --alter --add-config
//! 'SCRAM-SHA-256=[password=...]'` and the admin clients do. The client salts the password;
//! the broker keeps the derived keys (see `security::credentials`).

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
};

use super::{Ctx, NONE, Outcome, acls, str_bytes};
use crate::security::acl;
use crate::security::credentials::{Alteration, Refusal};
use crate::security::scram::{Mechanism, ScramCredential};
use crate::server::BrokerState;

pub(super) const VERSIONS: &[(ApiKey, i16, i16)] =
    &[(ApiKey::DescribeUserScramCredentials, 0, 0), (ApiKey::AlterUserScramCredentials, 0, 0)];

/// Kafka's bounds on a SCRAM credential's iterations.
const MIN_ITERATIONS: i32 = 4096;
const MAX_ITERATIONS: i32 = 16384;

pub(super) fn serve_describe(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, DescribeUserScramCredentialsRequest);
    if !acls::allowed(cx.state, cx.session, acl::DESCRIBE, acl::CLUSTER, acl::CLUSTER_NAME) {
        let denied = ResponseError::ClusterAuthorizationFailed;
        return cx.reply(
            DescribeUserScramCredentialsResponse::default()
                .with_error_code(denied.code())
                .with_error_message(Some(str_bytes(denied.to_string()))),
        );
    }
    cx.reply(describe(cx.state, req))
}

fn describe(state: &BrokerState, req: DescribeUserScramCredentialsRequest) -> DescribeUserScramCredentialsResponse {
    let known: BTreeMap<String, Vec<(Mechanism, u32)>> = state.credentials.describe().into_iter().collect();
    let found = |user: &str, infos: &[(Mechanism, u32)]| {
        DescribeUserScramCredentialsResult::default()
            .with_user(str_bytes(user))
            .with_error_code(NONE)
            .with_credential_infos(
                infos
                    .iter()
                    .map(|(m, i)| CredentialInfo::default().with_mechanism(m.code()).with_iterations(*i as i32))
                    .collect(),
            )
    };
    let failed = |user: &str, e: ResponseError, message: &str| {
        DescribeUserScramCredentialsResult::default()
            .with_user(str_bytes(user))
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(message)))
    };
    let results = match req.users.filter(|u| !u.is_empty()) {
        // Null or empty: every user that has a credential.
        None => known.iter().map(|(user, infos)| found(user, infos)).collect(),
        Some(names) => {
            let mut seen = HashSet::new();
            let duplicated: HashSet<&str> =
                names.iter().map(|n| n.name.as_str()).filter(|n| !seen.insert(*n)).collect();
            let mut answered = HashSet::new();
            names
                .iter()
                .map(|n| n.name.as_str())
                .filter(|n| answered.insert(*n))
                .map(|user| match known.get(user) {
                    _ if duplicated.contains(user) => failed(
                        user,
                        ResponseError::DuplicateResource,
                        "Cannot describe SCRAM credentials for the same user twice in a single request",
                    ),
                    Some(infos) => found(user, infos),
                    None => failed(
                        user,
                        ResponseError::ResourceNotFound,
                        "Attempt to describe a user credential that does not exist",
                    ),
                })
                .collect()
        }
    };
    DescribeUserScramCredentialsResponse::default().with_error_code(NONE).with_results(results)
}

pub(super) async fn serve_alter(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, AlterUserScramCredentialsRequest);
    let authorized = acls::allowed(cx.state, cx.session, acl::ALTER, acl::CLUSTER, acl::CLUSTER_NAME);
    let Some(resp) = super::on_storage(cx.state, move |state| alter(state, req, authorized)).await else {
        return cx.storage_failed();
    };
    cx.reply(resp)
}

/// One user's result.
type Outcome1 = Result<(), (ResponseError, String)>;

fn alter(
    state: &BrokerState,
    req: AlterUserScramCredentialsRequest,
    authorized: bool,
) -> AlterUserScramCredentialsResponse {
    // Every (user, mechanism) once; a user's alterations are applied together or not at all.
    let mut by_user: BTreeMap<String, (Vec<Alteration>, Outcome1)> = BTreeMap::new();
    let mut pairs = HashSet::new();
    let mut order = Vec::new();
    let ops = req
        .deletions
        .iter()
        .map(|d| (d.name.to_string(), d.mechanism, None))
        .chain(req.upsertions.iter().map(|u| (u.name.to_string(), u.mechanism, Some(u))));
    for (user, mechanism, upsertion) in ops {
        if !by_user.contains_key(&user) {
            order.push(user.clone());
        }
        let (alterations, outcome) = by_user.entry(user.clone()).or_insert_with(|| (Vec::new(), Ok(())));
        if outcome.is_err() {
            continue;
        }
        let checked = check(&user, mechanism, upsertion, &mut pairs, authorized);
        match checked {
            Ok(credential) => alterations.push(Alteration {
                user: user.clone(),
                mechanism: Mechanism::from_code(mechanism).expect("checked"),
                credential,
            }),
            Err(e) => *outcome = Err(e),
        }
    }
    let results = order
        .into_iter()
        .map(|user| {
            let (alterations, outcome) = by_user.remove(&user).expect("recorded");
            let outcome = outcome.and_then(|()| {
                state.credentials.alter(alterations).map_err(|refusal| match refusal {
                    Refusal::NotFound => (
                        ResponseError::ResourceNotFound,
                        "Attempt to delete a user credential that does not exist".to_owned(),
                    ),
                    Refusal::Storage(e) => {
                        tracing::error!(%user, error = %e, "could not store SCRAM credentials");
                        (ResponseError::KafkaStorageError, e.to_string())
                    }
                })
            });
            let result = AlterUserScramCredentialsResult::default().with_user(str_bytes(user.clone()));
            match outcome {
                Ok(()) => {
                    tracing::info!(%user, "SCRAM credentials altered");
                    result.with_error_code(NONE)
                }
                Err((e, message)) => result.with_error_code(e.code()).with_error_message(Some(str_bytes(message))),
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

/// Checks one alteration as Kafka does; the credential to set (None: delete).
fn check(
    user: &str,
    mechanism: i8,
    upsertion: Option<&kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion>,
    pairs: &mut HashSet<(String, i8)>,
    authorized: bool,
) -> Result<Option<ScramCredential>, (ResponseError, String)> {
    let refuse = |e: ResponseError, m: &str| Err((e, m.to_owned()));
    if !authorized {
        return refuse(ResponseError::ClusterAuthorizationFailed, "ALTER on the cluster is needed");
    }
    if !pairs.insert((user.to_owned(), mechanism)) {
        return refuse(
            ResponseError::DuplicateResource,
            "A user credential cannot be altered twice in the same request",
        );
    }
    if user.is_empty() {
        return refuse(ResponseError::UnacceptableCredential, "Username must not be empty");
    }
    let Some(m) = Mechanism::from_code(mechanism) else {
        return refuse(ResponseError::UnsupportedSaslMechanism, "Unknown SCRAM mechanism");
    };
    let Some(u) = upsertion else { return Ok(None) };
    if u.iterations < MIN_ITERATIONS {
        return refuse(ResponseError::UnacceptableCredential, "Too few iterations");
    }
    if u.iterations > MAX_ITERATIONS {
        return refuse(ResponseError::UnacceptableCredential, "Too many iterations");
    }
    if u.salt.is_empty() || u.salted_password.is_empty() {
        return refuse(ResponseError::UnacceptableCredential, "The salt and the salted password must not be empty");
    }
    Ok(Some(ScramCredential::from_salted_password(m, &u.salt, u.iterations as u32, &u.salted_password)))
}
