"""The SQL warehouse: an embedded DuckDB file (``duckdb:///path``) or PostgreSQL
(``postgresql://user@host/db``, psycopg 3).

One table per resource type (:mod:`facade.sync.columns`), created on first use and given
new typed columns when they appear (``ADD COLUMN IF NOT EXISTS``); rows are upserted on
``id``. ``sync_state`` holds, per type, the ``_since`` of the next incremental run and the
export in progress (its status URL, and how many lines of each of its files are already
in the tables). Everything a batch writes (rows and state) commits in one transaction,
so an interrupted run never leaves a row without its state or the state ahead of its rows.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from facade.sync.columns import COMMON, Column, Row, SqlType, table_name

STATE = "sync_state"
UPSERT_CHUNK = 200  # rows per INSERT statement


class TargetError(ValueError):
    """A ``--to`` the sync cannot open."""


@dataclass
class TypeState:
    """Where one type stands: ``since`` for the next run; the export it is part of, if any."""

    type: str
    since: str | None = None  # transactionTime of the last export that completed for it
    synced_at: datetime | None = None
    job: str | None = None  # status URL of the export this type is being taken from
    job_since: str | None = None  # the _since that export was started with (None: full)
    files: dict[str, int] = field(default_factory=dict)  # file URL -> lines stored; -1 done
    transaction_time: str | None = None  # the job's, once its manifest is in
    reconciled_at: datetime | None = None  # the last full export that marked deletions

    def clear_job(self) -> None:
        self.job = self.job_since = self.transaction_time = None
        self.files = {}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Warehouse(ABC):
    """The SQL both backends share; each gives its connection and a few spellings."""

    json_type = "JSON"
    types: ClassVar[dict[SqlType, str]] = {
        "text": "VARCHAR",
        "timestamp": "TIMESTAMP",
        "date": "DATE",
        "integer": "BIGINT",
        "boolean": "BOOLEAN",
    }
    placeholder = "?"
    display: str

    def __init__(self) -> None:
        self._ready: set[str] = set()

    # -- the connection, per backend ------------------------------------------------------

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def begin(self) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._execute(self._sql(sql), params)

    # -- schema ------------------------------------------------------------------------

    def setup(self) -> None:
        self.begin()
        self.run(
            f"CREATE TABLE IF NOT EXISTS {STATE} (type VARCHAR PRIMARY KEY, since VARCHAR,"
            " synced_at TIMESTAMP, job VARCHAR, job_since VARCHAR, files VARCHAR,"
            " transaction_time VARCHAR)"
        )
        self.run(f"ALTER TABLE {STATE} ADD COLUMN IF NOT EXISTS reconciled_at TIMESTAMP")
        self.commit()

    def ensure(self, rtype: str, columns: list[Column]) -> str:
        """The type's table, created or given its missing columns; its name."""
        name = table_name(rtype)
        if name in self._ready:
            return name
        t = self.types
        self.begin()
        self.run(
            f"CREATE TABLE IF NOT EXISTS {quote(name)} (id VARCHAR PRIMARY KEY,"
            f" resource {self.json_type} NOT NULL, hash VARCHAR NOT NULL,"
            " deleted BOOLEAN NOT NULL DEFAULT FALSE, deleted_at TIMESTAMP,"
            " synced_at TIMESTAMP NOT NULL, seen VARCHAR)"
        )
        for column, kind in [*COMMON, *((c.name, c.type) for c in columns)]:
            self.run(
                f"ALTER TABLE {quote(name)} ADD COLUMN IF NOT EXISTS {quote(column)} {t[kind]}"
            )
        self.commit()
        self._ready.add(name)
        return name

    # -- rows ----------------------------------------------------------------------------

    def existing(self, table: str, ids: list[str]) -> dict[str, tuple[str, bool]]:
        """``id -> (hash, deleted)`` of the rows among ``ids`` that the table has."""
        found: dict[str, tuple[str, bool]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            for rid, digest, deleted in self.run(
                f"SELECT id, hash, deleted FROM {quote(table)} WHERE id IN ({marks})", chunk
            ):
                found[str(rid)] = (str(digest), bool(deleted))
        return found

    def upsert(self, table: str, rows: list[Row], seen: str | None) -> None:
        """Insert or update ``rows``: one multi-row statement per chunk (executemany is
        one round trip per row in both drivers)."""
        if not rows:
            return
        names = list(rows[0].values)
        columns = ["id", "resource", "hash", "deleted", "deleted_at", "synced_at", "seen", *names]
        marks = (
            "("
            + ", ".join(["?", f"CAST(? AS {self.json_type})", *("?" for _ in columns[2:])])
            + ")"
        )
        updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns[1:])
        now = _now()
        for start in range(0, len(rows), UPSERT_CHUNK):
            chunk = rows[start : start + UPSERT_CHUNK]
            params: list[Any] = []
            for r in chunk:
                params += [
                    r.id,
                    r.body.decode(),
                    r.hash,
                    False,
                    None,
                    now,
                    seen,
                    *r.values.values(),
                ]
            self.run(
                f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)})"
                f" VALUES {', '.join(marks for _ in chunk)}"
                f" ON CONFLICT (id) DO UPDATE SET {updates}",
                params,
            )

    def touch(self, table: str, ids: list[str], seen: str) -> None:
        """Rows a full export listed again unchanged: seen by it (not deleted)."""
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            self.run(f"UPDATE {quote(table)} SET seen = ? WHERE id IN ({marks})", [seen, *chunk])

    def sweep(self, table: str, seen: str) -> int:
        """After a full export: rows it did not list are marked deleted; how many."""
        where = "NOT deleted AND (seen IS NULL OR seen <> ?)"
        gone = self.run(f"SELECT count(*) FROM {quote(table)} WHERE {where}", [seen])
        count = int(gone[0][0])
        if count:
            self.run(
                f"UPDATE {quote(table)} SET deleted = TRUE, deleted_at = ? WHERE {where}",
                [_now(), seen],
            )
        return count

    def count(self, table: str) -> int:
        return int(self.run(f"SELECT count(*) FROM {quote(table)} WHERE NOT deleted")[0][0])

    # -- state ---------------------------------------------------------------------------

    def states(self) -> dict[str, TypeState]:
        found = {}
        for rtype, since, synced_at, job, job_since, files, tt, reconciled in self.run(
            "SELECT type, since, synced_at, job, job_since, files, transaction_time,"
            f" reconciled_at FROM {STATE}"
        ):
            found[str(rtype)] = TypeState(
                str(rtype),
                since,
                synced_at,
                job,
                job_since,
                json.loads(files or "{}"),
                tt,
                reconciled,
            )
        return found

    def save(self, state: TypeState) -> None:
        """Within the caller's transaction."""
        self.run(f"DELETE FROM {STATE} WHERE type = ?", [state.type])
        self.run(
            f"INSERT INTO {STATE} (type, since, synced_at, job, job_since, files,"
            " transaction_time, reconciled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                state.type,
                state.since,
                state.synced_at,
                state.job,
                state.job_since,
                json.dumps(state.files),
                state.transaction_time,
                state.reconciled_at,
            ],
        )

    def save_all(self, states: Iterable[TypeState]) -> None:
        self.begin()
        for state in states:
            self.save(state)
        self.commit()


