"""API drift: the recorded contracts, ``athena-facade drift`` and the run-time check.

The emulator is told to drift (emulator/faults.py ``drift`` rules: a field dropped,
renamed or retyped on a route, an error body changed) so that the command passes
against athena as recorded and fails naming the field against a drifting one, and the
facade counts the violations in ``/metrics``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from facade.drift import contract
from facade.drift.derive import derive
from facade.drift.run import run
from facade.mapping.loader import load_mappings
from facade.settings import Settings
from tests.conftest import dev_token, facade_settings, start_facade


@pytest.fixture(scope="module")
def athena() -> Iterator[str]:
    """An emulator of its own: its fault rules disturb no other test."""
    app = create_emulator(
        EmulatorConfig(api_requests_per_second=100_000, token_requests_per_minute=10_000)
    )
    server = ServerThread(app)
    yield server.start()
    server.stop()


@pytest.fixture
def faults(athena: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{athena}/_emulator") as admin:
        admin.delete("/faults").raise_for_status()
        yield admin
        admin.delete("/faults").raise_for_status()


def _drift(admin: httpx.Client, **rule: Any) -> None:
    admin.post("/faults/rules", json={"kind": "drift", **rule}).raise_for_status()


def _run(athena: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    settings = Settings(environment="embedded", athena_base_url=athena, data_dir=tmp_path)
    code = run(settings)
    return code, capsys.readouterr().out


def test_the_contracts_are_current_with_the_tables() -> None:
    """contracts/athena.json names exactly the routes, fields read and fields written the
    tables use (regenerate with ``athena-facade drift --record`` after changing a table)."""
    needs = derive(load_mappings())
    recorded = contract.load()
    assert sorted(recorded["routes"]) == sorted(needs.routes)
    for key, use in needs.routes.items():
        entry = recorded["routes"][key]
        assert entry["used_by"] == sorted(use.used_by), key
        assert entry["records"] == use.records, key
        assert sorted(entry.get("reads", {})) == sorted(use.reads), key
        assert entry.get("writes", []) == sorted(use.writes), key
        assert entry.get("required_writes", []) == sorted(use.required_writes), key
    for kind, usage in needs.fhir_types.items():
        served = recorded["fhir"]["types"][kind]
        assert served["interactions"] == sorted(usage.interactions)
        assert served["search_params"] == sorted(usage.search_params - {"ah-practice"})
    # most fields a table reads were seen in the recording (their types are known); the
    # rest are optional fields the seeded records leave empty (claims' remittance before
    # adjudication, Condition notes, ...)
    read = sum(len(entry.get("reads", {})) for entry in recorded["routes"].values())
    routes = recorded["routes"]

    def seen_by_search(key: str, name: str) -> bool:
        """A read (one record) whose type's search saw the field (US Core clinical types)."""
        search = routes.get(key.removesuffix("/{id}")) if key.endswith("/{id}") else None
        return bool(search and search.get("reads", {}).get(name, {}).get("types"))

    unseen = [
        (key, name)
        for key, entry in routes.items()
        for name, spec in entry.get("reads", {}).items()
        if not spec["types"] and not seen_by_search(key, name)
    ]
    assert len(unseen) <= read // 4, unseen


