"""Type stubs of ferrokafka (confluent-kafka's API over the Rust core)."""
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .admin import ClusterMetadata

__version__: str

OFFSET_BEGINNING: int
OFFSET_END: int
OFFSET_STORED: int
OFFSET_INVALID: int
TIMESTAMP_NOT_AVAILABLE: int
TIMESTAMP_CREATE_TIME: int
TIMESTAMP_LOG_APPEND_TIME: int

Bytesish = Union[bytes, bytearray, memoryview, str, None]
Headers = Union[Dict[str, Bytesish], Sequence[Tuple[str, Bytesish]], None]

class KafkaError:
    # --- error code constants (tools/gen_stub_errors.py) ---
    _BAD_MSG: int
    _BAD_COMPRESSION: int
    _DESTROY: int
    _FAIL: int
    _TRANSPORT: int
    _CRIT_SYS_RESOURCE: int
    _RESOLVE: int
    _MSG_TIMED_OUT: int
    _PARTITION_EOF: int
    _UNKNOWN_PARTITION: int
    _FS: int
    _UNKNOWN_TOPIC: int
    _ALL_BROKERS_DOWN: int
    _INVALID_ARG: int
    _TIMED_OUT: int
    _QUEUE_FULL: int
    _ISR_INSUFF: int
    _NODE_UPDATE: int
    _SSL: int
    _WAIT_COORD: int
    _UNKNOWN_GROUP: int
    _IN_PROGRESS: int
    _PREV_IN_PROGRESS: int
    _EXISTING_SUBSCRIPTION: int
    _ASSIGN_PARTITIONS: int
    _REVOKE_PARTITIONS: int
    _CONFLICT: int
    _STATE: int
    _UNKNOWN_PROTOCOL: int
    _NOT_IMPLEMENTED: int
    _AUTHENTICATION: int
    _NO_OFFSET: int
    _OUTDATED: int
    _TIMED_OUT_QUEUE: int
    _UNSUPPORTED_FEATURE: int
    _WAIT_CACHE: int
    _INTR: int
    _KEY_SERIALIZATION: int
    _VALUE_SERIALIZATION: int
    _KEY_DESERIALIZATION: int
    _VALUE_DESERIALIZATION: int
    _PARTIAL: int
    _READ_ONLY: int
    _NOENT: int
    _UNDERFLOW: int
    _INVALID_TYPE: int
    _RETRY: int
    _PURGE_QUEUE: int
    _PURGE_INFLIGHT: int
    _FATAL: int
    _INCONSISTENT: int
    _GAPLESS_GUARANTEE: int
    _MAX_POLL_EXCEEDED: int
    _UNKNOWN_BROKER: int
    _NOT_CONFIGURED: int
    _FENCED: int
    _APPLICATION: int
    _ASSIGNMENT_LOST: int
    _NOOP: int
    _AUTO_OFFSET_RESET: int
    _LOG_TRUNCATION: int
    _INVALID_DIFFERENT_RECORD: int
    _DESTROY_BROKER: int
    UNKNOWN: int
    NO_ERROR: int
    OFFSET_OUT_OF_RANGE: int
    INVALID_MSG: int
    UNKNOWN_TOPIC_OR_PART: int
    INVALID_MSG_SIZE: int
    LEADER_NOT_AVAILABLE: int
    NOT_LEADER_FOR_PARTITION: int
    REQUEST_TIMED_OUT: int
    BROKER_NOT_AVAILABLE: int
    REPLICA_NOT_AVAILABLE: int
    MSG_SIZE_TOO_LARGE: int
    STALE_CTRL_EPOCH: int
    OFFSET_METADATA_TOO_LARGE: int
    NETWORK_EXCEPTION: int
    COORDINATOR_LOAD_IN_PROGRESS: int
    COORDINATOR_NOT_AVAILABLE: int
    NOT_COORDINATOR: int
    TOPIC_EXCEPTION: int
    RECORD_LIST_TOO_LARGE: int
    NOT_ENOUGH_REPLICAS: int
    NOT_ENOUGH_REPLICAS_AFTER_APPEND: int
    INVALID_REQUIRED_ACKS: int
    ILLEGAL_GENERATION: int
    INCONSISTENT_GROUP_PROTOCOL: int
    INVALID_GROUP_ID: int
    UNKNOWN_MEMBER_ID: int
    INVALID_SESSION_TIMEOUT: int
    REBALANCE_IN_PROGRESS: int
    INVALID_COMMIT_OFFSET_SIZE: int
    TOPIC_AUTHORIZATION_FAILED: int
    GROUP_AUTHORIZATION_FAILED: int
    CLUSTER_AUTHORIZATION_FAILED: int
    INVALID_TIMESTAMP: int
    UNSUPPORTED_SASL_MECHANISM: int
    ILLEGAL_SASL_STATE: int
    UNSUPPORTED_VERSION: int
    TOPIC_ALREADY_EXISTS: int
    INVALID_PARTITIONS: int
    INVALID_REPLICATION_FACTOR: int
    INVALID_REPLICA_ASSIGNMENT: int
    INVALID_CONFIG: int
    NOT_CONTROLLER: int
    INVALID_REQUEST: int
    UNSUPPORTED_FOR_MESSAGE_FORMAT: int
    POLICY_VIOLATION: int
    OUT_OF_ORDER_SEQUENCE_NUMBER: int
    DUPLICATE_SEQUENCE_NUMBER: int
    INVALID_PRODUCER_EPOCH: int
    INVALID_TXN_STATE: int
    INVALID_PRODUCER_ID_MAPPING: int
    INVALID_TRANSACTION_TIMEOUT: int
    CONCURRENT_TRANSACTIONS: int
    TRANSACTION_COORDINATOR_FENCED: int
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED: int
    SECURITY_DISABLED: int
    OPERATION_NOT_ATTEMPTED: int
    KAFKA_STORAGE_ERROR: int
    LOG_DIR_NOT_FOUND: int
    SASL_AUTHENTICATION_FAILED: int
    UNKNOWN_PRODUCER_ID: int
    REASSIGNMENT_IN_PROGRESS: int
    DELEGATION_TOKEN_AUTH_DISABLED: int
    DELEGATION_TOKEN_NOT_FOUND: int
    DELEGATION_TOKEN_OWNER_MISMATCH: int
    DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: int
    DELEGATION_TOKEN_AUTHORIZATION_FAILED: int
    DELEGATION_TOKEN_EXPIRED: int
    INVALID_PRINCIPAL_TYPE: int
    NON_EMPTY_GROUP: int
    GROUP_ID_NOT_FOUND: int
    FETCH_SESSION_ID_NOT_FOUND: int
    INVALID_FETCH_SESSION_EPOCH: int
    LISTENER_NOT_FOUND: int
    TOPIC_DELETION_DISABLED: int
    FENCED_LEADER_EPOCH: int
    UNKNOWN_LEADER_EPOCH: int
    UNSUPPORTED_COMPRESSION_TYPE: int
    STALE_BROKER_EPOCH: int
    OFFSET_NOT_AVAILABLE: int
    MEMBER_ID_REQUIRED: int
    PREFERRED_LEADER_NOT_AVAILABLE: int
    GROUP_MAX_SIZE_REACHED: int
    FENCED_INSTANCE_ID: int
    ELIGIBLE_LEADERS_NOT_AVAILABLE: int
    ELECTION_NOT_NEEDED: int
    NO_REASSIGNMENT_IN_PROGRESS: int
    GROUP_SUBSCRIBED_TO_TOPIC: int
    INVALID_RECORD: int
    UNSTABLE_OFFSET_COMMIT: int
    THROTTLING_QUOTA_EXCEEDED: int
    PRODUCER_FENCED: int
    RESOURCE_NOT_FOUND: int
    DUPLICATE_RESOURCE: int
    UNACCEPTABLE_CREDENTIAL: int
    INCONSISTENT_VOTER_SET: int
    INVALID_UPDATE_VERSION: int
    FEATURE_UPDATE_FAILED: int
    PRINCIPAL_DESERIALIZATION_FAILURE: int
    UNKNOWN_TOPIC_ID: int
    INCONSISTENT_TOPIC_ID: int
    FENCED_MEMBER_EPOCH: int
    UNRELEASED_INSTANCE_ID: int
    UNSUPPORTED_ASSIGNOR: int
    STALE_MEMBER_EPOCH: int
    MISMATCHED_ENDPOINT_TYPE: int
    UNSUPPORTED_ENDPOINT_TYPE: int
    UNKNOWN_CONTROLLER_ID: int
    UNKNOWN_SUBSCRIPTION_ID: int
    TELEMETRY_TOO_LARGE: int
    INVALID_REGISTRATION: int
    TRANSACTION_ABORTABLE: int
    INVALID_RECORD_STATE: int
    SHARE_SESSION_NOT_FOUND: int
    INVALID_SHARE_SESSION_EPOCH: int
    FENCED_STATE_EPOCH: int
    INVALID_VOTER_KEY: int
    DUPLICATE_VOTER: int
    VOTER_NOT_FOUND: int
    INVALID_REGULAR_EXPRESSION: int
    REBOOTSTRAP_REQUIRED: int
    STREAMS_INVALID_TOPOLOGY: int
    STREAMS_INVALID_TOPOLOGY_EPOCH: int
    STREAMS_TOPOLOGY_FENCED: int
    SHARE_SESSION_LIMIT_REACHED: int
    CORRUPT_MESSAGE: int
    UNKNOWN_TOPIC_OR_PARTITION: int
    INVALID_FETCH_SIZE: int
    NOT_LEADER_OR_FOLLOWER: int
    MESSAGE_TOO_LARGE: int
    STALE_CONTROLLER_EPOCH: int
    INVALID_TOPIC_EXCEPTION: int
    SNAPSHOT_NOT_FOUND: int
    POSITION_OUT_OF_RANGE: int
    DUPLICATE_BROKER_REGISTRATION: int
    BROKER_ID_NOT_REGISTERED: int
    INCONSISTENT_CLUSTER_ID: int
    TRANSACTIONAL_ID_NOT_FOUND: int
    FETCH_SESSION_TOPIC_ID_ERROR: int
    INELIGIBLE_REPLICA: int
    NEW_LEADER_ELECTED: int
    OFFSET_MOVED_TO_TIERED_STORAGE: int
    # --- end of error code constants ---
    def __init__(self, error: int, reason: Optional[str] = ..., fatal: bool = ..., retriable: bool = ..., txn_requires_abort: bool = ...) -> None: ...
    def code(self) -> int: ...
    def name(self) -> str: ...
    def str(self) -> str: ...
    def retriable(self) -> bool: ...
    def fatal(self) -> bool: ...
    def txn_requires_abort(self) -> bool: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class KafkaException(Exception):
    args: Tuple[KafkaError, ...]

