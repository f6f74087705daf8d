"""Project-wide promises: layering, documentation that stays true."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from relay.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]


def test_common_loads_neither_qt_nor_litestar() -> None:
    """Importing common/ pulls in no Qt and no web framework (it is the shared contract)."""
    code = (
        "import sys, common.events, common.protocol, common.channels;"
        "banned = ('PySide6', 'litestar', 'relay', 'desktop');"
        "bad = [m for m in sys.modules if m.split('.')[0] in banned];"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_packages_keep_their_layers() -> None:
    """relay/ and desktop/ never import each other; desktop/core/ never imports Qt."""
    for path in (ROOT / "relay").rglob("*.py"):
        assert "desktop" not in _imports(path), path
    for path in (ROOT / "desktop").rglob("*.py"):
        # embedded.py is the one composition point: "run on this computer" hosts a relay.
        if path.name != "embedded.py":
            assert "relay" not in _imports(path), path
    for path in (ROOT / "desktop" / "core").rglob("*.py"):
        assert not {"PySide6", "qasync"} & _imports(path), path


def _module_graph(*packages: str) -> dict[str, set[str]]:
    """Which of these packages' modules each module imports (TYPE_CHECKING ones too)."""
    paths: dict[str, Path] = {}
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                # "from . import x" names a submodule; "from .m import x" the module m.
                subs = {f"{module}.{alias.name}" for alias in node.names} & paths.keys()
                found.update(subs or {module})
        graph[name] = {m for m in found if m in paths and m != name}
    return graph


def test_no_import_cycles_in_common_or_desktop() -> None:
    """No module of common/ or desktop/ imports one that imports it back, even for types
    only (a package's __init__ re-exporting its modules is not a cycle)."""
    graph = _module_graph("common", "desktop")
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str], done: set[str]) -> None:
        for dep in sorted(graph[name]):
            if name.startswith(dep + "."):
                continue  # a module may import its own package's re-exports
            if dep in path:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in done:
                done.add(dep)
                visit(dep, [*path, dep], done)

    for start in graph:
        visit(start, [start], {start})
    assert cycles == []


def test_the_ui_reaches_data_only_through_services() -> None:
    """desktop/ui/ never holds the store, the knowledge base, the outbox or the relay
    client: controllers are handed the services they use."""
    banned = {"Store", "KnowledgeBase", "Outbox", "RelayClient", "Assistant"}
    for path in (ROOT / "desktop" / "ui").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not banned & {alias.name for alias in node.names}, path
            if isinstance(node, ast.Attribute) and node.attr in ("store", "kb"):
                raise AssertionError(f"{path}: .{node.attr}")


def test_every_relay_setting_is_documented() -> None:
    """docs/relay.md lists every environment variable the relay reads."""
    doc = (ROOT / "docs" / "relay.md").read_text()
    for field in dataclasses.fields(Settings):
        if field.name != "extra":
            assert f"{ENV_PREFIX}{field.name.upper()}" in doc, field.name


def test_readme_quick_start_has_two_commands() -> None:
    """The README opens with a quick start whose first code block is exactly two commands."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 2
    assert "pytest" in lines[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert lines[1].strip() in ci
