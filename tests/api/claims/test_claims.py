"""Claims over real HTTP: validation (athena's limits, 422 at the element, nothing created),
reads and searches of Claim and ClaimResponse (denied claims show their CARC), keyed
retries under an injected timeout (exactly one claim in athena), and the patient
compartment (a patient token submits only her own claims, whatever the body names).

Every Claim and ClaimResponse served validates against base R4 (fhir.resources R4B).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.claims.support import (
    APPOINTMENT_CLAIM,
    CARC,
    CREATE_CLAIM,
    add_note,
    claim_body,
    claims_of,
    finished_encounter,
    submit,
)
from tests.api.coverage.support import (
    DONNA,
    ELEANA,
    FHIR_JSON,
    FRANKIE,
    GARY,
    PID,
    Json,
    Stack,
    entries,
    ids,
    issue,
    search,
    stack,
)
from tests.support.profiles import _base_errors

ELEANA_PRIMARY = f"a-{PID}.Coverage-7002"
DONNA_PRIMARY = f"a-{PID}.Coverage-7001"
SERVED = "2025-06-27"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    facade = {"upstream_read_timeout": 1.0, "write_readback_interval": 0.05}
    with stack(tmp_path_factory.mktemp("claims-api"), facade) as running:
        yield running


@pytest.fixture(scope="module")
def fhir(site: Stack) -> Iterator[httpx.Client]:
    with site.system() as client:
        yield client


@pytest.fixture(scope="module")
def donna(site: Stack) -> Iterator[httpx.Client]:
    with site.user("patient.demo", "openid fhirUser patient/*.cruds") as client:
        yield client


def office_visit(
    patient: str = DONNA, coverage: str = DONNA_PRIMARY, served: str = SERVED, **extra: Any
) -> Json:
    return claim_body(patient, coverage, [("99213", [1])], ["I10"], served=served, **extra)


def athena_claims(site: Stack) -> int:
    return len(site.world.claims.all(PID))


def creates(site: Stack) -> int:
    return site.calls("POST", CREATE_CLAIM) + site.calls("POST", APPOINTMENT_CLAIM)


def refused(
    site: Stack, client: httpx.Client, body: Json, status: int, where: str, *, sent: bool = False
) -> Json:
    """The submit is refused at ``where`` and athena holds no new claim; unless athena's own
    rule refused it (``sent``), no create call reached athena."""
    before, calls = athena_claims(site), creates(site)
    found = issue(submit(client, body), status)
    assert any(e.startswith(where) for e in found.get("expression", [])), found
    assert athena_claims(site) == before and creates(site) == calls + int(sent)
    return found


# -- validation -----------------------------------------------------------------------------------


def test_a_fifth_diagnosis_on_one_item_is_refused_not_truncated(
    site: Stack, fhir: httpx.Client
) -> None:
    body = claim_body(
        DONNA,
        DONNA_PRIMARY,
        [("99213", [1, 2, 3, 4, 5])],
        ["I10", "E78.5", "E11.9", "J06.9", "F41.9"],
        served=SERVED,
    )
    found = refused(site, fhir, body, 422, "Claim.item[0].diagnosisSequence[4]")
    assert "at most 4" in found["diagnostics"]


def test_an_unknown_procedure_code_is_athenas_422(site: Stack, fhir: httpx.Client) -> None:
    body = claim_body(DONNA, DONNA_PRIMARY, [("99999", [1])], ["I10"], served=SERVED)
    found = refused(site, fhir, body, 422, "Claim.item", sent=True)
    assert "fee schedule" in found["diagnostics"]


def test_a_claim_without_insurance_is_refused(site: Stack, fhir: httpx.Client) -> None:
    body = office_visit()
    del body["insurance"]
    refused(site, fhir, body, 422, "Claim.insurance")


def test_a_self_pay_patient_cannot_be_billed_with_anothers_coverage(
    site: Stack, fhir: httpx.Client
) -> None:
    refused(site, fhir, office_visit(FRANKIE, DONNA_PRIMARY), 422, "Claim.insurance")


def test_modifiers_preauthorizations_and_foreign_codes_are_refused(
    site: Stack, fhir: httpx.Client
) -> None:
    body = office_visit()
    body["item"][0]["modifier"] = [
        {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "25"}]}
    ]
    refused(site, fhir, body, 422, "Claim.item[0].modifier")
    refused(site, fhir, office_visit(use="preauthorization"), 422, "Claim.use")
    body = office_visit()
    body["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["system"] = (
        "http://snomed.info/sct"
    )
    refused(site, fhir, body, 422, "Claim.diagnosis[0]")
    body = office_visit()
    body["item"][0]["diagnosisSequence"] = [3]
    refused(site, fhir, body, 422, "Claim.item[0].diagnosisSequence[0]")


def test_a_department_is_required_from_somewhere(site: Stack, fhir: httpx.Client) -> None:
    """No location, no Encounter: the provider's home department is used; a provider athena
    does not know is refused, nothing is created."""
    refused(
        site,
        fhir,
        office_visit(provider=f"Practitioner/a-{PID}.Provider-4040"),
        404,
        "Claim.provider",
    )
    refused(
        site,
        fhir,
        office_visit(provider=f"Organization/a-{PID}.Department-1"),
        422,
        "Claim.provider",
    )
    before = len(claims_of(site, 60178))
    created = fhir.post("Claim", json=office_visit(location=None), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith(f"/Claim/{created.json()['id']}")
    (new,) = [c for c in claims_of(site, 60178)][before:]
    assert new.departmentid == 1  # provider 23's home department
    role = office_visit(
        location=None,
        served="2025-06-19",
        provider=f"PractitionerRole/a-{PID}.PractitionerRole-23-21",
    )
    created = fhir.post("Claim", json=role, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    assert claims_of(site, 60178)[-1].departmentid == 21  # the role's department
    assert created.json()["facility"]["reference"] == f"Location/a-{PID}.Department-21"


def test_no_department_to_be_found_is_422(site: Stack, fhir: httpx.Client) -> None:
    """No location, no Encounter, a Practitioner athena records no home department for."""
    provider = site.world.provider(PID, 86)
    home = provider.pop("homedepartment")
    try:
        body = office_visit(location=None, provider=f"Practitioner/a-{PID}.Provider-86")
        found = refused(site, fhir, body, 422, "Claim.item[0].locationReference")
        assert "department cannot be determined" in found["diagnostics"]
    finally:
        provider["homedepartment"] = home


def test_bundle_and_parameters_bodies(site: Stack, fhir: httpx.Client) -> None:
    claim = office_visit(served="2025-06-26")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": claim}]}
    answered = submit(fhir, bundle)
    assert answered.status_code == 200 and answered.json()["resourceType"] == "ClaimResponse", (
        answered.text
    )
    claim = office_visit(served="2025-06-25")
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": claim}]}
    answered = submit(fhir, wrapped)
    assert answered.status_code == 200 and answered.json()["outcome"] == "queued", answered.text
    issue(submit(fhir, {"resourceType": "Bundle", "type": "collection", "entry": []}), 400)


# -- reads and searches ---------------------------------------------------------------------------


def test_claims_are_read_and_searched_by_every_parameter(site: Stack, fhir: httpx.Client) -> None:
    found = entries(search(fhir, "Claim", patient=GARY))
    assert found and all(_base_errors(c) == [] for c in found)
    claim = found[0]
    assert fhir.get(f"Claim/{claim['id']}").json() == claim
    assert ids(search(fhir, "Claim", _id=claim["id"])) == [claim["id"]]
    value = claim["identifier"][0]["value"]
    assert ids(
        search(fhir, "Claim", identifier=f"urn:athenahealth:athenanet:claim:{PID}|{value}")
    ) == [claim["id"]]
    assert claim["id"] in ids(search(fhir, "Claim", patient=GARY, use="claim", status="active"))
    assert ids(search(fhir, "Claim", patient=GARY, use="preauthorization")) == []
    assert claim["id"] in ids(search(fhir, "Claim", patient=GARY, created=f"ge{claim['created']}"))
    encounter = claim["item"][0]["encounter"][0]["reference"]
    assert ids(search(fhir, "Claim", patient=GARY, encounter=encounter)) == [claim["id"]]
    provider = claim["provider"]["reference"]
    assert claim["id"] in ids(search(fhir, "Claim", provider=provider, _count="100"))
    issue(fhir.get("Claim", params={"use": "claim"}), 400)


def test_a_denied_claim_shows_its_carc(site: Stack, fhir: httpx.Client) -> None:
    """Gary's policy expired at the end of 2024: his June visits are denied (CARC 27)."""
    denied = entries(search(fhir, "ClaimResponse", patient=GARY, outcome="error"))
    assert denied
    response = denied[0]
    assert _base_errors(response) == []
    (error,) = response["error"]
    assert error["code"]["coding"][0] == {
        "system": CARC,
        "code": "27",
        "display": "Expenses incurred after coverage terminated.",
    }
    assert response["disposition"].startswith("Denied")
    assert response["processNote"][0]["text"].startswith("N30")
    assert response["payment"]["amount"]["value"] == 0
    insurer = response["insurer"]["reference"]
    assert response["id"] in ids(search(fhir, "ClaimResponse", patient=GARY, insurer=insurer))
    assert fhir.get(f"ClaimResponse/{response['id']}").json() == response
    assert ids(search(fhir, "ClaimResponse", _id=response["id"])) == [response["id"]]
    issue(fhir.get("ClaimResponse", params={"outcome": "error"}), 400)