class TopicPartition:
    topic: str
    partition: int
    offset: int
    metadata: Optional[str]
    leader_epoch: Optional[int]
    error: Optional[KafkaError]
    def __init__(self, topic: str, partition: int = ..., offset: int = ..., metadata: Optional[str] = ..., leader_epoch: Optional[int] = ...) -> None: ...
    def __lt__(self, other: "TopicPartition") -> bool: ...

class Message:
    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def timestamp(self) -> Tuple[int, int]: ...
    def key(self) -> Optional[bytes]: ...
    def value(self) -> Optional[bytes]: ...
    def headers(self) -> Optional[List[Tuple[str, Optional[bytes]]]]: ...
    def error(self) -> Optional[KafkaError]: ...
    def latency(self) -> Optional[float]: ...
    def leader_epoch(self) -> Optional[int]: ...
    def set_key(self, key: Any) -> None: ...
    def set_value(self, value: Any) -> None: ...
    def set_headers(self, headers: Optional[List[Tuple[str, Optional[bytes]]]]) -> None: ...
    def len(self) -> int: ...
    def __len__(self) -> int: ...

DeliveryCallback = Callable[[Optional[KafkaError], Message], Any]
RebalanceCallback = Callable[["Consumer", List[TopicPartition]], Any]

class Producer:
    def __init__(self, conf: Optional[Dict[str, Any]] = ..., **kwargs: Any) -> None: ...
    def produce(self, topic: str, value: Bytesish = ..., key: Bytesish = ..., partition: int = ..., on_delivery: Optional[DeliveryCallback] = ...,
                timestamp: int = ..., headers: Headers = ..., callback: Optional[DeliveryCallback] = ...) -> None: ...
    def produce_batch(self, topic: str, values: Iterable[Bytesish], keys: Optional[Iterable[Bytesish]] = ..., partition: int = ...,
                      on_delivery: Optional[DeliveryCallback] = ..., timestamp: int = ...) -> int: ...
    def poll(self, timeout: Optional[float] = ...) -> int: ...
    def flush(self, timeout: Optional[float] = ...) -> int: ...
    def purge(self, in_queue: bool = ..., in_flight: bool = ..., blocking: bool = ...) -> None: ...
    def list_topics(self, topic: Optional[str] = ..., timeout: float = ...) -> ClusterMetadata: ...
    def stats(self) -> Dict[str, int]: ...
    def init_transactions(self, timeout: Optional[float] = ...) -> None: ...
    def begin_transaction(self) -> None: ...
    def send_offsets_to_transaction(self, positions: Sequence[TopicPartition], group_metadata: ConsumerGroupMetadata,
                                    timeout: Optional[float] = ...) -> None: ...
    def commit_transaction(self, timeout: Optional[float] = ...) -> None: ...
    def abort_transaction(self, timeout: Optional[float] = ...) -> None: ...
    def __len__(self) -> int: ...

