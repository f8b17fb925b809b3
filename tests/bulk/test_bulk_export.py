"""Bulk Data Access 2.0.0, the way Inferno's bulk data kit and ONC g10 drive it, over real HTTP
with a real SMART Backend Services token (private_key_jwt).

EVENTS-BULK-MCP-SCALE §3.3-3.4: CapabilityStatement, no-auth kick-off, kick-off (202 +
Content-Location), polling (202 + X-Progress + Retry-After), the manifest's keys, NDJSON
downloads (content type, one type per file, every line valid against the profile it
claims, at least two patients), ``_outputFormat`` (three spellings, each then DELETEd),
``_since``, ``_type``, ``_typeFilter``, cancel (202, then 404 + OperationOutcome), files
need a token (401) of the same client (404 for another one), unsupported parameters.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from emulator.faults import FaultPlan, FaultRule
from facade.auth.scopes import ScopeSet
from facade.auth.tokens import TokenIssuer
from facade.bulk.plan import level_types
from facade.engine.runtime import derive, load_checked_mappings, signing_key
from tests.bulk.support import (
    BACKEND,
    GRANULAR,
    OTHER,
    Clients,
    Json,
    bearer,
    download,
    export,
    kick_off,
    poll,
    resources,
)
from tests.support.profiles import ProfileValidator, _base_errors

GROUP = "a-1.c-195900"
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _outcome(response: httpx.Response, status: int) -> Json:
    assert response.status_code == status, response.text
    body: Json = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


@pytest.fixture(scope="module")
def group_export(
    bulk_emulator_app: Any, fhir_base: str, token: str
) -> tuple[httpx.Response, list[httpx.Response], Json]:
    """One Group export as Inferno runs it: the kick-off, every poll, the manifest."""
    faults = bulk_emulator_app.state.faults
    faults.set_plan(FaultPlan(bulk_export_seconds=1.5))  # athena's own export takes a moment
    polls: list[httpx.Response] = []
    try:
        with httpx.Client(timeout=30) as http:
            started = kick_off(http, fhir_base, token, f"Group/{GROUP}/$export")
            assert started.status_code == 202, started.text
            url = started.headers["content-location"]
            while True:
                response = http.get(url, headers={"Accept": "application/json", **bearer(token)})
                polls.append(response)
                if response.status_code != 202:
                    break
                assert len(polls) < 300
                time.sleep(0.2)
    finally:
        faults.set_plan(FaultPlan())
    manifest: Json = polls[-1].json()
    return started, polls, manifest


@pytest.fixture(scope="module")
def exported(group_export: Any, token: str) -> dict[str, list[Json]]:
    with httpx.Client(timeout=30) as http:
        return resources(http, group_export[2], token)


# -- capability and discovery ----------------------------------------------------------------


def test_metadata_declares_the_export_operations(http: httpx.Client, fhir_base: str) -> None:
    statement = http.get(f"{fhir_base}/metadata").json()
    assert (
        "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data|2.0.0"
        in statement["instantiates"]
    )
    rest = statement["rest"][0]
    definitions = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"
    assert {"name": "export", "definition": f"{definitions}/export"}.items() <= rest["operation"][
        0
    ].items()
    by_type = {r["type"]: r for r in rest["resource"]}
    assert by_type["Patient"]["operation"][-1]["definition"] == f"{definitions}/patient-export"
    group = by_type["Group"]
    assert group["operation"][0]["name"] == "export"
    assert group["operation"][0]["definition"] == f"{definitions}/group-export"
    assert {i["code"] for i in group["interaction"]} == {"read", "search-type"}


def test_groups_one_per_practice(http: httpx.Client, fhir_base: str, token: str) -> None:
    bundle = http.get(f"{fhir_base}/Group", headers=bearer(token)).json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    groups = [e["resource"] for e in bundle["entry"]]
    assert {g["id"] for g in groups} == {"a-1.c-195900", "a-1.c-195901"}  # athena's group ids
    for group in groups:
        assert _base_errors(group) == []
        assert group["type"] == "person" and group["actual"] is True
    read = http.get(f"{fhir_base}/Group/{GROUP}", headers=bearer(token))
    assert read.status_code == 200 and read.json()["id"] == GROUP
    only = http.get(f"{fhir_base}/Group", params={"_id": GROUP}, headers=bearer(token)).json()
    assert [e["resource"]["id"] for e in only["entry"]] == [GROUP]
    _outcome(http.get(f"{fhir_base}/Group/a-1.c-999999", headers=bearer(token)), 404)
    _outcome(http.get(f"{fhir_base}/Group/a-1.c-999999/$export", headers=bearer(token)), 404)


def test_kickoff_and_status_need_a_token(http: httpx.Client, fhir_base: str) -> None:
    for path in (f"Group/{GROUP}/$export", "Patient/$export", "$export", "Group"):
        response = http.get(f"{fhir_base}/{path}", headers={"Prefer": "respond-async"})
        _outcome(response, 401)
    _outcome(http.get(f"{fhir_base}/bulk/status/abc"), 401)
    _outcome(http.delete(f"{fhir_base}/bulk/status/abc"), 401)


# -- kick-off, status, manifest --------------------------------------------------------------


def test_kickoff_answers_202_with_an_absolute_status_url(group_export: Any) -> None:
    started, _, _ = group_export
    assert started.status_code == 202
    assert started.headers["content-location"].startswith("http://")
    assert started.json()["resourceType"] == "OperationOutcome"


def test_polling_reports_progress_then_the_manifest(group_export: Any) -> None:
    _, polls, _ = group_export
    assert polls[0].status_code == 202  # athena's export takes 1.5 s
    for response in polls[:-1]:
        assert response.status_code == 202
        assert 0 < len(response.headers["x-progress"]) < 100
        assert int(response.headers["retry-after"]) >= 1
    done = polls[-1]
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("application/json")
    assert "expires" in done.headers


def test_manifest_has_every_key(group_export: Any, bulk_base: str) -> None:
    _, _, manifest = group_export
    for key in ("transactionTime", "request", "requiresAccessToken", "output", "error"):
        assert key in manifest
    assert INSTANT.match(manifest["transactionTime"])
    assert manifest["request"] == f"{bulk_base}/fhir/r4/Group/{GROUP}/$export"
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    for item in manifest["output"]:
        assert set(item) == {"type", "url", "count"}
        assert item["url"].startswith(f"{bulk_base}/fhir/r4/bulk/files/")
        assert item["count"] > 0


def test_exports_every_type_the_tables_offer(group_export: Any) -> None:
    """Types come from the mapping tables (patient compartment + shared reference data)."""
    offered = level_types(load_checked_mappings(), "group")
    assert {"Patient", "Encounter", "Condition", "Provenance", "Appointment"} <= set(offered)
    assert "Slot" not in offered  # practice-wide data, system level only
    exported_types = {item["type"] for item in group_export[2]["output"]}
    assert exported_types <= set(offered)
    # the job had one part per offered type (a type without records has no file)
    progress = [
        p.headers["x-progress"]
        for p in group_export[1]
        if "parts" in p.headers.get("x-progress", "")
    ]
    assert progress and all(p.split(" ")[0].split("/")[1] == str(len(offered)) for p in progress)
    with_records = {
        t for t in offered if t not in ("CoverageEligibilityRequest", "CoverageEligibilityResponse")
    }
    assert exported_types == with_records  # nobody asked for an eligibility check here
    assert {"Claim", "ClaimResponse"} <= exported_types  # the sandbox's seeded claims


def test_every_line_is_valid_against_the_profile_it_claims(
    exported: dict[str, list[Json]], validator: ProfileValidator
) -> None:
    failures: dict[str, list[str]] = {}
    for rtype, found in exported.items():
        for resource in found:
            profiles = resource.get("meta", {}).get("profile")
            errors = validator.validate(resource) if profiles else _base_errors(resource)
            if errors:
                failures[f"{rtype}/{resource['id']}"] = errors
    assert failures == {}
    us_core = {r for r, found in exported.items() if found[0].get("meta", {}).get("profile")}
    assert {"Patient", "Encounter", "Condition", "Provenance", "Practitioner"} <= us_core
    assert {"Organization", "Location", "PractitionerRole"} <= us_core


def test_at_least_two_patients_and_only_the_groups_practice(
    exported: dict[str, list[Json]],
) -> None:
    patients = {p["id"] for p in exported["Patient"]}
    assert len(patients) >= 2 and "a-195900.E-60178" in patients
    assert all(p.startswith("a-195900.") for p in patients)
    for encounter in exported["Encounter"]:
        assert encounter["subject"]["reference"].removeprefix("Patient/") in patients
    keys = [(r["resourceType"], r["id"]) for found in exported.values() for r in found]
    assert len(keys) == len(set(keys))  # no duplicates


def test_files_stream_ndjson_and_need_the_same_client(
    http: httpx.Client, group_export: Any, token: str, clients: Clients, bulk_base: str
) -> None:
    url = group_export[2]["output"][0]["url"]
    response = http.get(url, headers={"Accept": "application/fhir+ndjson", **bearer(token)})
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    assert response.text.endswith("\n") and "\n\n" not in response.text
    _outcome(http.get(url), 401)  # requiresAccessToken: true
    other = clients.token(bulk_base, OTHER)
    _outcome(http.get(url, headers=bearer(other)), 404)  # another client
    status = group_export[0].headers["content-location"]
    _outcome(http.get(status, headers=bearer(other)), 404)
    _outcome(http.delete(status, headers=bearer(other)), 404)
    # a new token of the same client is fine (backend tokens live 5 minutes)
    assert http.get(url, headers=bearer(clients.token(bulk_base, BACKEND))).status_code == 200
    _outcome(http.get(url + "x", headers=bearer(token)), 404)


# -- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["application/fhir+ndjson", "application/ndjson", "ndjson"])
def test_output_formats_are_accepted_then_cancelled(
    http: httpx.Client, fhir_base: str, token: str, fmt: str
) -> None:
    started = kick_off(http, fhir_base, token, params={"_outputFormat": fmt})
    assert started.status_code == 202, started.text
    status = started.headers["content-location"]
    cancelled = http.delete(status, headers=bearer(token))
    assert cancelled.status_code == 202
    _outcome(http.get(status, headers=bearer(token)), 404)
    _outcome(http.delete(status, headers=bearer(token)), 404)


def test_bad_output_format_and_since(http: httpx.Client, fhir_base: str, token: str) -> None:
    _outcome(kick_off(http, fhir_base, token, params={"_outputFormat": "text/csv"}), 400)
    _outcome(kick_off(http, fhir_base, token, params={"_since": "yesterday"}), 400)
    _outcome(kick_off(http, fhir_base, token, params={"_type": "Nonsense"}), 400)
    _outcome(kick_off(http, fhir_base, token, params={"_type": "Slot"}), 400)  # not a group type


def test_unsupported_parameters_are_refused_or_ignored_when_lenient(
    http: httpx.Client, fhir_base: str, token: str
) -> None:
    for params in ({"_elements": "id"}, {"includeAssociatedData": "LatestProvenanceResources"}):
        body = _outcome(kick_off(http, fhir_base, token, params=params), 400)
        assert body["issue"][0]["code"] == "not-supported"
    # patient is a POST-only parameter
    _outcome(kick_off(http, fhir_base, token, params={"patient": "Patient/a-195900.E-60178"}), 400)
    lenient = kick_off(
        http,
        fhir_base,
        token,
        params={"_elements": "id", "_type": "Patient"},
        headers={"Prefer": "respond-async, handling=lenient"},
    )
    assert lenient.status_code == 202, lenient.text
    warnings = [i for i in lenient.json()["issue"] if i["severity"] == "warning"]
    assert warnings and "_elements" in warnings[0]["diagnostics"]
    manifest = poll(http, lenient.headers["content-location"], token).json()
    assert {o["type"] for o in manifest["output"]} == {"Patient"}


def test_type_narrows_the_export(http: httpx.Client, fhir_base: str, token: str) -> None:
    manifest = export(http, fhir_base, token, params={"_type": "Patient,Encounter"})
    assert {o["type"] for o in manifest["output"]} == {"Patient", "Encounter"}
    repeated = export(http, fhir_base, token, params=[("_type", "Patient"), ("_type", "Location")])
    assert {o["type"] for o in repeated["output"]} == {"Patient", "Location"}


def test_since_exports_only_what_changed(
    http: httpx.Client,
    fhir_base: str,
    token: str,
    bulk_emulator_app: Any,
    exported: dict[str, list[Json]],
) -> None:
    """meta.lastUpdated after _since; a change made inside athena is in the next export."""
    first = export(http, fhir_base, token, params={"_type": "Patient,Encounter"})
    time.sleep(1.1)  # athena's stamps have whole seconds
    world = bulk_emulator_app.state.emulator
    record = world.patient("195900", 60180)
    world.update_patient(record, {"email": "changed@example.com"})
    later = export(
        http,
        fhir_base,
        token,
        params={"_type": "Patient,Encounter", "_since": first["transactionTime"]},
    )
    found = resources(http, later, token)
    assert [p["id"] for p in found["Patient"]] == ["a-195900.E-60180"]
    since = first["transactionTime"]
    assert all(e["meta"]["lastUpdated"] > since for e in found.get("Encounter", []))
    assert len(found.get("Encounter", [])) == sum(
        e["meta"]["lastUpdated"] > since for e in exported["Encounter"]
    )
    # a bound in the middle: every resource exported is newer, none newer is missing
    stamps = sorted(p["meta"]["lastUpdated"] for p in exported["Patient"])
    middle = stamps[len(stamps) // 2]
    half = resources(
        http, export(http, fhir_base, token, params={"_type": "Patient", "_since": middle}), token
    )["Patient"]
    assert {p["id"] for p in half} >= {
        p["id"] for p in exported["Patient"] if p["meta"]["lastUpdated"] > middle
    }
    assert all(p["meta"]["lastUpdated"] > middle for p in half)


def test_type_filter_uses_search_syntax(
    http: httpx.Client, fhir_base: str, token: str, exported: dict[str, list[Json]]
) -> None:
    params = [
        ("_type", "Patient,Encounter,Appointment"),
        ("_typeFilter", "Encounter?status=finished"),
        ("_typeFilter", "Patient?gender=female"),
        ("_typeFilter", "Appointment?status=cancelled"),
    ]
    found = resources(http, export(http, fhir_base, token, params=params), token)
    assert found["Patient"] and all(p["gender"] == "female" for p in found["Patient"])
    assert len(found["Patient"]) == sum(p["gender"] == "female" for p in exported["Patient"])
    assert {e["status"] for e in found["Encounter"]} == {"finished"}
    assert len(found["Encounter"]) == sum(e["status"] == "finished" for e in exported["Encounter"])
    assert {a["status"] for a in found["Appointment"]} == {"cancelled"}
    # two filters of one type are ORed, without duplicates
    either = [
        ("_type", "Patient"),
        ("_typeFilter", "Patient?gender=female,Patient?gender=male"),
    ]
    both = resources(http, export(http, fhir_base, token, params=either), token)["Patient"]
    assert sorted(p["id"] for p in both) == sorted(
        p["id"] for p in exported["Patient"] if p["gender"] in ("female", "male")
    )
    for bad in ("Encounter?foo=bar", "Encounter?_include=Encounter:patient", "status=x"):
        _outcome(kick_off(http, fhir_base, token, params={"_typeFilter": bad}), 400)
    _outcome(
        kick_off(
            http,
            fhir_base,
            token,
            params={"_type": "Patient", "_typeFilter": "Encounter?status=finished"},
        ),
        400,
    )  # a filter for a type that is not exported


def test_post_kickoff_with_parameters_and_patient(
    http: httpx.Client, fhir_base: str, token: str
) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient,Encounter,Appointment"},
            {"name": "patient", "valueReference": {"reference": "Patient/a-195900.E-60178"}},
            {"name": "patient", "valueReference": {"reference": "Patient/a-195900.E-60181"}},
        ],
    }
    found = resources(http, export(http, fhir_base, token, "Patient/$export", body=body), token)
    assert sorted(p["id"] for p in found["Patient"]) == ["a-195900.E-60178", "a-195900.E-60181"]
    subjects = {e["subject"]["reference"] for e in found["Encounter"]}
    assert subjects == {"Patient/a-195900.E-60178", "Patient/a-195900.E-60181"}
    for appointment in found["Appointment"]:
        actors = {p["actor"]["reference"] for p in appointment["participant"]}
        assert actors & subjects


def test_patient_and_system_level_cover_every_practice(
    http: httpx.Client, fhir_base: str, token: str
) -> None:
    patients = resources(
        http, export(http, fhir_base, token, "Patient/$export", params={"_type": "Patient"}), token
    )["Patient"]
    assert {p["id"].split(".")[0] for p in patients} == {"a-195900", "a-195901"}
    system = export(http, fhir_base, token, "$export", params={"_type": "Slot,Schedule"})
    assert {o["type"] for o in system["output"]} == {"Slot", "Schedule"}
    assert len(system["output"]) >= 3  # one file per practice and type


# -- authorization ---------------------------------------------------------------------------


def test_granular_scopes_apply_to_every_exported_resource(
    http: httpx.Client, fhir_base: str, bulk_base: str, clients: Clients
) -> None:
    token = clients.token(bulk_base, GRANULAR)  # system/Encounter.rs?status=finished, ...
    manifest = export(http, fhir_base, token)
    assert {o["type"] for o in manifest["output"]} == {"Patient", "Encounter", "Condition"}
    found = resources(http, manifest, token)
    assert found["Encounter"] and {e["status"] for e in found["Encounter"]} == {"finished"}
    _outcome(kick_off(http, fhir_base, token, params={"_type": "Appointment"}), 403)


def test_only_backend_services_tokens_export(
    http: httpx.Client, fhir_base: str, facade: Any
) -> None:
    issuer = TokenIssuer(
        derive(signing_key(facade), "access-token"),
        issuer=facade.base_url,
        audience=facade.fhir_base,
        ttl_seconds=300,
    )
    user = issuer.issue(
        "some-app",
        ScopeSet.parse("user/*.rs"),
        ("195900",),
        fhir_user="Practitioner/a-195900.Provider-1",
    )
    _outcome(kick_off(http, fhir_base, user), 403)
    patient = issuer.issue(
        "some-app",
        ScopeSet.parse("patient/*.rs system/*.rs"),
        ("195900",),
        patient="a-195900.E-60178",
    )
    _outcome(kick_off(http, fhir_base, patient), 403)


def test_concurrent_exports_are_bounded_per_client(
    http: httpx.Client, fhir_base: str, token: str, bulk_base: str, clients: Clients, faults: Any
) -> None:
    faults.set_plan(FaultPlan(bulk_export_seconds=60))  # athena's export keeps the jobs running
    first = kick_off(http, fhir_base, token, params={"_type": "Patient"})
    second = kick_off(http, fhir_base, token, params={"_type": "Patient"})
    assert first.status_code == second.status_code == 202
    third = kick_off(http, fhir_base, token, params={"_type": "Patient"})
    body = _outcome(third, 429)
    assert body["issue"][0]["code"] == "throttled" and int(third.headers["retry-after"]) > 0
    other = kick_off(http, fhir_base, clients.token(bulk_base, OTHER), params={"_type": "Patient"})
    assert other.status_code == 202  # the limit is per client
    assert http.delete(first.headers["content-location"], headers=bearer(token)).status_code == 202
    again = kick_off(http, fhir_base, token, params={"_type": "Patient"})
    assert again.status_code == 202  # a cancelled job does not count
    other_token = clients.token(bulk_base, OTHER)
    for started, owner in ((second, token), (again, token), (other, other_token)):
        assert (
            http.delete(started.headers["content-location"], headers=bearer(owner)).status_code
            == 202
        )
    faults.set_plan(FaultPlan())
    # a finished job does not count either
    export(http, fhir_base, token, params={"_type": "Patient"})
    export(http, fhir_base, token, params={"_type": "Patient"})
    export(http, fhir_base, token, params={"_type": "Patient"})


def test_delete_removes_a_finished_exports_files(
    http: httpx.Client, fhir_base: str, token: str, facade: Any
) -> None:
    started = kick_off(http, fhir_base, token, params={"_type": "Patient"})
    status = started.headers["content-location"]
    manifest = poll(http, status, token).json()
    url = manifest["output"][0]["url"]
    assert http.get(url, headers=bearer(token)).status_code == 200
    assert http.delete(status, headers=bearer(token)).status_code == 202
    _outcome(http.get(status, headers=bearer(token)), 404)
    _outcome(http.get(url, headers=bearer(token)), 404)
    job = status.rsplit("/", 1)[-1]
    assert not (facade.bulk_path / job).exists()


def test_errors_are_listed_and_the_export_still_completes(
    http: httpx.Client, fhir_base: str, token: str, faults: Any
) -> None:
    """One patient's search keeps failing: an OperationOutcome in ``error``, a 200 anyway."""
    faults.add_rule(
        FaultRule(kind="status", status=400, path=r"^/v1/195900/patients/60179/appointments")
    )
    manifest = export(http, fhir_base, token, params={"_type": "Appointment"})
    assert manifest["output"] and manifest["error"][0]["type"] == "OperationOutcome"
    lines = download(http, manifest["error"][0]["url"], token)
    assert any("a-195900.E-60179" in i["diagnostics"] for o in lines for i in o["issue"])


