//! The group coordinator over TCP: membership, rebalances, fencing, offset commits and their
//! durability, checked against the error codes Kafka answers with.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::*;
use ferrokafka_broker::{Broker, BrokerConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const REBALANCE_IN_PROGRESS: i16 = 27;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_INSTANCE_ID: i16 = 82;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// A consumer-protocol subscription, as Java clients and librdkafka encode it (version 0).
fn subscription(topics: &[&str]) -> Bytes {
    let sub = ConsumerProtocolSubscription::default().with_topics(topics.iter().map(|t| s(t)).collect());
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&0i16.to_be_bytes());
    sub.encode(&mut buf, 0).unwrap();
    buf.freeze()
}

struct Join<'a> {
    group: &'a str,
    member: &'a str,
    instance: Option<&'a str>,
    session_ms: i32,
    rebalance_ms: i32,
    protocols: Vec<(&'a str, Bytes)>,
}

impl<'a> Join<'a> {
    fn new(group: &'a str, member: &'a str) -> Self {
        Join {
            group,
            member,
            instance: None,
            session_ms: 10_000,
            rebalance_ms: 10_000,
            protocols: vec![("range", subscription(&["t"]))],
        }
    }

    fn request(&self) -> JoinGroupRequest {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(self.group)))
            .with_member_id(s(self.member))
            .with_group_instance_id(self.instance.map(s))
            .with_session_timeout_ms(self.session_ms)
            .with_rebalance_timeout_ms(self.rebalance_ms)
            .with_protocol_type(s("consumer"))
            .with_reason(None)
            .with_protocols(
                self.protocols
                    .iter()
                    .map(|(n, m)| {
                        join_group_request::JoinGroupRequestProtocol::default().with_name(s(n)).with_metadata(m.clone())
                    })
                    .collect(),
            )
    }

    async fn send(&self, c: &mut TestClient) -> JoinGroupResponse {
        c.send(&self.request(), 9).await
    }
}

/// KIP-394: the first JoinGroup hands out an id; the second joins with it.
async fn join_new(c: &mut TestClient, join: Join<'_>) -> JoinGroupResponse {
    let first = join.send(c).await;
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    assert!(!first.member_id.is_empty());
    let id = first.member_id.to_string();
    Join { member: &id, ..join }.send(c).await
}

async fn sync(
    c: &mut TestClient,
    group: &str,
    generation: i32,
    member: &str,
    assignments: &[(&str, &[u8])],
) -> SyncGroupResponse {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_group_instance_id(None)
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    sync_group_request::SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::copy_from_slice(a))
                })
                .collect(),
        );
    c.send(&req, 5).await
}

async fn heartbeat(c: &mut TestClient, group: &str, generation: i32, member: &str, instance: Option<&str>) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s));
    c.send(&req, 4).await.error_code
}

#[allow(clippy::too_many_arguments)] // one per field of the request, as the call sites read
async fn commit(
    c: &mut TestClient,
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    metadata: &str,
) -> i16 {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_group_instance_id(None)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default().with_name(TopicName(s(topic))).with_partitions(
                vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(-1)
                        .with_committed_metadata(Some(s(metadata))),
                ],
            ),
        ]);
    c.send(&req, 8).await.topics[0].partitions[0].error_code
}

/// OffsetFetch v8 for several groups at once: (offset, metadata) of partition 0 of `topic`.
async fn fetch_offsets(c: &mut TestClient, groups: &[&str], topic: &str) -> Vec<(i64, String)> {
    let req = OffsetFetchRequest::default().with_require_stable(false).with_groups(
        groups
            .iter()
            .map(|g| {
                offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(GroupId(s(g))).with_topics(Some(
                    vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(TopicName(s(topic)))
                            .with_partition_indexes(vec![0]),
                    ],
                ))
            })
            .collect(),
    );
    let resp = c.send(&req, 8).await;
    resp.groups
        .iter()
        .map(|g| {
            assert_eq!(g.error_code, NONE);
            let p = &g.topics[0].partitions[0];
            (p.committed_offset, p.metadata.as_ref().map(|m| m.to_string()).unwrap_or_default())
        })
        .collect()
}

