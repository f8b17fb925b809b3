"""Shared fixtures: a real emulator over loopback HTTP, tokens and clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import httpx
import pytest
from emu_support import FHIR_SCOPE, FakeClock, Running, fetch_token

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


CLINIC_TODAY = date(2025, 6, 30)  # a Monday
# 14:00 UTC = 09:00 department-local (UTC-5) on CLINIC_TODAY; the clock never moves.
CLINIC_NOW = datetime(2025, 6, 30, 14, 0, tzinfo=UTC).timestamp()


@pytest.fixture(scope="session")
def clinic() -> Iterator[Running]:
    """An emulator with a fixed today and a frozen clock, for scheduling tests."""
    config = EmulatorConfig(
        today=CLINIC_TODAY, token_requests_per_minute=100_000, api_requests_per_second=1_000_000
    )
    app = create_app(config, clock=FakeClock(CLINIC_NOW))
    with ServerThread(app) as base_url:
        yield Running(app, base_url)


@pytest.fixture(scope="session")
def cv1(clinic: Running) -> Iterator[httpx.Client]:
    """/v1 client of the clinic emulator."""
    with httpx.Client(base_url=clinic.base_url, timeout=10) as plain:
        headers = {"Authorization": f"Bearer {fetch_token(plain)}"}
    with httpx.Client(base_url=clinic.base_url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def cfhir(clinic: Running) -> Iterator[httpx.Client]:
    """FHIR client (``system/*.read``) of the clinic emulator, based at /fhir/r4."""
    with httpx.Client(base_url=clinic.base_url, timeout=10) as plain:
        headers = {"Authorization": f"Bearer {fetch_token(plain, 'system/*.read')}"}
    with httpx.Client(base_url=f"{clinic.base_url}/fhir/r4", headers=headers, timeout=10) as client:
        yield client
