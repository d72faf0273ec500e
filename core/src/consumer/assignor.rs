//! Partition assignors (`partition.assignment.strategy`) and the consumer protocol's
//! subscription and assignment bytes, encoded as the Java client and librdkafka do, so all of
//! them can share one group.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::TopicPartition;
use crate::error::{Error, Result};

/// How partitions move in a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RebalanceProtocol {
    /// Every member gives up everything before each rebalance.
    Eager,
    /// Members keep what stays theirs; moved partitions are revoked first, then handed over in a
    /// follow-up rebalance (KIP-429).
    Cooperative,
}

/// One member's subscription, as the leader sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) topics: Vec<String>,
    pub(crate) owned: Vec<TopicPartition>,
    pub(crate) generation: i32,
}

/// A strategy named in `partition.assignment.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Assignor {
    Range,
    RoundRobin,
    CooperativeSticky,
}

impl Assignor {
    pub(crate) fn parse_list(value: &str) -> Result<Vec<Assignor>> {
        let list: Result<Vec<Assignor>> = value
            .split(',')
            .map(|s| match s.trim() {
                "range" => Ok(Assignor::Range),
                "roundrobin" => Ok(Assignor::RoundRobin),
                "cooperative-sticky" => Ok(Assignor::CooperativeSticky),
                other => Err(Error::Config {
                    key: "partition.assignment.strategy".into(),
                    reason: format!("{other:?} is not range, roundrobin or cooperative-sticky"),
                }),
            })
            .collect();
        let list = list?;
        let protocols: BTreeSet<_> = list.iter().map(|a| a.protocol()).collect();
        if protocols.len() > 1 {
            // Kafka's rule: eager and cooperative assignors never mix in one group.
            return Err(Error::Config {
                key: "partition.assignment.strategy".into(),
                reason: "eager (range, roundrobin) and cooperative (cooperative-sticky) assignors cannot be mixed"
                    .into(),
            });
        }
        Ok(list)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Assignor> {
        Assignor::parse_list(name).ok().and_then(|v| v.into_iter().next())
    }

    pub(crate) fn protocol(self) -> RebalanceProtocol {
        match self {
            Assignor::CooperativeSticky => RebalanceProtocol::Cooperative,
            _ => RebalanceProtocol::Eager,
        }
    }

    /// Assigns `partitions` (partition count per topic) to `members`.
    pub(crate) fn assign(
        self,
        partitions: &BTreeMap<String, i32>,
        members: &[Subscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut out: BTreeMap<String, Vec<TopicPartition>> =
            members.iter().map(|m| (m.member_id.clone(), Vec::new())).collect();
        // Kafka orders members by instance id when static, else by member id.
        let mut sorted: Vec<&Subscription> = members.iter().collect();
        sorted.sort_by(|a, b| {
            let ka = a.instance_id.as_deref().unwrap_or(&a.member_id);
            let kb = b.instance_id.as_deref().unwrap_or(&b.member_id);
            ka.cmp(kb)
        });
        match self {
            Assignor::Range => {
                for (topic, &count) in partitions {
                    let subs: Vec<&&Subscription> = sorted.iter().filter(|m| m.topics.contains(topic)).collect();
                    if subs.is_empty() {
                        continue;
                    }
                    let (per, extra) = (count as usize / subs.len(), count as usize % subs.len());
                    for (i, m) in subs.iter().enumerate() {
                        let start = i * per + i.min(extra);
                        let len = per + usize::from(i < extra);
                        let assigned = out.get_mut(&m.member_id).expect("every member has an entry");
                        assigned.extend((start..start + len).map(|p| TopicPartition::new(topic, p as i32)));
                    }
                }
            }
            Assignor::RoundRobin => {
                let mut next = 0usize;
                for (topic, &count) in partitions {
                    for p in 0..count {
                        // The next member in the circle that subscribes to this topic.
                        for step in 0..sorted.len() {
                            let m = sorted[(next + step) % sorted.len()];
                            if m.topics.contains(topic) {
                                out.get_mut(&m.member_id).expect("entry").push(TopicPartition::new(topic, p));
                                next = (next + step + 1) % sorted.len();
                                break;
                            }
                        }
                    }
                }
            }
            Assignor::CooperativeSticky => sticky(partitions, &sorted, &mut out),
        }
        out
    }
}

/// Balanced, keeping each member's current partitions where balance allows.
fn sticky(
    partitions: &BTreeMap<String, i32>,
    members: &[&Subscription],
    out: &mut BTreeMap<String, Vec<TopicPartition>>,
) {
    let all: Vec<TopicPartition> =
        partitions.iter().flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t, p))).collect();
    let subscribed = |m: &Subscription, tp: &TopicPartition| m.topics.contains(&tp.topic);
    let eligible: usize = all.iter().filter(|tp| members.iter().any(|m| subscribed(m, tp))).count();
    let n = members.len().max(1);
    let (min_quota, with_extra) = (eligible / n, eligible % n);

    // Claims from the previous generation: the newest generation wins a disputed partition.
    let mut claim: HashMap<&TopicPartition, (&str, i32)> = HashMap::new();
    for m in members {
        for tp in &m.owned {
            if partitions.get(&tp.topic).is_some_and(|&c| tp.partition < c) && subscribed(m, tp) {
                let e = claim.entry(tp).or_insert((&m.member_id, m.generation));
                if m.generation > e.1 {
                    *e = (&m.member_id, m.generation);
                }
            }
        }
    }
    let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
    let mut extras_left = with_extra;
    for m in members {
        let mut kept: Vec<TopicPartition> = m
            .owned
            .iter()
            .filter(|tp| claim.get(tp).is_some_and(|(owner, _)| *owner == m.member_id))
            .cloned()
            .collect();
        kept.sort();
        let quota = if kept.len() > min_quota && extras_left > 0 {
            extras_left -= 1;
            min_quota + 1
        } else {
            min_quota
        };
        kept.truncate(quota);
        taken.extend(kept.iter().cloned());
        out.insert(m.member_id.clone(), kept);
    }
    // Hand out the rest, each to the least loaded member that may take it.
    for tp in all.into_iter().filter(|tp| !taken.contains(tp)) {
        let target =
            members.iter().filter(|m| subscribed(m, &tp)).min_by_key(|m| out.get(&m.member_id).map_or(0, Vec::len));
        if let Some(m) = target {
            out.get_mut(&m.member_id).expect("entry").push(tp);
        }
    }
}

