"""Rewrites KafkaError's constants in python/ferrokafka/__init__.pyi from the installed
native module (librdkafka's names, then Kafka's own spellings where they differ):

    .cache/venv/bin/python bindings-python/tools/gen_stub_errors.py

tests/test_api_surface.py fails when the stub and the module differ.
"""
import os
import re

from ferrokafka import _native

STUB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "ferrokafka", "__init__.pyi")
BEGIN = "    # --- error code constants (tools/gen_stub_errors.py) ---\n"
END = "    # --- end of error code constants ---\n"


def constants():
    """Every KafkaError constant name the module defines, in stub order."""
    names = [name for _, name, _ in _native.ERROR_CODES]
    names += [name for _, name in _native.KAFKA_ERROR_ALIASES if name not in names]
    return names


def block():
    return BEGIN + "".join(f"    {name}: int\n" for name in constants()) + END


if __name__ == "__main__":
    text = open(STUB).read()
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block(), text, flags=re.S)
    open(STUB, "w").write(text)
