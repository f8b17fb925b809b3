"""Patient writes over real HTTP (issue 19): create, athena's duplicate check, conditional
and keyed create, update by PUT, JSON Patch and merge patch, what a patient token may do,
and DELETE. Every test checks what the emulator's athena holds afterwards.

Tokens come from the real flows: ``patient.demo`` (Donna, Patient/a-195900.E-60178),
``dr.demo`` (a clinician, ``user/*.cruds``) and the system client (``system/*.cruds``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import pytest

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.records import PatientRecord
from emulator.server import ServerThread
from tests.api.scheduling.test_write_authorization import _client, _user_token
from tests.auth.smart_support import Keys, write_clients
from tests.conftest import dev_token, facade_settings, start_facade
from tests.support.profiles import ProfileValidator

Json = dict[str, Any]
PID = "195900"
DONNA = f"a-{PID}.E-60178"  # patient.demo
ELEANA = f"a-{PID}.E-60179"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
PATCH_JSON = {"Content-Type": "application/json-patch+json"}
MERGE = {"Content-Type": "application/merge-patch+json"}
PROFILE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0"
SYSTEM = f"urn:athenahealth:athenanet:patient:{PID}"
CREATE = "/v1/{practiceid}/patients"


@pytest.fixture(scope="module")
def clinic() -> Iterator[tuple[str, Any]]:
    config = EmulatorConfig(api_requests_per_second=100_000, token_requests_per_minute=10_000)
    app = create_emulator(config)
    server = ServerThread(app)
    yield server.start(), app.state.emulator
    server.stop()


@pytest.fixture(scope="module")
def base(clinic: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("patient-writes")
    write_clients(data_dir, Keys(), "http://127.0.0.1:9/jwks.json")  # never fetched here
    settings = facade_settings(clinic[0], data_dir)
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


@pytest.fixture(scope="module")
def system(base: str) -> Iterator[httpx.Client]:
    with _client(base, dev_token(base, "system/*.cruds")) as client:
        yield client


@pytest.fixture(scope="module")
def patient(base: str) -> Iterator[httpx.Client]:
    """Donna's own token (the patient user): her compartment only."""
    token = _user_token(base, "patient.demo", "openid fhirUser patient/*.cruds")
    with _client(base, token) as client:
        yield client


@pytest.fixture(scope="module")
def clinician(base: str) -> Iterator[httpx.Client]:
    token = _user_token(base, "dr.demo", "openid fhirUser user/*.cruds")
    with _client(base, token) as client:
        yield client


@pytest.fixture
def admin(clinic: tuple[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{clinic[0]}/_emulator") as client:
        client.delete("faults")
        yield client
        client.delete("faults")


# -- helpers ------------------------------------------------------------------------------


def athena(clinic: tuple[str, Any], rid: str) -> PatientRecord:
    record: PatientRecord | None = clinic[1].patient(PID, int(rid.rsplit("-", 1)[1]))
    assert record is not None, rid
    return record


def named(clinic: tuple[str, Any], first: str, last: str) -> list[PatientRecord]:
    return [
        r
        for r in clinic[1].live_patients(PID)
        if r.text("firstname").lower() == first.lower()
        and r.text("lastname").lower() == last.lower()
    ]


def snapshot(clinic: tuple[str, Any], *rids: str) -> list[dict[str, Any]]:
    return [dict(athena(clinic, rid).fields) for rid in rids]


def new_patient(first: str, last: str, dob: str = "1990-02-03", **extra: Any) -> Json:
    """A US Core Patient as a registration app sends it (no ``use`` on address or phone)."""
    return {
        "resourceType": "Patient",
        "name": [{"family": last, "given": [first, "Q"]}],
        "gender": "female",
        "birthDate": dob,
        "telecom": [
            {"system": "phone", "value": "(617) 555-0199", "use": "mobile"},
            {"system": "email", "value": f"{first.lower()}@example.org"},
        ],
        "address": [
            {"line": ["1 Main St"], "city": "Boston", "state": "MA", "postalCode": "02110"}
        ],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}}],
        **extra,
    }


def created(client: httpx.Client, body: Json, **headers: str) -> Json:
    response = client.post("Patient", json=body, headers={**FHIR_JSON, **headers})
    assert response.status_code == 201, response.text
    resource: Json = response.json()
    return resource