def test_athenas_export_is_used_and_paging_takes_over_when_it_fails(
    http: httpx.Client,
    fhir_base: str,
    token: str,
    bulk_emulator_app: Any,
    faults: Any,
) -> None:
    """The native path (athena's Group export) and the facade's own paging export the same
    records; where both go through athena's FHIR rendering, the same resources."""
    exports = bulk_emulator_app.state.bulk_exports
    exported = resources(http, export(http, fhir_base, token), token)  # native, as of now
    before = exports.kickoffs
    faults.set_plan(FaultPlan(bulk_export_failure="athena could not export"))
    paged = resources(http, export(http, fhir_base, token), token)
    assert exports.kickoffs == before + 1  # athena was asked, failed, and paging took over
    assert set(paged) == set(exported)
    for rtype, found in exported.items():
        native_ids = {r["id"] for r in found}
        if rtype == "Organization":  # athena's export also has the practice Organization,
            native_ids.discard("a-1.Practice-195900")  # which the department list lacks
        assert sorted(r["id"] for r in paged[rtype]) == sorted(native_ids), rtype
    for rtype in ("Encounter", "Condition", "Provenance"):  # FHIR searches per patient
        assert sorted(paged[rtype], key=lambda r: r["id"]) == sorted(
            exported[rtype], key=lambda r: r["id"]
        )
    # a status endpoint that keeps failing (5xx without a verdict) is given up as well
    faults.set_plan(FaultPlan())
    faults.add_rule(FaultRule(kind="status", status=503, path=r"^/fhir/r4/bulk/status/"))
    retried = export(http, fhir_base, token, params={"_type": "Patient"})
    assert retried["error"] == [] and retried["output"][0]["count"] == len(exported["Patient"])
