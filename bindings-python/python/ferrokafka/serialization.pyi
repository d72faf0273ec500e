from enum import Enum
from typing import Any, List, Optional, Tuple, Union

from . import KafkaException

__all__: List[str]

class MessageField(str, Enum):
    NONE: str
    KEY: str
    VALUE: str

class SerializationContext:
    topic: str
    field: MessageField
    headers: Optional[List[Tuple[str, Optional[bytes]]]]
    def __init__(self, topic: str, field: MessageField, headers: Optional[Any] = ...) -> None: ...

class Serializer:
    def __call__(self, obj: Any, ctx: Optional[SerializationContext] = ...) -> Optional[bytes]: ...

class Deserializer:
    def __call__(self, value: Optional[bytes], ctx: Optional[SerializationContext] = ...) -> Any: ...

class SerializationError(KafkaException): ...

class _SerdeError(SerializationError):
    exception: Optional[BaseException]
    kafka_message: Any
    def __init__(self, exception: Optional[BaseException] = ..., kafka_message: Any = ...) -> None: ...
    @property
    def code(self) -> int: ...
    @property
    def name(self) -> str: ...

class KeySerializationError(_SerdeError, ValueError): ...
class ValueSerializationError(_SerdeError, ValueError): ...
class KeyDeserializationError(_SerdeError): ...
class ValueDeserializationError(_SerdeError): ...
