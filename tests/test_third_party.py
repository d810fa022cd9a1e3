"""The third-party internals listed in services/common/compat (its docstring) are still there, as
our code was written against them, and nothing outside that package uses a library's internals.

Fails after an upgrade that removes, renames or re-signs one of them, or changes code we copied:
read the library's change, adapt the compat module, then update the expectation here.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import inspect
import pathlib
import re
import sys

import pytest

from services.common import compat

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMPAT = ROOT / "services" / "common" / "compat"
LISTED = re.findall(r"^- `([\w.]+)`", compat.__doc__, re.M)
THIRD_PARTY = {"faust", "mode", "aiokafka", "kafka", "prometheus_fastapi_instrumentator", "prometheus_client",
               "starlette", "uvicorn", "h11", "clickhouse_connect", "chdb"}

# Methods: their parameters (name, "=" when it has a default, "*" for *args) as our code calls or
# overrides them. Copied code: the sha256 of the library's source we copied from.
PARAMETERS = {
    "faust.streams.Stream._enable_passive": "self channel declare=",
    "faust.App._new_transport": "self",
    "faust.transport.drivers.aiokafka.Consumer._new_consumer_thread": "self",
    "faust.transport.consumer.Consumer._wait_next_records": "self timeout",
    "faust.transport.drivers.aiokafka.Consumer._to_message": "self tp record",
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._fetch_records":
        "self consumer active_partitions timeout= max_records=",
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._ensure_consumer": "self",
    "faust.transport.drivers.aiokafka.Producer._ensure_producer": "self",
    "prometheus_fastapi_instrumentator.middleware.PrometheusInstrumentatorMiddleware._get_handler": "self request",
    "uvicorn.Server.handle_exit": "self sig frame",
}
COPIED = {
    "faust.streams.Stream.take_events": "607d48aead118ba8ea868718a0df87de1c5fcecd10ec542c659b448796728e08",
    "faust.transport.consumer.Consumer.getmany": "4b168d84882a70d6e3e2f9804430a63b92f8fd117d3187cbb4aeb54305bda34e",
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._seek_wait":
        "9d221e816d9404678ac2d802b1419c7c2d166cbc9c8ec9f689a77673b8f2e85f",
    "aiokafka.AIOKafkaConsumer.seek_to_committed": "f6cd85c8b70a4ccf7e862de24f6c5d985038eed3e140990f000aa4b52eda8d72",
}
# Instance attributes: set in the class's (or a base's) own code.
ATTRIBUTES = {
    "faust.streams.Stream._processors", "faust.streams.Stream._active_agens",
    "faust.transport.drivers.aiokafka.Consumer._thread", "faust.transport.consumer.Consumer._buffered_partitions",
    "faust.transport.consumer.Consumer._read_offset", "faust.transport.consumer.Consumer._committed_offset",
    "uvicorn.protocols.http.h11_impl.H11Protocol.conn", "uvicorn.protocols.http.h11_impl.H11Protocol.cycle",
    "uvicorn.protocols.http.h11_impl.H11Protocol.transport", "uvicorn.protocols.http.h11_impl.H11Protocol.loop",
    "uvicorn.protocols.http.h11_impl.RequestResponseCycle.response_complete",
}


def resolve(dotted: str) -> tuple[object, str]:
    """(the class or module holding the last name, that name)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:-1]:
            owner = getattr(owner, part)
        return owner, parts[-1]
    raise ImportError(dotted)


def parameters(function) -> str:
    kinds = inspect.Parameter
    return " ".join("*" + p.name if p.kind is kinds.VAR_POSITIONAL else p.name + ("=" if p.default is not p.empty
                                                                                   else "")
                    for p in inspect.signature(function).parameters.values())


@functools.cache
def assigned(cls: type) -> set[str]:
    """The names its own code (and its bases', below object) assigns or annotates on self."""
    names: set[str] = set()
    for klass in cls.__mro__[:-1]:
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):  # built in
            continue
        names.update(re.findall(r"self\.(\w+)\s*(?::[^=\n]*)?=", source))
        names.update(re.findall(r"^\s{4}(\w+)\s*:", source, re.M))
    return names