async fn leave(c: &mut TestClient, group: &str, members: &[(&str, Option<&str>)]) -> (i16, Vec<i16>) {
    let req = LeaveGroupRequest::default().with_group_id(GroupId(s(group))).with_members(
        members
            .iter()
            .map(|(m, i)| {
                leave_group_request::MemberIdentity::default()
                    .with_member_id(s(m))
                    .with_group_instance_id(i.map(s))
                    .with_reason(None)
            })
            .collect(),
    );
    let resp = c.send(&req, 5).await;
    (resp.error_code, resp.members.iter().map(|m| m.error_code).collect())
}

async fn describe(c: &mut TestClient, group: &str) -> describe_groups_response::DescribedGroup {
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
    c.send(&req, 5).await.groups.remove(0)
}

async fn delete_group(c: &mut TestClient, group: &str) -> i16 {
    let req = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(group))]);
    c.send(&req, 2).await.results[0].error_code
}

async fn connect(broker: &Broker) -> TestClient {
    TestClient::connect(broker.local_addr()).await
}

/// Two members: `a` leads generation 1 alone, then `b` joins and both are in generation 2.
async fn two_member_group(
    addr: SocketAddr,
    group: &str,
    session_ms: i32,
    rebalance_ms: i32,
) -> (TestClient, TestClient, String, String, i32) {
    let mut a = TestClient::connect(addr).await;
    let mut b = TestClient::connect(addr).await;
    let j = join_new(&mut a, Join { session_ms, rebalance_ms, ..Join::new(group, "") }).await;
    assert_eq!(j.error_code, NONE);
    let a_id = j.member_id.to_string();
    assert_eq!(sync(&mut a, group, j.generation_id, &a_id, &[(&a_id, b"all")]).await.error_code, NONE);

    let group_owned = group.to_owned();
    let b_join = tokio::spawn(async move {
        let r = join_new(&mut b, Join { session_ms, rebalance_ms, ..Join::new(&group_owned, "") }).await;
        (b, r)
    });
    // a learns of the rebalance from its heartbeat, then rejoins.
    loop {
        match heartbeat(&mut a, group, 1, &a_id, None).await {
            REBALANCE_IN_PROGRESS => break,
            NONE => tokio::task::yield_now().await,
            other => panic!("heartbeat error {other}"),
        }
    }
    let ja = Join { session_ms, rebalance_ms, ..Join::new(group, &a_id) }.send(&mut a).await;
    let (mut b, jb) = b_join.await.unwrap();
    assert_eq!((ja.error_code, jb.error_code), (NONE, NONE));
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja.leader, ja.member_id, "the first member keeps leading");
    assert_eq!(ja.members.len(), 2, "the leader gets every member's metadata");
    assert!(jb.members.is_empty(), "followers get no member list");
    let b_id = jb.member_id.to_string();

    let (a_sync, b_sync) = {
        let (group_a, group_b, a_id2, b_id2) = (group.to_owned(), group.to_owned(), a_id.clone(), b_id.clone());
        let follower = tokio::spawn(async move {
            let r = sync(&mut b, &group_b, 2, &b_id2, &[]).await;
            (b, r)
        });
        let leader = sync(&mut a, &group_a, 2, &a_id2, &[(&a_id2, b"p0"), (&b_id, b"p1")]).await;
        let (b_back, follower) = follower.await.unwrap();
        b = b_back;
        (leader, follower)
    };
    assert_eq!(a_sync.assignment.as_ref(), b"p0");
    assert_eq!(b_sync.assignment.as_ref(), b"p1", "the follower waited for the leader's assignment");
    (a, b, a_id, b_id, 2)
}

