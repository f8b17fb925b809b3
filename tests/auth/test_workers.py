"""The authorization server's state holds across worker processes: ``athena-facade serve``
with two uvicorn workers (as deployed), hit concurrently so requests land on both."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest

from facade.auth.factory import clients_file
from facade.settings import Settings
from tests.auth.smart_support import (
    Flow,
    Keys,
    consent,
    exchange,
    to_consent,
    verifier_pair,
    write_clients,
)
from tests.conftest import free_port

T = TypeVar("T")
WORKERS = 2


@dataclass
class Served:
    base: str
    data_dir: Path
    log: Path


@pytest.fixture(scope="module")
def served(
    emulator_url: str, tmp_path_factory: pytest.TempPathFactory, client_keys: Keys
) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("workers")
    write_clients(data_dir, client_keys, "http://127.0.0.1:9/jwks.json")
    port = free_port()
    env = {
        **os.environ,
        "FACADE_DATA_DIR": str(data_dir),
        "FACADE_PORT": str(port),
        "FACADE_WORKERS": str(WORKERS),
        "FACADE_SERVER": "uvicorn",
        "FACADE_ATHENA_BASE_URL": emulator_url,
    }
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "facade.cli", "serve"], env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        # every worker says so once its lifespan (stores, keys) is up
        while log.read_text(errors="replace").count("Application startup complete") < WORKERS:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "serve did not start its workers in 90 s"
            time.sleep(0.2)
        yield Served(base, data_dir, log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _parallel(count: int, call: Callable[[int], T]) -> list[T]:
    # concurrent requests open concurrent connections: the kernel spreads them over the workers
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


class _PerThread:
    """An ``httpx.Client`` per thread, made on the thread's first call. One client shared
    by the threads lost a connection under load (``httpx.ReadError: [Errno 9] Bad file
    descriptor`` from its pool, once in a full run on a busy machine): the test is about
    the workers, not about sharing a client's pool across threads."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[httpx.Client] = []

    def __getattr__(self, name: str) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            limits = httpx.Limits(max_keepalive_connections=0)  # a connection per call
            client = self._local.client = httpx.Client(timeout=30, limits=limits)
            with self._lock:
                self._clients.append(client)
        return getattr(client, name)

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()


@pytest.fixture()
def pool() -> Iterator[httpx.Client]:
    """Clients for the threads (one each), one connection per concurrent call."""
    clients = _PerThread()
    try:
        yield cast(httpx.Client, clients)
    finally:
        clients.close()


def test_concurrent_registrations_across_workers_are_all_kept(
    served: Served, pool: httpx.Client
) -> None:
    def register(i: int) -> httpx.Response:
        body = {
            "client_name": f"app {i}",
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "none",
            "scope": "launch/patient openid patient/*.rs",
        }
        return pool.post(f"{served.base}/auth/register", json=body)

    answers = _parallel(60, register)
    assert [a.status_code for a in answers] == [201] * 60, [a.text for a in answers][:3]
    ids = {a.json()["client_id"] for a in answers}
    assert len(ids) == 60

    def authorize(client_id: str) -> int:
        _, challenge = verifier_pair()
        page = pool.get(
            f"{served.base}/auth/authorize",
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": "https://app.example/cb",
                "scope": "openid patient/*.rs",
                "aud": f"{served.base}/fhir/r4",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        return page.status_code

    # usable at once, from whichever worker answers (twice each: both workers likely)
    statuses = _parallel(120, lambda i: authorize(sorted(ids)[i % 60]))
    assert statuses == [200] * 120
    listed = subprocess.run(
        [sys.executable, "-m", "facade.cli", "clients", "list"],
        env={**os.environ, "FACADE_DATA_DIR": str(served.data_dir)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert all(f"{client_id}\tpublic" in listed for client_id in ids)
    registry = clients_file(Settings(data_dir=served.data_dir))
    assert all(registry.get(client_id) is not None for client_id in ids)
    assert registry.get("test-public") is not None  # the operator's clients are still there


def test_a_session_consents_once_across_workers(served: Served, pool: httpx.Client) -> None:
    steps = to_consent(pool, served.base)

    def allow(_: int) -> httpx.Response:
        return consent(pool, served.base, steps)

    answers = _parallel(8, allow)
    assert sorted(a.status_code for a in answers) == [303] + [400] * 7
    done = next(a for a in answers if a.status_code == 303)
    # and the one code is exchanged once, however many workers it is raced on
    flow = Flow(done, steps.verifier, steps.state, steps.pages)

    def swap(_: int) -> int:
        return exchange(pool, served.base, flow).status_code

    assert sorted(_parallel(8, swap)) == [200] + [400] * 7


def test_failed_sign_ins_are_counted_across_workers(served: Served, pool: httpx.Client) -> None:
    session = to_consent(pool, served.base).sessions["login"]  # any login page's session

    def guess(i: int) -> int:
        return pool.post(
            f"{served.base}/auth/login",
            data={"session": session, "username": "dr.demo", "password": f"guess-{i}"},
            headers={"X-Forwarded-For": "198.51.100.50"},
        ).status_code

    statuses = _parallel(24, guess)
    assert statuses.count(401) == 5 and statuses.count(429) == 19  # the default limit: 5
    right = pool.post(
        f"{served.base}/auth/login",
        data={"session": session, "username": "dr.demo", "password": "demo-password"},
    )
    assert right.status_code == 429


def test_worker_logs_carry_no_secrets_or_phi(served: Served, pool: httpx.Client) -> None:
    steps = to_consent(pool, served.base)
    text = served.log.read_text(errors="replace")
    for secret in ("demo-password", "guess-", "Sandboxtest", steps.sessions["consent"][:20]):
        assert secret not in text