class ConsumerGroupMetadata:
    def __init__(self, group_id: str, generation_id: int = ..., member_id: str = ..., group_instance_id: Optional[str] = ...) -> None: ...

class Consumer:
    def __init__(self, conf: Optional[Dict[str, Any]] = ..., **kwargs: Any) -> None: ...
    def subscribe(self, topics: Sequence[str], on_assign: Optional[RebalanceCallback] = ..., on_revoke: Optional[RebalanceCallback] = ...,
                  on_lost: Optional[RebalanceCallback] = ...) -> None: ...
    def unsubscribe(self) -> None: ...
    def assign(self, partitions: Sequence[TopicPartition]) -> None: ...
    def unassign(self) -> None: ...
    def assignment(self) -> List[TopicPartition]: ...
    def poll(self, timeout: Optional[float] = ...) -> Optional[Message]: ...
    def consume(self, num_messages: int = ..., timeout: float = ...) -> List[Message]: ...
    def commit(self, message: Optional[Message] = ..., offsets: Optional[Sequence[TopicPartition]] = ..., asynchronous: bool = ...) -> Optional[List[TopicPartition]]: ...
    def committed(self, partitions: Sequence[TopicPartition], timeout: Optional[float] = ...) -> List[TopicPartition]: ...
    def position(self, partitions: Sequence[TopicPartition]) -> List[TopicPartition]: ...
    def seek(self, partition: TopicPartition) -> None: ...
    def consumer_group_metadata(self) -> ConsumerGroupMetadata: ...
    def pause(self, partitions: Sequence[TopicPartition]) -> None: ...
    def resume(self, partitions: Sequence[TopicPartition]) -> None: ...
    def get_watermark_offsets(self, partition: TopicPartition, timeout: Optional[float] = ..., cached: bool = ...) -> Tuple[int, int]: ...
    def offsets_for_times(self, partitions: Sequence[TopicPartition], timeout: Optional[float] = ...) -> List[TopicPartition]: ...
    def list_topics(self, topic: Optional[str] = ..., timeout: float = ...) -> ClusterMetadata: ...
    def close(self) -> None: ...

class Broker:
    data_dir: str
    bootstrap_servers: str
    schema_registry_url: Optional[str]
    def __init__(self, data_dir: Optional[str] = ..., port: int = ..., host: str = ..., settings: Optional[Dict[str, Any]] = ...) -> None: ...
    def stop(self) -> None: ...
    def __enter__(self) -> "Broker": ...
    def __exit__(self, *exc: Any) -> None: ...