#[tokio::test]
async fn membership_commits_and_admin_follow_kafkas_rules() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut admin = connect(&broker).await;
    assert_eq!(create_topic(&mut admin, "t", 2, &[]).await, NONE);

    // Timeouts outside the broker's bounds are refused.
    let bad = Join { session_ms: 10, ..Join::new("g", "") }.send(&mut admin).await;
    assert_eq!(bad.error_code, INVALID_SESSION_TIMEOUT);
    // An id the group never handed out is unknown.
    assert_eq!(Join::new("g", "made-up").send(&mut admin).await.error_code, UNKNOWN_MEMBER_ID);

    let (mut a, mut b, a_id, b_id, generation) = two_member_group(broker.local_addr(), "g", 10_000, 10_000).await;

    // A member with protocols the group does not share cannot join.
    let other =
        Join { protocols: vec![("roundrobin", subscription(&["t"]))], ..Join::new("g", "") }.send(&mut admin).await;
    assert_eq!(other.error_code, INCONSISTENT_GROUP_PROTOCOL);

    assert_eq!(heartbeat(&mut a, "g", generation, &a_id, None).await, NONE);
    assert_eq!(heartbeat(&mut a, "g", generation - 1, &a_id, None).await, ILLEGAL_GENERATION);
    assert_eq!(heartbeat(&mut a, "g", generation, "nobody", None).await, UNKNOWN_MEMBER_ID);

    assert_eq!(commit(&mut a, "g", generation, &a_id, "t", 0, 42, "first").await, NONE);
    assert_eq!(commit(&mut b, "g", generation, &b_id, "t", 1, 7, "").await, NONE);
    assert_eq!(commit(&mut a, "g", generation - 1, &a_id, "t", 0, 1, "").await, ILLEGAL_GENERATION);
    assert_eq!(commit(&mut a, "g", generation, "nobody", "t", 0, 1, "").await, UNKNOWN_MEMBER_ID);
    assert_eq!(commit(&mut a, "g", generation, &a_id, "missing", 0, 1, "").await, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(commit(&mut a, "g", generation, &a_id, "t", 0, 1, &"x".repeat(5000)).await, OFFSET_METADATA_TOO_LARGE);
    // Several groups in one OffsetFetch (v8); a group with no commits reads -1.
    assert_eq!(fetch_offsets(&mut admin, &["g", "never"], "t").await, vec![(42, "first".into()), (-1, String::new())]);

    let d = describe(&mut admin, "g").await;
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.protocol_type.as_str(), "consumer");
    assert_eq!(d.protocol_data.as_str(), "range");
    assert_eq!(d.members.len(), 2);
    assert!(d.members.iter().any(|m| m.member_assignment.as_ref() == b"p1"));
    assert_eq!(d.members[0].client_id.as_str(), "broker-tests");
    assert_eq!(describe(&mut admin, "never").await.group_state.as_str(), "Dead");
    let listed = admin.send(&ListGroupsRequest::default(), 5).await;
    assert!(listed.groups.iter().any(|g| g.group_id.as_str() == "g" && g.group_state.as_str() == "Stable"));

    // Live groups are not deleted, nor offsets of topics they subscribe to.
    assert_eq!(delete_group(&mut admin, "g").await, NON_EMPTY_GROUP);
    let od = OffsetDeleteRequest::default().with_group_id(GroupId(s("g"))).with_topics(vec![
        offset_delete_request::OffsetDeleteRequestTopic::default().with_name(TopicName(s("t"))).with_partitions(vec![
            offset_delete_request::OffsetDeleteRequestPartition::default().with_partition_index(0),
        ]),
    ]);
    let resp = admin.send(&od, 0).await;
    assert_eq!(resp.topics[0].partitions[0].error_code, GROUP_SUBSCRIBED_TO_TOPIC);

    // LeaveGroup v3+ takes several members; a stranger gets its own error.
    let (top, per_member) = leave(&mut admin, "g", &[(&a_id, None), (&b_id, None), ("nobody", None)]).await;
    assert_eq!(top, NONE);
    assert_eq!(per_member, vec![NONE, NONE, UNKNOWN_MEMBER_ID]);
    assert_eq!(describe(&mut admin, "g").await.group_state.as_str(), "Empty");
    assert_eq!(admin.send(&od, 0).await.topics[0].partitions[0].error_code, NONE, "an empty group's offsets can go");
    assert_eq!(fetch_offsets(&mut admin, &["g"], "t").await, vec![(-1, String::new())]);
    assert_eq!(delete_group(&mut admin, "g").await, NONE);
    assert_eq!(delete_group(&mut admin, "g").await, GROUP_ID_NOT_FOUND);
    broker.shutdown().await.unwrap();
}

