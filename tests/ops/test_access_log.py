"""The access log of the real server: one JSON line per request, in every worker, no PHI.

``athena-facade serve`` runs in a subprocess with two uvicorn workers and the embedded
emulator; requests carry PHI-looking query values, bodies, ids and a client secret. Every
line the server writes to stderr must parse as JSON with a time and a level (the workers'
own lines too), each request must have its access line, and none of the values may
appear anywhere in the output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port

PHI = [
    "Quintessa",  # a name searched for
    "1971-04-12",  # a birth date searched for
    "Zebulonia",  # a name in a body
    "6175550199",  # a phone in a body
    "Evergreen",  # an address in a body
    "60178",  # patient ids in paths
    "60179",
    "JohnSmith",  # a path the router does not know
    "local-dev-secret",  # the client secret (Basic auth)
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("accesslog")
    port = free_port()
    log = tmp / "stderr.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FACADE_", "EMULATOR_"))}
    env = {**clean, "FACADE_DATA_DIR": str(tmp / "var"), "FACADE_EVENTS_FEEDS": "[]"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "facade.cli", "serve", "--workers", "2", "--port", str(port)],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not start within 90 s"
            time.sleep(0.3)
        yield base, log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _requests(base: str) -> list[tuple[httpx.Response, dict[str, Any]]]:
    """Each response with what its access line must say."""
    out = []
    token_answer = httpx.post(
        f"{base}/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.rs system/Patient.c"},
        auth=("local-dev", "local-dev-secret"),
    )
    out.append(
        (
            token_answer,
            {"method": "POST", "route": "/auth/token", "status": 200, "client": "local-dev"},
        )
    )
    token = token_answer.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    fhir = f"{base}/fhir/r4"
    search = httpx.get(
        f"{fhir}/Patient",
        params={"name": "Quintessa", "birthdate": "1971-04-12"},
        headers=auth,
        timeout=30,
    )
    out.append(
        (
            search,
            {
                # answered by the fast path: the type is in the template, never a value
                "route": "/fhir/r4/Patient",
                "params": ["birthdate", "name"],
                "client": "local-dev",
                "status": 200,
            },
        )
    )
    fast = httpx.get(f"{fhir}/Patient/a-195900.E-60178", headers=auth, timeout=30)
    out.append((fast, {"route": "/fhir/r4/Patient/{id}", "client": "local-dev", "status": 200}))
    traced = httpx.get(
        f"{fhir}/Patient/a-195900.E-60179",
        params={"_elements": "name"},
        headers={**auth, "X-Request-Id": "trace-me-1"},
        timeout=30,
    )
    out.append((traced, {"request_id": "trace-me-1", "params": ["_elements"], "status": 200}))
    body = {
        "resourceType": "Patient",
        "name": [{"family": "Zebulonia", "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "1980-02-03",
        "telecom": [{"system": "phone", "value": "6175550199"}],
        "address": [{"line": ["12 Evergreen Terrace"], "city": "Boston"}],
    }
    created = httpx.post(
        f"{fhir}/Patient",
        json=body,
        headers={**auth, "Content-Type": "application/fhir+json"},
        timeout=30,
    )
    out.append(
        (created, {"method": "POST", "route": "/fhir/r4/{resource_type}", "client": "local-dev"})
    )
    unknown = httpx.get(f"{base}/nowhere/JohnSmith")
    out.append((unknown, {"route": "(unrouted)", "status": 404, "client": None}))
    metrics = httpx.get(f"{base}/metrics")
    out.append((metrics, {"route": "/metrics", "status": 200, "upstream_calls": 0}))
    return out


def _log_with(log: Path, request_ids: list[str]) -> str:
    """The log once every one of ``request_ids`` has its line (written after the answer)."""
    deadline = time.monotonic() + 30
    while True:
        text = log.read_text()
        if all(f'"request_id":"{rid}"' in text for rid in request_ids):
            return text
        assert time.monotonic() < deadline, ("access lines missing", request_ids, text)
        time.sleep(0.1)


def test_every_line_is_json_and_each_request_has_its_access_line(
    served: tuple[str, Path],
) -> None:
    base, log = served
    expected = _requests(base)
    text = _log_with(log, [r.headers["x-request-id"] for r, _ in expected])
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, text
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
        assert line["time"].endswith("Z") and line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR"}
    # both workers logged through the same configuration (uvicorn's own start-up lines)
    started = [x for x in lines if x["message"].startswith("Started server process")]
    assert len(started) == 2, started
    access = {x["request_id"]: x for x in lines if x["logger"] == "facade.access"}
    for response, wanted in expected:
        line = access[response.headers["x-request-id"]]
        assert set(line) == {
            "time",
            "level",
            "logger",
            "message",
            "request_id",
            "method",
            "route",
            "status",
            "ms",
            "upstream_calls",
            "upstream_ms",
            "client",
            "params",
        }
        assert line["status"] == response.status_code
        assert line["method"] == wanted.get("method", "GET")
        for key, value in wanted.items():
            assert line[key] == value, (key, line)
        assert isinstance(line["ms"], float) and isinstance(line["upstream_ms"], float)
        assert isinstance(line["upstream_calls"], int)
    # the plain-read fast path and the search called athena; the numbers say so
    assert access[expected[2][0].headers["x-request-id"]]["upstream_calls"] >= 1


def test_no_phi_query_values_bodies_or_secrets_reach_the_log(served: tuple[str, Path]) -> None:
    base, log = served
    text = _log_with(log, [r.headers["x-request-id"] for r, _ in _requests(base)])
    for value in PHI:
        assert value not in text, value
