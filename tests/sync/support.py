"""Running ``athena-facade sync`` against the test facade, and reading the warehouse."""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from facade.cli import main
from tests.bulk.support import BACKEND

LINE = re.compile(
    r"^(?P<type>\w+): (?P<received>\d+) received, (?P<changed>\d+) changed,"
    r" (?P<deleted>\d+) deleted, (?P<rows>\d+) rows \((?P<mode>full|since \S+);"
    r" [\d.]+ s, \d+/s, (?P<calls>\d+) calls\)$"
)


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def lines(self) -> dict[str, dict[str, Any]]:
        """The per-type lines, parsed (the non-terminal progress output)."""
        found = {}
        for line in self.out.splitlines():
            match = LINE.match(line)
            if match:
                values: dict[str, Any] = match.groupdict()
                for key in ("received", "changed", "deleted", "rows", "calls"):
                    values[key] = int(values[key])
                found[values["type"]] = values
        return found

    def changed(self) -> dict[str, int]:
        return {t: v["changed"] for t, v in self.lines().items() if v["changed"]}


def sync_args(fhir_base: str, key: Path, target: str, *extra: str) -> list[str]:
    return [
        "sync",
        "--base",
        fhir_base,
        "--client-id",
        BACKEND,
        "--key",
        str(key),
        "--to",
        target,
        "--progress",
        "lines",
        *extra,
    ]


def run_sync(fhir_base: str, key: Path, target: str, *extra: str) -> Ran:
    """The command in this process, as a user runs it (its output not a terminal)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(sync_args(fhir_base, key, target, *extra))
    return Ran(code, out.getvalue(), err.getvalue())


def query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return list(con.execute(sql, list(params)).fetchall())
    finally:
        con.close()


def counts(path: Path, types: list[str]) -> dict[str, int]:
    return {
        t: int(query(path, f"SELECT count(*) FROM {t.lower()} WHERE NOT deleted")[0][0])
        for t in types
    }
