"""``athena-facade sync`` against the embedded stack: a real emulator, a real facade, a real
Backend Services client (private_key_jwt), a DuckDB file.

A first sync exports everything; changes made inside athena (its own /v1 API: a
cancelled appointment, an edited patient, a booked slot, a deleted patient) are taken by
the next runs and nothing else is; the per-type lines and the summary are what a
non-terminal shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from facade.bulk.plan import level_types
from facade.mapping.loader import load_mappings
from tests.bulk.support import GRANULAR, GRANULAR_SCOPE, Clients
from tests.sync.conftest import athena_calls
from tests.sync.support import Ran, counts, query, run_sync

PRACTICE = "195900"


def _local(fhir_id: str) -> str:
    return fhir_id.rsplit("-", 1)[-1]


def _only_past_the_lead_time_deleted(warehouse: Path, *booked: str) -> None:
    """Free slots the sync marked deleted, other than ``booked``: only those that came
    within athena's 24-hour lead time meanwhile (no longer bookable, so no longer listed)."""
    marks = ",".join("?" for _ in booked) or "''"
    later = query(
        warehouse,
        f"SELECT count(*) FROM slot WHERE deleted AND id NOT IN ({marks})"
        " AND start > now()::TIMESTAMP + INTERVAL 25 HOUR",
        *booked,
    )
    assert later == [(0,)]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warehouse") / "athena.duckdb"


@pytest.fixture(scope="module")
def first(
    fhir_base: str, key_file: Path, warehouse: Path, sync_emulator_app: Any
) -> tuple[Ran, int]:
    before = athena_calls(sync_emulator_app)
    ran = run_sync(fhir_base, key_file, f"duckdb://{warehouse}")
    assert ran.code == 0, ran.err
    return ran, athena_calls(sync_emulator_app) - before


def test_first_sync_copies_every_exportable_type(
    first: tuple[Ran, int], warehouse: Path, fhir_base: str
) -> None:
    ran, _ = first
    # the tables decide, as the command does, among the types this deployment serves
    statement = httpx.get(f"{fhir_base}/metadata").json()
    served = {r["type"] for r in statement["rest"][0]["resource"]}
    # and the client's system/*.rs may read (not AuditEvent: only a scope naming it does)
    types = [t for t in level_types(load_mappings(), "system") if t in served]
    assert "AuditEvent" in types
    types.remove("AuditEvent")
    assert {"Appointment", "Patient", "Encounter", "Slot", "Coverage"} <= set(types)
    lines = ran.lines()
    assert set(lines) == set(types)
    assert all(line["mode"] == "full" for line in lines.values())
    for rtype in types:
        table = rtype.lower()
        total, distinct = query(warehouse, f"SELECT count(*), count(DISTINCT id) FROM {table}")[0]
        assert total == distinct == lines[rtype]["rows"] == lines[rtype]["received"]
    rows = counts(warehouse, ["Patient", "Appointment", "Encounter", "Slot"])
    assert all(n > 0 for n in rows.values()), rows
    state = query(warehouse, "SELECT type, since, job, files FROM sync_state ORDER BY type")
    assert [s[0] for s in state] == sorted(types)
    assert all(s[1] and s[2] is None and s[3] == "{}" for s in state)


def test_rows_carry_typed_columns_for_joins(first: tuple[Ran, int], warehouse: Path) -> None:
    # every booked appointment joins its practitioner, its location and its patient
    joined = query(
        warehouse,
        "SELECT count(*), count(pr.id), count(l.id), count(p.id) FROM appointment a"
        " LEFT JOIN practitioner pr ON pr.id = a.practitioner"
        " LEFT JOIN location l ON l.id = a.location"
        " LEFT JOIN patient p ON p.id = a.patient WHERE a.status = 'booked'",
    )[0]
    assert joined[0] > 0 and joined[0] == joined[1] == joined[2] == joined[3], joined
    patient = query(
        warehouse,
        "SELECT id, practice, patient, gender, family, birthdate,"
        " resource->>'$.gender', resource->>'$.name[0].family' FROM patient LIMIT 1",
    )[0]
    assert patient[1] == patient[0].split(".")[0].removeprefix("a-")
    assert patient[2] == patient[0] and patient[3] == patient[6] and patient[4] == patient[7]
    assert patient[5] is not None
    encounter = query(
        warehouse,
        "SELECT count(*) FROM encounter WHERE patient IS NULL OR period_start IS NULL"
        " OR class IS NULL",
    )[0][0]
    assert encounter == 0
    stamps = query(warehouse, "SELECT count(*) FROM appointment WHERE last_updated IS NULL")
    assert stamps[0][0] == 0  # athena's lastmodified: what _since selects on


