"""Each athena fault, injected in the real emulator, against a real facade over loopback.

The emulator here is private to this module so its faults cannot leak into
other tests; windows are short (a storm of 1 s, a breaker open for 1 s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from tests.conftest import dev_token, facade_settings, start_facade

READ = "Patient/a-195900.E-60178"


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[str, Any]]:
    app = create_emulator(
        EmulatorConfig(api_requests_per_second=100_000, token_requests_per_minute=1000)
    )
    server = ServerThread(app)
    url = server.start()
    yield url, app
    server.stop()


@pytest.fixture
def admin(emulator: tuple[str, Any]) -> Iterator[httpx.Client]:
    url, _ = emulator
    with httpx.Client(base_url=f"{url}/_emulator") as client:
        client.delete("faults")
        client.delete("calls")
        yield client
        client.delete("faults")


def make_facade(url: str, tmp: Path, **overrides: Any) -> tuple[ServerThread, str]:
    values: dict[str, Any] = {
        "cache_enabled": False,
        "upstream_retry_attempts": 3,
        "upstream_retry_base_seconds": 0.01,
        "upstream_retry_cap_seconds": 0.05,
        "breaker_failure_threshold": 3,
        "breaker_open_seconds": 1.0,
        "upstream_read_timeout": 0.5,
        "request_deadline_seconds": 3.0,
        **overrides,
    }
    settings = facade_settings(url, tmp, **values)
    return start_facade(settings), settings.base_url


@pytest.fixture
def fhir_client(
    emulator: tuple[str, Any], admin: httpx.Client, tmp_path: Path
) -> Iterator[httpx.Client]:
    """A facade with short upstream timeouts that already holds its athena token: the
    tests' faults are on reads, and a token fetch caught in a stall of this busy machine
    (0.5 s) had failed a read test with "athena token endpoint timed out"."""
    server, base = make_facade(emulator[0], tmp_path)
    headers = {"Authorization": f"Bearer {dev_token(base)}"}
    with httpx.Client(base_url=f"{base}/fhir/r4", headers=headers, timeout=10) as client:
        for _ in range(3):
            if client.get(READ).status_code == 200:
                break
        else:
            pytest.fail("the facade never read the patient before the faults")
        admin.delete("calls")  # the tests count only their own calls
        yield client
    server.stop()


def calls(admin: httpx.Client, path: str) -> int:
    return sum(c["count"] for c in admin.get("calls").json()["calls"] if c["path"] == path)


def test_429_storm_gives_429_with_retry_after_then_recovers(
    admin: httpx.Client, fhir_client: httpx.Client
) -> None:
    # athena asks for a pause longer than the facade may queue (2 s): answer 429 at once
    rule = {
        "kind": "status",
        "status": 429,
        "retry_after": 3,
        "path": "^/fhir/",
        "duration_seconds": 1.5,
    }
    assert admin.post("faults/rules", json=rule).status_code == 201
    started = time.monotonic()
    during = fhir_client.get(READ)
    assert during.status_code == 429
    assert time.monotonic() - started < 1.0
    assert int(during.headers["retry-after"]) >= 3
    assert during.json()["issue"][0]["code"] == "throttled"
    # while paused the facade does not hammer athena: it refuses from its own budget
    fired = admin.get("faults").json()["fired"][0]
    again = fhir_client.get("Patient/a-195900.E-60179")
    assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1
    assert admin.get("faults").json()["fired"][0] == fired
    time.sleep(3.1)  # the storm and the facade's pause are over
    after = fhir_client.get(READ)
    assert after.status_code == 200


def test_short_retry_after_is_waited_out_within_the_deadline(
    admin: httpx.Client, fhir_client: httpx.Client
) -> None:
    rule = {
        "kind": "status",
        "status": 429,
        "retry_after": 1,
        "path": "^/fhir/",
        "duration_seconds": 0.5,
    }
    admin.post("faults/rules", json=rule)
    response = fhir_client.get(READ)
    assert response.status_code == 200


def test_5xx_burst_opens_the_breaker_which_then_closes(
    admin: httpx.Client, fhir_client: httpx.Client
) -> None:
    admin.post(
        "faults/rules", json={"kind": "status", "status": 503, "path": "^/fhir/", "count": 3}
    )
    first = fhir_client.get(READ)
    assert first.status_code == 502  # three attempts, all 503: athena is failing
    assert calls(admin, "/fhir/r4/Patient/{id}") == 0  # the fault answered before athena
    fast = fhir_client.get(READ)
    assert fast.status_code == 503  # open: fail fast, no upstream call
    assert fast.headers["retry-after"] == "1"
    assert admin.get("faults").json()["fired"] == [3]
    time.sleep(1.1)
    probe = fhir_client.get(READ)  # half-open probe succeeds -> closed
    assert probe.status_code == 200
    assert fhir_client.get("Patient/a-195900.E-60179").status_code == 200


def test_token_expired_mid_run_is_refreshed_invisibly(
    admin: httpx.Client, fhir_client: httpx.Client
) -> None:
    assert fhir_client.get(READ).status_code == 200
    admin.delete("calls")
    admin.post("faults/rules", json={"kind": "expire_tokens", "count": 1})
    results = [fhir_client.get(READ).status_code for _ in range(3)]
    assert results == [200, 200, 200]
    assert calls(admin, "/oauth2/v1/token") == 1


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "reset", "path": "^/fhir/", "count": 2},
        {"kind": "malformed_json", "path": "^/fhir/", "count": 2},
        {"kind": "timeout", "path": "^/fhir/", "count": 1, "delay_seconds": 1.0},
        {"kind": "status", "status": 500, "path": "^/fhir/", "count": 2},
    ],
    ids=["reset", "malformed-json", "read-timeout", "5xx"],
)
def test_transient_faults_on_reads_are_retried_invisibly(
    admin: httpx.Client, fhir_client: httpx.Client, rule: dict[str, Any]
) -> None:
    admin.post("faults/rules", json=rule)
    response = fhir_client.get(READ)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "a-195900.E-60178"


def test_persistent_timeouts_become_504_within_the_deadline(
    admin: httpx.Client, fhir_client: httpx.Client
) -> None:
    admin.post("faults/rules", json={"kind": "timeout", "path": "^/fhir/", "delay_seconds": 5.0})
    started = time.monotonic()
    response = fhir_client.get(READ)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["issue"][0]["code"] == "timeout"
    assert elapsed < 3.5  # bounded by the 3 s request deadline, not 3 x 5 s


def test_slow_body_within_the_timeout_still_succeeds(
    admin: httpx.Client, fhir_client: httpx.Client
) -> None:
    admin.post(
        "faults/rules",
        json={"kind": "slow_body", "path": "^/fhir/", "count": 1, "delay_seconds": 0.3},
    )
    assert fhir_client.get(READ).status_code == 200


def test_soft_failure_on_a_read_is_502_not_an_empty_result(
    admin: httpx.Client, fhir_client: httpx.Client
) -> None:
    admin.post("faults/rules", json={"kind": "soft_failure", "path": "^/v1/", "count": 5})
    response = fhir_client.get("Patient", params={"birthdate": "1972-10-24"})
    assert response.status_code == 502
    assert "athena reported a failure" in response.json()["issue"][0]["diagnostics"]


def test_latency_shows_in_server_timing(admin: httpx.Client, fhir_client: httpx.Client) -> None:
    admin.put("faults", json={"latency_ms": 120})
    response = fhir_client.get(READ)
    timing = response.headers["server-timing"]
    parts = dict(p.strip().split(";", 1) for p in timing.split(","))
    upstream = float(parts["upstream"].split("dur=")[1].split(";")[0])
    assert upstream >= 120
    assert "facade" in parts and "total" in parts


async def test_identical_concurrent_reads_make_one_upstream_call(
    admin: httpx.Client, emulator: tuple[str, Any], tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=f"{emulator[0]}/_emulator") as emu:
        await emu.put("faults", json={"latency_ms": 300})
        await _concurrent_reads(emulator[0], tmp_path)


async def _metrics(base: str) -> dict[str, float]:
    async with httpx.AsyncClient() as plain:
        text = (await plain.get(f"{base}/metrics")).text
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line and not line.startswith("#") and "{" not in line
    }


async def _concurrent_reads(upstream: str, tmp_path: Path) -> None:
    # a generous read timeout: a slow (shared, loaded) machine must not turn into retries here
    server, base = make_facade(
        upstream,
        tmp_path,
        cache_enabled=True,
        upstream_read_timeout=10.0,
        request_deadline_seconds=20.0,
    )
    try:
        token = dev_token(base)
        async with httpx.AsyncClient(
            base_url=f"{base}/fhir/r4",
            headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_connections=200),
            timeout=20,
        ) as client:
            await client.get("Patient/a-195900.E-60180")  # warm the upstream token
            before = await _metrics(base)
            responses = await asyncio.gather(
                *(client.get("Patient/a-195900.E-60181") for _ in range(100))
            )
            after = await _metrics(base)
        assert {r.status_code for r in responses} == {200}
        assert len({r.headers["etag"] for r in responses}) == 1

        # Counted by the facade (what it sent), not by the emulator: requests an earlier
        # test's facade left parked in an injected delay can still land there meanwhile.
        def delta(name: str) -> float:
            return after[name] - before[name]

        # one upstream call; the other 99 shared it in flight or (arriving after it, on a
        # loaded machine) found its result in the cache
        assert delta("facade_upstream_calls_total") == 1
        served_without_a_call = delta("facade_singleflight_shared_total") + delta(
            "facade_cache_hits_total"
        )
        assert served_without_a_call == 99
    finally:
        server.stop()


def test_faults_are_deterministic_under_a_seed(
    emulator: tuple[str, Any], admin: httpx.Client
) -> None:
    url, _ = emulator
    plan = {"seed": 11, "rules": [{"kind": "status", "status": 503, "probability": 0.5}]}

    def run() -> list[int]:
        admin.put("faults", json=plan)
        return [httpx.get(f"{url}/fhir/r4/metadata").status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second and 503 in first and 200 in first


def test_failed_revinclude_or_merge_is_an_error_never_a_silent_omission(
    admin: httpx.Client, fhir_client: httpx.Client
) -> None:
    """Issue 5: _revinclude and the Encounter summary merge are real athena calls; when
    they fail the whole answer is an OperationOutcome, not a Bundle missing entries."""
    rule = {"kind": "status", "status": 500, "path": "^/fhir/r4/Provenance"}
    assert admin.post("faults/rules", json=rule).status_code == 201
    plain = fhir_client.get("Encounter", params={"patient": "a-195900.E-60178"})
    assert plain.status_code == 200 and plain.json()["entry"]
    response = fhir_client.get(
        "Encounter", params={"patient": "a-195900.E-60178", "_revinclude": "Provenance:target"}
    )
    assert response.status_code == 502
    assert response.json()["resourceType"] == "OperationOutcome"
    admin.delete("faults")
    encounter = plain.json()["entry"][0]["resource"]["id"]
    rule = {"kind": "status", "status": 500, "path": "/chart/encounters/.*/summary"}
    assert admin.post("faults/rules", json=rule).status_code == 201
    read = fhir_client.get(f"Encounter/{encounter}")
    assert read.status_code in (502, 503)  # 503 once the breaker has opened
    assert read.json()["resourceType"] == "OperationOutcome"
