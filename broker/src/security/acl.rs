//! ACLs as Kafka's StandardAuthorizer applies them: a request is allowed when an ALLOW binding
//! for the principal (or `User:*`) and host (or `*`) covers the operation on the resource
//! (literal name, `*`, or a matching prefix) and no DENY binding does; super users are always
//! allowed; a resource with no binding at all follows `allow.everyone.if.no.acl.found`.
//! Bindings are kept in `acls.json` in the data directory, replaced atomically on change.

use std::path::PathBuf;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

// Kafka's wire codes (org.apache.kafka.common.resource / acl).
pub(crate) const RESOURCE_ANY: i8 = 1;
pub(crate) const TOPIC: i8 = 2;
pub(crate) const GROUP: i8 = 3;
pub(crate) const CLUSTER: i8 = 4;
pub(crate) const TRANSACTIONAL_ID: i8 = 5;
pub(crate) const PATTERN_ANY: i8 = 1;
pub(crate) const PATTERN_MATCH: i8 = 2;
pub(crate) const LITERAL: i8 = 3;
pub(crate) const PREFIXED: i8 = 4;
pub(crate) const OP_ANY: i8 = 1;
pub(crate) const ALL: i8 = 2;
pub(crate) const READ: i8 = 3;
pub(crate) const WRITE: i8 = 4;
pub(crate) const CREATE: i8 = 5;
pub(crate) const DELETE: i8 = 6;
pub(crate) const ALTER: i8 = 7;
pub(crate) const DESCRIBE: i8 = 8;
pub(crate) const CLUSTER_ACTION: i8 = 9;
pub(crate) const DESCRIBE_CONFIGS: i8 = 10;
pub(crate) const ALTER_CONFIGS: i8 = 11;
pub(crate) const IDEMPOTENT_WRITE: i8 = 12;
pub(crate) const PERMISSION_ANY: i8 = 1;
pub(crate) const DENY: i8 = 2;
pub(crate) const ALLOW: i8 = 3;

/// The one cluster resource's name.
pub(crate) const CLUSTER_NAME: &str = "kafka-cluster";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AclBinding {
    pub(crate) resource_type: i8,
    pub(crate) resource_name: String,
    pub(crate) pattern_type: i8,
    pub(crate) principal: String,
    pub(crate) host: String,
    pub(crate) operation: i8,
    pub(crate) permission_type: i8,
}

/// A DescribeAcls / DeleteAcls filter; `None` fields match anything.
#[derive(Debug, Clone)]
pub(crate) struct AclFilter {
    pub(crate) resource_type: i8,
    pub(crate) resource_name: Option<String>,
    pub(crate) pattern_type: i8,
    pub(crate) principal: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) operation: i8,
    pub(crate) permission_type: i8,
}

impl AclFilter {
    pub(crate) fn matches(&self, b: &AclBinding) -> bool {
        let resource = (self.resource_type == RESOURCE_ANY || self.resource_type == b.resource_type)
            && match (self.pattern_type, &self.resource_name) {
                (PATTERN_ANY, None) => true,
                (PATTERN_ANY, Some(n)) => *n == b.resource_name,
                // MATCH: the bindings that would apply to a resource of this name.
                (PATTERN_MATCH, None) => true,
                (PATTERN_MATCH, Some(n)) => binding_covers(b, n),
                (p, None) => p == b.pattern_type,
                (p, Some(n)) => p == b.pattern_type && *n == b.resource_name,
            };
        resource
            && self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && (self.operation == OP_ANY || self.operation == b.operation)
            && (self.permission_type == PERMISSION_ANY || self.permission_type == b.permission_type)
    }
}

fn binding_covers(b: &AclBinding, name: &str) -> bool {
    match b.pattern_type {
        LITERAL => b.resource_name == name || b.resource_name == "*",
        PREFIXED => name.starts_with(&b.resource_name),
        _ => false,
    }
}

/// Checks a binding a client asks to create; the reason is sent back as the error message.
pub(crate) fn validate(b: &AclBinding) -> std::result::Result<(), String> {
    if !matches!(b.resource_type, TOPIC | GROUP | CLUSTER | TRANSACTIONAL_ID) {
        return Err(format!("resource type {} cannot carry ACLs", b.resource_type));
    }
    if !matches!(b.pattern_type, LITERAL | PREFIXED) {
        return Err("pattern type must be LITERAL or PREFIXED".into());
    }
    if b.resource_name.is_empty() {
        return Err("resource name must not be empty".into());
    }
    if b.resource_type == CLUSTER && b.resource_name != CLUSTER_NAME {
        return Err(format!("the cluster resource is named {CLUSTER_NAME}"));
    }
    if !b.principal.contains(':') {
        return Err(format!("principal {:?} is not TYPE:NAME, e.g. User:alice", b.principal));
    }
    if !(ALL..=IDEMPOTENT_WRITE).contains(&b.operation) {
        return Err(format!("operation {} is not a concrete operation", b.operation));
    }
    if !matches!(b.permission_type, ALLOW | DENY) {
        return Err("permission must be ALLOW or DENY".into());
    }
    Ok(())
}

