"""ServerThread: a real uvicorn server on loopback."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def _app() -> Starlette:
    return Starlette(routes=[Route("/", hello)])


def test_start_on_free_port_and_stop() -> None:
    from emulator.server import ServerThread

    server = ServerThread(_app())
    base_url = server.start()
    assert base_url.startswith("http://127.0.0.1:") and server.port != 0
    assert server.start() == base_url  # idempotent
    assert httpx.get(base_url).text == "hello"
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url)
    server.stop()  # stopping twice is harmless


def test_context_manager_and_port_in_use() -> None:
    from emulator.server import ServerThread

    with ServerThread(_app()) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            ServerThread(_app(), port=port).start()
        assert httpx.get(base_url).status_code == 200
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", port))  # the port is free again
    finally:
        probe.close()


def test_config_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.config import EmulatorConfig

    monkeypatch.setenv("EMULATOR_SEED", "9")
    monkeypatch.setenv("EMULATOR_CLIENTS", '{"a": "b"}')
    config = EmulatorConfig()
    assert config.seed == 9 and config.clients == {"a": "b"}
    assert EmulatorConfig(seed=2).generated_patients == 2400


def test_emulator_never_imports_facade() -> None:
    import ast
    import pathlib

    import emulator

    for path in pathlib.Path(emulator.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "facade" or n.startswith("facade.") for n in names), path
