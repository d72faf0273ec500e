"""Every public name has a docstring and a type stub; the stubs list what the modules have."""
import ast
import inspect
import os
import sys

import pytest

import ferrokafka
import ferrokafka.admin
import ferrokafka.aio
import ferrokafka.broker
import ferrokafka.schema_registry
import ferrokafka.schema_registry.avro
import ferrokafka.schema_registry.error
import ferrokafka.schema_registry.json_schema
import ferrokafka.schema_registry.protobuf
import ferrokafka.serialization

PKG = os.path.dirname(ferrokafka.__file__)
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "ferrokafka")
MODULES = [ferrokafka, ferrokafka.admin, ferrokafka.aio, ferrokafka.broker, ferrokafka.serialization,
           ferrokafka.schema_registry, ferrokafka.schema_registry.avro, ferrokafka.schema_registry.error,
           ferrokafka.schema_registry.json_schema, ferrokafka.schema_registry.protobuf]


def stub_of(module):
    # ferrokafka.schema_registry.avro -> schema_registry/avro.pyi; a package -> its __init__.pyi.
    parts = module.__name__.split(".")[1:] + (["__init__"] if hasattr(module, "__path__") else [])
    with open(os.path.join(SRC, *parts) + ".pyi") as f:
        tree = ast.parse(f.read())
    names, classes = set(), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
            classes[node.name] = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))} | \
                {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            # A re-export (`from .error import X as X`): X's own module's stub has its methods.
            names.update(a.asname for a in node.names if a.asname == a.name)
    return names, classes


def public_methods(cls):
    return [n for n, v in vars(cls).items() if not n.startswith("_") and callable(v)]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_public_names_have_docstrings(module):
    assert inspect.getdoc(module)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{module.__name__}.{name}"
        if inspect.isclass(obj):
            for method in public_methods(obj):
                assert inspect.getdoc(getattr(obj, method)), f"{module.__name__}.{name}.{method}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_stubs_cover_the_public_api(module):
    names, classes = stub_of(module)
    for name in module.__all__:
        assert name in names, f"{module.__name__}.{name} missing from its .pyi"
        obj = getattr(module, name)
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            missing = set(public_methods(obj)) - classes[name]
            assert not missing, f"{module.__name__}.{name}: {sorted(missing)} missing from the .pyi"


def test_stub_lists_every_kafka_error_constant():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import gen_stub_errors
    with open(os.path.join(SRC, "__init__.pyi")) as f:
        assert gen_stub_errors.block() in f.read(), "run tools/gen_stub_errors.py"
    for name in gen_stub_errors.constants():
        assert isinstance(getattr(ferrokafka.KafkaError, name), int)


def test_the_package_is_typed():
    assert os.path.exists(os.path.join(PKG, "py.typed"))
    assert os.path.exists(os.path.join(PKG, "__init__.pyi"))
