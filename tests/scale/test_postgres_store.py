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


def test_the_audit_store_upgrades_and_appends_searches_and_prunes_on_postgres(
    postgres: PostgresServer,
) -> None:
    """A trail created by the first schema (an index on ``recorded``) is migrated (index
    dropped); multi-row inserts, the ``patient=`` search and the binary-searched prune run
    on PostgreSQL as on SQLite."""
    import time

    from facade.audit.chain import hasher, verify
    from facade.audit.context import Note, note_patient
    from facade.audit.events import instant, interaction_rows
    from facade.store.audit import ROWS_PER_INSERT, SCHEMA, SqliteAuditStore
    from facade.store.postgres import PgConnection
    from tests.audit.test_audit_chain import KEY, read

    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE audit_upgrade")
    where = Shared(postgres.url.rsplit("/", 1)[0] + "/audit_upgrade", "audit")
    first = SCHEMA.replace(
        "DROP INDEX IF EXISTS audit_recorded;",
        "CREATE INDEX IF NOT EXISTS audit_recorded ON audit (recorded);",
    )
    PgConnection.open(where, [first]).close()  # a deployment from before
    store = SqliteAuditStore(where)
    try:
        with psycopg.connect(where.url) as db:
            names = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes")}
        assert "audit_patient" in names and "audit_recorded" not in names
        old, now, count, cut = time.time() - 40 * 86400, time.time(), ROWS_PER_INSERT + 50, 60
        rows = []
        for n in range(1, count + 1):
            note = Note()
            for patient in ("a-1.E-1", f"a-1.E-{n}"):
                note_patient(note, patient)
            item = read(old + n if n <= cut else now + n, n)._replace(
                path="/Encounter", query=b"date=ge2025", patients=tuple(note.patients)
            )
            rows += interaction_rows(item, "1")
        assert store.append(rows, hasher(KEY)) == count
        assert [r.seq for r in store.page("1", {"patient": "a-1.E-7"}, 0, 10)] == [7]
        assert len(store.page("1", {"patient": "a-1.E-1"}, 0, 500)) == count
        assert store.prune(instant(now - 86400)) == cut
        assert store.anchor() is not None and store.anchor()[0] == cut  # type: ignore[index]
        verdict = verify(store, KEY)
        assert verdict.ok and verdict.records == count - cut, verdict.problems
    finally:
        store.close()
