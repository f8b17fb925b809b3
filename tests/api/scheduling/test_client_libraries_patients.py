"""Patient writes through the client libraries (issue 19): fhirpy (sync and async) create,
update, patch, get_or_create and conditional create; fhirclient create and update; every
answer parsed by fhir.resources (R4B). Each write is checked in the emulator's athena.
"""

from __future__ import annotations

from typing import Any

import httpx
from fhir.resources.R4B import get_fhir_model_class
from fhirclient import server as fhirclient_server
from fhirclient.models.patient import Patient as FcPatient
from fhirpy import AsyncFHIRClient, SyncFHIRClient

from tests.api.scheduling.support import PID

Json = dict[str, Any]


def _token(fhir: httpx.Client) -> str:
    return str(fhir.headers["Authorization"])


def _record(clinic: tuple[str, Any], rid: str) -> Any:
    return clinic[1].patient(PID, int(rid.rsplit("-", 1)[1]))


def _named(clinic: tuple[str, Any], first: str, last: str) -> list[Any]:
    return [
        r
        for r in clinic[1].live_patients(PID)
        if (r.text("firstname"), r.text("lastname")) == (first, last)
    ]


def _body(first: str, last: str, dob: str = "1985-04-12") -> Json:
    return {
        "name": [{"use": "official", "family": last, "given": [first]}],
        "gender": "male",
        "birthDate": dob,
        "telecom": [{"system": "phone", "value": "617-555-0123", "use": "mobile"}],
    }


def _validate(resource: Json) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_fhirpy_create_update_patch_and_get_or_create_a_patient(
    fhir: httpx.Client, clinic: tuple[str, Any]
) -> None:
    client = SyncFHIRClient(str(fhir.base_url).rstrip("/"), authorization=_token(fhir))
    patient = client.resource("Patient", **_body("Linus", "Fhirpy"))
    patient.save()  # POST
    assert patient.id and patient["identifier"] and patient["meta"]["profile"]
    _validate(patient.serialize())
    assert _record(clinic, patient.id).fields["mobilephone"] == "6175550123"

    patient["address"] = [{"line": ["9 Elm St"], "city": "Salem", "state": "MA"}]
    patient.save()  # PUT
    assert _record(clinic, patient.id).fields["city"] == "Salem"

    patient.patch(telecom=[{"system": "phone", "value": "617-555-0124", "use": "home"}])
    fields = _record(clinic, patient.id).fields
    assert fields["homephone"] == "6175550124" and "mobilephone" not in fields

    patched = client.patch("Patient", patient.id, gender="female")  # plain-JSON merge patch
    assert patched["gender"] == "female" and _record(clinic, patient.id).fields["sex"] == "F"

    # get_or_create: the search parameters on the POST are its condition
    again, created = (
        client.resources("Patient")
        .search(family="Fhirpy", birthdate="1985-04-12")
        .get_or_create(client.resource("Patient", **_body("Linus", "Fhirpy")))
    )
    assert (again.id, created) == (patient.id, False)
    fresh, created = (
        client.resources("Patient")
        .search(family="Fhirpy", birthdate="1985-04-13")
        .get_or_create(client.resource("Patient", **_body("Lena", "Fhirpy", "1985-04-13")))
    )
    assert created and fresh.id != patient.id
    assert len(_named(clinic, "Linus", "Fhirpy")) == len(_named(clinic, "Lena", "Fhirpy")) == 1

    # resource.create(**search): conditional create the fhirpy way
    same = client.resource("Patient", **_body("Lena", "Fhirpy", "1985-04-13"))
    same.create(identifier=fresh["identifier"][0]["value"])
    assert same.id == fresh.id and len(_named(clinic, "Lena", "Fhirpy")) == 1


async def test_fhirpy_async_creates_and_patches_a_patient(
    fhir: httpx.Client, clinic: tuple[str, Any]
) -> None:
    client = AsyncFHIRClient(str(fhir.base_url).rstrip("/"), authorization=_token(fhir))
    patient = client.resource("Patient", **_body("Asa", "Asyncson"))
    await patient.save()
    await patient.patch(birthDate="1985-04-14")
    assert _record(clinic, patient.id).fields["dob"] == "04/14/1985"
    found = await client.resources("Patient").search(_id=patient.id).fetch()
    assert [p.id for p in found] == [patient.id] and found[0]["birthDate"] == "1985-04-14"


def test_fhirclient_creates_and_updates_a_patient(
    fhir: httpx.Client, clinic: tuple[str, Any]
) -> None:
    srv = fhirclient_server.FHIRServer(None, base_uri=str(fhir.base_url).rstrip("/") + "/")
    srv.session.headers["Authorization"] = _token(fhir)
    answer = FcPatient({"resourceType": "Patient", **_body("Cora", "Fhirclient")}).create(srv)
    assert answer is not None and answer["resourceType"] == "Patient"
    rid = answer["id"]
    patient = FcPatient.read(rid, srv)
    patient.birthDate.date = patient.birthDate.date.replace(day=20)
    patient.update(srv)
    assert _record(clinic, rid).fields["dob"] == "04/20/1985"
    assert len(_named(clinic, "Cora", "Fhirclient")) == 1
