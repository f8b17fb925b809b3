"""An interrupted sync resumes where it stopped: mid-file (Ctrl-C between two batches), a
process killed while its export runs (the same export is continued), an export the
facade no longer has (only the unfinished types start again); ``--every`` runs on a
schedule and stops cleanly on Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.faults import FaultPlan, FaultRule
from facade.mapping.loader import load_mappings
from facade.settings import Settings
from facade.sync.client import BulkClient, Credentials, load_key
from facade.sync.progress import Reporter, TypeResult
from facade.sync.run import Options, Sync
from facade.sync.warehouse import open_warehouse
from tests.bulk.support import BACKEND, Clients, bearer
from tests.sync.support import Ran, counts, query, run_sync, sync_args

INTERRUPTED = 130


class CtrlC(Reporter):
    """What the user sees, and the user pressing Ctrl-C at the ``after``-th batch of ``type``."""

    def __init__(self, rtype: str, after: int) -> None:
        super().__init__(io.StringIO())
        self.type, self.after, self.batches = rtype, after, 0

    def advance(self, rtype: str, lines: int) -> None:
        if rtype == self.type and lines:
            self.batches += 1
            if self.batches == self.after:
                raise KeyboardInterrupt

    def type_done(self, result: TypeResult) -> None:
        pass


def _states(target: Path) -> dict[str, tuple[Any, ...]]:
    rows = query(target, "SELECT type, since, job, files FROM sync_state")
    return {r[0]: (r[1], r[2], json.loads(r[3])) for r in rows}


def _same_records(target: Path, reference: Path) -> None:
    """The resumed warehouse holds exactly the records of the uninterrupted one (ids are the
    tables' key: a record read twice could only show as a lost or an extra id)."""
    for rtype in COMPARED:
        sql = f"SELECT id FROM {rtype.lower()} WHERE NOT deleted ORDER BY id"
        assert query(target, sql) == query(reference, sql), rtype


@pytest.fixture(scope="module")
def reference(fhir_base: str, key_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted full sync to compare with."""
    path = tmp_path_factory.mktemp("reference") / "reference.duckdb"
    ran = run_sync(fhir_base, key_file, f"duckdb://{path}", "--types", TYPES)
    assert ran.code == 0, ran.err
    return path


TYPES = "Condition,Encounter,Location,Patient"
COMPARED = TYPES.split(",")


def test_ctrl_c_mid_file_resumes_at_the_next_line_of_the_same_export(
    fhir_base: str, key_file: Path, tmp_path: Path, reference: Path
) -> None:
    target = tmp_path / "w.duckdb"
    client = BulkClient(fhir_base, Credentials(BACKEND, key=load_key(key_file)))
    warehouse = open_warehouse(f"duckdb://{target}")
    sync = Sync(
        client,
        warehouse,
        load_mappings(),
        CtrlC("Encounter", 3),
        Options(types=COMPARED, batch=100),
    )
    with pytest.raises(KeyboardInterrupt):
        sync.run_once()
    client.close()
    warehouse.close()
    states = _states(target)
    assert states["Condition"][0] is not None and states["Condition"][1] is None  # done
    since, job, files = states["Encounter"]
    assert since is None and job is not None and files  # three batches stored, with their place
    stored = query(target, "SELECT count(*) FROM encounter")[0][0]
    assert stored == 300
    assert all(states[t][1] == job for t in ("Location", "Patient"))

    ran = run_sync(fhir_base, key_file, f"duckdb://{target}", "--types", TYPES)
    assert ran.code == 0, ran.err
    assert f"export continuing: Encounter, Location, Patient (full) {job}" in ran.out
    lines = ran.lines()
    assert lines["Condition"]["mode"].startswith("since ")  # not exported again in full
    full = counts(reference, COMPARED)
    assert lines["Encounter"]["received"] == full["Encounter"] - stored  # only the rest
    assert counts(target, COMPARED) == full
    _same_records(target, reference)
    assert all(s[1] is None and s[2] == {} for s in _states(target).values())


def test_an_export_the_facade_lost_restarts_only_the_unfinished_types(
    fhir_base: str,
    key_file: Path,
    tmp_path: Path,
    reference: Path,
    sync_facade: Settings,
    sync_clients: Clients,
) -> None:
    target = tmp_path / "w.duckdb"
    _interrupted_types(fhir_base, key_file, target)
    states = _states(target)
    job = states["Encounter"][1]
    assert job and states["Condition"][1] is None and states["Encounter"][2]
    token = sync_clients.token(sync_facade.base_url, BACKEND)
    assert httpx.delete(job, headers=bearer(token)).status_code == 202  # e.g. it expired

    ran = run_sync(fhir_base, key_file, f"duckdb://{target}", "--types", TYPES)
    assert ran.code == 0, ran.err
    assert "export gone, started again: Encounter, Location, Patient" in ran.out
    started = [line for line in ran.out.splitlines() if line.startswith("export started: ")]
    assert any(
        line.startswith("export started: Encounter, Location, Patient (full)") for line in started
    )
    assert all("Condition" not in line or "(since" in line for line in started)
    assert counts(target, COMPARED) == counts(reference, COMPARED)
    _same_records(target, reference)


def _interrupted_types(fhir_base: str, key: Path, target: Path) -> None:
    """Condition stored, Ctrl-C in Encounter's second batch."""
    client = BulkClient(fhir_base, Credentials(BACKEND, key=load_key(key)))
    warehouse = open_warehouse(f"duckdb://{target}")
    try:
        sync = Sync(
            client,
            warehouse,
            load_mappings(),
            CtrlC("Encounter", 2),
            Options(types=COMPARED, batch=100),
        )
        with pytest.raises(KeyboardInterrupt):
            sync.run_once()
    finally:
        client.close()
        warehouse.close()


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "facade.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _read_until(proc: subprocess.Popen[str], prefix: str) -> str:
    """The first stdout line starting with ``prefix`` (the process is killed if it never comes)."""
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(prefix):
                return line.rstrip("\n")
        raise AssertionError(
            f"no {prefix!r} line; stderr: {proc.stderr.read() if proc.stderr else ''}"
        )
    finally:
        watchdog.cancel()


def test_a_killed_sync_continues_the_same_export(
    fhir_base: str, key_file: Path, tmp_path: Path, sync_emulator_app: Any, reference: Path
) -> None:
    target = tmp_path / "w.duckdb"
    faults = sync_emulator_app.state.faults
    faults.set_plan(FaultPlan(bulk_export_seconds=2))  # athena's own export takes a while
    try:
        proc = _start(sync_args(fhir_base, key_file, f"duckdb://{target}", "--types", TYPES))
        line = _read_until(proc, "export started: ")
        proc.kill()  # SIGKILL: no cleanup at all
        proc.communicate(timeout=30)
    finally:
        faults.set_plan(FaultPlan())
    url = line.rsplit(" ", 1)[-1]
    assert all(s[1] == url for s in _states(target).values())
    ran: Ran = run_sync(fhir_base, key_file, f"duckdb://{target}", "--types", TYPES)
    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[0].startswith("export continuing: ")
    assert ran.out.splitlines()[0].endswith(url)
    assert "export started" not in ran.out  # no second export
    assert counts(target, COMPARED) == counts(reference, COMPARED)
    _same_records(target, reference)


def test_every_runs_on_a_schedule_and_stops_cleanly_on_ctrl_c(
    fhir_base: str, key_file: Path, tmp_path: Path
) -> None:
    target = f"duckdb://{tmp_path / 'w.duckdb'}"
    ran = run_sync(
        fhir_base, key_file, target, "--types", "Location", "--every", "1s", "--runs", "2"
    )
    assert ran.code == 0, ran.err
    modes = [
        line.split("(")[1].split(";")[0]
        for line in ran.out.splitlines()
        if line.startswith("Location: ")
    ]
    assert modes[0] == "full" and modes[1].startswith("since ") and len(modes) == 2
    proc = _start(sync_args(fhir_base, key_file, target, "--types", "Location", "--every", "1h"))
    _read_until(proc, "sync to ")  # the first run is done; it now waits for the next
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == INTERRUPTED
    assert "interrupted: what was stored is kept; the next run resumes" in err
    assert "Traceback" not in err


def test_a_partial_export_keeps_since_and_deletes_nothing(
    fhir_base: str, key_file: Path, tmp_path: Path, sync_emulator_app: Any
) -> None:
    """athena refuses one patient's appointments: the facade's export is a partial success
    (an error entry); the sync stores the rest but neither marks that patient's rows deleted
    nor moves ``since`` past what it did not get."""
    target = tmp_path / "w.duckdb"
    first = run_sync(fhir_base, key_file, f"duckdb://{target}", "--types", "Appointment")
    assert first.code == 0, first.err
    before = _states(target)["Appointment"][0]
    theirs = query(target, "SELECT count(*) FROM appointment WHERE patient = 'a-195900.E-60179'")[
        0
    ][0]
    assert theirs > 0
    faults = sync_emulator_app.state.faults
    faults.add_rule(
        FaultRule(kind="status", status=400, path=r"^/v1/195900/patients/60179/appointments")
    )
    try:
        partial = run_sync(
            fhir_base, key_file, f"duckdb://{target}", "--types", "Appointment", "--full"
        )
    finally:
        faults.set_plan(FaultPlan())
    assert partial.code == 0, partial.err
    assert "the export reported problems" in partial.out
    line = partial.lines()["Appointment"]
    assert line["deleted"] == 0 and line["rows"] == first.lines()["Appointment"]["rows"]
    assert line["received"] == line["rows"] - theirs
    assert _states(target)["Appointment"][0] == before  # the same window is asked again
    again = run_sync(fhir_base, key_file, f"duckdb://{target}", "--types", "Appointment")
    assert again.code == 0 and "problems" not in again.out
    assert _states(target)["Appointment"][0] > before
