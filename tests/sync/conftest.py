"""The embedded stack for the warehouse sync: its own emulator (the tests change athena's
data), a facade with Backend Services clients, a private key file, athena's call count,
and a real PostgreSQL (initdb + pg_ctl into a temp dir)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
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
from tests.conftest import free_port, start_facade

EMULATOR_CLIENT = ("facade-dev", "facade-dev-secret")
PG_BIN = Path("/usr/lib/postgresql/15/bin")


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
def postgres() -> Iterator[str]:
    """A real PostgreSQL 15 in a temp dir, on a free loopback port; its URL.

    Outside pytest's temp tree: as root, the server runs as ``nobody``, who must reach it.
    """
    bindir = PG_BIN if (PG_BIN / "initdb").exists() else Path(shutil.which("initdb") or "").parent
    root = Path(tempfile.mkdtemp(prefix="sync-pg-"))
    data = root / "data"
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as nobody
        user = ["runuser", "-u", "nobody", "--"]
        shutil.chown(root, "nobody")
    subprocess.run(
        [
            *user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "sync",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    port = free_port()
    log = root / "pg.log"
    subprocess.run(
        [
            *user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield f"postgresql://sync@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            env=env,
        )
        shutil.rmtree(root, ignore_errors=True)