def test_the_header_lists_what_this_test_checks():
    assert sorted(LISTED) == sorted({*PARAMETERS, *COPIED, *ATTRIBUTES}), "header and test disagree"


@pytest.mark.parametrize("dotted", sorted(PARAMETERS))
def test_a_method_keeps_its_parameters(dotted):
    owner, name = resolve(dotted)
    assert parameters(getattr(owner, name)) == PARAMETERS[dotted]


@pytest.mark.parametrize("dotted", sorted(COPIED))
def test_copied_code_is_unchanged(dotted):
    owner, name = resolve(dotted)
    source = inspect.getsource(getattr(owner, name))
    assert hashlib.sha256(source.encode()).hexdigest() == COPIED[dotted], (
        f"{dotted} changed upstream: compare it with our copy in services/common/compat")


@pytest.mark.parametrize("dotted", sorted(ATTRIBUTES))
def test_an_attribute_is_still_set(dotted):
    owner, name = resolve(dotted)
    assert name in assigned(owner)


def test_the_uvicorn_exit_handler_sets_what_ours_sets():
    import uvicorn

    source = inspect.getsource(uvicorn.Server.handle_exit)
    assert "self.should_exit = True" in source and "self.force_exit = True" in source


def test_our_names_on_library_subclasses_shadow_none_of_theirs():
    from services.common.compat import faust_transport, instrumentator, uvicorn_server

    ours = {
        faust_transport.ConsumerThread: {"seek_epochs", "_seeked", "_seek_to_committed_counted"},
        faust_transport.Records: {"epochs"},
        instrumentator.RouteCachingMiddleware: {"_handlers", "CACHED"},
        uvicorn_server.header_timeout_protocol(1.0): {"_header_timer", "_arm", "_disarm", "_expired"},
    }
    for cls, names in ours.items():
        base = cls.__mro__[1]
        theirs = set(dir(base)) | assigned(base)
        assert not names & theirs, f"{cls.__name__} shadows {names & theirs} of {base.__name__}"


def _sources() -> list[pathlib.Path]:
    return [path for folder in ("services", "deploy") for path in (ROOT / folder).rglob("*.py")
            if COMPAT not in path.parents]


def _third_party_imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted origin, for names imported from THIRD_PARTY libraries."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in THIRD_PARTY:
                found.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
        elif isinstance(node, ast.Import):
            found.update({alias.asname or alias.name.split(".")[0]: alias.name for alias in node.names
                          if alias.name.split(".")[0] in THIRD_PARTY})
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize("path", _sources(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_private_name_of_a_library_outside_compat(path):
    tree = ast.parse(path.read_text())
    imported = _third_party_imports(tree)
    stdlib = set(sys.stdlib_module_names)
    for node in ast.walk(tree):
        # obj._name on anything but self/cls or a standard-library module (os._exit, argparse._SubParsersAction)
        if isinstance(node, ast.Attribute) and _private(node.attr):
            value = node.value
            if isinstance(value, ast.Name) and (value.id in ("self", "cls") or value.id in stdlib):
                continue
            pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)} (move it to compat)")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant) and _private(str(node.args[1].value))):
            pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)} (move it to compat)")
        # a subclass of a library class using or overriding one of its private names
        if isinstance(node, ast.ClassDef):
            bases = [imported[b.id] for b in node.bases if isinstance(b, ast.Name) and b.id in imported]
            bases += [f"{imported[b.value.id]}.{b.attr}" for b in node.bases if isinstance(b, ast.Attribute)
                      and isinstance(b.value, ast.Name) and b.value.id in imported]
            used = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and _private(n.attr)}
            used |= {n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                     and _private(n.name)}
            for dotted in bases:
                owner, name = resolve(dotted)
                base = getattr(owner, name)
                theirs = used & (set(dir(base)) | assigned(base))
                assert not theirs, f"{path.relative_to(ROOT)}: {node.name} uses {theirs} of {dotted}"