def outcome(response: httpx.Response, status: int, expression: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    if expression is not None:  # the element, or one inside it
        assert any(
            e == expression or e.startswith((f"{expression}.", f"{expression}["))
            for e in issue.get("expression", [])
        ), issue
    return str(issue.get("diagnostics", ""))


# -- create -------------------------------------------------------------------------------


def test_create_is_201_with_location_and_the_patient_as_read(
    system: httpx.Client, clinic: tuple[str, Any], validator: ProfileValidator
) -> None:
    response = system.post("Patient", json=new_patient("Wren", "Okonkwo"), headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    body = response.json()
    rid = body["id"]
    assert response.headers["location"] == str(system.base_url).rstrip("/") + f"/Patient/{rid}"
    assert response.headers["etag"]
    validator.assert_valid(body, PROFILE)
    assert {"system": SYSTEM, "value": rid.rsplit("-", 1)[1]} in [
        {k: i[k] for k in ("system", "value")} for i in body["identifier"]
    ]
    record = athena(clinic, rid)
    assert record.fields["firstname"] == "Wren" and record.fields["middlename"] == "Q"
    assert record.fields["lastname"] == "Okonkwo" and record.fields["dob"] == "02/03/1990"
    assert record.fields["sex"] == "F" and record.fields["mobilephone"] == "6175550199"
    assert record.fields["email"] == "wren@example.org" and record.fields["city"] == "Boston"
    assert record.fields["address1"] == "1 Main St" and record.fields["zip"] == "02110"
    assert record.fields["language6392code"] == "spa"
    assert record.fields["departmentid"] == "1"  # the practice's first department
    read = system.get(f"Patient/{rid}")
    assert read.status_code == 200 and read.json() == body
    found = system.get("Patient", params={"family": "Okonkwo", "birthdate": "1990-02-03"})
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [rid]


def test_create_in_a_named_department_with_race_and_ethnicity(
    clinician: httpx.Client, clinic: tuple[str, Any]
) -> None:
    race = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
    ethnicity = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
    omb = "urn:oid:2.16.840.1.113883.6.238"
    body = new_patient(
        "Ines",
        "Vaszary",
        managingOrganization={"reference": f"Organization/a-{PID}.Department-21"},
        extension=[
            {
                "url": race,
                "extension": [
                    {"url": "ombCategory", "valueCoding": {"system": omb, "code": "2028-9"}},
                    {"url": "ombCategory", "valueCoding": {"system": omb, "code": "2106-3"}},
                    {"url": "text", "valueString": "Asian, White"},
                ],
            },
            {
                "url": ethnicity,
                "extension": [
                    {"url": "ombCategory", "valueCoding": {"system": omb, "code": "2135-2"}},
                    {"url": "text", "valueString": "Hispanic or Latino"},
                ],
            },
        ],
    )
    record = athena(clinic, created(clinician, body)["id"])
    assert record.fields["departmentid"] == "21"
    assert record.fields["race"] == ["2028-9", "2106-3"]
    assert record.fields["ethnicitycode"] == "2135-2"


def test_a_create_athena_cannot_take_is_422_at_the_element(
    system: httpx.Client, clinic: tuple[str, Any]
) -> None:
    before = len(clinic[1].live_patients(PID))
    no_phone = new_patient("Nophone", "Person", telecom=[])
    outcome(system.post("Patient", json=no_phone, headers=FHIR_JSON), 422, "Patient.telecom")
    no_name = {k: v for k, v in new_patient("Noname", "Person").items() if k != "name"}
    outcome(system.post("Patient", json=no_name, headers=FHIR_JSON), 422, "Patient.name")
    language = new_patient(
        "Lang", "Person", communication=[{"language": {"coding": [{"code": "tlh"}]}}]
    )
    outcome(system.post("Patient", json=language, headers=FHIR_JSON), 422, "Patient.communication")
    own_id = new_patient("Ident", "Person", identifier=[{"system": SYSTEM, "value": "60179"}])
    outcome(
        system.post("Patient", json=own_id, headers=FHIR_JSON), 400, "Patient.identifier[0].value"
    )
    elsewhere = new_patient(
        "Dept", "Person", managingOrganization={"reference": f"Organization/a-{PID}.Department-999"}
    )
    outcome(
        system.post("Patient", json=elsewhere, headers=FHIR_JSON),
        422,
        "Patient.managingOrganization",
    )
    assert len(clinic[1].live_patients(PID)) == before


def test_a_duplicate_is_409_naming_the_match(system: httpx.Client, clinic: tuple[str, Any]) -> None:
    """athena's duplicate check answers Donna's id instead of registering her again."""
    donna = new_patient("Donna", "Sandboxtest", dob="1972-10-24")
    message = outcome(system.post("Patient", json=donna, headers=FHIR_JSON), 409)
    assert f"Patient/{DONNA}" in message
    assert len(named(clinic, "Donna", "Sandboxtest")) == 1


def test_if_none_exist_answers_the_match(system: httpx.Client, clinic: tuple[str, Any]) -> None:
    # the condition matches: nothing is sent to athena
    clinic[1].reset_call_counts()
    hit = system.post(
        "Patient",
        json=new_patient("Someone", "Else"),
        headers={**FHIR_JSON, "If-None-Exist": f"identifier={SYSTEM}|60178"},
    )
    assert hit.status_code == 200, hit.text
    assert hit.json()["id"] == DONNA and clinic[1].calls("POST", CREATE) == 0
    assert named(clinic, "Someone", "Else") == []
    # the condition matches nothing, but athena's duplicate check finds Donna: 200 with her
    miss = system.post(
        "Patient",
        json=new_patient("Donna", "Sandboxtest", dob="1972-10-24"),
        headers={**FHIR_JSON, "If-None-Exist": f"identifier={SYSTEM}|99999"},
    )
    assert miss.status_code == 200, miss.text
    assert miss.json()["id"] == DONNA
    assert len(named(clinic, "Donna", "Sandboxtest")) == 1
    # a new patient: 201, then the same conditional create is 200 with her
    condition = {"If-None-Exist": "family=Quill&birthdate=1990-02-03"}
    first = created(system, new_patient("Ada", "Quill"), **condition)
    again = system.post(
        "Patient", json=new_patient("Ada", "Quill"), headers={**FHIR_JSON, **condition}
    )
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert len(named(clinic, "Ada", "Quill")) == 1


def test_a_keyed_create_is_one_patient_however_often_it_is_sent(
    system: httpx.Client, clinic: tuple[str, Any]
) -> None:
    headers = {**FHIR_JSON, "Idempotency-Key": "register-bo-lindqvist"}
    first = system.post("Patient", json=new_patient("Bo", "Lindqvist"), headers=headers)
    again = system.post("Patient", json=new_patient("Bo", "Lindqvist"), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = system.post("Patient", json=new_patient("Bo", "Lindkvist"), headers=headers)
    outcome(other, 422, "Idempotency-Key")
    assert len(named(clinic, "Bo", "Lindqvist")) == 1 and named(clinic, "Bo", "Lindkvist") == []


# -- keyed create under faults --------------------------------------------------------------


@pytest.fixture
def faulty(clinic: tuple[str, Any], tmp_path: Path) -> Iterator[httpx.Client]:
    """A facade of its own with short upstream timeouts, as the ledger tests use."""
    settings = facade_settings(
        clinic[0],
        tmp_path / "facade",
        upstream_read_timeout=0.4,
        upstream_retry_attempts=1,
        request_deadline_seconds=6.0,
        write_readback_attempts=2,
        write_readback_interval=0.05,
    )
    server = start_facade(settings)
    with _client(settings.base_url, dev_token(settings.base_url, "system/*.cruds")) as client:
        yield client
    server.stop()


def _add_rule(admin: httpx.Client, **rule: Any) -> None:
    response = admin.post("faults/rules", json=rule)
    assert response.status_code == 201, response.text


def _when(condition: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


@pytest.mark.parametrize("fault", ["reset", "timeout"])
def test_a_lost_answer_is_read_back_and_registers_one_patient(
    fault: str,
    faulty: httpx.Client,
    admin: httpx.Client,
    clinic: tuple[str, Any],
) -> None:
    """athena registered her but its answer was lost: the read-back finds her."""
    last = f"Lostanswer{fault.capitalize()}"
    headers = {**FHIR_JSON, "Idempotency-Key": f"lost-{fault}"}
    clinic[1].reset_call_counts()
    _add_rule(
        admin, kind=fault, commit=True, methods=["POST"], path=r"/patients$", count=1,
        delay_seconds=1.0,
    )  # fmt: skip
    answer = faulty.post("Patient", json=new_patient("Mira", last), headers=headers)
    assert answer.status_code == 201, answer.text
    (record,) = named(clinic, "Mira", last)
    assert answer.json()["id"] == f"a-{PID}.E-{record.patientid}"
    replay = faulty.post("Patient", json=new_patient("Mira", last), headers=headers)
    assert replay.status_code == 201 and replay.json() == answer.json()
    assert clinic[1].calls("POST", CREATE) == 1 and len(named(clinic, "Mira", last)) == 1


def test_a_lost_answer_unresolved_in_the_request_is_resolved_on_the_retry(
    faulty: httpx.Client, admin: httpx.Client, clinic: tuple[str, Any]
) -> None:
    """Registered, answer lost, and athena's patient list unreadable too (a 503 storm):
    the request fails and the key stays retryable; the retry reads back, registers nothing."""
    headers = {**FHIR_JSON, "Idempotency-Key": "lost-unresolved"}
    clinic[1].reset_call_counts()
    _add_rule(
        admin, kind="timeout", commit=True, methods=["POST"], path=r"/patients$", count=1,
        delay_seconds=2.0,
    )  # fmt: skip
    answers: list[httpx.Response] = []
    body = new_patient("Tove", "Unresolved")
    first = Thread(
        target=lambda: answers.append(faulty.post("Patient", json=body, headers=headers))
    )
    first.start()
    _when(lambda: bool(named(clinic, "Tove", "Unresolved")))  # athena has it; the answer is held
    _add_rule(
        admin, kind="status", status=503, methods=["GET"], path=r"/patients$", duration_seconds=1.5
    )
    first.join()
    assert answers[0].status_code in (502, 503, 504), answers[0].text
    time.sleep(1.6)  # the storm is over
    resolved = faulty.post("Patient", json=body, headers=headers)
    assert resolved.status_code == 201, resolved.text
    (record,) = named(clinic, "Tove", "Unresolved")
    assert resolved.json()["id"] == f"a-{PID}.E-{record.patientid}"
    assert clinic[1].calls("POST", CREATE) == 1


# -- update ---------------------------------------------------------------------------------


def test_update_by_put_writes_what_changed_and_clears_what_was_left_out(
    system: httpx.Client, clinic: tuple[str, Any], validator: ProfileValidator
) -> None:
    resource = created(system, new_patient("Pia", "Putnam"))
    rid = resource["id"]
    resource["telecom"] = [
        {"system": "phone", "value": "617-555-0142", "use": "home"},
        {"system": "email", "value": "pia.putnam@example.org", "use": "home"},
    ]  # the mobile phone is left out: athena clears it
    resource["address"][0]["city"] = "Cambridge"
    resource["communication"] = [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}]}}
    ]
    resource["maritalStatus"] = {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}
        ]
    }
    answer = system.put(f"Patient/{rid}", json=resource, headers=FHIR_JSON)
    assert answer.status_code == 200, answer.text
    validator.assert_valid(answer.json(), PROFILE)
    fields = athena(clinic, rid).fields
    assert fields["homephone"] == "6175550142" and "mobilephone" not in fields
    assert fields["email"] == "pia.putnam@example.org" and fields["city"] == "Cambridge"
    assert fields["language6392code"] == "fre" and fields["maritalstatus"] == "M"
    assert fields["firstname"] == "Pia" and fields["dob"] == "02/03/1990"
    assert fields["status"] == "active"  # `active` left out: unchanged
    assert system.get(f"Patient/{rid}").json() == answer.json()
    # the same body again changes nothing and calls athena for no write
    clinic[1].reset_call_counts()
    same = system.put(f"Patient/{rid}", json=answer.json(), headers=FHIR_JSON)
    assert (
        same.status_code == 200
        and clinic[1].calls("PUT", "/v1/{practiceid}/patients/{patientid}") == 0
    )


