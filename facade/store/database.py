"""Opening the database the stores share: the embedded SQLite files, or one PostgreSQL.

A store names *where* it lives with a :data:`Location`: a :class:`~pathlib.Path` (the
embedded default, one WAL-mode SQLite file under the data directory) or a :class:`Shared`
(``FACADE_DATABASE_URL``: every host's stores in one PostgreSQL database, README
"Scale-out"). Either way the store gets a connection with the ``sqlite3`` calls it uses
(``execute`` / ``executemany`` / ``executescript`` / ``close``, cursors with ``fetchone``,
``fetchall`` and ``rowcount``) and writes its statements once, in the SQL both run; the
PostgreSQL side (:mod:`facade.store.postgres`) translates the few SQLite spellings.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast


@dataclass(frozen=True)
class Shared:
    """A store in the shared PostgreSQL database: ``name`` keys its schema migrations."""

    url: str
    name: str


Location = Path | Shared


def location(data_dir: Path, name: str, database_url: str | None) -> Location:
    """Where the store ``name`` lives: ``{data_dir}/{name}.sqlite3`` or the shared database."""
    return Shared(database_url, name) if database_url else data_dir / f"{name}.sqlite3"


def open_database(
    where: Location,
    schema: str,
    *,
    synchronous: Literal["NORMAL", "FULL"],
    migrations: Sequence[str] = (),
) -> sqlite3.Connection:
    """A connection with the schema applied (SQLite: WAL-mode, readable by this user only).

    The PostgreSQL connection has the same calls the stores make (typed as sqlite3's).

    ``migrations``: PostgreSQL schema versions after the first (``schema``), applied once,
    in order, under an advisory lock (several hosts may start at once). SQLite files keep
    their own ``CREATE … IF NOT EXISTS`` upgrades.
    """
    if isinstance(where, Shared):
        from facade.store.postgres import PgConnection

        return cast(sqlite3.Connection, PgConnection.open(where, [schema, *migrations]))
    return open_sqlite(where, schema, synchronous=synchronous)


def open_sqlite(
    path: Path, schema: str, *, synchronous: Literal["NORMAL", "FULL"]
) -> sqlite3.Connection:
    """A WAL-mode connection with the schema applied, readable by this user only.

    ``timeout``: wait for a lock another worker process holds instead of failing with
    "database is locked". SQLite does not always call its busy handler for the switch to
    WAL while another process is creating the same file (seen with four ``clients add``
    processes starting at once), so that switch is retried here within the same bound.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
    _use_wal(db, deadline=time.monotonic() + 30.0)
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    path.chmod(0o600)
    return db


def _use_wal(db: sqlite3.Connection, *, deadline: float) -> None:
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