def test_drift_passes_against_athena_as_recorded(
    athena: str, faults: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(athena, tmp_path, capsys)
    assert code == 0, out
    assert out.rstrip().endswith("no breaking changes")
    assert "ok       rest GET /patients  [100 records]" in out
    assert "BREAKING" not in out


def test_a_dropped_field_is_breaking_and_named(
    athena: str, faults: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _drift(faults, path=r"^/v1/\d+/patients$", methods=["GET"], field="lastname")
    code, out = _run(athena, tmp_path, capsys)
    assert code == 1, out
    assert "BREAKING rest GET /patients" in out
    assert "! removed lastname: in no record of 100 (was in every one)" in out
    assert "1 breaking change(s): lastname (rest GET /patients)" in out


def test_a_renamed_fhir_element_is_removed_plus_added(
    athena: str, faults: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _drift(
        faults,
        path=r"^/fhir/r4/Patient/",
        field="birthDate",
        drift="rename",
        rename_to="dateOfBirth",
    )
    code, out = _run(athena, tmp_path, capsys)
    assert code == 1, out
    assert "BREAKING fhir GET /Patient/{id}" in out
    assert "! removed birthDate" in out
    assert "- added dateOfBirth: sent by athena, read by no table" in out
    assert "ok       fhir GET /Patient  [" in out  # the search route did not drift


def test_a_retyped_field_is_breaking(
    athena: str, faults: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _drift(faults, path=r"^/v1/\d+/providers$", field="providerid", drift="retype")
    code, out = _run(athena, tmp_path, capsys)
    assert code == 1, out
    assert (
        "! retyped providerid: integer -> string" in out
    )  # athena sends providerid as a number there


def test_a_changed_error_shape_is_breaking(
    athena: str, faults: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _drift(
        faults,
        path=r"^/v1/\d+/patients/999999999$",
        field="error",
        drift="rename",
        rename_to="message",
    )
    code, out = _run(athena, tmp_path, capsys)
    assert code == 1, out
    assert "BREAKING errors" in out
    assert "! error rest 404 error: string -> absent" in out
    assert "- error rest 404 message: absent -> string" in out


def test_an_unreachable_athena_cannot_be_probed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert run(Settings(environment="embedded", athena_base_url=url, data_dir=tmp_path)) == 2
    assert f"drift: could not probe athena at {url}: ConnectError" in capsys.readouterr().err


def _violations(metrics: str) -> dict[str, float]:
    prefix = "facade_athena_contract_violations_total{"
    return {
        line.split("{", 1)[1].rsplit("}", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(prefix)
    }


def test_the_facade_counts_contract_violations_and_logs_each_once(
    athena: str,
    faults: httpx.Client,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = facade_settings(athena, tmp_path)
    server = start_facade(settings)
    try:
        base = settings.base_url
        headers = {"Authorization": f"Bearer {dev_token(base)}"}
        assert _violations(httpx.get(f"{base}/metrics").text) == {}
        search = {"ah-department": "Organization/a-195900.Department-1", "_count": "5"}
        with caplog.at_level(logging.WARNING, logger="facade.drift"):
            _drift(faults, path=r"^/v1/\d+/patients$", methods=["GET"], field="lastname")
            for _ in range(2):
                httpx.get(f"{base}/fhir/r4/Patient", params=search, headers=headers, timeout=30)
            faults.delete("/faults").raise_for_status()
            _drift(faults, path=r"^/v1/\d+/patients$", methods=["GET"], field="dob", drift="retype")
            httpx.get(f"{base}/fhir/r4/Patient", params=search, headers=headers, timeout=30)
            faults.delete("/faults").raise_for_status()
            _drift(
                faults,
                path=r"/appointments/999999999$",
                field="error",
                drift="rename",
                rename_to="message",
            )
            missing = httpx.get(
                f"{base}/fhir/r4/Appointment/a-195900.Appointment-999999999",
                headers=headers,
                timeout=30,
            )
            assert missing.status_code == 404  # still answered as not found
        seen = _violations(httpx.get(f"{base}/metrics").text)
        lastname = 'route="rest GET /patients",field="lastname",kind="missing"'
        dob = 'route="rest GET /patients",field="dob",kind="retyped"'
        error = 'route="rest GET /appointments/{id}",field="error",kind="error-shape"'
        assert set(seen) == {lastname, dob, error}, seen
        assert seen[lastname] >= 2 and seen[dob] >= 1  # counted per answer (and record)
        logged = [r for r in caplog.records if r.name == "facade.drift"]
        assert sorted(r.fields["field"] for r in logged) == ["dob", "error", "lastname"]  # once
        assert {r.fields["route"] for r in logged} == {
            "rest GET /patients",
            "rest GET /appointments/{id}",
        }
    finally:
        server.stop()


def test_the_cli_probes_the_embedded_emulator_by_default(tmp_path: Path) -> None:
    from tests.ops.support import cli

    result = cli(["drift", "--json"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["breaking"] == 0
    probed = {r["route"]: r["records"] for r in report["routes"]}
    assert probed["rest GET /patients"] == 100 and probed["fhir GET /Patient/{id}"] == 1
    assert probed["rest POST /patients"] is None  # writes are never probed


def test_a_field_athena_leaves_out_now_and_then_is_not_drift_but_a_removed_one_is() -> None:
    """The run-time check counts ``missing`` only after MISSING_STREAK records in a row
    without a field the contract saw in every record (a patient without a phone is data)."""
    from facade.drift.monitor import MISSING_STREAK, ContractMonitor

    contract = {
        "routes": {
            "fhir GET /Patient/{id}": {
                "records": "resource",
                "reads": {"telecom": {"types": ["array"], "required": True}},
            }
        }
    }
    monitor = ContractMonitor(contract)
    with_phone, without = {"telecom": [{"value": "x"}]}, {"id": "1"}
    for body in [with_phone, without, with_phone, without, without, with_phone] * 20:
        monitor.observe("fhir", "GET", "/Patient/{id}", 200, body)
    assert monitor.violations == {}  # never MISSING_STREAK records in a row without it
    for _ in range(MISSING_STREAK + 4):  # athena stopped sending it
        monitor.observe("fhir", "GET", "/Patient/{id}", 200, without)
    assert monitor.violations == {("fhir GET /Patient/{id}", "telecom", "missing"): 5}