def test_non_terminal_output_is_one_line_per_type_and_a_summary(first: tuple[Ran, int]) -> None:
    ran, _ = first
    out = ran.out.splitlines()
    assert out[0].startswith("export started: ") and "(full)" in out[0]
    assert "/bulk/status/" in out[0]
    assert len(ran.lines()) == len([line for line in out if " received, " in line])
    assert any(
        line.startswith("sync to duckdb://") and "calls to the facade" in line for line in out
    )
    header = next(line for line in out if "received" in line and "changed" in line and "┃" in line)
    for column in ("type", "mode", "received", "changed", "deleted", "rows", "seconds", "calls"):
        assert column in header
    assert any(line.split("│")[1].strip() == "total" for line in out if "│" in line)
    assert "\x1b[" not in ran.out  # no terminal control codes in a log


@pytest.fixture(scope="module")
def changed_in_athena(
    first: tuple[Ran, int], warehouse: Path, athena: httpx.Client
) -> dict[str, str]:
    """Inside athena: cancel a booked appointment, rename a patient."""
    appointment, patient = query(
        warehouse,
        "SELECT id, patient FROM appointment WHERE status = 'booked' AND practice = ?"
        # past athena's 24 h lead time, inside the Slot list's default window (7 days)
        " AND start > now()::TIMESTAMP + INTERVAL 2 DAY"
        " AND start < now()::TIMESTAMP + INTERVAL 6 DAY ORDER BY start LIMIT 1",
        PRACTICE,
    )[0]
    cancel = athena.put(
        f"/v1/{PRACTICE}/appointments/{_local(appointment)}/cancel",
        data={"patientid": _local(patient), "cancellationreason": "warehouse test"},
    )
    assert cancel.status_code == 200, cancel.text
    other = query(
        warehouse,
        "SELECT id FROM patient WHERE practice = ? AND id <> ? LIMIT 1",
        PRACTICE,
        patient,
    )[0][0]
    edit = athena.put(f"/v1/{PRACTICE}/patients/{_local(other)}", data={"lastname": "Warehouse"})
    assert edit.status_code == 200, edit.text
    return {"appointment": appointment, "patient": other}


@pytest.fixture(scope="module")
def second(
    changed_in_athena: dict[str, str],
    fhir_base: str,
    key_file: Path,
    warehouse: Path,
    sync_emulator_app: Any,
) -> tuple[Ran, int]:
    before = athena_calls(sync_emulator_app)
    ran = run_sync(fhir_base, key_file, f"duckdb://{warehouse}")
    assert ran.code == 0, ran.err
    return ran, athena_calls(sync_emulator_app) - before


def test_second_sync_takes_only_the_changes(
    first: tuple[Ran, int],
    second: tuple[Ran, int],
    changed_in_athena: dict[str, str],
    warehouse: Path,
) -> None:
    ran, athena_used = second
    lines = ran.lines()
    # the cancelled appointment, the slot the cancel freed, the renamed patient and its
    # Provenance (recorded when the patient last changed); not Schedule, whose
    # planningHorizon.start is now + athena's lead time (to the minute): it moves with the clock
    changed = {t: n for t, n in ran.changed().items() if t != "Schedule"}
    assert changed == {"Appointment": 1, "Slot": 1, "Patient": 1, "Provenance": 1}, ran.out
    assert lines["Patient"]["received"] == 1 and lines["Patient"]["mode"].startswith("since ")
    assert lines["Appointment"]["mode"].startswith("since ")
    assert lines["Slot"]["mode"] == "full"  # athena stamps no slot: listed whole, reconciled
    status = query(
        warehouse,
        "SELECT status, resource->>'$.status', deleted FROM appointment WHERE id = ?",
        changed_in_athena["appointment"],
    )
    assert status == [("cancelled", "cancelled", False)]
    family = query(
        warehouse, "SELECT family FROM patient WHERE id = ?", changed_in_athena["patient"]
    )
    assert family == [("Warehouse",)]
    for rtype, line in lines.items():  # nothing lost, nothing doubled
        more = 1 - line["deleted"] if rtype == "Slot" else 0  # slots past the lead time go
        assert line["rows"] == first[0].lines()[rtype]["rows"] + more
    _only_past_the_lead_time_deleted(warehouse)
    # nothing doubled: one row per athena appointment (ids are the table's key, so a double
    # would be the same athena record under a second id)
    total, distinct = query(
        warehouse,
        "SELECT count(*), count(DISTINCT resource->>'$.identifier[0].value') FROM appointment",
    )[0]
    assert total == distinct
    assert athena_used < first[1]  # far fewer athena calls than the full export


