"""confluent-kafka's ``AdminClient`` over the ferrokafka core: calls return dicts of
``concurrent.futures.Future`` keyed by name (already completed: the work is done in the
call, with the GIL released)."""
from concurrent.futures import Future

from . import KafkaError, KafkaException, TopicPartition, _call, _config, _native, _pairs

__all__ = ["AdminClient", "NewTopic", "NewPartitions", "ClusterMetadata", "TopicMetadata", "PartitionMetadata",
           "BrokerMetadata", "ConsumerGroupListing", "ConsumerGroupDescription", "MemberDescription",
           "ListConsumerGroupsResult", "ConsumerGroupTopicPartitions"]


class NewTopic:
    """A topic to create: name, partitions (-1: the broker's ``num.partitions``),
    replication factor (-1: the broker's default) and topic settings (``retention.ms``...)."""

    def __init__(self, topic, num_partitions=-1, replication_factor=-1, replica_assignment=None, config=None):
        if replica_assignment:
            raise NotImplementedError("NewTopic.replica_assignment: the ferrokafka core cannot place replicas yet")
        self.topic, self.num_partitions, self.replication_factor = topic, num_partitions, replication_factor
        self.replica_assignment = None
        self.config = dict(config or {})


class NewPartitions:
    """Grows `topic` to `new_total_count` partitions."""

    def __init__(self, topic, new_total_count, replica_assignment=None):
        if replica_assignment:
            raise NotImplementedError("NewPartitions.replica_assignment: the ferrokafka core cannot place replicas yet")
        self.topic, self.new_total_count, self.replica_assignment = topic, new_total_count, None


class BrokerMetadata:
    """A broker of the cluster: id, host and port."""

    def __init__(self, id, host, port):
        self.id, self.host, self.port = id, host, port

    def __repr__(self):
        return f"BrokerMetadata({self.id}, {self.host}:{self.port})"


class PartitionMetadata:
    """A partition of a topic. The core lists partition counts only: ``leader`` is -1 and
    ``replicas``/``isrs`` are empty."""

    def __init__(self, id):
        self.id, self.leader, self.replicas, self.isrs, self.error = id, -1, [], [], None


class TopicMetadata:
    """A topic: its name, partitions by id, and whether it is internal."""

    def __init__(self, topic, partitions, internal):
        self.topic = topic
        self.partitions = {p: PartitionMetadata(p) for p in range(partitions)}
        self.is_internal = internal
        self.error = None

    def __repr__(self):
        return f"TopicMetadata({self.topic}, {len(self.partitions)} partitions)"


class ClusterMetadata:
    """What ``list_topics`` returns: the cluster id, controller, brokers by id and topics by
    name."""

    def __init__(self, cluster_id, controller_id, brokers, topics):
        self.cluster_id, self.controller_id = cluster_id, controller_id
        self.brokers = {b: BrokerMetadata(b, h, p) for b, h, p in brokers}
        self.topics = {t: TopicMetadata(t, n, i) for t, n, i in topics}
        self.orig_broker_id, self.orig_broker_name = -1, None


def _cluster_metadata(listing, topic=None):
    cluster_id, controller, brokers, topics = listing
    if topic is not None:
        topics = [t for t in topics if t[0] == topic]
    return ClusterMetadata(cluster_id, controller, brokers, topics)


class ConsumerGroupListing:
    """A group as ``list_consumer_groups`` lists it."""

    def __init__(self, group_id, protocol_type, state):
        self.group_id, self.protocol_type, self.state = group_id, protocol_type, state
        self.is_simple_consumer_group = protocol_type == ""


class ListConsumerGroupsResult:
    """The groups listed (``valid``) and the brokers that failed (``errors``)."""

    def __init__(self, valid):
        self.valid, self.errors = valid, []


class MemberDescription:
    """A member of a group: ids, host and assigned partitions."""

    def __init__(self, member_id, group_instance_id, client_id, host, assignment):
        self.member_id, self.group_instance_id, self.client_id, self.host = member_id, group_instance_id, client_id, host
        self.assignment = [TopicPartition(t, p) for t, p in assignment]


class ConsumerGroupDescription:
    """A group as ``describe_consumer_groups`` describes it."""

    def __init__(self, group_id, state, protocol_type, assignor, members):
        self.group_id, self.state, self.protocol_type = group_id, state, protocol_type
        self.partition_assignor = assignor
        self.is_simple_consumer_group = protocol_type == ""
        self.members = [MemberDescription(*m) for m in members]