def test_claims_cannot_be_cancelled_or_deleted(site: Stack, fhir: httpx.Client) -> None:
    claim = entries(search(fhir, "Claim", patient=GARY))[0]
    found = issue(fhir.delete(f"Claim/{claim['id']}"), 405)
    assert "cannot cancel or delete" in found["diagnostics"]
    cancelled = {**claim, "status": "cancelled"}
    found = issue(fhir.put(f"Claim/{claim['id']}", json=cancelled, headers=FHIR_JSON), 405)
    assert "cannot be updated" in found["diagnostics"]
    patched = fhir.patch(
        f"Claim/{claim['id']}",
        json={"status": "cancelled"},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 405, patched.text
    assert fhir.get(f"Claim/{claim['id']}").json()["status"] == "active"


# -- keyed retries ---------------------------------------------------------------------------------


def test_a_keyed_retry_after_a_timeout_creates_one_claim(site: Stack, fhir: httpx.Client) -> None:
    """athena created the claim but its answer was lost: the read-back (patient, service date,
    charges) finds it, in the request and on the retry; athena holds exactly one."""
    body = claim_body(
        DONNA, DONNA_PRIMARY, [("99214", [1]), ("93000", [1])], ["I10"], served="2025-06-24"
    )
    before, calls = len(claims_of(site, 60178)), creates(site)
    with site.admin() as admin:
        rule = {
            "kind": "timeout",
            "commit": True,
            "methods": ["POST"],
            "path": r"/claims$",
            "count": 1,
            "delay_seconds": 1.5,
        }
        assert admin.post("faults/rules", json=rule).status_code == 201
    first = submit(fhir, body, **{"Idempotency-Key": "claim-timeout-1"})
    assert first.status_code == 200, first.text
    again = submit(fhir, body, **{"Idempotency-Key": "claim-timeout-1"})
    assert again.status_code == 200 and again.json()["request"] == first.json()["request"]
    assert len(claims_of(site, 60178)) == before + 1 and creates(site) == calls + 1


def test_an_unkeyed_identical_claim_is_a_second_claim(site: Stack, fhir: httpx.Client) -> None:
    """Only a key makes a retry safe: the same body without one is billed again (athena
    allows two identical claims), and If-None-Exist finds the first instead."""
    body = claim_body(DONNA, DONNA_PRIMARY, [("99212", [1])], ["E78.5"], served="2025-06-20")
    first = fhir.post("Claim", json=body, headers=FHIR_JSON)
    assert first.status_code == 201, first.text
    condition = f"_id={first.json()['id']}"
    again = fhir.post("Claim", json=body, headers={**FHIR_JSON, "If-None-Exist": condition})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


# -- the patient compartment -----------------------------------------------------------------------


def hostile(site: Stack, donna: httpx.Client, body: Json, statuses: tuple[int, ...]) -> None:
    before, calls = athena_claims(site), creates(site)
    eleanas = len(claims_of(site, 60179))
    response = submit(donna, body)
    assert response.status_code in statuses, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert athena_claims(site) == before and creates(site) == calls
    assert len(claims_of(site, 60179)) == eleanas


def test_a_patient_token_submits_only_her_own_claims(
    site: Stack, fhir: httpx.Client, donna: httpx.Client
) -> None:
    # another patient in Claim.patient
    hostile(site, donna, office_visit(ELEANA, ELEANA_PRIMARY), (403,))
    # her own claim naming another patient's Coverage
    hostile(site, donna, office_visit(DONNA, ELEANA_PRIMARY), (404,))
    body = office_visit()
    body["insurance"].append(
        {
            "sequence": 2,
            "focal": False,
            "coverage": {"reference": f"Coverage/a-{PID}.Coverage-7003"},
        }
    )
    hostile(site, donna, body, (404,))
    # another patient's Encounter (checked in from an appointment)
    visit = finished_encounter(fhir, ELEANA)
    hostile(site, donna, office_visit(encounter=f"Encounter/{visit['id']}"), (404,))
    # a provider or department of another practice
    hostile(site, donna, office_visit(provider="Practitioner/a-195901.Provider-1"), (400,))
    hostile(site, donna, office_visit(location="Location/a-195901.Department-1"), (400,))
    # a patient token cannot add notes (the practice's), nor read another's claims
    gary = entries(search(fhir, "Claim", patient=GARY))[0]
    issue(add_note(donna, f"Claim/{gary['id']}", "hostile"), 403)
    assert donna.get(f"Claim/{gary['id']}").status_code == 404
    assert ids(search(donna, "ClaimResponse", patient=GARY)) == []
    # her own claim goes through, and she reads its ClaimResponse
    mine = submit(donna, office_visit(served="2025-06-23"))
    assert mine.status_code == 200, mine.text
    assert donna.get(mine.json()["request"]["reference"]).status_code == 200
    assert donna.get(f"ClaimResponse/{mine.json()['id']}").json()["outcome"] == "queued"


def test_a_system_token_cannot_bill_one_patients_visit_to_another(
    site: Stack, fhir: httpx.Client
) -> None:
    visit = finished_encounter(fhir, ELEANA)
    before, calls = athena_claims(site), creates(site)
    found = issue(submit(fhir, office_visit(encounter=f"Encounter/{visit['id']}")), 422)
    assert found["expression"] == ["Claim.item[0].encounter"]
    assert athena_claims(site) == before and creates(site) == calls


# -- the CapabilityStatement ---------------------------------------------------------------------


def test_metadata_and_operation_definitions(site: Stack, fhir: httpx.Client) -> None:
    statement = fhir.get("metadata").json()
    rest = {r["type"]: r for r in statement["rest"][0]["resource"]}
    claim, response = rest["Claim"], rest["ClaimResponse"]
    assert {i["code"] for i in claim["interaction"]} >= {"read", "search-type", "create"}
    assert {p["name"] for p in claim["searchParam"]} == {
        "_id", "identifier", "patient", "created", "use", "provider", "encounter", "status",
    }  # fmt: skip
    assert {p["name"] for p in response["searchParam"]} == {
        "_id", "patient", "request", "created", "outcome", "insurer", "status",
    }  # fmt: skip
    operations = {o["name"]: o["definition"] for o in claim["operation"]}
    assert operations["submit"] == "http://hl7.org/fhir/OperationDefinition/Claim-submit"
    for name in ("submit", "add-note"):
        served = fhir.get(f"OperationDefinition/Claim-{name}")
        assert served.status_code == 200, served.text
        assert _base_errors(served.json()) == []
        assert served.json()["code"] == name and served.json()["resource"] == ["Claim"]
    assert fhir.get("OperationDefinition/Claim-submit").json()["base"] == operations["submit"]
