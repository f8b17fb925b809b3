"""Golden mapping cases: mappings/cases/<name>.athena.json -> <name>.fhir.json.

Each input names its table, source (``rest`` or ``fhir`` surface) and practice;
``merge`` (optional) maps a second source's record into the result, as a read
route's ``merge`` does (e.g. the /v1 chart summary into ``Encounter.text``).
Expected files change only through ``pytest --update-golden``. Every expected
file is valid FHIR R4 (fhir.resources R4B) and conforms to its US Core profile
(6.1.0 and 3.1.1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from facade.mapping.convert import merge_fhir, to_athena, to_fhir
from facade.mapping.loader import Mappings, load_mappings
from tests.support.profiles import ProfileValidator, _base_errors

CASES = Path(__file__).resolve().parents[2] / "mappings" / "cases"
INPUTS = sorted(CASES.glob("*.athena.json"))


@pytest.fixture(scope="module")
def mappings() -> Mappings:
    return load_mappings()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _convert(mappings: Mappings, case: dict[str, Any]) -> dict[str, Any]:
    table = mappings.tables[case["table"]]
    resource = to_fhir(case["record"], table, case["source"], case["practice"], mappings.codes)
    for source, record in case.get("merge", {}).items():
        resource = merge_fhir(resource, record, table, source, case["practice"], mappings.codes)
    return resource


def test_there_are_cases_for_both_surfaces() -> None:
    sources = {_load(p)["source"] for p in INPUTS}
    assert {"rest", "fhir"} <= sources


@pytest.mark.golden
@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name.removesuffix(".athena.json"))
def test_golden(
    path: Path,
    mappings: Mappings,
    validator: ProfileValidator,
    request: pytest.FixtureRequest,
) -> None:
    case = _load(path)
    actual = _convert(mappings, case)
    expected_path = path.with_name(path.name.replace(".athena.json", ".fhir.json"))
    if request.config.getoption("--update-golden"):
        expected_path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    expected = _load(expected_path)
    assert actual == expected
    table = mappings.tables[case["table"]]
    profile = table.profile
    # a table of several profiles (Observation): the one the resource declares
    declared = [p for p in expected.get("meta", {}).get("profile", []) if p in table.profiles]
    for version in table.profile_versions:
        for each in declared or [profile]:
            validator.assert_valid(expected, f"{each}|{version}")
    if profile is None:  # a base resource (Appointment, Slot, Schedule): valid R4
        assert _base_errors(expected) == []
    _check_scheduling(expected)
    _check_eligibility(expected)
    _check_claims(expected)


def _check_claims(resource: dict[str, Any]) -> None:
    """What the facade promises of every ClaimResponse (README "Claims"): its request,
    patient, insurer; a denial's CARC; a payment that is the benefit total."""
    if resource["resourceType"] == "Claim":
        for item in resource["item"]:
            assert 1 <= len(item["diagnosisSequence"]) <= 4
        return
    if resource["resourceType"] != "ClaimResponse":
        return
    for key in ("request", "patient", "insurer", "created", "outcome", "disposition"):
        assert resource.get(key), key
    carc = "https://x12.org/codes/claim-adjustment-reason-codes"
    if resource["outcome"] == "error":
        assert resource["error"] and all(
            e["code"]["coding"][0]["system"] == carc for e in resource["error"]
        )
    if resource["outcome"] == "queued":
        assert "payment" not in resource and "item" not in resource
    else:
        totals = {
            t["category"]["coding"][0]["code"]: t["amount"]["value"] for t in resource["total"]
        }
        assert resource["payment"]["amount"]["value"] == totals["benefit"]
        assert round(totals["benefit"] + totals["memberliability"], 2) <= totals["eligible"] + 0.01


def _check_eligibility(resource: dict[str, Any]) -> None:
    """ces-1 (CoverageEligibilityResponse.insurance.item: category xor productOrService) and
    what the facade promises of every response (README "Eligibility")."""
    if resource["resourceType"] != "CoverageEligibilityResponse":
        return
    for key in ("request", "patient", "insurer", "created", "outcome", "disposition"):
        assert resource.get(key), key
    for insurance in resource.get("insurance", []):
        assert insurance["coverage"]["reference"].startswith("Coverage/a-")
        if resource["outcome"] in ("complete", "partial"):
            assert isinstance(insurance.get("inforce"), bool)
        for item in insurance.get("item", []):
            assert ("category" in item) != ("productOrService" in item), "ces-1"
    if resource["outcome"] == "error" and resource.get("insurance"):
        assert resource.get("error"), "a payer's rejection carries its error codes"


def _check_scheduling(resource: dict[str, Any]) -> None:
    """What Argonaut / IHE ITI Scheduling clients rely on (US-CORE-NOTES §4.1)."""
    if resource["resourceType"] == "Appointment":
        assert resource["status"] and resource["start"] and resource["end"]
        assert all(p["status"] and p["actor"]["reference"] for p in resource["participant"])
        kinds = [p["actor"]["reference"].split("/")[0] for p in resource["participant"]]
        assert kinds == ["Patient", "Practitioner", "Location"]
    if resource["resourceType"] == "Slot":
        assert resource["status"] in {"free", "busy", "busy-unavailable"}
        assert resource["start"] < resource["end"]
        assert resource["schedule"]["reference"].startswith("Schedule/a-")
    if resource["resourceType"] == "Schedule":
        kinds = [a["reference"].split("/")[0] for a in resource["actor"]]
        assert kinds == ["Practitioner", "Location"] and resource["planningHorizon"]["end"]
        # the Schedule id is the one Slot.schedule uses: {providerid}-{departmentid}
        provider, department = (a["reference"].rsplit("-", 1)[1] for a in resource["actor"])
        assert resource["id"].endswith(f".Schedule-{provider}-{department}")


@pytest.mark.parametrize(
    "path",
    [p for p in INPUTS if ".rest." in p.name],
    ids=lambda p: p.name.removesuffix(".athena.json"),
)
def test_write_direction_round_trips(path: Path, mappings: Mappings) -> None:
    """to_athena(to_fhir(record)) gives back every writable field athena sent (but those a
    case lists as ``not_written``, with its ``note`` saying why: e.g. a self-held policy's
    holder fields, which the Coverage carries as the Patient and a resolver fills back)."""
    case = _load(path)
    table = mappings.tables[case["table"]]
    resource = _convert(mappings, case)
    written = to_athena(resource, table, case["source"], case["practice"], mappings.codes)
    record = case["record"]
    writable = {
        f.athena if isinstance(f.athena, str) else f.athena[0]
        for f in table.sources[case["source"]].fields
        if f.direction != "read"
    }
    for name in writable - set(case.get("not_written", [])):
        if record.get(name) not in (None, "", []):
            assert name in written, name
            assert written[name] == record[name], name


def test_every_source_of_every_table_has_a_case(mappings: Mappings) -> None:
    covered = {(c["table"], c["source"]) for c in map(_load, INPUTS)}
    covered |= {(c["table"], s) for c in map(_load, INPUTS) for s in c.get("merge", {})}
    for name, table in mappings.tables.items():
        for source in table.sources:
            assert (name, source) in covered, (name, source)
