"""The shared backend on a real PostgreSQL: schema versions applied once when several
hosts start together, and the SQLite spellings the stores use translated."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from facade.cluster.servers import PostgresServer
from facade.store.database import Shared
from facade.store.postgres import translate
from facade.store.sqlite import SqliteAuthStore
from tests.support.postgres import running_postgres

OPEN_ALL = """
import sys
from facade.store.database import Shared
from facade.store.bulk import SqliteBulkJobStore
from facade.store.eligibility import SqliteEligibilityStore
from facade.store.events import EventStore
from facade.store.ledger import SqliteLedger
from facade.store.sqlite import SqliteAuthStore
url = sys.argv[1]
for cls, name in ((SqliteAuthStore, "auth"), (SqliteLedger, "idempotency"),
                  (EventStore, "events"), (SqliteEligibilityStore, "eligibility"),
                  (SqliteBulkJobStore, "bulk")):
    cls(Shared(url, name)).close()
"""


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with running_postgres(tmp_path_factory.mktemp("pg")) as server:
        yield server


def test_hosts_starting_together_apply_each_schema_version_once(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    starts = [
        subprocess.Popen([sys.executable, "-c", OPEN_ALL, postgres.url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for start in starts:
        _out, err = start.communicate(timeout=120)
        assert start.returncode == 0, err.decode()
    with psycopg.connect(postgres.url) as db:
        rows = db.execute(
            "SELECT store, version, count(*) FROM schema_migrations GROUP BY store, version"
            " ORDER BY store"
        ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("auth", 1, 1),
        ("bulk", 1, 1),
        ("eligibility", 1, 1),
        ("events", 1, 1),
        ("idempotency", 1, 1),
    ]


def test_the_sqlite_spellings_are_translated() -> None:
    assert translate("SELECT 1 FROM t WHERE a = ? AND b IS ?") == (
        "SELECT 1 FROM t WHERE a = %s AND b IS NOT DISTINCT FROM %s"
    )
    assert translate("INSERT OR IGNORE INTO t VALUES (?, ?)") == (
        "INSERT INTO t VALUES (%s, %s) ON CONFLICT DO NOTHING"
    )
    assert translate("SELECT '100%' WHERE x LIKE ?") == "SELECT '100%%' WHERE x LIKE %s"


def test_single_use_takes_are_one_step_across_connections(postgres: PostgresServer) -> None:
    from facade.store.base import CodeRecord

    first = SqliteAuthStore(Shared(postgres.url, "auth"))
    second = SqliteAuthStore(Shared(postgres.url, "auth"))
    try:
        first.create_grant("g-take", "c", 4_000_000_000)
        first.put_code("code-take", CodeRecord("g-take", "c", "r", "x", {}, 4_000_000_000))
        taken = [second.take_code("code-take"), first.take_code("code-take")]
        assert [t.used for t in taken if t is not None] == [False, True]
        assert first.remember_assertion("c", "jti-1", 4_000_000_000, 0)
        assert not second.remember_assertion("c", "jti-1", 4_000_000_000, 0)  # a replay
    finally:
        first.close()
        second.close()


def test_the_audit_chain_on_the_shared_database_verifies(postgres: PostgresServer) -> None:
    from facade.audit.chain import verify
    from facade.store.audit import SqliteAuditStore
    from tests.audit.test_audit_chain import KEY, trail

    where = Shared(postgres.url, "audit")
    trail(where, 12)  # type: ignore[arg-type]  # the recorder writes 12 chained records
    store = SqliteAuditStore(where)
    try:
        verdict = verify(store, KEY)
    finally:
        store.close()
    assert not verdict.problems and verdict.records == 12, verdict
