"""Shared fixtures: the emulator and the facade as real HTTP servers on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from facade.api.app import create_app
from facade.settings import Settings
from tests.support.profiles import ProfileValidator, get_validator


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite mappings/cases/*.fhir.json from the current tables",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def validator() -> ProfileValidator:
    return get_validator()


@pytest.fixture(scope="session")
def emulator_app() -> Any:
    config = EmulatorConfig(api_requests_per_second=100_000, token_requests_per_minute=1000)
    return create_emulator(config)


@pytest.fixture(scope="session")
def emulator_world(emulator_app: Any) -> Any:
    """The emulator's in-memory athenahealth (records, tokens, call counts)."""
    return emulator_app.state.emulator


@pytest.fixture(scope="session")
def emulator_url(emulator_app: Any) -> Iterator[str]:
    server = ServerThread(emulator_app)
    yield server.start()
    server.stop()


def facade_settings(upstream: str, data_dir: Path, **overrides: Any) -> Settings:
    port = free_port()
    values: dict[str, Any] = {
        "environment": "embedded",
        "workers": 1,  # in-process server: one worker owns the whole upstream budget
        "port": port,
        "athena_base_url": upstream,
        "data_dir": data_dir,
        # athena's changed feeds are polled only where a test asks for it (tests/events): a
        # background poll would consume fault rules and call counts other tests rely on
        "events_feeds": [],
        **overrides,
    }
    return Settings(**values)


def start_facade(settings: Settings, **kwargs: Any) -> ServerThread:
    server = ServerThread(create_app(settings, **kwargs), port=settings.port)
    server.start()
    return server


@pytest.fixture(scope="session")
def facade_url(emulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = facade_settings(emulator_url, tmp_path_factory.mktemp("facade"))
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


def dev_token(base_url: str, scope: str = "system/*.rs") -> str:
    response = httpx.post(
        f"{base_url}/auth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=("local-dev", "local-dev-secret"),
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


@pytest.fixture(scope="session")
def fhir(facade_url: str) -> Iterator[httpx.Client]:
    """An authorized client whose base is the facade's FHIR base."""
    headers = {"Authorization": f"Bearer {dev_token(facade_url)}"}
    with httpx.Client(base_url=f"{facade_url}/fhir/r4", headers=headers, timeout=30) as client:
        yield client
