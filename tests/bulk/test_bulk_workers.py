"""Exports across worker processes (``athena-facade serve`` with two uvicorn workers): the
per-client limit holds when kick-offs race in both, and any worker answers status, files
and DELETE for a job another one runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.faults import FaultPlan
from tests.bulk.support import Clients, bearer, kick_off, poll, resources
from tests.conftest import free_port

WORKERS = 2


@pytest.fixture(scope="module")
def served(
    bulk_emulator: str, clients: Clients, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("bulk-workers")
    clients.write(data_dir)
    port = free_port()
    env = {
        **os.environ,
        "FACADE_DATA_DIR": str(data_dir),
        "FACADE_PORT": str(port),
        "FACADE_WORKERS": str(WORKERS),
        "FACADE_SERVER": "uvicorn",
        "FACADE_ATHENA_BASE_URL": bulk_emulator,
        "FACADE_BULK_POLL_SECONDS": "0.2",
        "FACADE_BULK_MAX_JOBS_PER_CLIENT": "2",
        "FACADE_BULK_RATE_PER_SECOND": "1000",
        "FACADE_BULK_BURST": "1000",
        "FACADE_BULK_CPU_SHARE": "1",
    }
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "facade.cli", "serve"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 90
        while log.read_text(errors="replace").count("Application startup complete") < WORKERS:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "serve did not start its workers in 90 s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_client_limit_holds_across_workers(
    served: str, clients: Clients, bulk_emulator_app: Any
) -> None:
    faults = bulk_emulator_app.state.faults
    faults.set_plan(FaultPlan(bulk_export_seconds=60))  # the jobs stay running
    token = clients.token(served)
    fhir = f"{served}/fhir/r4"
    try:

        def start(_: int) -> httpx.Response:
            with httpx.Client(timeout=30) as http:  # one connection each: both workers answer
                return kick_off(http, fhir, token, params={"_type": "Patient"})

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(start, range(8)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [202, 202] + [429] * 6, statuses
        running = [a.headers["content-location"] for a in answers if a.status_code == 202]

        def status(url: str) -> int:
            with httpx.Client(timeout=30) as http:
                return http.get(url, headers=bearer(token)).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(status, running * 4)) == {202}  # every worker knows them

        def delete(url: str) -> int:
            with httpx.Client(timeout=30) as http:
                return http.delete(url, headers=bearer(token)).status_code

        assert [delete(url) for url in running] == [202, 202]
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(status, running * 4)) == {404}
    finally:
        faults.set_plan(FaultPlan())
    with httpx.Client(timeout=30) as http:  # the limit is free again, and exports complete
        started = kick_off(http, fhir, token, params={"_type": "Patient,Encounter"})
        assert started.status_code == 202, started.text
        done = poll(http, started.headers["content-location"], token)
        assert done.status_code == 200, done.text
        found = resources(http, done.json(), token)
    assert found["Patient"] and found["Encounter"]
