"""facade.search is pure: no web framework, no HTTP client, no I/O modules."""

from __future__ import annotations

import ast
from pathlib import Path

import facade.search

FORBIDDEN = {"fastapi", "starlette", "httpx", "aiohttp", "requests", "socket", "sqlite3"}
PACKAGE = Path(facade.search.__file__).parent


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_forbidden_imports() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert modules
    for module in modules:
        bad = _imported_roots(module) & FORBIDDEN
        assert not bad, f"{module.name} imports {sorted(bad)}"


def test_no_utils_module() -> None:
    assert not (PACKAGE / "utils.py").exists()


def test_public_names_exported() -> None:
    for name in facade.search.__all__:
        assert hasattr(facade.search, name), name
