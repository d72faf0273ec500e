"""confluent-kafka's ``AdminClient`` over the ferrokafka core: calls return dicts of
``concurrent.futures.Future`` keyed by name (already completed: the work is done by then)."""
from concurrent.futures import Future

from . import KafkaError, KafkaException, TopicPartition, _call, _conf, _native

__all__ = ["AdminClient", "NewTopic", "NewPartitions", "ClusterMetadata", "TopicMetadata", "PartitionMetadata",
           "BrokerMetadata", "ConsumerGroupListing", "ConsumerGroupDescription", "MemberDescription",
           "ListConsumerGroupsResult", "ConsumerGroupTopicPartitions"]


class NewTopic:
    """A topic to create: name, partitions (-1: broker default), replication factor, config."""

    def __init__(self, topic, num_partitions=-1, replication_factor=-1, config=None):
        self.topic, self.num_partitions, self.replication_factor = topic, num_partitions, replication_factor
        self.config = dict(config or {})


class NewPartitions:
    """Grow `topic` to `new_total_count` partitions."""

    def __init__(self, topic, new_total_count):
        self.topic, self.new_total_count = topic, new_total_count


class BrokerMetadata:
    def __init__(self, id, host, port):
        self.id, self.host, self.port = id, host, port


class PartitionMetadata:
    def __init__(self, id):
        self.id, self.leader, self.replicas, self.isrs, self.error = id, -1, [], [], None


class TopicMetadata:
    def __init__(self, topic, partitions, internal):
        self.topic = topic
        self.partitions = {p: PartitionMetadata(p) for p in range(partitions)}
        self.is_internal = internal
        self.error = None


class ClusterMetadata:
    """What ``list_topics`` returns: brokers and topics by id and name."""

    def __init__(self, cluster_id, controller_id, brokers, topics):
        self.cluster_id, self.controller_id = cluster_id, controller_id
        self.brokers = {b: BrokerMetadata(b, h, p) for b, h, p in brokers}
        self.topics = {t: TopicMetadata(t, n, i) for t, n, i in topics}
        self.orig_broker_id, self.orig_broker_name = -1, None


class ConsumerGroupListing:
    def __init__(self, group_id, protocol_type, state):
        self.group_id, self.protocol_type, self.state = group_id, protocol_type, state
        self.is_simple_consumer_group = protocol_type == ""


class ListConsumerGroupsResult:
    def __init__(self, valid):
        self.valid, self.errors = valid, []


class MemberDescription:
    def __init__(self, member_id, group_instance_id, client_id, host, assignment):
        self.member_id, self.group_instance_id, self.client_id, self.host = member_id, group_instance_id, client_id, host
        self.assignment = [TopicPartition(t, p) for t, p in assignment]


class ConsumerGroupDescription:
    def __init__(self, group_id, state, protocol_type, assignor, members):
        self.group_id, self.state, self.protocol_type = group_id, state, protocol_type
        self.partition_assignor = assignor
        self.is_simple_consumer_group = protocol_type == ""
        self.members = [MemberDescription(*m) for m in members]


class ConsumerGroupTopicPartitions:
    def __init__(self, group_id, topic_partitions=None):
        self.group_id, self.topic_partitions = group_id, topic_partitions


def _done(value=None, error=None):
    f = Future()
    if error is not None:
        f.set_exception(KafkaException(KafkaError(*error)))
    else:
        f.set_result(value)
    return f


def _failed(exc):
    f = Future()
    f.set_exception(exc)
    return f


class AdminClient:
    """Topic, group and offset administration."""

    def __init__(self, conf, **kwargs):
        self._native = _call(_native.NativeAdmin, _conf(dict(conf or {}, **kwargs), drop=("error_cb",)))

    def _per_item(self, fn, *args):
        try:
            return {name: _done(None, err) for name, err in _call(fn, *args)}
        except KafkaException as e:
            return {name: _failed(e) for name in args[0]} if isinstance(args[0], list) else {}

    def create_topics(self, new_topics, operation_timeout=0, request_timeout=None, validate_only=False):
        items = [(t.topic, t.num_partitions, t.replication_factor, [(k, str(v)) for k, v in t.config.items()]) for t in new_topics]
        try:
            return {name: _done(None, err) for name, err in _call(self._native.create_topics, items)}
        except KafkaException as e:
            return {t.topic: _failed(e) for t in new_topics}

    def delete_topics(self, topics, operation_timeout=0, request_timeout=None):
        return self._per_item(self._native.delete_topics, list(topics))

    def create_partitions(self, new_partitions, operation_timeout=0, request_timeout=None, validate_only=False):
        items = [(p.topic, p.new_total_count) for p in new_partitions]
        try:
            return {name: _done(None, err) for name, err in _call(self._native.create_partitions, items)}
        except KafkaException as e:
            return {p.topic: _failed(e) for p in new_partitions}

    def list_topics(self, topic=None, timeout=-1):
        """Cluster metadata (all topics, or one)."""
        cluster_id, controller, brokers, topics = _call(self._native.list_topics)
        if topic is not None:
            topics = [t for t in topics if t[0] == topic]
        return ClusterMetadata(cluster_id, controller, brokers, topics)

    def list_consumer_groups(self, request_timeout=None, states=None, types=None):
        """A future of ListConsumerGroupsResult."""
        try:
            groups = [ConsumerGroupListing(*g) for g in _call(self._native.list_groups)]
        except KafkaException as e:
            return _failed(e)
        if states:
            wanted = {str(getattr(s, "name", s)).lower() for s in states}
            groups = [g for g in groups if g.state.lower() in wanted]
        return _done(ListConsumerGroupsResult(groups))

    def describe_consumer_groups(self, group_ids, request_timeout=None, include_authorized_operations=False):
        try:
            described = _call(self._native.describe_groups, list(group_ids))
        except KafkaException as e:
            return {g: _failed(e) for g in group_ids}
        return {d[0]: _done(ConsumerGroupDescription(*d)) for d in described}

    def delete_consumer_groups(self, group_ids, request_timeout=None):
        return self._per_item(self._native.delete_groups, list(group_ids))

    def list_consumer_group_offsets(self, list_consumer_group_offsets_request, require_stable=False, request_timeout=None):
        """For each ConsumerGroupTopicPartitions: a future of it with the committed offsets."""
        out = {}
        for req in list_consumer_group_offsets_request:
            try:
                got = _call(self._native.list_group_offsets, req.group_id)
            except KafkaException as e:
                out[req.group_id] = _failed(e)
                continue
            tps = [TopicPartition(t, p, o, m or None) for t, p, o, m in got]
            if req.topic_partitions:
                wanted = {(tp.topic, tp.partition) for tp in req.topic_partitions}
                tps = [tp for tp in tps if (tp.topic, tp.partition) in wanted]
            out[req.group_id] = _done(ConsumerGroupTopicPartitions(req.group_id, tps))
        return out

    def alter_consumer_group_offsets(self, alter_consumer_group_offsets_request, request_timeout=None):
        out = {}
        for req in alter_consumer_group_offsets_request:
            try:
                _call(self._native.alter_group_offsets, req.group_id, [(tp.topic, tp.partition, tp.offset) for tp in req.topic_partitions])
                out[req.group_id] = _done(req)
            except KafkaException as e:
                out[req.group_id] = _failed(e)
        return out
