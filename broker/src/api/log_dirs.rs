//! DescribeLogDirs: the one data directory, the size of each partition's log in it, and the
//! file system's total and usable bytes, so that `kafka-log-dirs.sh` and consoles show disk use.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::{Ctx, NONE, Outcome, acls, str_bytes};
use crate::security::acl;
use crate::server::BrokerState;

pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[(ApiKey::DescribeLogDirs, 1, 4)];

pub(super) async fn serve(cx: &mut Ctx<'_>) -> Outcome {
    let req = decode!(cx, DescribeLogDirsRequest);
    // As Kafka: DESCRIBE on the cluster, or an answer naming no directory.
    if !acls::allowed(cx.state, cx.session, acl::DESCRIBE, acl::CLUSTER, acl::CLUSTER_NAME) {
        let denied = ResponseError::ClusterAuthorizationFailed.code();
        return cx.reply(DescribeLogDirsResponse::default().with_error_code(denied));
    }
    let Some(resp) = super::on_storage(cx.state, move |state| describe(state, req)).await else {
        return cx.storage_failed();
    };
    cx.reply(resp)
}

fn describe(state: &BrokerState, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    // Null asks for every partition; topics the broker does not have are left out, as Kafka does.
    let wanted = |topic: &str, partition: i32| match &req.topics {
        None => true,
        Some(list) => list.iter().any(|t| t.topic.as_str() == topic && t.partitions.contains(&partition)),
    };
    let mut topics = Vec::new();
    for topic in state.topics.all() {
        let partitions: Vec<DescribeLogDirsPartition> = topic
            .partitions()
            .iter()
            .filter(|p| wanted(&topic.name, p.index))
            .filter_map(|p| {
                // A partition deleted meanwhile has no log any more: not listed.
                let size = p.with_log(|log| Ok(log.size_bytes())).ok()?;
                Some(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(p.index)
                        .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                        .with_offset_lag(0)
                        .with_is_future_key(false),
                )
            })
            .collect();
        if !partitions.is_empty() {
            topics.push(
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(str_bytes(topic.name.clone())))
                    .with_partitions(partitions),
            );
        }
    }
    let dir = &state.config.data_dir;
    let dir_name = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
    let mut result =
        DescribeLogDirsResult::default().with_log_dir(str_bytes(dir_name.display().to_string())).with_topics(topics);
    match rustix::fs::statvfs(dir) {
        Ok(fs) => {
            let bytes = |blocks: u64| i64::try_from(blocks.saturating_mul(fs.f_frsize)).unwrap_or(i64::MAX);
            result =
                result.with_error_code(NONE).with_total_bytes(bytes(fs.f_blocks)).with_usable_bytes(bytes(fs.f_bavail));
        }
        Err(e) => {
            // The sizes are still right; only the file system's totals are unknown (-1, Kafka's "unknown").
            tracing::warn!(dir = %dir.display(), error = %e, "statvfs on the data directory failed");
            result = result.with_error_code(NONE).with_total_bytes(-1).with_usable_bytes(-1);
        }
    }
    DescribeLogDirsResponse::default().with_error_code(NONE).with_results(vec![result])
}
