from typing import Any, Callable, Dict, List, Optional, Union

from ..serialization import Deserializer, SerializationContext, Serializer
from . import Schema, SchemaRegistryClient

__all__: List[str]

class JSONSerializer(Serializer):
    def __init__(self, schema_str: Union[str, Schema, None], schema_registry_client: SchemaRegistryClient,
                 to_dict: Optional[Callable[[Any, SerializationContext], Any]] = ...,
                 conf: Optional[Dict[str, Any]] = ..., rule_conf: None = ..., rule_registry: None = ...,
                 json_encode: Optional[Callable[[Any], Union[str, bytes]]] = ...) -> None: ...
    def __call__(self, obj: Any, ctx: Optional[SerializationContext] = ...) -> Optional[bytes]: ...

class JSONDeserializer(Deserializer):
    def __init__(self, schema_str: Union[str, Schema, None],
                 from_dict: Optional[Callable[[Any, SerializationContext], Any]] = ...,
                 schema_registry_client: Optional[SchemaRegistryClient] = ...,
                 conf: Optional[Dict[str, Any]] = ..., rule_conf: None = ..., rule_registry: None = ...,
                 json_decode: Optional[Callable[[bytes], Any]] = ...) -> None: ...
    def __call__(self, data: Optional[bytes], ctx: Optional[SerializationContext] = ...) -> Any: ...
