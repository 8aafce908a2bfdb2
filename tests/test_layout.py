"""The design's dependency rules, read from the source with ast: edge and hub never import each other,
and protocol imports neither and does no I/O beyond reading its own packaged data."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Modules whose import means the code talks to the network, a database, a process or the file system.
IO_MODULES = frozenset(
    {
        "socket", "socketserver", "ssl", "select", "selectors", "asyncio", "sqlite3", "subprocess",
        "multiprocessing", "shutil", "tempfile", "os", "pathlib", "mmap", "http", "urllib.request",
        "ftplib", "smtplib", "telnetlib", "psycopg", "psycopg2", "psycopg_pool", "paho", "requests", "httpx",
        "urllib3", "aiohttp", "sqlite_utils", "litestar", "granian",
    }
)  # fmt: skip
# Third-party packages protocol may use: schemas and cryptography, nothing that does I/O.
PROTOCOL_THIRD_PARTY = frozenset({"msgspec", "nacl", "cryptography"})
# Calls that open or write files, whatever object they hang off.
FILE_CALLS = frozenset({"open", "write_text", "write_bytes", "mkdir", "unlink", "touch"})
READ_CALLS = frozenset({"read_text", "read_bytes"})


@dataclass(frozen=True)
class Import:
    module: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(tree: ast.AST, module: str, is_package: bool) -> Iterator[Import]:
    """Every module an import statement (absolute or relative) or a dynamic import with a literal names."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - node.level + 1] if node.level <= len(parts) else []
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base:
                yield Import(base, node.lineno)
            for alias in node.names:  # "from x import y" may import the submodule x.y
                yield Import(f"{base}.{alias.name}" if base else alias.name, node.lineno)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            first = node.args[0]
            if (
                name in {"import_module", "__import__"}
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                yield Import(first.value, node.lineno)


def is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def violations(package: str, forbidden: frozenset[str]) -> list[str]:
    found = []
    for path in sources(package):
        for imp in imports_of(parse(path), module_name(path), path.name == "__init__.py"):
            if any(is_under(imp.module, f) for f in forbidden):
                found.append(f"{path.relative_to(ROOT)}:{imp.line} imports {imp.module}")
    return found


@pytest.mark.parametrize(("package", "other"), [("edge", "hub"), ("hub", "edge")])
def test_edge_and_hub_never_import_each_other(package: str, other: str) -> None:
    assert sources(package), f"{package}/ has no modules: the layout changed"
    assert violations(package, frozenset({other})) == []


def test_protocol_imports_neither_edge_nor_hub() -> None:
    assert violations("protocol", frozenset({"edge", "hub", "provisioning", "dashboards", "bench"})) == []


def test_protocol_imports_nothing_that_does_io() -> None:
    assert violations("protocol", IO_MODULES) == []


def test_protocol_uses_only_pure_third_party_packages() -> None:
    stdlib = sys.stdlib_module_names
    found = []
    for path in sources("protocol"):
        for imp in imports_of(parse(path), module_name(path), path.name == "__init__.py"):
            top = imp.module.partition(".")[0]
            if top not in stdlib and top not in PROTOCOL_THIRD_PARTY and top not in {"protocol", "__future__"}:
                found.append(f"{path.relative_to(ROOT)}:{imp.line} imports {imp.module}")
    assert found == []


def file_access(tree: ast.Module) -> list[str]:
    """Calls that open or write files; reads allowed only through importlib.resources on protocol's own data."""
    uses_resources = any(
        imp.module in {"importlib.resources", "importlib.resources.files"} for imp in imports_of(tree, "", False)
    )
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        builtin_escape = isinstance(func, ast.Name) and name in {"__import__", "exec", "eval", "compile"}
        if name in FILE_CALLS or builtin_escape:
            found.append(f"line {node.lineno}: {name}(")
        elif name in READ_CALLS and not uses_resources:
            found.append(f"line {node.lineno}: {name}( without importlib.resources")
        elif name == "files":
            package = node.args[0] if node.args else None
            if not (isinstance(package, ast.Constant) and package.value in {"protocol", "protocol.data"}):
                found.append(f"line {node.lineno}: resources.files( of something other than protocol's data")
    return found


def test_protocol_opens_no_files_except_its_packaged_data() -> None:
    found = {str(p.relative_to(ROOT)): file_access(parse(p)) for p in sources("protocol")}
    assert {k: v for k, v in found.items() if v} == {}


# The checks above must be able to fail: each rule, fed a snippet that breaks it.


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        ("import hub", "edge.x", False, "hub"),
        ("import hub.db.scoped as s", "edge.x", False, "hub.db.scoped"),
        ("from hub.api import app", "edge.queue.outbox", False, "hub.api.app"),
        ("from hub import ingest", "edge.x", False, "hub.ingest"),
        ("from ..capture import frames", "edge.queue.outbox", False, "edge.capture.frames"),
        ("from .. import capture", "edge.queue", True, "edge.capture"),
        ("importlib.import_module('hub.db')", "edge.x", False, "hub.db"),
        ("__import__('hub')", "edge.x", False, "hub"),
        ("def f():\n    import edge.capture", "hub.x", False, "edge.capture"),
        ("from urllib import request", "protocol.x", False, "urllib.request"),
    ],
)
def test_the_import_scanner_sees_every_form_of_import(
    source: str, module: str, is_package: bool, expected: str
) -> None:
    assert expected in {imp.module for imp in imports_of(ast.parse(source), module, is_package)}


def test_sibling_relative_imports_are_not_mistaken_for_the_other_side() -> None:
    found = {imp.module for imp in imports_of(ast.parse("from . import outbox"), "edge.queue.publisher", False)}
    assert found == {"edge.queue", "edge.queue.outbox"}


@pytest.mark.parametrize(
    "source",
    [
        "open('x')",
        "with open('x', 'w') as f: pass",
        "import pathlib\npathlib.Path('x').read_text()",
        "Path('x').write_text('y')",
        "import io\nio.open('x')",
        "from importlib import resources\nresources.files('edge').joinpath('x').read_text()",
        "builtins.open('x')",
        "exec('import socket')",
    ],
)
def test_the_file_rule_catches_file_access(source: str) -> None:
    assert file_access(ast.parse(source))


def test_the_file_rule_allows_reading_protocols_own_data() -> None:
    source = "from importlib import resources\nresources.files('protocol').joinpath('data', 'x.csv').read_text()"
    assert file_access(ast.parse(source)) == []