/// KIP-429: a partition moving between members is first only taken away; the new owner gets
/// it in the next rebalance, which the revoking member asks for.
pub(crate) fn hold_back_transfers(assignment: &mut BTreeMap<String, Vec<TopicPartition>>, members: &[Subscription]) {
    let owner: HashMap<&TopicPartition, &str> =
        members.iter().flat_map(|m| m.owned.iter().map(move |tp| (tp, m.member_id.as_str()))).collect();
    for (member, tps) in assignment.iter_mut() {
        tps.retain(|tp| owner.get(tp).is_none_or(|o| o == member));
    }
}

fn name(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn group_by_topic(tps: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut by: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        by.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    by
}

/// Subscription metadata, version 3 (owned partitions, generation, rack) as current clients
/// send it; older readers stop at the fields they know.
pub(crate) fn encode_subscription(topics: &[String], owned: &[TopicPartition], generation: i32) -> Bytes {
    const VERSION: i16 = 3;
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| name(t)).collect())
        .with_user_data(None)
        .with_owned_partitions(
            group_by_topic(owned)
                .into_iter()
                .map(|(t, ps)| OwnedTopic::default().with_topic(TopicName(name(t))).with_partitions(ps))
                .collect(),
        )
        .with_generation_id(generation)
        .with_rack_id(None);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&VERSION.to_be_bytes());
    sub.encode(&mut buf, VERSION).expect("subscription encodes");
    buf.freeze()
}

fn split_version(mut bytes: Bytes, what: &str) -> Result<(i16, Bytes)> {
    if bytes.len() < 2 {
        return Err(Error::Protocol { broker: "group".into(), reason: format!("{what} of {} bytes", bytes.len()) });
    }
    let version = bytes.get_i16();
    // Newer versions only append fields: read them as the newest we know.
    Ok((version.clamp(0, 3), bytes))
}

pub(crate) fn decode_subscription(member_id: &str, instance_id: Option<String>, bytes: Bytes) -> Result<Subscription> {
    let (version, mut body) = split_version(bytes, "subscription")?;
    let sub = ConsumerProtocolSubscription::decode(&mut body, version)
        .map_err(|e| Error::Protocol { broker: "group".into(), reason: format!("subscription of {member_id}: {e}") })?;
    Ok(Subscription {
        member_id: member_id.to_owned(),
        instance_id,
        topics: sub.topics.iter().map(|t| t.to_string()).collect(),
        owned: sub
            .owned_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| TopicPartition::new(t.topic.0.as_str(), *p)))
            .collect(),
        generation: if version >= 2 { sub.generation_id } else { -1 },
    })
}

