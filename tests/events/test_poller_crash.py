"""A worker killed mid-poll loses and duplicates nothing.

The first facade runs as a real server process (``athena-facade serve``) on a data
directory; athena (the emulator) hands a change over and marks it processed, but its
answer is held (a ``timeout`` fault with ``commit``), and the process is killed (SIGKILL)
while it waits: the change is consumed upstream and never reached the facade's store. A
second facade on the same data directory takes the feed's lease over once it runs out,
sees the poll that was in flight, re-reads what athena processed since then, and reports
the change once; a change the first process had already reported (inside the re-read
window) is not reported again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import dev_token, facade_settings, free_port, start_facade
from tests.events.conftest import FAST
from tests.events.support import (
    FHIR_JSON,
    PID,
    Receiver,
    events_of,
    subscription,
    wait_status,
)

ARGS = ["--workers", "1", "--server", "uvicorn", "--log-level", "warning"]


def _env(upstream: str, data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "FACADE_ATHENA_BASE_URL": upstream,
        "FACADE_DATA_DIR": str(data_dir),
        "FACADE_UPSTREAM_READ_TIMEOUT": "60",
    }
    for name, value in {**FAST, "events_feeds": ["appointments"]}.items():
        env[f"FACADE_{name.upper()}"] = json.dumps(value) if isinstance(value, list) else str(value)
    return env


@pytest.fixture
def first_facade(
    clinic: tuple[str, Any], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    data_dir = tmp_path / "data"
    port = free_port()
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "facade.cli", "serve", "--port", str(port), *ARGS],
            env=_env(clinic[0], data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/fhir/r4/metadata", timeout=2).status_code == 200:
                break
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the facade did not start within 90 s"
        time.sleep(0.3)
    try:
        yield process, base, data_dir
    finally:
        _kill(process)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process this test started and its children, by their ids."""
    if process.poll() is None:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        pids = [int(p) for p in children.read_text().split()] if children.exists() else []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _booked(world: Any, count: int) -> list[int]:
    from datetime import timedelta

    found = []
    for record in world.schedule.all_appointments(PID):
        if (
            record.status == "f"
            and record.patientid
            and record.date > world.today + timedelta(days=3)
        ):
            found.append(record.appointmentid)
        if len(found) == count:
            return found
    raise AssertionError("not enough booked appointments")


def _poller(data_dir: Path) -> tuple[Any, ...] | None:
    with sqlite3.connect(data_dir / "events.sqlite3") as db:
        row: tuple[Any, ...] | None = db.execute(
            "SELECT owner, inflight_since FROM pollers WHERE practice = ? AND feed = 'appointments'",
            (PID,),
        ).fetchone()
    return row


def _until(check: Any, seconds: float = 45) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_worker_killed_mid_poll_loses_and_duplicates_nothing(
    first_facade: tuple[subprocess.Popen[bytes], str, Path],
    clinic: tuple[str, Any],
    receiver: Receiver,
    admin: httpx.Client,
) -> None:
    process, base, data_dir = first_facade
    world = clinic[1]
    token = dev_token(base, "system/*.cruds")
    headers = {"Authorization": f"Bearer {token}", **FHIR_JSON}
    body = subscription(receiver.base + "/crash", "appointment-cancelled")
    created = httpx.post(f"{base}/fhir/r4/Subscription", json=body, headers=headers)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    with httpx.Client(base_url=f"{base}/fhir/r4", headers=headers) as first:
        wait_status(first, sid, "active")
    early, late = _booked(world, 2)
    _until(lambda: world.changes.status(PID, "appointments")[0] == "ACTIVE")

    # a change the first process reports in full
    assert admin.post(f"athena/{PID}/appointments/{early}/cancel", json={}).status_code == 200
    receiver.wait("/crash", lambda got: len(events_of(got)) == 1)

    # athena hands the next change over, marks it processed, and the answer never arrives
    rule = {
        "kind": "timeout",
        "commit": True,
        "delay_seconds": 120,
        "methods": ["GET"],
        "path": r"/appointments/changed$",
        "count": 1,
    }
    assert admin.post("faults/rules", json=rule).status_code == 201
    assert admin.post(f"athena/{PID}/appointments/{late}/cancel", json={}).status_code == 200
    consumed = [r for r in world.changes.rows if r.record["appointmentid"] == str(late)]
    _until(lambda: consumed and all(r.processed_at is not None for r in consumed))
    owner, inflight = _until(lambda: (_poller(data_dir) or (None, None))[1] and _poller(data_dir))
    assert owner and inflight
    _kill(process)  # mid-poll: athena processed the change, the facade never stored it
    admin.delete("faults")
    assert len(events_of(receiver.at("/crash"))) == 1

    # a second facade on the same data directory takes the feed over
    settings = facade_settings(clinic[0], data_dir, **{**FAST, "events_feeds": ["appointments"]})
    second = start_facade(settings)
    try:
        got = receiver.wait("/crash", lambda got: len(events_of(got)) >= 2)
        time.sleep(2.0)  # several poll intervals: nothing else arrives
        got = events_of(receiver.at("/crash"))
        focuses = [r.focus[0].rsplit("-", 1)[1] for r in got]
        assert sorted(focuses) == sorted([str(early), str(late)])  # each exactly once
        assert _poller(data_dir)[1] is None  # nothing in flight any more
    finally:
        second.stop()
