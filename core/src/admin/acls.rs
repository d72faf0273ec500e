//! ACL administration: CreateAcls, DescribeAcls, DeleteAcls.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use super::{Admin, check};
use crate::error::Result;

/// Kafka's resource types that carry ACLs (wire codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ResourceType {
    Any = 1,
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
}

/// How a binding's resource name matches: exactly (or `*`), or as a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum PatternType {
    Any = 1,
    Match = 2,
    Literal = 3,
    Prefixed = 4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum AclOperation {
    Any = 1,
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum AclPermission {
    Any = 1,
    Deny = 2,
    Allow = 3,
}

/// One ACL: `principal` from `host` is allowed/denied `operation` on the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:alice`, `User:*`.
    pub principal: String,
    /// An IP address or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclBinding {
    /// Allows `principal` to do `operation` on the named resource, from any host.
    pub fn allow(resource_type: ResourceType, name: &str, principal: &str, operation: AclOperation) -> AclBinding {
        AclBinding {
            resource_type,
            resource_name: name.to_owned(),
            pattern_type: PatternType::Literal,
            principal: principal.to_owned(),
            host: "*".into(),
            operation,
            permission: AclPermission::Allow,
        }
    }
}

/// Matches bindings for describe/delete; `None` matches anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclFilter {
    /// Every binding.
    pub fn any() -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn from_wire(
    resource_type: i8,
    name: &StrBytes,
    pattern: i8,
    principal: &StrBytes,
    host: &StrBytes,
    op: i8,
    perm: i8,
) -> AclBinding {
    use AclOperation as O;
    let resource_type = match resource_type {
        2 => ResourceType::Topic,
        3 => ResourceType::Group,
        4 => ResourceType::Cluster,
        5 => ResourceType::TransactionalId,
        _ => ResourceType::Any,
    };
    let pattern_type = if pattern == 4 { PatternType::Prefixed } else { PatternType::Literal };
    let operation = [
        O::All,
        O::Read,
        O::Write,
        O::Create,
        O::Delete,
        O::Alter,
        O::Describe,
        O::ClusterAction,
        O::DescribeConfigs,
        O::AlterConfigs,
        O::IdempotentWrite,
    ]
    .into_iter()
    .find(|o| *o as i8 == op)
    .unwrap_or(O::Any);
    let permission = match perm {
        2 => AclPermission::Deny,
        3 => AclPermission::Allow,
        _ => AclPermission::Any,
    };
    AclBinding {
        resource_type,
        resource_name: name.to_string(),
        pattern_type,
        principal: principal.to_string(),
        host: host.to_string(),
        operation,
        permission,
    }
}

impl Admin {
    /// Creates ACLs; one result per binding, in order.
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<Vec<Result<()>>> {
        let conn = self.controller().await?;
        let creations = bindings
            .iter()
            .map(|b| {
                AclCreation::default()
                    .with_resource_type(b.resource_type as i8)
                    .with_resource_name(s(&b.resource_name))
                    .with_resource_pattern_type(b.pattern_type as i8)
                    .with_principal(s(&b.principal))
                    .with_host(s(&b.host))
                    .with_operation(b.operation as i8)
                    .with_permission_type(b.permission as i8)
            })
            .collect();
        let resp = conn.send(&CreateAclsRequest::default().with_creations(creations)).await?;
        Ok(resp
            .results
            .iter()
            .map(|r| check(r.error_code, r.error_message.as_ref(), "creating ACL".to_owned()))
            .collect())
    }

    /// The ACLs matching `filter`.
    pub async fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>> {
        let conn = self.controller().await?;
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(filter.resource_type as i8)
            .with_resource_name_filter(filter.resource_name.as_deref().map(s))
            .with_pattern_type_filter(filter.pattern_type as i8)
            .with_principal_filter(filter.principal.as_deref().map(s))
            .with_host_filter(filter.host.as_deref().map(s))
            .with_operation(filter.operation as i8)
            .with_permission_type(filter.permission as i8);
        let resp = conn.send(&req).await?;
        check(resp.error_code, resp.error_message.as_ref(), "describing ACLs".to_owned())?;
        Ok(resp
            .resources
            .iter()
            .flat_map(|r| {
                r.acls.iter().map(move |a| {
                    from_wire(
                        r.resource_type,
                        &r.resource_name,
                        r.pattern_type,
                        &a.principal,
                        &a.host,
                        a.operation,
                        a.permission_type,
                    )
                })
            })
            .collect())
    }

    /// Deletes the ACLs matching each filter; returns what each removed.
    pub async fn delete_acls(&self, filters: &[AclFilter]) -> Result<Vec<Result<Vec<AclBinding>>>> {
        let conn = self.controller().await?;
        let wire = filters
            .iter()
            .map(|f| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(f.resource_type as i8)
                    .with_resource_name_filter(f.resource_name.as_deref().map(s))
                    .with_pattern_type_filter(f.pattern_type as i8)
                    .with_principal_filter(f.principal.as_deref().map(s))
                    .with_host_filter(f.host.as_deref().map(s))
                    .with_operation(f.operation as i8)
                    .with_permission_type(f.permission as i8)
            })
            .collect();
        let resp = conn.send(&DeleteAclsRequest::default().with_filters(wire)).await?;
        Ok(resp
            .filter_results
            .iter()
            .map(|r| {
                check(r.error_code, r.error_message.as_ref(), "deleting ACLs".to_owned())?;
                Ok(r.matching_acls
                    .iter()
                    .map(|a| {
                        from_wire(
                            a.resource_type,
                            &a.resource_name,
                            a.pattern_type,
                            &a.principal,
                            &a.host,
                            a.operation,
                            a.permission_type,
                        )
                    })
                    .collect())
            })
            .collect())
    }
}