class ConsumerGroupTopicPartitions:
    """A group and some of its partitions (with offsets): the request and result of the
    group offset calls."""

    def __init__(self, group_id, topic_partitions=None):
        self.group_id, self.topic_partitions = group_id, topic_partitions


def _done(value=None, error=None):
    f = Future()
    if error is not None:
        f.set_exception(KafkaException(KafkaError._native(*error)))
    else:
        f.set_result(value)
    return f


def _failed(exc):
    f = Future()
    f.set_exception(exc)
    return f


def _no_validate_only(validate_only):
    if validate_only:
        raise NotImplementedError("validate_only: the ferrokafka core cannot validate without applying yet")


class AdminClient:
    """Topic, group and offset administration (confluent-kafka's ``AdminClient``)."""

    def __init__(self, conf=None, **kwargs):
        conf = _config(conf, kwargs)
        oauth_cb = conf.pop("oauth_cb", None)
        self._native = _call(_native.NativeAdmin, _pairs(conf), oauth_cb)

    def _per_item(self, names, fn, *args):
        try:
            return {name: _done(None, err) for name, err in _call(fn, *args)}
        except KafkaException as e:
            return {name: _failed(e) for name in names}

    def create_topics(self, new_topics, operation_timeout=0, request_timeout=None, validate_only=False):
        """Creates topics: ``{name: Future}``, each resolving to None or raising
        KafkaException (e.g. TOPIC_ALREADY_EXISTS)."""
        _no_validate_only(validate_only)
        items = [(t.topic, t.num_partitions, t.replication_factor, [(k, str(v)) for k, v in t.config.items()]) for t in new_topics]
        return self._per_item([t.topic for t in new_topics], self._native.create_topics, items)

    def delete_topics(self, topics, operation_timeout=0, request_timeout=None):
        """Deletes topics: ``{name: Future}`` (UNKNOWN_TOPIC_OR_PART for a missing one)."""
        topics = list(topics)
        return self._per_item(topics, self._native.delete_topics, topics)

    def create_partitions(self, new_partitions, operation_timeout=0, request_timeout=None, validate_only=False):
        """Adds partitions: ``{topic: Future}``."""
        _no_validate_only(validate_only)
        items = [(p.topic, p.new_total_count) for p in new_partitions]
        return self._per_item([p.topic for p in new_partitions], self._native.create_partitions, items)

    def list_topics(self, topic=None, timeout=-1):
        """Cluster metadata (all topics, or one): a ClusterMetadata, returned directly as
        confluent-kafka does."""
        return _cluster_metadata(_call(self._native.list_topics), topic)

    def list_consumer_groups(self, request_timeout=None, states=None, types=None):
        """A future of ListConsumerGroupsResult (optionally only groups in `states`)."""
        try:
            groups = [ConsumerGroupListing(*g) for g in _call(self._native.list_groups)]
        except KafkaException as e:
            return _failed(e)
        if states:
            wanted = {str(getattr(s, "name", s)).lower() for s in states}
            groups = [g for g in groups if g.state.lower() in wanted]
        return _done(ListConsumerGroupsResult(groups))

    def describe_consumer_groups(self, group_ids, request_timeout=None, include_authorized_operations=False):
        """``{group_id: Future}`` of ConsumerGroupDescription."""
        group_ids = list(group_ids)
        try:
            described = _call(self._native.describe_groups, group_ids)
        except KafkaException as e:
            return {g: _failed(e) for g in group_ids}
        return {d[0]: _done(ConsumerGroupDescription(*d)) for d in described}

    def delete_consumer_groups(self, group_ids, request_timeout=None):
        """Deletes empty groups: ``{group_id: Future}``."""
        group_ids = list(group_ids)
        return self._per_item(group_ids, self._native.delete_groups, group_ids)

    def list_consumer_group_offsets(self, list_consumer_group_offsets_request, require_stable=False, request_timeout=None):
        """For each ConsumerGroupTopicPartitions: ``{group_id: Future}`` of it with the
        committed offsets (of the partitions named, or all)."""
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
        """Sets committed offsets of (inactive) groups: ``{group_id: Future}`` of the
        request."""
        out = {}
        for req in alter_consumer_group_offsets_request:
            try:
                _call(self._native.alter_group_offsets, req.group_id, [(tp.topic, tp.partition, tp.offset) for tp in req.topic_partitions])
                out[req.group_id] = _done(req)
            except KafkaException as e:
                out[req.group_id] = _failed(e)
        return out
