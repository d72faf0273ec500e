"""The versions the bundled broker serves next to Apache Kafka 4.1's, from both brokers'
ApiVersions answers, kept in the README (between the api-versions markers) by this test: it
fails when the table there is stale. FERROKAFKA_UPDATE_README=1 rewrites it instead."""
import os
import socket
import struct

README = os.path.join(os.path.dirname(__file__), "..", "..", "..", "README.md")
START, END = "<!-- api-versions:start -->", "<!-- api-versions:end -->"
# Kafka's API keys (kafka-protocol's ApiKey), by number.
NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
    15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
    20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers", 28: "TxnOffsetCommit",
    29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls", 32: "DescribeConfigs", 33: "AlterConfigs",
    34: "AlterReplicaLogDirs", 35: "DescribeLogDirs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    38: "CreateDelegationToken", 39: "RenewDelegationToken", 40: "ExpireDelegationToken",
    41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders", 44: "IncrementalAlterConfigs",
    45: "AlterPartitionReassignments", 46: "ListPartitionReassignments", 47: "OffsetDelete",
    48: "DescribeClientQuotas", 49: "AlterClientQuotas", 50: "DescribeUserScramCredentials",
    51: "AlterUserScramCredentials", 52: "Vote", 53: "BeginQuorumEpoch", 54: "EndQuorumEpoch",
    55: "DescribeQuorum", 56: "AlterPartition", 57: "UpdateFeatures", 58: "Envelope", 59: "FetchSnapshot",
    60: "DescribeCluster", 61: "DescribeProducers", 62: "BrokerRegistration", 63: "BrokerHeartbeat",
    64: "UnregisterBroker", 65: "DescribeTransactions", 66: "ListTransactions", 67: "AllocateProducerIds",
    68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe", 70: "ControllerRegistration",
    71: "GetTelemetrySubscriptions", 72: "PushTelemetry", 73: "AssignReplicasToDirs", 74: "ListConfigResources",
    75: "DescribeTopicPartitions", 76: "ShareGroupHeartbeat", 77: "ShareGroupDescribe", 78: "ShareFetch",
    79: "ShareAcknowledge", 80: "AddRaftVoter", 81: "RemoveRaftVoter", 82: "UpdateRaftVoter",
    83: "InitializeShareGroupState", 84: "ReadShareGroupState", 85: "WriteShareGroupState",
    86: "DeleteShareGroupState", 87: "ReadShareGroupStateSummary", 90: "DescribeShareGroupOffsets",
    91: "AlterShareGroupOffsets", 92: "DeleteShareGroupOffsets",
}


def _read(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "the broker closed the connection"
        out += chunk
    return out


def api_versions(bootstrap):
    """{api key: (min, max)} from an ApiVersions v0 request (every broker answers v0)."""
    host, port = bootstrap.rsplit(":", 1)
    client = b"api-versions-test"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _read(s, 4))
        data = _read(s, size)
    correlation, error, count = struct.unpack(">ihi", data[:10])
    assert (correlation, error) == (7, 0)
    return {k: (lo, hi) for k, lo, hi in (struct.unpack(">hhh", data[10 + 6 * i:16 + 6 * i]) for i in range(count))}


def table(ours, kafka):
    rows = ["| API (key) | ferrokafka | Apache Kafka 4.1 |", "|---|---|---|"]
    for key in sorted(set(ours) | set(kafka)):
        cell = lambda r: f"{r[0]}–{r[1]}" if r else "—"  # noqa: E731
        a, b = ours.get(key), kafka.get(key)
        mark = "" if a == b else " ◂"
        rows.append(f"| {NAMES.get(key, 'Unknown')} ({key}) | {cell(a)}{mark} | {cell(b)} |")
    return "\n".join(rows)


def test_the_readme_table_of_api_versions_is_current(bootstrap, apache_kafka):
    ours, kafka = api_versions(bootstrap), api_versions(apache_kafka.split(",")[0])
    # Every API both serve: ours reaches Kafka's newest version (clients take their newest code
    # paths against us as against Kafka), the transaction APIs of transaction version 2 aside.
    tv2 = {"AddPartitionsToTxn", "EndTxn", "TxnOffsetCommit"}
    behind = [NAMES[k] for k in ours if k in kafka and ours[k][1] < kafka[k][1] and NAMES[k] not in tv2]
    assert not behind, f"served below Kafka 4.1's newest version: {behind}"
    # ... and from Kafka's oldest (an older client still talks to us).
    newer = [NAMES[k] for k in ours if k in kafka and ours[k][0] > kafka[k][0]]
    assert not newer, f"not served from Kafka 4.1's oldest version: {newer}"
    expected = f"{START}\n{table(ours, kafka)}\n{END}"
    text = open(README).read()
    assert START in text and END in text, "README.md lacks the api-versions markers"
    current = text[text.index(START):text.index(END) + len(END)]
    if current != expected and os.environ.get("FERROKAFKA_UPDATE_README") == "1":
        with open(README, "w") as f:
            f.write(text.replace(current, expected))
        current = expected
    assert current == expected, "README's API version table is stale: run this test with FERROKAFKA_UPDATE_README=1"
