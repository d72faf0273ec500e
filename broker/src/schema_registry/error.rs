//! The registry's errors, each with Confluent Schema Registry's HTTP status and `error_code`,
//! answered as `{"error_code": 40401, "message": "..."}`.

/// An error the registry answers with; `code` is Confluent's `error_code`, whose first three
/// digits are the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistryError {
    pub(crate) code: u32,
    pub(crate) message: String,
}

impl RegistryError {
    pub(crate) fn new(code: u32, message: impl Into<String>) -> Self {
        RegistryError { code, message: message.into() }
    }

    /// The HTTP status: Confluent's five-digit codes start with it, three-digit ones are it.
    pub(crate) fn status(&self) -> u16 {
        let status = if self.code >= 10_000 { self.code / 100 } else { self.code };
        u16::try_from(status).ok().filter(|s| (400..600).contains(s)).unwrap_or(500)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(40101, "Unauthorized: HTTP Basic credentials of a broker user are required")
    }
    pub(crate) fn not_found(path: &str) -> Self {
        Self::new(404, format!("HTTP 404 Not Found: {path}"))
    }
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(405, "HTTP 405 Method Not Allowed")
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    pub(crate) fn body_too_large(max: usize) -> Self {
        Self::new(413, format!("Request body larger than {max} bytes"))
    }
    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, message)
    }
    pub(crate) fn subject_not_found(subject: &str) -> Self {
        Self::new(40401, format!("Subject '{subject}' not found."))
    }
    pub(crate) fn version_not_found(subject: &str, version: i32) -> Self {
        Self::new(40402, format!("Version {version} not found for subject '{subject}'."))
    }
    pub(crate) fn schema_not_found() -> Self {
        Self::new(40403, "Schema not found")
    }
    pub(crate) fn schema_id_not_found(id: i32) -> Self {
        Self::new(40403, format!("Schema {id} not found"))
    }
    pub(crate) fn subject_soft_deleted(subject: &str) -> Self {
        Self::new(40404, format!("Subject '{subject}' was soft deleted. Set permanent=true to delete permanently"))
    }
    pub(crate) fn subject_not_soft_deleted(subject: &str) -> Self {
        Self::new(40405, format!("Subject '{subject}' was not deleted first before being permanently deleted"))
    }
    pub(crate) fn version_soft_deleted(subject: &str, version: i32) -> Self {
        Self::new(
            40406,
            format!("Subject '{subject}' Version {version} was soft deleted. Set permanent=true to delete permanently"),
        )
    }
    pub(crate) fn version_not_soft_deleted(subject: &str, version: i32) -> Self {
        Self::new(
            40407,
            format!("Subject '{subject}' Version {version} was not deleted first before being permanently deleted"),
        )
    }
    pub(crate) fn subject_compatibility_not_configured(subject: &str) -> Self {
        Self::new(40408, format!("Subject '{subject}' does not have subject-level compatibility configured"))
    }
    pub(crate) fn subject_mode_not_configured(subject: &str) -> Self {
        Self::new(40409, format!("Subject '{subject}' does not have subject-level mode configured"))
    }
    pub(crate) fn incompatible(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }
    pub(crate) fn invalid_schema(message: impl Into<String>) -> Self {
        Self::new(42201, format!("Invalid schema {}", message.into()))
    }
    pub(crate) fn invalid_version(version: &str) -> Self {
        Self::new(
            42202,
            format!(
                "The specified version '{version}' is not a valid version id. Allowed values are between \
                 [1, 2^31-1] and the string \"latest\""
            ),
        )
    }
    pub(crate) fn invalid_compatibility(level: &str) -> Self {
        Self::new(
            42203,
            format!(
                "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, \
                 forward_transitive, and full_transitive: {level}"
            ),
        )
    }
    pub(crate) fn invalid_mode(mode: &str) -> Self {
        Self::new(42204, format!("Invalid mode. Valid values are READWRITE, READONLY and IMPORT: {mode}"))
    }
    pub(crate) fn not_permitted(message: impl Into<String>) -> Self {
        Self::new(42205, message)
    }
    pub(crate) fn referenced(subject: &str, version: i32) -> Self {
        Self::new(42206, format!("One or more references exist to the schema {{subject={subject},version={version}}}."))
    }
    pub(crate) fn store(message: impl Into<String>) -> Self {
        Self::new(50001, format!("Error in the backend data store: {}", message.into()))
    }
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error_code": self.code, "message": self.message })
    }
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for RegistryError {}

pub(crate) type RegistryResult<T> = std::result::Result<T, RegistryError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_come_from_the_codes() {
        assert_eq!(RegistryError::subject_not_found("s").status(), 404);
        assert_eq!(RegistryError::incompatible("x").status(), 409);
        assert_eq!(RegistryError::invalid_schema("x").status(), 422);
        assert_eq!(RegistryError::unauthorized().status(), 401);
        assert_eq!(RegistryError::store("x").status(), 500);
        assert_eq!(RegistryError::new(7, "odd").status(), 500);
    }
}
