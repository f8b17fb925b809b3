"""Layers point one way (CONVENTIONS.md item 1, DESIGN.md "Folders").

- The pure core imports neither FastAPI, Starlette nor httpx.
- The engine and the workflows import no web framework (FastAPI, Starlette,
  uvicorn): every entry point (HTTP, MCP, bulk jobs, events, sync) runs them.
- Nothing below the HTTP face imports ``facade.api``.

Walks the AST of every module and follows imports inside the project
transitively, so an indirect edge (pure -> api -> fastapi) fails too.
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
    return _walk(start)[0]


def _project_files(start: Path) -> set[Path]:
    """Every project module reachable from ``start`` (itself included)."""
    return _walk(start)[1]


def _walk(start: Path) -> tuple[dict[str, Path], set[Path]]:
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
    return external, seen


PURE_FILES = sorted(p for d in PURE for p in (ROOT / d).rglob("*.py"))


def test_pure_packages_exist() -> None:
    assert len(PURE_FILES) > 10


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_core_has_no_web_or_http_imports(path: Path) -> None:
    bad = _reaching(path, FORBIDDEN)
    assert not bad, f"{path.relative_to(ROOT)} reaches {bad}"


def _reaching(path: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """The imports of ``packages`` reachable from ``path`` -> the project file importing each."""
    return {
        name: where.relative_to(ROOT)
        for name, where in _closure(path).items()
        if name.split(".")[0] in packages
    }


def test_the_checker_sees_a_forbidden_edge() -> None:
    found = _closure(ROOT / "facade/api/app.py")
    assert any(name.startswith("fastapi") for name in found)


# Entry points over the engine other than the HTTP face (the event engine, bulk export jobs)
# obey the same rules, as do the audit trail and API-drift monitoring (its probe speaks httpx to athena).
ENGINE = [
    "facade/engine",
    "facade/workflows",
    "facade/events",
    "facade/bulk",
    "facade/audit",
    "facade/drift",
]
ENGINE_FORBIDDEN = ("fastapi", "starlette", "uvicorn", "granian")
BELOW_API = [
    "facade/audit",
    "facade/bulk",
    "facade/drift",
    "facade/engine",
    "facade/events",
    "facade/workflows",
    "facade/auth",
    "facade/search",
    "facade/mapping",
    "facade/upstream",
    "facade/fhir",
    "facade/store",
    "capability",
]
ENGINE_FILES = sorted(p for d in ENGINE for p in (ROOT / d).rglob("*.py"))
BELOW_API_FILES = sorted(p for d in BELOW_API for p in (ROOT / d).rglob("*.py"))


def test_engine_packages_exist() -> None:
    assert ROOT / "facade/engine/reads.py" in ENGINE_FILES
    assert ROOT / "facade/workflows/scheduling.py" in ENGINE_FILES
    assert ROOT / "facade/events/runtime.py" in ENGINE_FILES
    assert ROOT / "facade/events/runtime.py" in BELOW_API_FILES
    assert ROOT / "facade/bulk/export.py" in ENGINE_FILES
    assert ROOT / "facade/bulk/runner.py" in BELOW_API_FILES
    assert ROOT / "facade/drift/monitor.py" in ENGINE_FILES
    assert ROOT / "facade/drift/probe.py" in BELOW_API_FILES
    assert ROOT / "facade/audit/recorder.py" in ENGINE_FILES


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_imports_no_web_framework(path: Path) -> None:
    bad = _reaching(path, ENGINE_FORBIDDEN)
    assert not bad, f"{path.relative_to(ROOT)} reaches {bad}"


@pytest.mark.parametrize("path", BELOW_API_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_below_the_http_face_imports_it(path: Path) -> None:
    api = ROOT / "facade/api"
    bad = sorted(str(p.relative_to(ROOT)) for p in _project_files(path) if api in p.parents)
    assert not bad, f"{path.relative_to(ROOT)} reaches {bad}"


MCP_FILES = sorted((ROOT / "facade/mcp").rglob("*.py"))


def test_mcp_package_exists() -> None:
    assert ROOT / "facade/mcp/server.py" in MCP_FILES


@pytest.mark.parametrize("path", MCP_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_mcp_is_an_entry_point_beside_the_http_face(path: Path) -> None:
    """facade/mcp calls the engine; it never goes through (or imports) the HTTP face,
    and uses no web framework beyond the MCP SDK's own Starlette."""
    api = ROOT / "facade/api"
    bad = sorted(str(p.relative_to(ROOT)) for p in _project_files(path) if api in p.parents)
    assert not bad, f"{path.relative_to(ROOT)} reaches {bad}"
    assert not _reaching(path, ("fastapi", "uvicorn", "granian"))


def test_the_checker_sees_an_upward_edge() -> None:
    reached = _project_files(ROOT / "facade/api/app.py")
    assert ROOT / "facade/api/routes_fhir.py" in reached
    assert ROOT / "facade/engine/reads.py" in reached
