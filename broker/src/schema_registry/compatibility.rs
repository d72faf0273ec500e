//! Compatibility levels and how a new schema is checked against a subject's versions.

use serde::{Deserialize, Serialize};

use ferrokafka_schema::ParsedSchema;

/// Confluent's compatibility levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum CompatibilityLevel {
    None,
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatibilityLevel {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.trim().to_ascii_uppercase())).ok()
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::FullTransitive
        )
    }

    /// New readers must read old data.
    fn backward(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::Backward
                | CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::Full
                | CompatibilityLevel::FullTransitive
        )
    }

    /// Old readers must read new data.
    fn forward(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::Forward
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::Full
                | CompatibilityLevel::FullTransitive
        )
    }

    /// Why `new` may not follow `previous` (the subject's live versions, oldest first) at this
    /// level; empty when it may. Non-transitive levels look at the latest version only.
    pub(crate) fn problems(self, new: &ParsedSchema, previous: &[&ParsedSchema]) -> Vec<String> {
        let against: &[&ParsedSchema] = match (self.transitive(), previous.split_last()) {
            (_, None) => &[],
            (true, Some(_)) => previous,
            (false, Some((last, _))) => std::slice::from_ref(last),
        };
        let mut problems = Vec::new();
        for old in against.iter().rev() {
            if self.backward() {
                problems.extend(new.read_problems(old).into_iter().map(|p| format!("BACKWARD: {p}")));
            }
            if self.forward() {
                problems.extend(old.read_problems(new).into_iter().map(|p| format!("FORWARD: {p}")));
            }
        }
        problems
    }
}