/// Members that join a new group together (with no initial rebalance delay, this broker's
/// default) form one generation: a member handed its id (KIP-394) but not yet back is waited
/// for, as Kafka's `hasAllMembersJoined` waits for pending members. 50 rounds, since going
/// wrong would be a race; in the second half the first member's join is seen waiting in the
/// group before the second comes back.
#[tokio::test]
async fn members_joining_together_form_one_generation() {
    let (broker, _dir) = start_broker(|_| {}).await;
    for round in 0..50 {
        let group = format!("together-{round}");
        let (mut a, mut b) = (connect(&broker).await, connect(&broker).await);
        let first = Join::new(&group, "");
        let (fa, fb) = tokio::join!(first.send(&mut a), first.send(&mut b));
        assert_eq!((fa.error_code, fb.error_code), (MEMBER_ID_REQUIRED, MEMBER_ID_REQUIRED));
        let (a_id, b_id) = (fa.member_id.to_string(), fb.member_id.to_string());
        let (ja, jb) = if round < 25 {
            let (again_a, again_b) = (Join::new(&group, &a_id), Join::new(&group, &b_id));
            tokio::join!(again_a.send(&mut a), again_b.send(&mut b))
        } else {
            let (group_a, a_id2) = (group.clone(), a_id.clone());
            let a_join = tokio::spawn(async move {
                let r = Join::new(&group_a, &a_id2).send(&mut a).await;
                (a, r)
            });
            let mut admin = connect(&broker).await;
            while describe(&mut admin, &group).await.members.is_empty() {
                tokio::task::yield_now().await;
            }
            let described = describe(&mut admin, &group).await;
            assert_eq!(described.group_state.as_str(), "PreparingRebalance", "round {round}: waits for b");
            let jb = Join::new(&group, &b_id).send(&mut b).await;
            (a_join.await.unwrap().1, jb)
        };
        assert_eq!((ja.error_code, jb.error_code), (NONE, NONE), "round {round}");
        assert_eq!((ja.generation_id, jb.generation_id), (1, 1), "round {round}: one generation with both");
        assert_eq!(ja.members.len() + jb.members.len(), 2, "round {round}: the leader sees both members");
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn commits_during_a_rebalance_follow_its_phase() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut admin = connect(&broker).await;
    create_topic(&mut admin, "t", 1, &[]).await;
    let mut a = connect(&broker).await;
    let j = join_new(&mut a, Join::new("g", "")).await;
    let a_id = j.member_id.to_string();
    // Joined but not synced: the generation's assignments are not out yet.
    assert_eq!(commit(&mut a, "g", 1, &a_id, "t", 0, 5, "").await, REBALANCE_IN_PROGRESS, "before SyncGroup");
    sync(&mut a, "g", 1, &a_id, &[(&a_id, b"x")]).await;
    assert_eq!(commit(&mut a, "g", 1, &a_id, "t", 0, 5, "").await, NONE);

    // A second member makes the group prepare a rebalance; the old generation may still
    // commit what it consumed (eager consumers do so before rejoining).
    let mut b = connect(&broker).await;
    let pending = tokio::spawn(async move { join_new(&mut b, Join::new("g", "")).await });
    while heartbeat(&mut a, "g", 1, &a_id, None).await != REBALANCE_IN_PROGRESS {
        tokio::task::yield_now().await;
    }
    assert_eq!(commit(&mut a, "g", 1, &a_id, "t", 0, 6, "").await, NONE);
    Join::new("g", &a_id).send(&mut a).await;
    assert_eq!(pending.await.unwrap().generation_id, 2);
    // A standalone (generation -1) commit into a live group is refused.
    assert_eq!(commit(&mut admin, "g", -1, "", "t", 0, 9, "").await, REBALANCE_IN_PROGRESS);
    assert_eq!(fetch_offsets(&mut admin, &["g"], "t").await, vec![(6, String::new())]);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn silent_members_time_out_and_laggards_are_dropped() {
    let (broker, _dir) = start_broker(|c| c.groups.min_session_timeout_ms = 100).await;
    // b stops heartbeating: after its 300 ms session, a is told to rejoin and leads alone.
    let (mut a, _b, a_id, _b_id, generation) = two_member_group(broker.local_addr(), "g", 300, 10_000).await;
    loop {
        match heartbeat(&mut a, "g", generation, &a_id, None).await {
            NONE => tokio::time::sleep(Duration::from_millis(50)).await, // the client's heartbeat interval
            REBALANCE_IN_PROGRESS => break,
            other => panic!("heartbeat error {other}"),
        }
    }
    let j = Join { session_ms: 300, ..Join::new("g", &a_id) }.send(&mut a).await;
    assert_eq!((j.error_code, j.generation_id, j.members.len()), (NONE, generation + 1, 1));

    // c and d share a group with a 500 ms rebalance timeout; d never rejoins, and its session
    // is long, so only the rebalance timeout can drop it.
    let (mut c, mut d, c_id, d_id, generation) = two_member_group(broker.local_addr(), "h", 10_000, 500).await;
    let rejoin = tokio::spawn(async move {
        let changed =
            Join { rebalance_ms: 500, protocols: vec![("range", subscription(&["t", "u"]))], ..Join::new("h", &c_id) };
        changed.send(&mut c).await
    });
    let j = rejoin.await.unwrap();
    assert_eq!((j.error_code, j.generation_id), (NONE, generation + 1));
    assert_eq!(j.members.len(), 1, "d did not rejoin within the rebalance timeout");
    assert_eq!(heartbeat(&mut d, "h", generation, &d_id, None).await, UNKNOWN_MEMBER_ID);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_returning_static_member_takes_its_place_and_fences_the_old_id() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut a = connect(&broker).await;
    // Static members need no MEMBER_ID_REQUIRED round.
    let j = Join { instance: Some("i-1"), ..Join::new("g", "") }.send(&mut a).await;
    assert_eq!(j.error_code, NONE);
    let old_id = j.member_id.to_string();
    sync(&mut a, "g", j.generation_id, &old_id, &[(&old_id, b"mine")]).await;

    let mut again = connect(&broker).await;
    let j2 = Join { instance: Some("i-1"), ..Join::new("g", "") }.send(&mut again).await;
    assert_eq!(j2.error_code, NONE);
    assert_ne!(j2.member_id.as_str(), old_id);
    assert_eq!(j2.generation_id, j.generation_id, "no rebalance");
    assert_eq!(j2.leader.as_str(), old_id, "the old leader id, so it syncs as a follower");
    let new_id = j2.member_id.to_string();
    let s2 = sync(&mut again, "g", j2.generation_id, &new_id, &[]).await;
    assert_eq!((s2.error_code, s2.assignment.as_ref()), (NONE, &b"mine"[..]));
    assert_eq!(heartbeat(&mut a, "g", j.generation_id, &old_id, Some("i-1")).await, FENCED_INSTANCE_ID);
    assert_eq!(heartbeat(&mut again, "g", j.generation_id, &new_id, Some("i-1")).await, NONE);
    assert_eq!(describe(&mut a, "g").await.group_state.as_str(), "Stable");
    // A leave naming the old id for this instance is fenced too.
    assert_eq!(leave(&mut a, "g", &[(&old_id, Some("i-1"))]).await.1, vec![FENCED_INSTANCE_ID]);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn offsets_and_stable_groups_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        || BrokerConfig { listen: "127.0.0.1:0".into(), data_dir: dir.path().to_owned(), ..Default::default() };
    let broker = Broker::start(config()).await.unwrap();
    let mut c = connect(&broker).await;
    create_topic(&mut c, "t", 1, &[]).await;
    // Standalone commits (manual assignment: no generation, no member).
    assert_eq!(commit(&mut c, "solo", -1, "", "t", 0, 11, "kept").await, NONE);
    let j = join_new(&mut c, Join::new("grp", "")).await;
    let member = j.member_id.to_string();
    sync(&mut c, "grp", j.generation_id, &member, &[(&member, b"a")]).await;
    assert_eq!(commit(&mut c, "grp", j.generation_id, &member, "t", 0, 99, "m").await, NONE);
    drop(c);
    broker.shutdown().await.unwrap();

    let broker = Broker::start(config()).await.unwrap();
    let mut c = connect(&broker).await;
    assert_eq!(fetch_offsets(&mut c, &["solo", "grp"], "t").await, vec![(11, "kept".into()), (99, "m".into())]);
    // The member carries on in its generation.
    assert_eq!(heartbeat(&mut c, "grp", j.generation_id, &member, None).await, NONE);
    assert_eq!(describe(&mut c, "grp").await.group_state.as_str(), "Stable");
    assert_eq!(commit(&mut c, "grp", j.generation_id, &member, "t", 0, 100, "").await, NONE);
    drop(c);
    broker.shutdown().await.unwrap();

    let broker = Broker::start(config()).await.unwrap();
    let mut c = connect(&broker).await;
    assert_eq!(fetch_offsets(&mut c, &["grp"], "t").await, vec![(100, String::new())]);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn find_coordinator_answers_batched_keys_transactions_and_refuses_share_groups() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = connect(&broker).await;
    let req = FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![s("a"), s("b")]);
    let resp = c.send(&req, 4).await;
    assert_eq!(resp.coordinators.len(), 2);
    for co in &resp.coordinators {
        assert_eq!(co.error_code, NONE);
        assert_eq!(co.port, broker.local_addr().port() as i32);
    }
    let resp = c.send(&FindCoordinatorRequest::default().with_key(s("g")), 3).await;
    assert_eq!((resp.error_code, resp.node_id.0), (NONE, 1));
    let resp = c.send(&FindCoordinatorRequest::default().with_key(s("tx")).with_key_type(1), 3).await;
    assert_eq!((resp.error_code, resp.node_id.0), (NONE, 1));
    let req = FindCoordinatorRequest::default().with_key_type(2).with_coordinator_keys(vec![s("share")]);
    assert_eq!(c.send(&req, 6).await.coordinators[0].error_code, COORDINATOR_NOT_AVAILABLE);
    broker.shutdown().await.unwrap();
}

/// ConsumerGroupHeartbeat with `owned` partitions (None: unchanged); returns the response.
async fn cg_heartbeat(
    c: &mut TestClient,
    member: &str,
    epoch: i32,
    owned: Option<Vec<i32>>,
    topic_id: uuid::Uuid,
) -> ConsumerGroupHeartbeatResponse {
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("kip848")))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(10_000)
        .with_subscribed_topic_names(if epoch == 0 { Some(vec![TopicName(s("t"))]) } else { None })
        .with_topic_partitions(owned.map(|ps| {
            vec![
                consumer_group_heartbeat_request::TopicPartitions::default()
                    .with_topic_id(topic_id)
                    .with_partitions(ps),
            ]
        }));
    c.send(&req, 1).await
}