class DuckDBWarehouse(Warehouse):
    def __init__(self, path: Path) -> None:
        import duckdb

        super().__init__()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.display = f"duckdb://{path}" if path.is_absolute() else f"duckdb:{path}"
        self.con = duckdb.connect(str(path))

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.con.execute(sql, list(params))
        try:
            return list(self.con.fetchall())
        except Exception:  # a statement without a result
            return []

    def begin(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.con.execute("COMMIT")

    def rollback(self) -> None:
        with contextlib.suppress(Exception):  # no transaction open
            self.con.execute("ROLLBACK")

    def close(self) -> None:
        self.con.close()


class PostgresWarehouse(Warehouse):
    json_type = "JSONB"
    types: ClassVar[dict[SqlType, str]] = {
        "text": "TEXT",
        "timestamp": "TIMESTAMP",
        "date": "DATE",
        "integer": "BIGINT",
        "boolean": "BOOLEAN",
    }
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        import psycopg

        super().__init__()
        parsed = psycopg.conninfo.conninfo_to_dict(url)
        self.display = f"postgresql://{parsed.get('host', '')}/{parsed.get('dbname', '')}"
        self.con = psycopg.connect(url, autocommit=False)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.con.cursor() as cur:
            cur.execute(sql, list(params))
            return list(cur.fetchall()) if cur.description is not None else []

    def begin(self) -> None:
        pass  # psycopg opens a transaction with the first statement

    def commit(self) -> None:
        self.con.commit()

    def rollback(self) -> None:
        self.con.rollback()

    def close(self) -> None:
        self.con.close()


def open_warehouse(target: str) -> Warehouse:
    """``duckdb:///abs/path``, ``duckdb://rel/path`` or a bare path: DuckDB;
    ``postgresql://`` / ``postgres://``: PostgreSQL."""
    if target.startswith(("postgresql://", "postgres://")):
        warehouse: Warehouse = PostgresWarehouse(target)
    elif target.startswith("duckdb://"):
        path = target.removeprefix("duckdb://")
        if not path:
            raise TargetError("duckdb:// needs a file: duckdb:///path/to/warehouse.duckdb")
        warehouse = DuckDBWarehouse(Path(path))
    elif "://" in target:
        raise TargetError(f"unknown warehouse {target.split('://')[0]!r}: duckdb or postgresql")
    else:
        warehouse = DuckDBWarehouse(Path(target))
    warehouse.setup()
    return warehouse
