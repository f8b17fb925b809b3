"""The pure core imports neither FastAPI, Starlette nor httpx (CONVENTIONS.md item 1).

Walks the AST of every module in the pure packages and follows imports inside
the project transitively, so an indirect edge (pure -> api -> fastapi) fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = ["facade/search", "facade/mapping", "facade/fhir", "capability"]
FORBIDDEN = ("fastapi", "starlette", "httpx", "aiohttp", "uvicorn")
ALLOWED_IO = {"facade/mapping/loader.py"}  # reads the tables (no HTTP either)


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    base = ROOT.joinpath(*parts)
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    return None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _closure(start: Path) -> dict[str, Path]:
    """Every third-party import reachable from ``start`` -> the project file importing it."""
    seen: set[Path] = set()
    external: dict[str, Path] = {}
    stack = [start]
    while stack:
        path = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            local = _module_file(name)
            if local is not None:
                stack.append(local)
            elif name.split(".")[0] not in ("facade", "capability", "emulator", "mappings"):
                external[name] = path
    return external


PURE_FILES = sorted(p for d in PURE for p in (ROOT / d).rglob("*.py"))


def test_pure_packages_exist() -> None:
    assert len(PURE_FILES) > 10


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_core_has_no_web_or_http_imports(path: Path) -> None:
    bad = {
        name: where.relative_to(ROOT)
        for name, where in _closure(path).items()
        if name.split(".")[0] in FORBIDDEN
    }
    assert not bad, f"{path.relative_to(ROOT)} reaches {bad}"


def test_the_checker_sees_a_forbidden_edge() -> None:
    found = _closure(ROOT / "facade/api/app.py")
    assert any(name.startswith("fastapi") for name in found)