fn assigned(r: &ConsumerGroupHeartbeatResponse) -> Option<Vec<i32>> {
    r.assignment.as_ref().map(|a| {
        let mut ps: Vec<i32> = a.topic_partitions.iter().flat_map(|t| t.partitions.iter().copied()).collect();
        ps.sort();
        ps
    })
}

#[tokio::test]
async fn kip848_members_reconcile_without_sharing_a_partition() {
    let (broker, _dir) = start_broker(|_| {}).await;
    let mut c = connect(&broker).await;
    create_topic(&mut c, "t", 4, &[]).await;
    let meta = c.send(&MetadataRequest::default().with_topics(None), 12).await;
    let topic_id = meta.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == "t")).unwrap().topic_id;

    let a = cg_heartbeat(&mut c, "member-a", 0, Some(vec![]), topic_id).await;
    assert_eq!(a.error_code, NONE);
    assert_eq!(assigned(&a), Some(vec![0, 1, 2, 3]));
    let b = cg_heartbeat(&mut c, "member-b", 0, Some(vec![]), topic_id).await;
    assert_eq!(assigned(&b), Some(vec![]), "a still holds everything");
    assert!(b.member_epoch > a.member_epoch);

    // a is told to give up two partitions and keeps its epoch until it confirms.
    let a2 = cg_heartbeat(&mut c, "member-a", a.member_epoch, None, topic_id).await;
    let kept = assigned(&a2).unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(a2.member_epoch, a.member_epoch);
    assert_eq!(
        assigned(&cg_heartbeat(&mut c, "member-b", b.member_epoch, None, topic_id).await),
        None,
        "nothing released yet"
    );
    let a3 = cg_heartbeat(&mut c, "member-a", a.member_epoch, Some(kept.clone()), topic_id).await;
    assert_eq!(a3.member_epoch, b.member_epoch, "revocation confirmed: a moves to the new epoch");
    let b2 = cg_heartbeat(&mut c, "member-b", b.member_epoch, None, topic_id).await;
    let theirs = assigned(&b2).unwrap();
    assert_eq!(theirs.len(), 2);
    assert!(theirs.iter().all(|p| !kept.contains(p)));

    assert_eq!(cg_heartbeat(&mut c, "member-a", 999, None, topic_id).await.error_code, 110, "FENCED_MEMBER_EPOCH");
    assert_eq!(cg_heartbeat(&mut c, "stranger", 3, None, topic_id).await.error_code, UNKNOWN_MEMBER_ID);
    assert_eq!(
        commit(&mut c, "kip848", a.member_epoch - 1, "member-a", "t", kept[0], 1, "").await,
        113,
        "STALE_MEMBER_EPOCH"
    );
    assert_eq!(commit(&mut c, "kip848", a3.member_epoch, "member-a", "t", kept[0], 1, "").await, NONE);
    // A classic member cannot join a consumer-protocol group.
    assert_eq!(Join::new("kip848", "").send(&mut c).await.error_code, INCONSISTENT_GROUP_PROTOCOL);

    let d = c.send(&ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("kip848"))]), 0).await;
    let g = &d.groups[0];
    assert_eq!((g.error_code, g.group_state.as_str(), g.members.len()), (NONE, "Stable", 2));
    let listed = c.send(&ListGroupsRequest::default(), 5).await;
    assert!(listed.groups.iter().any(|g| g.group_id.as_str() == "kip848" && g.group_type.as_str() == "consumer"));

    // a leaves; b gets everything.
    assert_eq!(cg_heartbeat(&mut c, "member-a", -1, None, topic_id).await.member_epoch, -1);
    let b3 = cg_heartbeat(&mut c, "member-b", b2.member_epoch, Some(theirs), topic_id).await;
    assert_eq!(assigned(&b3), Some(vec![0, 1, 2, 3]));
    broker.shutdown().await.unwrap();
}
