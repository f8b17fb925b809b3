"""Event fixtures: a clinic emulator on the real clock (athena's processed-change times are
real), a facade with compressed retry schedules and a fast poll, and a webhook receiver,
all real HTTP servers on loopback. Module-scoped: each module books its own slots."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from tests.auth.smart_support import Keys, write_clients
from tests.conftest import dev_token, facade_settings, start_facade
from tests.events.support import Receiver

TODAY = date(2025, 6, 30)
FAST: dict[str, Any] = {
    "events_feeds": ["appointments", "patients"],
    "events_poll_interval_seconds": 0.5,
    "events_idle_seconds": 0.1,
    "events_retry_schedule": [0.3, 0.6, 0.9],
    "events_retry_jitter": 0.0,
    "events_delivery_timeout_seconds": 1.5,
    "events_heartbeat_min_seconds": 1,
    "events_poll_lease_seconds": 3.0,
    "events_replay_margin_seconds": 5.0,
}


@pytest.fixture(scope="module")
def clinic() -> Iterator[tuple[str, Any]]:
    config = EmulatorConfig(
        today=TODAY, api_requests_per_second=100_000, token_requests_per_minute=10_000
    )
    app = create_emulator(config)
    server = ServerThread(app)
    yield server.start(), app.state.emulator
    server.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    server = ServerThread(hooks.app())
    hooks.base = server.start()
    yield hooks
    server.stop()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events")
    write_clients(path, Keys(), "http://127.0.0.1:9/jwks.json")
    return path


@pytest.fixture(scope="module")
def facade(clinic: tuple[str, Any], data_dir: Path) -> Iterator[str]:
    settings = facade_settings(clinic[0], data_dir, **FAST)
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


@pytest.fixture(scope="module")
def fhir(facade: str) -> Iterator[httpx.Client]:
    token = dev_token(facade, "system/*.cruds")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{facade}/fhir/r4", headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def admin(clinic: tuple[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{clinic[0]}/_emulator", timeout=30) as client:
        client.delete("faults")
        yield client
        client.delete("faults")