/// The authorizer's settings and bindings.
#[derive(Debug)]
pub(crate) struct Authorizer {
    enabled: bool,
    super_users: Vec<String>,
    allow_if_no_acl: bool,
    path: PathBuf,
    /// One lock for reads and changes; changes are rare and written through to disk.
    bindings: RwLock<Vec<AclBinding>>,
}

/// What an operation implies: DESCRIBE is granted by READ, WRITE, DELETE and ALTER;
/// DESCRIBE_CONFIGS by ALTER_CONFIGS (as in Kafka).
fn grants(granted: i8, wanted: i8) -> bool {
    granted == wanted
        || granted == ALL
        || (wanted == DESCRIBE && matches!(granted, READ | WRITE | DELETE | ALTER))
        || (wanted == DESCRIBE_CONFIGS && granted == ALTER_CONFIGS)
}

impl Authorizer {
    pub(crate) fn open(settings: &crate::config::AuthorizerSettings, data_dir: &std::path::Path) -> Result<Authorizer> {
        let path = data_dir.join("acls.json");
        let bindings = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Config(format!("{} is not a valid ACL file: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
        };
        Ok(Authorizer {
            enabled: settings.enabled,
            super_users: settings.super_users.clone(),
            allow_if_no_acl: settings.allow_everyone_if_no_acl_found,
            path,
            bindings: RwLock::new(bindings),
        })
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether `principal` connecting from `host` may do `operation` on the resource.
    pub(crate) fn authorize(&self, principal: &str, host: &str, operation: i8, resource_type: i8, name: &str) -> bool {
        if !self.enabled || self.super_users.iter().any(|s| s == principal) {
            return true;
        }
        let bindings = self.bindings.read().unwrap_or_else(|p| p.into_inner());
        let mut any = false;
        let mut allowed = false;
        for b in bindings.iter().filter(|b| b.resource_type == resource_type && binding_covers(b, name)) {
            any = true;
            let applies = (b.principal == principal || b.principal == "User:*") && (b.host == "*" || b.host == host);
            if !applies {
                continue;
            }
            if b.permission_type == DENY && (b.operation == operation || b.operation == ALL) {
                return false;
            }
            if b.permission_type == ALLOW && grants(b.operation, operation) {
                allowed = true;
            }
        }
        if !any {
            return self.allow_if_no_acl;
        }
        allowed
    }

    /// Whether `principal` may do `operation` on some topic (IdempotentWrite's fallback).
    pub(crate) fn any_topic_allows(&self, principal: &str, host: &str, operation: i8) -> bool {
        if !self.enabled || self.super_users.iter().any(|s| s == principal) {
            return true;
        }
        let bindings = self.bindings.read().unwrap_or_else(|p| p.into_inner());
        let deny_all = bindings.iter().any(|b| {
            b.resource_type == TOPIC
                && b.permission_type == DENY
                && b.operation == ALL
                && b.resource_name == "*"
                && (b.principal == principal || b.principal == "User:*")
        });
        // As Kafka's authorizeByResourceType: with allow.everyone.if.no.acl.found any topic
        // without ACLs would do.
        !deny_all
            && (self.allow_if_no_acl
                || bindings.iter().any(|b| {
                    b.resource_type == TOPIC
                        && b.permission_type == ALLOW
                        && grants(b.operation, operation)
                        && (b.principal == principal || b.principal == "User:*")
                        && (b.host == "*" || b.host == host)
                }))
    }

    pub(crate) fn describe(&self, filter: &AclFilter) -> Vec<AclBinding> {
        let bindings = self.bindings.read().unwrap_or_else(|p| p.into_inner());
        bindings.iter().filter(|b| filter.matches(b)).cloned().collect()
    }

    /// Adds bindings (existing ones are kept once) and writes the file before returning.
    pub(crate) fn create(&self, new: Vec<AclBinding>) -> Result<()> {
        let mut bindings = self.bindings.write().unwrap_or_else(|p| p.into_inner());
        let mut next = bindings.clone();
        for b in new {
            if !next.contains(&b) {
                next.push(b);
            }
        }
        self.persist(&next)?;
        *bindings = next;
        Ok(())
    }

    /// Removes the bindings each filter matches; returns them per filter.
    pub(crate) fn delete(&self, filters: &[AclFilter]) -> Result<Vec<Vec<AclBinding>>> {
        let mut bindings = self.bindings.write().unwrap_or_else(|p| p.into_inner());
        let removed: Vec<Vec<AclBinding>> =
            filters.iter().map(|f| bindings.iter().filter(|b| f.matches(b)).cloned().collect()).collect();
        let next: Vec<AclBinding> =
            bindings.iter().filter(|b| !filters.iter().any(|f| f.matches(b))).cloned().collect();
        if next.len() != bindings.len() {
            self.persist(&next)?;
            *bindings = next;
        }
        Ok(removed)
    }

    fn persist(&self, bindings: &[AclBinding]) -> Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(bindings).map_err(|e| Error::Config(format!("encoding ACLs: {e}")))?;
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(Error::io(format!("writing {}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthorizerSettings;

    fn binding(rt: i8, name: &str, pattern: i8, principal: &str, op: i8, perm: i8) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission_type: perm,
        }
    }

    fn authorizer(dir: &std::path::Path, allow_if_no_acl: bool) -> Authorizer {
        let settings = AuthorizerSettings {
            enabled: true,
            super_users: vec!["User:root".into()],
            allow_everyone_if_no_acl_found: allow_if_no_acl,
        };
        Authorizer::open(&settings, dir).unwrap()
    }

    #[test]
    fn kafka_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), false);
        a.create(vec![
            binding(TOPIC, "orders-", PREFIXED, "User:alice", WRITE, ALLOW),
            binding(TOPIC, "orders-secret", LITERAL, "User:alice", ALL, DENY),
            binding(TOPIC, "*", LITERAL, "User:*", READ, ALLOW),
            binding(GROUP, "g", LITERAL, "User:bob", ALL, ALLOW),
        ])
        .unwrap();
        let can = |p: &str, op: i8, rt: i8, name: &str| a.authorize(p, "10.0.0.1", op, rt, name);
        assert!(can("User:alice", WRITE, TOPIC, "orders-eu"), "prefixed allow");
        assert!(can("User:alice", DESCRIBE, TOPIC, "orders-eu"), "WRITE implies DESCRIBE");
        assert!(!can("User:alice", WRITE, TOPIC, "orders-secret"), "DENY wins over the prefixed ALLOW");
        assert!(!can("User:alice", READ, TOPIC, "orders-secret"), "DENY ALL covers READ despite User:* READ");
        assert!(can("User:carol", READ, TOPIC, "anything"), "wildcard topic and principal");
        assert!(!can("User:carol", WRITE, TOPIC, "anything"));
        assert!(can("User:bob", DELETE, GROUP, "g"), "ALL");
        assert!(!can("User:bob", READ, GROUP, "other"), "no ACL and allow.everyone.if.no.acl.found=false");
        assert!(can("User:root", ALTER, CLUSTER, CLUSTER_NAME), "super user");
        assert!(a.any_topic_allows("User:alice", "10.0.0.1", WRITE));
        assert!(!a.any_topic_allows("User:carol", "10.0.0.1", WRITE));

        let open = authorizer(tempfile::tempdir().unwrap().path(), true);
        assert!(open.authorize("User:x", "h", WRITE, TOPIC, "t"), "no ACL at all: open when configured");
    }

