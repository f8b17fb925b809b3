"""Scheduling fixtures: a clinic emulator with a fixed today and a frozen clock, a facade
in front of it, and the emulator's admin client. Module-scoped, so each test module gets
its own emulator and facade and bookings in one never take slots another expects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from tests.api.scheduling.support import TODAY, _client, _Clock
from tests.conftest import facade_settings, start_facade


@pytest.fixture(scope="module")
def clinic() -> Iterator[tuple[str, Any]]:
    config = EmulatorConfig(
        today=TODAY, api_requests_per_second=100_000, token_requests_per_minute=10_000
    )
    app = create_emulator(config, clock=_Clock())
    server = ServerThread(app)
    yield server.start(), app.state.emulator
    server.stop()


@pytest.fixture(scope="module")
def fhir(
    clinic: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    settings = facade_settings(clinic[0], tmp_path_factory.mktemp("scheduling"))
    server = start_facade(settings)
    with _client(settings.base_url) as client:
        yield client
    server.stop()


@pytest.fixture
def admin(clinic: tuple[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{clinic[0]}/_emulator") as client:
        client.delete("faults")
        yield client
        client.delete("faults")
