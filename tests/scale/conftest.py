"""One scale-out cluster per module: two ``athena-facade serve`` processes on one real
PostgreSQL and one real Redis, behind a real HAProxy (facade/cluster/topology.py, the
topology ``athena-facade cluster`` starts), in front of a clinic emulator of the module's
own (a fixed today, the scheduling helpers' slots) and a webhook receiver."""

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
from facade.cluster.topology import Cluster
from tests.api.scheduling.support import TODAY
from tests.auth.smart_support import Keys, write_clients
from tests.events.conftest import FAST
from tests.events.support import Receiver

RATE = 25.0  # the whole cluster's upstream budget per practice and surface (req/s)
BURST = 5


def _env(values: dict[str, Any]) -> dict[str, str]:
    return {
        f"FACADE_{name.upper()}": json.dumps(v) if isinstance(v, list) else str(v)
        for name, v in values.items()
    }


@pytest.fixture(scope="module")
def clinic() -> Iterator[tuple[str, Any]]:
    config = EmulatorConfig(
        today=TODAY, api_requests_per_second=100_000, token_requests_per_minute=10_000
    )
    app = create_emulator(config)  # the real clock: the change feeds' windows are real time
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
def cluster(clinic: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    for name in ("facade1", "facade2"):  # the SMART test clients, on every host
        write_clients(root / name, Keys(), "http://127.0.0.1:9/jwks.json")
    extra = _env(
        {
            **FAST,
            "events_feeds": ["appointments"],
            "upstream_rate_per_second": RATE,
            "upstream_burst": BURST,
            "upstream_queue_max_wait": 1.0,
            "upstream_read_timeout": 2.0,
            "request_deadline_seconds": 8.0,
            "write_readback_interval": 0.1,
            "idempotency_lease_seconds": 9.0,  # a killed host's keys are taken over after it
        }
    )
    started = Cluster(root, hosts=2, athena_url=clinic[0], extra_env=extra).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def admin(clinic: tuple[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{clinic[0]}/_emulator") as client:
        yield client


def token(base: str, scope: str = "system/*.cruds") -> str:
    response = httpx.post(
        f"{base}/auth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=("local-dev", "local-dev-secret"),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    value: str = response.json()["access_token"]
    return value


def fhir(base: str, access_token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base}/fhir/r4",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=30,
    )


def root_of(cluster: Cluster) -> Path:
    return cluster.root
