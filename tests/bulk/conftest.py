"""An emulator with a small population and a facade with Backend Services clients, for bulk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.faults import FaultPlan
from emulator.server import ServerThread
from facade.settings import Settings
from tests.bulk.support import Clients
from tests.conftest import facade_settings, start_facade

BULK_SETTINGS: dict[str, Any] = {
    "bulk_lease_seconds": 2.0,
    "bulk_poll_seconds": 0.2,
    "bulk_retry_after_seconds": 1,
    "bulk_rate_per_second": 1000.0,
    "bulk_burst": 1000,
    "bulk_max_jobs_per_client": 2,
    "bulk_cpu_share": 1.0,  # no pacing: nothing interactive to protect here
}


@pytest.fixture(scope="session")
def bulk_emulator_app() -> Any:
    config = EmulatorConfig(
        generated_patients=16, api_requests_per_second=100_000, token_requests_per_minute=1000
    )
    return create_emulator(config)


@pytest.fixture(scope="session")
def bulk_emulator(bulk_emulator_app: Any) -> Iterator[str]:
    server = ServerThread(bulk_emulator_app)
    yield server.start()
    server.stop()


@pytest.fixture()
def faults(bulk_emulator_app: Any) -> Iterator[Any]:
    """The emulator's live fault plan; reset after the test."""
    state = bulk_emulator_app.state.faults
    yield state
    state.set_plan(FaultPlan())


@pytest.fixture(scope="session")
def clients() -> Clients:
    return Clients()


def bulk_settings(emulator: str, data_dir: Path, clients: Clients, **overrides: Any) -> Settings:
    clients.write(data_dir)
    return facade_settings(emulator, data_dir, **{**BULK_SETTINGS, **overrides})


@pytest.fixture(scope="session")
def facade(
    bulk_emulator: str, clients: Clients, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """The facade under test (its settings: data directory, URLs)."""
    settings = bulk_settings(bulk_emulator, tmp_path_factory.mktemp("bulk"), clients)
    server = start_facade(settings)
    yield settings
    server.stop()


@pytest.fixture(scope="session")
def bulk_base(facade: Settings) -> str:
    return facade.base_url


@pytest.fixture(scope="session")
def fhir_base(bulk_base: str) -> str:
    return f"{bulk_base}/fhir/r4"


@pytest.fixture(scope="session")
def token(bulk_base: str, clients: Clients) -> str:
    return clients.token(bulk_base)


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client