pub(crate) fn encode_assignment(tps: &[TopicPartition]) -> Bytes {
    const VERSION: i16 = 0;
    let a = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(
            group_by_topic(tps)
                .into_iter()
                .map(|(t, ps)| AssignedTopic::default().with_topic(TopicName(name(t))).with_partitions(ps))
                .collect(),
        )
        .with_user_data(None);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&VERSION.to_be_bytes());
    a.encode(&mut buf, VERSION).expect("assignment encodes");
    buf.freeze()
}

pub(crate) fn decode_assignment(bytes: Bytes) -> Result<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(Vec::new()); // no assignment at all (e.g. subscribed to nothing that exists)
    }
    let (version, mut body) = split_version(bytes, "assignment")?;
    let a = ConsumerProtocolAssignment::decode(&mut body, version)
        .map_err(|e| Error::Protocol { broker: "group".into(), reason: format!("assignment: {e}") })?;
    Ok(a.assigned_partitions
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| TopicPartition::new(t.topic.0.as_str(), *p)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str], owned: &[(&str, i32)]) -> Subscription {
        Subscription {
            member_id: id.into(),
            instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            owned: owned.iter().map(|&tp| tp.into()).collect(),
            generation: 1,
        }
    }

    fn parts(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn range_splits_each_topic_in_member_order() {
        let ms = [member("b", &["t"], &[]), member("a", &["t"], &[]), member("c", &["t"], &[])];
        let out = Assignor::Range.assign(&parts(&[("t", 7)]), &ms);
        let ps = |m: &str| out[m].iter().map(|tp| tp.partition).collect::<Vec<_>>();
        assert_eq!((ps("a"), ps("b"), ps("c")), (vec![0, 1, 2], vec![3, 4], vec![5, 6]));
    }

    #[test]
    fn roundrobin_deals_partitions_in_turn_to_subscribers() {
        let ms = [member("a", &["t", "u"], &[]), member("b", &["t"], &[])];
        let out = Assignor::RoundRobin.assign(&parts(&[("t", 3), ("u", 2)]), &ms);
        let tps = |list: &[(&str, i32)]| list.iter().map(|&tp| TopicPartition::from(tp)).collect::<Vec<_>>();
        assert_eq!(out["a"], tps(&[("t", 0), ("t", 2), ("u", 0), ("u", 1)]));
        assert_eq!(out["b"], tps(&[("t", 1)]));
    }

    #[test]
    fn sticky_keeps_owned_partitions_and_moves_only_what_balance_needs() {
        let ms = [
            member("a", &["t"], &[("t", 0), ("t", 1), ("t", 2), ("t", 3)]),
            member("b", &["t"], &[("t", 4), ("t", 5)]),
            member("c", &["t"], &[]),
        ];
        let mut out = Assignor::CooperativeSticky.assign(&parts(&[("t", 6)]), &ms);
        assert_eq!(out.values().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 2]);
        assert!(out["a"].iter().all(|tp| ms[0].owned.contains(tp)), "a keeps two of its own");
        assert_eq!(out["b"], ms[1].owned, "b keeps both");
        // Cooperative: c gets the two a gives up only in the next round.
        hold_back_transfers(&mut out, &ms);
        assert!(out["c"].is_empty());
    }

    #[test]
    fn protocol_bytes_round_trip_and_mixing_is_refused() {
        let owned = vec![TopicPartition::new("t", 1), TopicPartition::new("t", 4)];
        let sub = decode_subscription("m", None, encode_subscription(&["t".into()], &owned, 7)).unwrap();
        assert_eq!((sub.topics, sub.owned, sub.generation), (vec!["t".to_string()], owned.clone(), 7));
        assert_eq!(decode_assignment(encode_assignment(&owned)).unwrap(), owned);
        assert!(Assignor::parse_list("range, cooperative-sticky").is_err());
        assert!(Assignor::parse_list("sticky").is_err());
        assert_eq!(Assignor::parse_list("range,roundrobin").unwrap(), vec![Assignor::Range, Assignor::RoundRobin]);
    }
}
