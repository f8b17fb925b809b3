"""The conformance suite against the embedded stack (everything passes) and against a
deliberately broken server (the relevant checks fail)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from conformance import DEFAULT_PATIENTS, Result, Status, run_suite
from conformance.uscore import CHECKS as USCORE_CHECKS
from emulator.server import ServerThread
from facade.cli import main
from tests.conformance.broken_server import PATIENT, create_app
from tests.conftest import dev_token

KEY_CHECKS = [
    "CapabilityStatement",
    "Patient _id search (GET == POST)",
    "Patient identifier search (value and system|value)",
    "Patient name search",
    "Patient birthdate+name search",
    "Patient gender+name search",
    "Patient read",
    "Patient _revinclude=Provenance:target",
    "Encounter patient search (id == Patient/id, GET == POST)",
    "Encounter _id search and read",
    "Encounter date+patient search (gt, ge, lt, le)",
    "Encounter class+patient search (system|code)",
    "Encounter patient+type search (system|code)",
    "Encounter _revinclude=Provenance:target",
    "Encounter reference resolution",
    "Paging via next links",
    "US Core profile validation",
    "Bundles (searchset, absolute fullUrl, search.mode)",
]
# the US Core 6.1 clinical groups (conformance/uscore.py): 39 profiles, Medication,
# Clinical Notes, Missing Data
USCORE = [str(c.__dict__["check_name"]) for c in USCORE_CHECKS]
KEY_CHECKS += USCORE


def _by_name(results: list[Result]) -> dict[str, Result]:
    return {r.name: r for r in results}


@pytest.fixture(scope="module")
def broken_base() -> Iterator[str]:
    server = ServerThread(create_app())
    yield f"{server.start()}/fhir"
    server.stop()


def test_embedded_stack_passes_every_check(facade_url: str) -> None:
    results = run_suite(f"{facade_url}/fhir/r4", dev_token(facade_url), DEFAULT_PATIENTS)
    by_name = _by_name(results)
    assert [r for r in results if r.status is Status.FAILED] == []
    assert sorted(by_name) == sorted(KEY_CHECKS)
    for name in KEY_CHECKS:
        assert by_name[name].status is Status.PASSED, by_name[name]


def test_broken_server_is_detected(broken_base: str) -> None:
    by_name = _by_name(run_suite(broken_base, "any-token", [PATIENT]))
    assert by_name["CapabilityStatement"].status is Status.PASSED
    failed = {name for name, r in by_name.items() if r.status is Status.FAILED}
    assert {
        "Patient _id search (GET == POST)",  # another patient, and POST != GET
        "Encounter date+patient search (gt, ge, lt, le)",  # date ignored
        "Bundles (searchset, absolute fullUrl, search.mode)",  # relative fullUrl
    } <= failed
    assert "someone-else" in by_name["Patient _id search (GET == POST)"].message
    # the clinical groups: wrong matches, another patient's resources, 404s
    bp = by_name["Blood Pressure: search by patient (id == Patient/id, GET == POST)"]
    assert bp.status is Status.FAILED and "does not match code=85354-9" in bp.message
    allergy = by_name["AllergyIntolerance: search by patient (id == Patient/id, GET == POST)"]
    assert allergy.status is Status.FAILED and "does not match patient=p1" in allergy.message
    immunization = by_name["Immunization: search by patient (id == Patient/id, GET == POST)"]
    assert immunization.status is Status.FAILED and "HTTP 404" in immunization.message
    for name in USCORE:
        assert by_name[name].status is not Status.PASSED, name  # nothing conforms there
    # later Patient checks have nothing to derive inputs from: skipped, never passed
    assert by_name["Patient read"].status is Status.SKIPPED


def test_unknown_token_fails_rather_than_crashes(facade_url: str) -> None:
    by_name = _by_name(run_suite(f"{facade_url}/fhir/r4", "not-a-token", DEFAULT_PATIENTS[:1]))
    assert by_name["CapabilityStatement"].status is Status.PASSED  # needs no token
    assert by_name["Patient _id search (GET == POST)"].status is Status.FAILED
    assert "HTTP 401" in by_name["Patient _id search (GET == POST)"].message


def test_cli_with_token_exits_0(facade_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = f"{facade_url}/fhir/r4"
    assert main(["conformance", "--base", base, "--token", dev_token(facade_url)]) == 0
    out = capsys.readouterr().out
    assert f"{len(KEY_CHECKS)} passed, 0 failed, 0 skipped" in out


def test_cli_client_credentials_json(facade_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["conformance", "--base", f"{facade_url}/fhir/r4", "--json"]
    argv += ["--client-id", "local-dev", "--client-secret", "local-dev-secret"]
    argv += ["--patient", DEFAULT_PATIENTS[0], "--patient", DEFAULT_PATIENTS[1]]
    assert main(argv) == 0
    results = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in results} <= {"passed", "skipped"}
    assert results[0] == {
        "name": "CapabilityStatement",
        "status": "passed",
        "message": results[0]["message"],
    }


def test_cli_exits_1_on_a_broken_server(
    broken_base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["conformance", "--base", broken_base, "--token", "t", "--patient", PATIENT]) == 1
    assert "failed" in capsys.readouterr().out
