"""``SchemaRegistryError``, as ``confluent_kafka.schema_registry.error`` has it."""

__all__ = ["SchemaRegistryError"]


class SchemaRegistryError(Exception):
    """The Schema Registry refused a call: ``http_status_code`` and the registry's
    ``error_code`` (40401 subject not found, 40403 schema not found, 409 incompatible, 42201
    invalid schema, ...), both -1 when the registry could not be reached or understood, and
    ``error_message``."""

    UNKNOWN = -1

    def __init__(self, http_status_code, error_code, error_message):
        super().__init__(http_status_code, error_code, error_message)
        self.http_status_code = http_status_code
        self.error_code = error_code
        self.error_message = error_message

    def __repr__(self):
        return str(self)

    def __str__(self):
        return f"{self.error_message} (HTTP status code {self.http_status_code}, SR code {self.error_code})"