    #[test]
    fn filters_and_durability() {
        let dir = tempfile::tempdir().unwrap();
        let a = authorizer(dir.path(), false);
        a.create(vec![
            binding(TOPIC, "t", LITERAL, "User:a", READ, ALLOW),
            binding(TOPIC, "t-", PREFIXED, "User:b", WRITE, ALLOW),
        ])
        .unwrap();
        let any = AclFilter {
            resource_type: RESOURCE_ANY,
            resource_name: None,
            pattern_type: PATTERN_ANY,
            principal: None,
            host: None,
            operation: OP_ANY,
            permission_type: PERMISSION_ANY,
        };
        assert_eq!(a.describe(&any).len(), 2);
        let matching = AclFilter {
            resource_type: TOPIC,
            resource_name: Some("t-1".into()),
            pattern_type: PATTERN_MATCH,
            ..any.clone()
        };
        assert_eq!(a.describe(&matching).len(), 1, "MATCH finds the prefixed binding covering t-1");
        let removed = a.delete(&[AclFilter { principal: Some("User:a".into()), ..any.clone() }]).unwrap();
        assert_eq!(removed[0].len(), 1);
        let reopened = authorizer(dir.path(), false);
        assert_eq!(reopened.describe(&any), vec![binding(TOPIC, "t-", PREFIXED, "User:b", WRITE, ALLOW)]);
        assert!(validate(&binding(CLUSTER, "other", LITERAL, "User:a", ALTER, ALLOW)).is_err());
        assert!(validate(&binding(TOPIC, "t", LITERAL, "alice", READ, ALLOW)).is_err());
    }
}
