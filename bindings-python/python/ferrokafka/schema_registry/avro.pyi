from typing import Any, Callable, Dict, List, Optional, Union

from ..serialization import Deserializer, SerializationContext, Serializer
from . import Schema, SchemaRegistryClient

__all__: List[str]

class AvroSerializer(Serializer):
    def __init__(self, schema_registry_client: SchemaRegistryClient, schema_str: Union[str, Schema, None] = ...,
                 to_dict: Optional[Callable[[Any, SerializationContext], Any]] = ...,
                 conf: Optional[Dict[str, Any]] = ..., rule_conf: None = ..., rule_registry: None = ...) -> None: ...
    def __call__(self, obj: Any, ctx: Optional[SerializationContext] = ...) -> Optional[bytes]: ...

class AvroDeserializer(Deserializer):
    def __init__(self, schema_registry_client: SchemaRegistryClient, schema_str: Union[str, Schema, None] = ...,
                 from_dict: Optional[Callable[[Any, SerializationContext], Any]] = ...,
                 return_record_name: bool = ..., conf: Optional[Dict[str, Any]] = ..., rule_conf: None = ...,
                 rule_registry: None = ...) -> None: ...
    def __call__(self, data: Optional[bytes], ctx: Optional[SerializationContext] = ...) -> Any: ...
