"""Type stubs of ferrokafka.admin."""
from concurrent.futures import Future
from typing import Any, Dict, List, Optional, Sequence

from . import TopicPartition

class NewTopic:
    topic: str
    num_partitions: int
    replication_factor: int
    replica_assignment: None
    config: Dict[str, Any]
    def __init__(self, topic: str, num_partitions: int = ..., replication_factor: int = ..., replica_assignment: None = ...,
                 config: Optional[Dict[str, Any]] = ...) -> None: ...

class NewPartitions:
    topic: str
    new_total_count: int
    replica_assignment: None
    def __init__(self, topic: str, new_total_count: int, replica_assignment: None = ...) -> None: ...

class BrokerMetadata:
    id: int
    host: str
    port: int

class PartitionMetadata:
    id: int
    leader: int
    replicas: List[int]
    isrs: List[int]
    error: Any

class TopicMetadata:
    topic: str
    partitions: Dict[int, PartitionMetadata]
    is_internal: bool
    error: Any

class ClusterMetadata:
    cluster_id: str
    controller_id: int
    brokers: Dict[int, BrokerMetadata]
    topics: Dict[str, TopicMetadata]
    orig_broker_id: int
    orig_broker_name: Optional[str]

class ConsumerGroupListing:
    group_id: str
    protocol_type: str
    state: str
    is_simple_consumer_group: bool

class ListConsumerGroupsResult:
    valid: List[ConsumerGroupListing]
    errors: List[Any]

class MemberDescription:
    member_id: str
    group_instance_id: Optional[str]
    client_id: str
    host: str
    assignment: List[TopicPartition]

class ConsumerGroupDescription:
    group_id: str
    state: str
    protocol_type: str
    partition_assignor: str
    is_simple_consumer_group: bool
    members: List[MemberDescription]

class ConsumerGroupTopicPartitions:
    group_id: str
    topic_partitions: Optional[List[TopicPartition]]
    def __init__(self, group_id: str, topic_partitions: Optional[List[TopicPartition]] = ...) -> None: ...

class AdminClient:
    def __init__(self, conf: Optional[Dict[str, Any]] = ..., **kwargs: Any) -> None: ...
    def create_topics(self, new_topics: Sequence[NewTopic], operation_timeout: float = ..., request_timeout: Optional[float] = ..., validate_only: bool = ...) -> Dict[str, "Future[None]"]: ...
    def delete_topics(self, topics: Sequence[str], operation_timeout: float = ..., request_timeout: Optional[float] = ...) -> Dict[str, "Future[None]"]: ...
    def create_partitions(self, new_partitions: Sequence[NewPartitions], operation_timeout: float = ..., request_timeout: Optional[float] = ..., validate_only: bool = ...) -> Dict[str, "Future[None]"]: ...
    def list_topics(self, topic: Optional[str] = ..., timeout: float = ...) -> ClusterMetadata: ...
    def list_consumer_groups(self, request_timeout: Optional[float] = ..., states: Any = ..., types: Any = ...) -> "Future[ListConsumerGroupsResult]": ...
    def describe_consumer_groups(self, group_ids: Sequence[str], request_timeout: Optional[float] = ..., include_authorized_operations: bool = ...) -> Dict[str, "Future[ConsumerGroupDescription]"]: ...
    def delete_consumer_groups(self, group_ids: Sequence[str], request_timeout: Optional[float] = ...) -> Dict[str, "Future[None]"]: ...
    def list_consumer_group_offsets(self, list_consumer_group_offsets_request: Sequence[ConsumerGroupTopicPartitions], require_stable: bool = ..., request_timeout: Optional[float] = ...) -> Dict[str, "Future[ConsumerGroupTopicPartitions]"]: ...
    def alter_consumer_group_offsets(self, alter_consumer_group_offsets_request: Sequence[ConsumerGroupTopicPartitions], request_timeout: Optional[float] = ...) -> Dict[str, "Future[ConsumerGroupTopicPartitions]"]: ...
