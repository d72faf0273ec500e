from typing import Any, Dict, List, Optional

from ..serialization import Deserializer, SerializationContext, Serializer
from . import SchemaRegistryClient

__all__: List[str]

class ProtobufSerializer(Serializer):
    def __init__(self, msg_type: Any, schema_registry_client: SchemaRegistryClient,
                 conf: Optional[Dict[str, Any]] = ..., rule_conf: None = ..., rule_registry: None = ...) -> None: ...
    def __call__(self, message: Any, ctx: Optional[SerializationContext] = ...) -> Optional[bytes]: ...

class ProtobufDeserializer(Deserializer):
    def __init__(self, message_type: Any, conf: Optional[Dict[str, Any]] = ...,
                 schema_registry_client: Optional[SchemaRegistryClient] = ..., rule_conf: None = ...,
                 rule_registry: None = ...) -> None: ...
    def __call__(self, data: Optional[bytes], ctx: Optional[SerializationContext] = ...) -> Any: ...
