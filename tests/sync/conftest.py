"""The embedded stack for the warehouse sync: its own emulator (the tests change athena's
data), a facade with Backend Services clients, a private key file, athena's call count,
and a real PostgreSQL (tests/support/postgres.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from facade.settings import Settings
from tests.bulk.conftest import bulk_settings
from tests.bulk.support import BACKEND, Clients
from tests.conftest import start_facade
from tests.support.postgres import running_postgres

EMULATOR_CLIENT = ("facade-dev", "facade-dev-secret")


@pytest.fixture(scope="session")
def sync_emulator_app() -> Any:
    config = EmulatorConfig(
        generated_patients=12, api_requests_per_second=100_000, token_requests_per_minute=1000
    )
    return create_emulator(config)


@pytest.fixture(scope="session")
def sync_emulator(sync_emulator_app: Any) -> Iterator[str]:
    server = ServerThread(sync_emulator_app)
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def sync_clients() -> Clients:
    return Clients()


@pytest.fixture(scope="session")
def sync_facade(
    sync_emulator: str, sync_clients: Clients, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    settings = bulk_settings(sync_emulator, tmp_path_factory.mktemp("sync-facade"), sync_clients)
    server = start_facade(settings)
    yield settings
    server.stop()


@pytest.fixture(scope="session")
def fhir_base(sync_facade: Settings) -> str:
    return sync_facade.fhir_base


@pytest.fixture(scope="session")
def key_file(sync_clients: Clients, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse client's private key, as its operator keeps it (a JWK file)."""
    path = tmp_path_factory.mktemp("sync-key") / "warehouse.jwk.json"
    path.write_text(json.dumps(sync_clients.key(BACKEND).as_dict(private=True)))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def athena(sync_emulator: str) -> Iterator[httpx.Client]:
    """athena's own /v1 API (the emulator), as the practice's staff change data there."""
    with httpx.Client(base_url=sync_emulator, timeout=10) as plain:
        token = plain.post(
            "/oauth2/v1/token", data={"grant_type": "client_credentials"}, auth=EMULATOR_CLIENT
        ).json()["access_token"]
    with httpx.Client(
        base_url=sync_emulator, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def athena_calls(app: Any) -> int:
    """Every API call athena has charged so far (its daily quota's count, all clients)."""
    budget = app.state.emulator.budget
    return sum(used for _day, used in budget._day.values())


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL 15 (the project's launcher, tests/support/postgres.py); its URL."""
    with running_postgres(tmp_path_factory.mktemp("sync-pg")) as server:
        yield server.url
