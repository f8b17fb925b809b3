"""The hash chain: ``athena-facade audit verify`` names an edited and a deleted record; retention
pruning keeps the chain verifiable; the write-behind recorder loses nothing on shutdown."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from facade.audit.events import Interaction
from facade.audit.recorder import AuditRecorder
from facade.audit.runtime import chain_key, prune
from facade.settings import Settings
from facade.store.audit import SqliteAuditStore
from tests.conftest import dev_token, facade_settings, start_facade

ATHENA_FACADE = str(Path(sys.executable).with_name("athena-facade"))
KEY = chain_key(b"k" * 32)


def read(at: float, n: int) -> Interaction:
    return Interaction(
        at=at,
        method="GET",
        path=f"/Patient/a-195900.E-{n}",
        query=b"",
        status=200,
        request_id=f"r-{n}",
        address="127.0.0.1",
        location=None,
    )


def trail(path: Path, count: int, *, start: float | None = None, capacity: int = 100) -> None:
    recorder = AuditRecorder(
        SqliteAuditStore(path), KEY, default_practice="195900", capacity=capacity
    )
    at = start if start is not None else time.time()
    for n in range(1, count + 1):
        recorder.interaction(read(at + n, n))
    recorder.close()


def verify_cli(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACADE_")}
    env["FACADE_DATA_DIR"] = str(data_dir)
    env["FACADE_SIGNING_SECRET"] = "k" * 32  # chain_key(b"k" * 32), as the trail was written
    return subprocess.run(
        [ATHENA_FACADE, "audit", "verify"], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    trail(tmp_path / "audit.sqlite3", 12)
    return tmp_path


def test_an_intact_chain_verifies(data_dir: Path) -> None:
    result = verify_cli(data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "12 records (records 1-12)" in result.stdout and "OK: the chain verifies" in result.stdout
    )


def test_an_edited_record_is_named(data_dir: Path) -> None:
    db = sqlite3.connect(data_dir / "audit.sqlite3")
    db.execute("UPDATE audit SET patient = 'a-195900.E-99' WHERE seq = 5")
    db.commit()
    db.close()
    result = verify_cli(data_dir)
    assert result.returncode == 1
    assert "TAMPERED record 5: altered" in result.stdout, result.stdout
    assert "record 6" not in result.stdout  # only the edited record is named


def test_an_edit_that_rehashes_the_record_is_still_caught(data_dir: Path) -> None:
    """Recomputing a plain SHA-256 does not help: the chain is keyed (HMAC), and the next
    record's ``prev`` still names the old hash."""
    import hashlib

    db = sqlite3.connect(data_dir / "audit.sqlite3")
    db.execute(
        "UPDATE audit SET facts = replace(facts, '\"status\":200', '\"status\":404'), hash = ?"
        " WHERE seq = 3",
        (hashlib.sha256(b"forged").hexdigest(),),
    )
    db.commit()
    db.close()
    result = verify_cli(data_dir)
    assert result.returncode == 1
    assert "record 3: altered" in result.stdout
    assert "record 4: does not follow record 3" in result.stdout


def test_a_deleted_record_is_named(data_dir: Path) -> None:
    db = sqlite3.connect(data_dir / "audit.sqlite3")
    db.execute("DELETE FROM audit WHERE seq = 7")
    db.commit()
    db.close()
    result = verify_cli(data_dir)
    assert result.returncode == 1
    assert "TAMPERED record 7 deleted" in result.stdout, result.stdout


def test_deleting_the_newest_records_is_caught(data_dir: Path) -> None:
    db = sqlite3.connect(data_dir / "audit.sqlite3")
    db.execute("DELETE FROM audit WHERE seq >= 11")
    db.commit()
    db.close()
    result = verify_cli(data_dir)
    assert result.returncode == 1
    assert "records 11-12 deleted (the chain head is record 12)" in result.stdout, result.stdout


def test_pruning_keeps_the_chain_verifiable(tmp_path: Path) -> None:
    day = 86400
    old = time.time() - 40 * day
    trail(tmp_path / "audit.sqlite3", 5, start=old)  # 40 days ago
    trail(tmp_path / "audit.sqlite3", 3)  # now: chained after them
    settings = Settings(data_dir=tmp_path, audit_retention_days=30)
    assert prune(settings) == 5
    store = SqliteAuditStore(tmp_path / "audit.sqlite3")
    assert [r.seq for r in store.scan()] == [6, 7, 8] and store.anchor() is not None
    store.close()
    result = verify_cli(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "anchored after record 5 (pruned)" in result.stdout
    # deleting the oldest remaining record after a prune is still caught
    db = sqlite3.connect(tmp_path / "audit.sqlite3")
    db.execute("DELETE FROM audit WHERE seq = 6")
    db.commit()
    db.close()
    assert "record 6 deleted" in verify_cli(tmp_path).stdout


def test_a_full_queue_writes_synchronously_and_loses_nothing(tmp_path: Path) -> None:
    recorder = AuditRecorder(
        SqliteAuditStore(tmp_path / "audit.sqlite3"), KEY, default_practice="195900", capacity=1
    )
    for n in range(1, 201):
        recorder.interaction(read(time.time(), n))
    recorder.close()
    store = SqliteAuditStore(tmp_path / "audit.sqlite3")
    ids = sorted(int(r.patient.rsplit("-", 1)[1]) for r in store.scan())
    store.close()
    assert ids == list(range(1, 201))
    assert recorder.written == 200 and recorder.dropped == 0


def test_every_request_is_recorded_by_a_clean_shutdown(
    emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = tmp_path_factory.mktemp("audit-shutdown")
    settings = facade_settings(emulator_url, data_dir)
    server = start_facade(settings)
    token = dev_token(settings.base_url)
    headers = {"Authorization": f"Bearer {token}"}

    def one(n: int) -> str:
        response = httpx.get(
            f"{settings.fhir_base}/Patient/a-195900.E-{60000 + n}", headers=headers, timeout=30
        )
        return response.headers["x-request-id"]

    with ThreadPoolExecutor(8) as pool:
        sent = set(pool.map(one, range(300)))
    server.stop()  # the lifespan's shutdown drains the recorder
    store = SqliteAuditStore(data_dir / "audit.sqlite3")
    kinds = [(r.kind, r.facts) for r in store.scan()]
    store.close()
    recorded = {
        rid
        for kind, text in kinds
        if kind == "read"
        for rid in sent
        if f'"request_id":"{rid}"' in text
    }
    assert len(sent) == 300 and recorded == sent


def test_writers_of_several_processes_share_one_chain(tmp_path: Path) -> None:
    """Each worker process has its own connection and writer; SQLite's write lock orders
    their batches on the chain (here: four connections writing at once)."""
    path = tmp_path / "audit.sqlite3"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: trail(path, 50, capacity=5), range(4)))
    store = SqliteAuditStore(path)
    try:
        assert [r.seq for r in store.scan()] == list(range(1, 201))
    finally:
        store.close()
    result = verify_cli(tmp_path)
    assert result.returncode == 0 and "200 records" in result.stdout, result.stdout