def test_a_booked_slot_is_marked_deleted_and_the_appointment_added(
    second: tuple[Ran, int],
    fhir_base: str,
    key_file: Path,
    warehouse: Path,
    athena: httpx.Client,
) -> None:
    slot, patient = query(
        warehouse,
        "SELECT s.id, (SELECT min(id) FROM patient WHERE practice = ?) FROM slot s"
        " WHERE s.practice = ? AND NOT s.deleted AND s.start > now()::TIMESTAMP + INTERVAL 2 DAY"
        " ORDER BY s.start LIMIT 1",
        PRACTICE,
        PRACTICE,
    )[0]
    booked = athena.put(
        f"/v1/{PRACTICE}/appointments/{_local(slot)}",
        data={"patientid": _local(patient), "appointmenttypeid": "82"},
    )
    assert booked.status_code == 200, booked.text
    ran = run_sync(fhir_base, key_file, f"duckdb://{warehouse}", "--types", "Slot,Appointment")
    assert ran.code == 0, ran.err
    lines = ran.lines()
    assert set(lines) == {"Slot", "Appointment"}
    assert lines["Slot"]["deleted"] >= 1 and lines["Slot"]["changed"] == 0
    assert lines["Appointment"]["changed"] == 1
    assert query(
        warehouse, "SELECT deleted, deleted_at IS NOT NULL FROM slot WHERE id = ?", slot
    ) == [(True, True)]
    _only_past_the_lead_time_deleted(warehouse, slot)
    appointment = query(
        warehouse,
        "SELECT status, patient, slot FROM appointment WHERE id = ?",
        slot.replace(".Slot-", ".Appointment-"),
    )
    assert appointment == [("booked", patient, slot)]


def test_a_reconciling_run_marks_a_deleted_patient(
    second: tuple[Ran, int],
    fhir_base: str,
    key_file: Path,
    warehouse: Path,
    athena: httpx.Client,
) -> None:
    patient = query(
        warehouse,
        "SELECT max(id) FROM patient WHERE practice = ? AND NOT deleted",
        PRACTICE,
    )[0][0]
    gone = athena.put(f"/v1/{PRACTICE}/patients/{_local(patient)}", data={"status": "deleted"})
    assert gone.status_code == 200, gone.text
    target = f"duckdb://{warehouse}"
    # reconciled by the first (full) run, less than an hour ago: still incremental
    incremental = run_sync(
        fhir_base, key_file, target, "--types", "Patient", "--reconcile-every", "1h"
    )
    assert incremental.code == 0 and incremental.lines()["Patient"]["deleted"] == 0
    assert incremental.lines()["Patient"]["mode"].startswith("since ")
    full = run_sync(fhir_base, key_file, target, "--types", "Patient", "--reconcile-every", "1s")
    assert full.code == 0, full.err
    line = full.lines()["Patient"]
    assert line["mode"] == "full" and line["deleted"] == 1 and line["changed"] == 0
    assert query(warehouse, "SELECT deleted FROM patient WHERE id = ?", patient) == [(True,)]


def test_types_narrows_and_an_unknown_type_is_refused(
    fhir_base: str, key_file: Path, tmp_path: Path
) -> None:
    target = f"duckdb://{tmp_path / 'narrow.duckdb'}"
    ran = run_sync(fhir_base, key_file, target, "--types", "Location", "--types", "Organization")
    assert ran.code == 0, ran.err
    assert set(ran.lines()) == {"Location", "Organization"}
    tables = {
        t for (t,) in query(tmp_path / "narrow.duckdb", "SELECT table_name FROM duckdb_tables()")
    }
    assert tables == {"location", "organization", "sync_state"}
    refused = run_sync(fhir_base, key_file, target, "--types", "Basic")
    assert refused.code == 1 and "not exportable here: Basic" in refused.err


def test_progress_bars_end_with_every_type_complete(
    fhir_base: str, key_file: Path, tmp_path: Path
) -> None:
    """``--progress bar`` (what a terminal gets), rendered into a file: its final frame."""
    ran = run_sync(
        fhir_base,
        key_file,
        f"duckdb://{tmp_path / 'bars.duckdb'}",
        "--types",
        "Location,Practitioner",
        "--progress",
        "bar",
    )
    assert ran.code == 0, ran.err
    bars = {line.split()[0]: line for line in ran.out.splitlines() if "━" in line}
    rows = counts(tmp_path / "bars.duckdb", ["Location", "Practitioner"])
    for rtype, n in rows.items():
        assert f"{n}/{n}" in bars[rtype], ran.out
    assert "total" in ran.out and " received, " not in ran.out  # bars, not lines


def test_a_granular_client_gets_only_what_its_scopes_let_it_read(
    fhir_base: str, sync_clients: Clients, tmp_path: Path
) -> None:
    """Rows are what the token may read: its types only, and finished encounters only."""
    key = tmp_path / "granular.jwk.json"
    key.write_text(json.dumps(sync_clients.key(GRANULAR).as_dict(private=True)))
    db = tmp_path / "granular.duckdb"
    args = ["--client-id", GRANULAR, "--key", str(key), "--scope", GRANULAR_SCOPE]
    ran = run_sync(fhir_base, key, f"duckdb://{db}", *args)
    assert ran.code == 0, ran.err
    assert set(ran.lines()) == {"Condition", "Encounter", "Patient"}
    statuses = {s for (s,) in query(db, "SELECT DISTINCT status FROM encounter")}
    assert statuses == {"finished"}
    refused = run_sync(fhir_base, key, f"duckdb://{db}", *args, "--types", "Appointment")
    assert refused.code == 1 and "this client may not read: Appointment" in refused.err
