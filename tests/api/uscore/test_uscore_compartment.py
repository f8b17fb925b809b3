"""A patient-limited token on the US Core clinical types: she sees her own Observations,
notes and their Binary content, and nothing of another patient's, whichever id she puts
in ``patient=``, ``_id``, a read or ``$docref`` (hostile requests, asserted on what the
emulator holds)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth.conftest import bearer
from tests.auth.smart_support import DONNA, ELEANA, exchange, run_flow

Json = dict[str, Any]
TYPES = ["Observation", "DocumentReference", "Condition", "AllergyIntolerance",
         "MedicationRequest", "DiagnosticReport", "Immunization", "Procedure"]  # fmt: skip


def _token(http: httpx.Client, base: str, scope: str, user: str) -> dict[str, str]:
    flow = run_flow(http, base, scope=scope, user=user, patient=ELEANA)
    response = exchange(http, base, flow)
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


def _matches(response: httpx.Response) -> list[Json]:
    """Every match, over all pages (next links followed with the same headers)."""
    found: list[Json] = []
    while True:
        assert response.status_code == 200, response.text
        bundle = response.json()
        found += [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        url = next((lk["url"] for lk in bundle.get("link", []) if lk["relation"] == "next"), None)
        if url is None:
            return found
        auth = {"Authorization": response.request.headers["Authorization"]}
        response = httpx.get(url, headers=auth, timeout=30)


def _subject(resource: Json) -> str:
    ref = resource.get("subject") or resource.get("patient") or resource.get("securityContext")
    return str(ref["reference"])


@pytest.fixture(scope="module")
def tokens(smart_url: str) -> dict[str, dict[str, str]]:
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        return {
            "patient": _token(http, smart_url, "launch/patient patient/*.rs", "patient.demo"),
            "clinician": _token(http, smart_url, "openid fhirUser user/*.rs", "dr.demo"),
        }


@pytest.fixture(scope="module")
def theirs(
    smart_url: str, tokens: dict[str, dict[str, str]], emulator_world: Any
) -> dict[str, list[Json]]:
    """Eleana's records (another patient), as the clinician sees them and the emulator holds them."""
    out: dict[str, list[Json]] = {}
    with httpx.Client(timeout=30) as http:
        for rtype in TYPES:
            found = _matches(http.get(f"{smart_url}/fhir/r4/{rtype}", params={"patient": ELEANA},
                                      headers=tokens["clinician"]))  # fmt: skip
            held = [
                r
                for r in emulator_world.clinical.all(rtype, "195900")
                if _subject(r) == f"Patient/{ELEANA}"
            ]
            assert found and held and {r["id"] for r in held} <= {r["id"] for r in found}
            out[rtype] = found
    return out


@pytest.mark.parametrize("rtype", TYPES)
def test_patient_sees_only_her_own(
    rtype: str, smart_url: str, http: httpx.Client, tokens: dict[str, dict[str, str]],
    theirs: dict[str, list[Json]],
) -> None:  # fmt: skip
    fhir, patient = f"{smart_url}/fhir/r4", tokens["patient"]
    mine = _matches(http.get(f"{fhir}/{rtype}", params={"patient": DONNA}, headers=patient))
    assert mine and {_subject(r) for r in mine} == {f"Patient/{DONNA}"}
    # a search without patient is pinned to hers
    pinned = _matches(http.get(f"{fhir}/{rtype}", headers=patient))
    assert {r["id"] for r in pinned} == {r["id"] for r in mine}
    other = theirs[rtype][0]["id"]
    # hostile: her token, another patient's id in patient=, Patient/ form, _id and a read
    for params in ({"patient": ELEANA}, {"patient": f"Patient/{ELEANA}"}, {"_id": other},
                   {"patient": f"{DONNA},{ELEANA}", "_id": other}):  # fmt: skip
        response = http.get(f"{fhir}/{rtype}", params=params, headers=patient)
        assert response.status_code in (200, 403), response.text
        if response.status_code == 200:
            assert [r for r in _matches(response) if _subject(r) != f"Patient/{DONNA}"] == []
    assert http.get(f"{fhir}/{rtype}/{other}", headers=patient).status_code == 404
    assert http.get(f"{fhir}/{rtype}/{mine[0]['id']}", headers=patient).status_code == 200


def test_binary_content_and_docref_stay_in_her_compartment(
    smart_url: str, http: httpx.Client, tokens: dict[str, dict[str, str]],
    theirs: dict[str, list[Json]], emulator_world: Any,
) -> None:  # fmt: skip
    fhir, patient = f"{smart_url}/fhir/r4", tokens["patient"]
    mine = _matches(
        http.get(f"{fhir}/DocumentReference", params={"patient": DONNA}, headers=patient)
    )
    own_url = next(
        c["attachment"]["url"] for d in mine for c in d["content"] if "url" in c["attachment"]
    )
    own = http.get(f"{fhir}/{own_url}", headers=patient)
    assert (
        own.status_code == 200 and own.json()["securityContext"]["reference"] == f"Patient/{DONNA}"
    )
    their_url = next(
        c["attachment"]["url"] for d in theirs["DocumentReference"] for c in d["content"] if "url" in c["attachment"]
    )  # fmt: skip
    held = emulator_world.clinical.binaries[their_url.split("/", 1)[1]]
    assert held["securityContext"]["reference"] == f"Patient/{ELEANA}"  # it exists upstream
    leaked = http.get(f"{fhir}/{their_url}", headers=patient)
    assert leaked.status_code == 404 and held["data"] not in leaked.text
    assert http.get(f"{fhir}/{their_url}", headers=tokens["clinician"]).status_code == 200
    # $docref names another patient: nothing of hers... or his
    for params in ({"patient": ELEANA}, {"patient": f"Patient/{ELEANA}"}):
        response = http.get(f"{fhir}/DocumentReference/$docref", params=params, headers=patient)
        assert response.status_code in (200, 403), response.text
        if response.status_code == 200:
            assert _matches(response) == []
    own_docref = _matches(
        http.get(f"{fhir}/DocumentReference/$docref", params={"patient": DONNA}, headers=patient)
    )
    assert {d["id"] for d in own_docref} == {d["id"] for d in mine}


def test_revinclude_and_include_carry_nothing_of_another_patient(
    smart_url: str, http: httpx.Client, tokens: dict[str, dict[str, str]]
) -> None:
    fhir, patient = f"{smart_url}/fhir/r4", tokens["patient"]
    bundle = http.get(
        f"{fhir}/MedicationRequest",
        params=[("patient", ELEANA), ("_revinclude", "Provenance:target"),
                ("_include", "MedicationRequest:medication")],
        headers=patient,
    )  # fmt: skip
    assert bundle.status_code in (200, 403)
    if bundle.status_code == 200:
        assert bundle.json().get("entry", []) == []
    own = http.get(
        f"{fhir}/MedicationRequest",
        params=[("patient", DONNA), ("_revinclude", "Provenance:target"),
                ("_include", "MedicationRequest:medication")],
        headers=patient,
    ).json()  # fmt: skip
    kinds = {
        e["resource"]["resourceType"] for e in own["entry"] if e["search"]["mode"] == "include"
    }
    assert kinds == {"Provenance", "Medication"}  # Medication is shared reference data
