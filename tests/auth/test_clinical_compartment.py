"""SMART on the clinical tables: patient compartments for Encounter, Condition and
Provenance; shared reference data (Practitioner, Location, Organization); the clinician's
fhirUser resolves."""

from __future__ import annotations

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.auth.conftest import bearer
from tests.auth.smart_support import DONNA, ELEANA, exchange, run_flow

CLINICIAN = "Practitioner/a-195900.Provider-23"


def _login(http: httpx.Client, base: str, scope: str, user: str) -> dict[str, str]:
    flow = run_flow(http, base, scope=scope, user=user, patient=ELEANA)
    response = exchange(http, base, flow)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def _matches(response: httpx.Response) -> list[dict[str, object]]:
    assert response.status_code == 200, response.text
    return [
        e["resource"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"
    ]


def test_patient_token_sees_only_its_own_clinical_records(
    smart_url: str, http: httpx.Client
) -> None:
    fhir = f"{smart_url}/fhir/r4"
    clinician = bearer(
        _login(http, smart_url, "openid fhirUser user/*.rs", "dr.demo")["access_token"]
    )
    theirs = _matches(http.get(f"{fhir}/Encounter", params={"patient": ELEANA}, headers=clinician))
    their_dx = _matches(
        http.get(f"{fhir}/Condition", params={"patient": ELEANA}, headers=clinician)
    )
    assert theirs and their_dx
    patient = bearer(
        _login(http, smart_url, "launch/patient patient/*.rs", "patient.demo")["access_token"]
    )
    # another patient's Encounter / Condition: 404, as if it did not exist
    assert http.get(f"{fhir}/Encounter/{theirs[0]['id']}", headers=patient).status_code == 404
    assert http.get(f"{fhir}/Condition/{their_dx[0]['id']}", headers=patient).status_code == 404
    # searches are pinned to the patient in context, whatever the request names
    mine = _matches(http.get(f"{fhir}/Encounter", params={"patient": DONNA}, headers=patient))
    assert mine and {e["subject"]["reference"] for e in mine} == {f"Patient/{DONNA}"}  # type: ignore[index]
    assert (
        _matches(http.get(f"{fhir}/Encounter", params={"patient": ELEANA}, headers=patient)) == []
    )
    assert (
        _matches(http.get(f"{fhir}/Encounter", params={"_id": theirs[0]["id"]}, headers=patient))
        == []
    )
    assert http.get(f"{fhir}/Encounter/{mine[0]['id']}", headers=patient).status_code == 200
    # revinclude brings the Provenance of its own encounters; includes resolve shared data
    bundle = http.get(
        f"{fhir}/Encounter",
        params=[
            ("patient", DONNA),
            ("_revinclude", "Provenance:target"),
            ("_include", "Encounter:practitioner"),
            ("_include", "Encounter:location"),
        ],
        headers=patient,
    ).json()
    included = {
        e["resource"]["resourceType"] for e in bundle["entry"] if e["search"]["mode"] == "include"
    }
    assert included == {"Provenance", "Practitioner", "Location"}
    for path in (CLINICIAN, "Location/a-195900.Department-1", "Organization/a-1.Practice-195900"):
        assert http.get(f"{fhir}/{path}", headers=patient).status_code == 200, path
    own_provenance = f"{fhir}/Provenance/a-195900.Provenance-Patient-60178"
    assert http.get(own_provenance, headers=patient).status_code == 200
    other_provenance = f"{fhir}/Provenance/a-195900.Provenance-Patient-60179"
    assert http.get(other_provenance, headers=patient).status_code == 404


def test_clinician_fhir_user_is_a_readable_practitioner(smart_url: str, http: httpx.Client) -> None:
    body = _login(http, smart_url, "openid fhirUser user/*.rs", "dr.demo")
    keys = KeySet.import_key_set(http.get(f"{smart_url}/auth/jwks").json())
    claims = jwt.decode(body["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["fhirUser"] == f"{smart_url}/fhir/r4/{CLINICIAN}"
    response = http.get(claims["fhirUser"], headers=bearer(body["access_token"]))
    assert response.status_code == 200
    assert response.json()["resourceType"] == "Practitioner"
    assert response.json()["id"] == CLINICIAN.split("/")[1]
