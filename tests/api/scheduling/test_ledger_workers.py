"""Same-key writes across worker processes, and a worker that dies holding a key.

The facade runs as a real server process, ``athena-facade serve --workers 2`` (uvicorn, two
worker processes sharing the ledger file), in front of this module's clinic emulator; what
athena holds afterwards is read from the emulator itself. A key is claimed in the shared
store, so four concurrent requests with one key, wherever they land, make one booking and
get one answer. A second facade process on the same data directory is killed (SIGKILL)
while athena holds its committed booking's answer: its claim stays until the lease runs
out, then a retry on the first facade takes the key over and resolves it by read-back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.scheduling.ledger_support import (
    BOOK,
    WRITES,
    Slots,
    add_rule,
    booked_for,
    ledger_record,
)
from tests.conftest import dev_token, free_port

SLOTS = Slots()
KINDS = list(WRITES)
ROUNDS = 8  # keys (and slots) per kind, four requests each


@dataclass
class Served:
    """A facade server process: its FHIR base, data directory and token."""

    process: subprocess.Popen[bytes]
    base: str
    data_dir: Path
    token: str
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=f"{self.base}/fhir/r4", headers=headers, **kwargs)

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def workers(self) -> list[int]:
        """The worker processes (uvicorn spawns them; a resource tracker is a child too)."""
        return [pid for pid in self.children() if b"spawn_main" in _cmdline(pid)]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the processes this test started, by their ids: the workers, then the parent."""
        if self.process.poll() is None:
            for pid in self.children():
                with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                    os.kill(pid, sig)
            self.process.send_signal(sig)
        self.process.wait(timeout=30)


def serve(upstream: str, data_dir: Path, workers: int, **env: str) -> Served:
    port = free_port()
    log = data_dir.parent / f"{data_dir.name}-{port}.log"
    environment = {
        **os.environ,
        "FACADE_ATHENA_BASE_URL": upstream,
        "FACADE_DATA_DIR": str(data_dir),
        **{f"FACADE_{k.upper()}": v for k, v in env.items()},
    }
    args = ["serve", "--port", str(port), "--workers", str(workers), "--server", "uvicorn"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "facade.cli", *args, "--log-level", "warning"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/fhir/r4/metadata", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the facade did not start within 90 s"
        time.sleep(0.3)
    return Served(process, base, data_dir, dev_token(base, "system/*.cruds"), log)


@pytest.fixture(scope="module")
def two_workers(
    clinic: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    served = serve(clinic[0], tmp_path_factory.mktemp("workers") / "data", workers=2)
    try:
        deadline = time.monotonic() + 30
        while len(served.workers()) < 2:  # both worker processes are up
            assert time.monotonic() < deadline, served.workers()
            time.sleep(0.2)
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def fhir(two_workers: Served) -> Iterator[httpx.Client]:
    with two_workers.client(timeout=30) as client:
        yield client


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def bytes_read(pid: int) -> int:
    """What a process has read (sockets, the ledger file): grows only while it serves."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


def race(served: Served, kind: str, slot: dict[str, Any], key: str, n: int) -> list[httpx.Response]:
    """``n`` requests with one key at once, each on its own connection (any worker)."""
    write, _ = WRITES[kind]
    barrier = threading.Barrier(n)
    answers: list[httpx.Response | None] = [None] * n

    def one(index: int) -> None:
        with served.client(timeout=30) as client:
            barrier.wait()
            answers[index] = write(client, slot, key)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


@pytest.mark.parametrize("kind", KINDS)
def test_four_same_key_writes_across_two_workers_book_once_and_answer_alike(
    kind: str, two_workers: Served, fhir: httpx.Client, clinic: tuple[str, Any]
) -> None:
    _, ok = WRITES[kind]
    slots = [SLOTS.take(fhir) for _ in range(ROUNDS)]
    clinic[1].reset_call_counts()
    read = {pid: bytes_read(pid) for pid in two_workers.workers()}
    for n, slot in enumerate(slots):
        key = f"race-{kind}-{n}"
        answers = race(two_workers, kind, slot, key, 4)
        assert [a.status_code for a in answers] == [ok] * 4, [a.text for a in answers]
        assert all(a.json() == answers[0].json() for a in answers)
        assert booked_for(clinic[1], slot)
        record = ledger_record(two_workers.data_dir, key)
        assert record is not None and record.state == "done" and record.status == 201
    assert clinic[1].calls("PUT", BOOK) == ROUNDS  # one booking per key reached athena
    served = {pid: bytes_read(pid) - before for pid, before in read.items()}
    assert len(served) == 2 and all(served.values()), served  # both workers took requests


def test_a_killed_workers_key_is_taken_over_after_its_lease_and_read_back(
    two_workers: Served,
    fhir: httpx.Client,
    clinic: tuple[str, Any],
    admin: httpx.Client,
) -> None:
    """athena booked it (its answer held back), then the facade process holding the key is
    killed: nothing released the claim. Retries wait for the lease, take the key over,
    find the booking by reading athena back, and book nothing."""
    doomed = serve(
        clinic[0],
        two_workers.data_dir,  # the same ledger
        workers=1,
        request_deadline_seconds="3",
        idempotency_lease_seconds="6",
    )
    slot, key = SLOTS.take(fhir), "crash-1"
    write, ok = WRITES["book"]
    clinic[1].reset_call_counts()
    add_rule(
        admin,
        kind="timeout",
        commit=True,
        methods=["PUT"],
        path=r"/appointments/\d+$",
        count=1,
        delay_seconds=30,
    )
    lost: list[BaseException] = []

    def doomed_request() -> None:
        with doomed.client(timeout=60) as client:
            try:
                write(client, slot, key)
            except httpx.TransportError as exc:  # the server died under it
                lost.append(exc)

    thread = threading.Thread(target=doomed_request)
    thread.start()
    deadline = time.monotonic() + 10
    while not booked_for(clinic[1], slot):
        assert time.monotonic() < deadline, "athena never got the booking"
        time.sleep(0.005)
    doomed.stop(signal.SIGKILL)
    thread.join()
    assert lost, "the doomed facade answered"
    held = ledger_record(two_workers.data_dir, key)
    assert held is not None and held.state == "pending" and held.attempts == 1
    assert held.owner is not None and held.lease_until is not None
    assert held.lease_until > time.time()  # still held by the dead process

    started = time.time()
    answers = race(two_workers, "book", slot, key, 2)
    assert time.time() >= held.lease_until - 0.1  # nobody took the key before the lease ended
    assert time.time() - started < 15
    assert [a.status_code for a in answers] == [ok, ok], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    entry = answers[0].json()["entry"][0]["resource"]
    assert entry["id"] == slot["id"].replace(".Slot-", ".Appointment-")
    assert clinic[1].calls("PUT", BOOK) == 1  # the killed request's; resolved by read-back
    assert booked_for(clinic[1], slot)
    done = ledger_record(two_workers.data_dir, key)
    assert done is not None and done.state == "done" and done.owner is None
