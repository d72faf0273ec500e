//! ListOffsets: earliest, latest, max timestamp, and the first offset at or after a time.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse, TopicName};
use kafka_protocol::records::RecordBatchDecoder;

use super::{Ctx, NONE, Outcome, acls};
use crate::error::{Error, Result};
use crate::server::BrokerState;
use crate::topics::Partition;

pub(super) const VERSIONS: &[(ApiKey, i16, i16)] = &[(ApiKey::ListOffsets, 1, 10)];

pub(super) fn serve(cx: &mut Ctx<'_>) -> Outcome {
    let (state, version) = (cx.state, cx.version);
    filtered!(cx, ListOffsetsRequest, acls::filter_list_offsets, req => handle(state, req, version), topics)
}

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const EARLIEST_PENDING_UPLOAD: i64 = -5;
const LATEST_TIERED: i64 = -6;

/// `(offset, timestamp)` answering `timestamp` for one partition; (-1, -1) when none.
fn lookup(partition: &Partition, timestamp: i64, read_committed: bool) -> Result<(i64, i64)> {
    match timestamp {
        // A read_committed consumer starting at "latest" starts at the last stable offset.
        LATEST | LATEST_TIERED if read_committed => partition.with_log(|l| Ok((l.last_stable_offset(), -1))),
        LATEST | LATEST_TIERED => partition.with_log(|l| Ok((l.next_offset(), -1))),
        EARLIEST | EARLIEST_LOCAL | EARLIEST_PENDING_UPLOAD => partition.with_log(|l| Ok((l.log_start_offset(), -1))),
        MAX_TIMESTAMP => match partition.with_log(|l| l.max_timestamp())? {
            // The first record carrying the largest timestamp.
            Some(max) => lookup(partition, max, read_committed),
            None => Ok((-1, -1)),
        },
        ts if ts >= 0 => {
            let found = partition.with_log(|l| Ok((l.find_timestamp(ts)?, l.log_start_offset())))?;
            let (Some((slice, header)), log_start) = found else { return Ok((-1, -1)) };
            // The batch may start before the target time: find the exact record inside it.
            let mut bytes = slice.read()?;
            let set = RecordBatchDecoder::decode(&mut bytes).map_err(|e| Error::Io {
                context: format!("decoding stored batch at offset {}", header.base_offset),
                source: std::io::Error::other(e.to_string()),
            })?;
            Ok(set
                .records
                .iter()
                .find(|r| r.offset >= log_start && r.timestamp >= ts)
                .map(|r| (r.offset, r.timestamp))
                .unwrap_or((-1, -1)))
        }
        _ => Ok((-1, -1)),
    }
}

pub(super) fn handle(state: &BrokerState, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let read_committed = req.isolation_level == 1;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = state.topics.get(&t.name.0);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition_index)) else {
                        return resp
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_offset(-1)
                            .with_timestamp(-1);
                    };
                    match lookup(&partition, p.timestamp, read_committed) {
                        Ok((offset, timestamp)) => {
                            let resp = resp.with_error_code(NONE).with_offset(offset).with_timestamp(timestamp);
                            // The leader epoch exists from v4; setting it earlier fails the encode.
                            if version >= 4 { resp.with_leader_epoch(0) } else { resp }
                        }
                        Err(e) => resp.with_error_code(e.code()).with_offset(-1).with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(TopicName(t.name.0)).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