def test_json_patch_and_merge_patch_reach_athena(
    system: httpx.Client, clinic: tuple[str, Any]
) -> None:
    rid = created(system, new_patient("Otto", "Patchett"))["id"]
    patched = system.patch(
        f"Patient/{rid}",
        content=json.dumps(
            [
                {"op": "test", "path": "/name/0/family", "value": "Patchett"},
                {"op": "replace", "path": "/telecom/0/value", "value": "617-555-0177"},
                {"op": "add", "path": "/address/0/line/-", "value": "Suite 5"},
                {"op": "add", "path": "/name/-", "value": {"use": "usual", "given": ["Ottie"]}},
            ]
        ),
        headers=PATCH_JSON,
    )
    assert patched.status_code == 200, patched.text
    fields = athena(clinic, rid).fields
    assert fields["mobilephone"] == "6175550177" and fields["address2"] == "Suite 5"
    assert fields["preferredname"] == "Ottie"
    merged = system.patch(
        f"Patient/{rid}",
        content=json.dumps({"gender": "male", "birthDate": "1990-02-04", "active": False}),
        headers=MERGE,
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["gender"] == "male" and merged.json()["active"] is False
    fields = athena(clinic, rid).fields
    assert fields["sex"] == "M" and fields["dob"] == "02/04/1990" and fields["status"] == "inactive"
    failed = system.patch(
        f"Patient/{rid}",
        content=json.dumps([{"op": "test", "path": "/gender", "value": "female"}]),
        headers=PATCH_JSON,
    )
    outcome(failed, 409)
    identifier = system.patch(
        f"Patient/{rid}",
        content=json.dumps([{"op": "replace", "path": "/identifier/0/value", "value": "1"}]),
        headers=PATCH_JSON,
    )
    outcome(identifier, 422, "Patient.identifier")


def test_an_update_athena_cannot_take_is_refused_and_changes_nothing(
    system: httpx.Client, clinic: tuple[str, Any]
) -> None:
    resource = created(system, new_patient("Una", "Changed"))
    rid = resource["id"]
    before = snapshot(clinic, rid)
    no_name = {k: v for k, v in resource.items() if k != "name"}
    outcome(system.put(f"Patient/{rid}", json=no_name, headers=FHIR_JSON), 422, "Patient.name")
    no_birth = {k: v for k, v in resource.items() if k != "birthDate"}
    outcome(
        system.put(f"Patient/{rid}", json=no_birth, headers=FHIR_JSON), 422, "Patient.birthDate"
    )
    other = {**resource, "identifier": [{"system": SYSTEM, "value": "60179"}]}
    outcome(
        system.put(f"Patient/{rid}", json=other, headers=FHIR_JSON),
        400,
        "Patient.identifier[0].value",
    )
    link = {**resource, "link": [{"other": {"reference": f"Patient/{ELEANA}"}, "type": "seealso"}]}
    outcome(
        system.put(f"Patient/{rid}", json=link, headers=FHIR_JSON),
        400,
        "Patient.link[0].other.reference",
    )
    assert snapshot(clinic, rid) == before


# -- a patient's own token --------------------------------------------------------------------


def test_a_patient_updates_her_own_contact_details(
    patient: httpx.Client, clinic: tuple[str, Any]
) -> None:
    current = patient.get(f"Patient/{DONNA}").json()
    current["telecom"] = [t for t in current["telecom"] if t.get("use") != "work"]
    current["telecom"].append({"system": "phone", "value": "617-555-0188", "use": "work"})
    answer = patient.put(f"Patient/{DONNA}", json=current, headers=FHIR_JSON)
    assert answer.status_code == 200, answer.text
    assert athena(clinic, DONNA).fields["workphone"] == "6175550188"
    merged = patient.patch(
        f"Patient/{DONNA}",
        content=json.dumps(
            {"name": [*current["name"], {"use": "usual", "given": ["Dee"]}],
             "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}}]}
        ),
        headers=MERGE,
    )  # fmt: skip
    assert merged.status_code == 200, merged.text
    fields = athena(clinic, DONNA).fields
    assert fields["preferredname"] == "Dee" and fields["language6392code"] == "spa"


@pytest.mark.parametrize(
    ("change", "element"),
    [
        ({"birthDate": "1972-10-25"}, "Patient.birthDate"),
        ({"gender": "male"}, "Patient.gender"),
        ({"active": False}, "Patient.active"),
        ({"deceasedDateTime": "2024-01-01"}, "Patient.deceasedDateTime"),
        (
            {"name": [{"use": "official", "family": "Other", "given": ["Donna", "Marie"]}]},
            "Patient.name",
        ),
    ],
)
def test_a_patient_may_not_change_what_only_the_practice_may(
    change: Json, element: str, patient: httpx.Client, clinic: tuple[str, Any]
) -> None:
    before = snapshot(clinic, DONNA)
    current = patient.get(f"Patient/{DONNA}").json()
    outcome(
        patient.put(f"Patient/{DONNA}", json={**current, **change}, headers=FHIR_JSON), 422, element
    )
    outcome(
        patient.patch(f"Patient/{DONNA}", content=json.dumps(change), headers=MERGE), 422, element
    )
    assert snapshot(clinic, DONNA) == before


def test_a_patient_cannot_update_another_patient(
    patient: httpx.Client, clinic: tuple[str, Any]
) -> None:
    before = snapshot(clinic, DONNA, ELEANA)
    own = patient.get(f"Patient/{DONNA}").json()
    theirs = {**own, "id": ELEANA, "telecom": [{"system": "phone", "value": "6175550000"}]}
    outcome(patient.put(f"Patient/{ELEANA}", json=theirs, headers=FHIR_JSON), 404)
    outcome(
        patient.patch(f"Patient/{ELEANA}", content=json.dumps({"gender": "male"}), headers=MERGE),
        404,
    )
    outcome(
        patient.put(f"Patient/{DONNA}", json={**own, "id": ELEANA}, headers=FHIR_JSON),
        400,
        "Patient.id",
    )
    identifier = {**own, "identifier": [{"system": SYSTEM, "value": "60179"}]}
    outcome(
        patient.put(f"Patient/{DONNA}", json=identifier, headers=FHIR_JSON),
        403,
        "Patient.identifier[0].value",
    )
    link = {**own, "link": [{"other": {"reference": f"Patient/{ELEANA}"}, "type": "replaced-by"}]}
    response = patient.put(f"Patient/{DONNA}", json=link, headers=FHIR_JSON)
    assert response.status_code in (403, 422), response.text
    assert "Patient.link" in json.dumps(response.json())
    assert snapshot(clinic, DONNA, ELEANA) == before


def test_a_patient_cannot_register_patients(patient: httpx.Client, clinic: tuple[str, Any]) -> None:
    before = len(clinic[1].live_patients(PID))
    outcome(patient.post("Patient", json=new_patient("Kid", "Sandboxtest"), headers=FHIR_JSON), 403)
    own_id = {**new_patient("Kid", "Sandboxtest"), "id": DONNA}
    outcome(patient.post("Patient", json=own_id, headers=FHIR_JSON), 403)
    assert len(clinic[1].live_patients(PID)) == before


def test_a_clinician_registers_and_updates(
    clinician: httpx.Client, clinic: tuple[str, Any]
) -> None:
    resource = created(clinician, new_patient("Cleo", "Clinic"))
    resource["birthDate"] = "1990-03-03"
    assert (
        clinician.put(f"Patient/{resource['id']}", json=resource, headers=FHIR_JSON).status_code
        == 200
    )
    assert athena(clinic, resource["id"]).fields["dob"] == "03/03/1990"


# -- delete and capabilities --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"Patient/{DONNA}",
        f"Patient?identifier={SYSTEM}|60178",
        f"Appointment/a-{PID}.Appointment-1",
    ],
)
def test_delete_is_405_saying_what_to_do_instead(
    url: str, system: httpx.Client, patient: httpx.Client, clinic: tuple[str, Any]
) -> None:
    before = len(clinic[1].live_patients(PID))
    for client in (system, patient):
        response = client.delete(url)
        message = outcome(response, 405)
        assert "athena does not delete" in message
        assert ("active set to false" if url.startswith("Patient") else "cancelled") in message
        assert "PUT" in response.headers["allow"]
    assert len(clinic[1].live_patients(PID)) == before
    assert athena(clinic, DONNA).fields["status"] == "active"


def test_the_capability_statement_advertises_patient_writes(system: httpx.Client) -> None:
    statement = system.get("metadata").json()
    (patient,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    codes = {i["code"] for i in patient["interaction"]}
    assert {"read", "search-type", "create", "update", "patch"} <= codes
    assert "delete" not in codes and patient["conditionalCreate"] is True
