"""Shared fixtures: a real emulator over loopback HTTP, tokens and clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from emu_support import FHIR_SCOPE, Running, fetch_token

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from emulator.world import World


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., Running]]:
    """Factory for extra, specially configured emulators (stopped after the test)."""
    servers: list[ServerThread] = []

    def start(config: EmulatorConfig, clock: Callable[[], float] | None = None) -> Running:
        app = create_app(config, clock=clock) if clock else create_app(config)
        server = ServerThread(app)
        servers.append(server)
        return Running(app, server.start())

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def emulator() -> Iterator[Running]:
    """The shared emulator: default data, limits raised so tests never trip them."""
    config = EmulatorConfig(token_requests_per_minute=100_000, api_requests_per_second=1_000_000)
    app = create_app(config)
    with ServerThread(app) as base_url:
        yield Running(app, base_url)


@pytest.fixture(scope="session")
def world(emulator: Running) -> World:
    return emulator.world


@pytest.fixture(scope="session")
def http(emulator: Running) -> Iterator[httpx.Client]:
    """An unauthenticated client."""
    with httpx.Client(base_url=emulator.base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def v1(emulator: Running, http: httpx.Client) -> Iterator[httpx.Client]:
    """A client holding an MDP-scoped token for /v1."""
    headers = {"Authorization": f"Bearer {fetch_token(http)}"}
    with httpx.Client(base_url=emulator.base_url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def fhir(emulator: Running, http: httpx.Client) -> Iterator[httpx.Client]:
    """A client holding a ``system/Patient.read`` token, based at /fhir/r4."""
    headers = {"Authorization": f"Bearer {fetch_token(http, FHIR_SCOPE)}"}
    with httpx.Client(
        base_url=f"{emulator.base_url}/fhir/r4", headers=headers, timeout=10
    ) as client:
        yield client
