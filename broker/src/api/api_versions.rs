//! ApiVersions: the ranges this broker speaks.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use super::{Ctx, NONE, Outcome, supported};

pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[(ApiKey::ApiVersions, 0, 4)];

pub(super) fn serve(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, ApiVersionsRequest);
    cx.reply(handle(req, cx.version))
}

fn api_keys() -> Vec<ApiVersion> {
    supported()
        .map(|(key, min, max)| {
            ApiVersion::default().with_api_key(key as i16).with_min_version(min).with_max_version(max)
        })
        .collect()
}

pub(super) fn handle(_req: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_error_code(NONE).with_api_keys(api_keys())
}

/// The v0-shaped answer to an ApiVersions request of a version newer than ours.
pub(super) fn unsupported_version() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_error_code(ResponseError::UnsupportedVersion.code()).with_api_keys(api_keys())
}
