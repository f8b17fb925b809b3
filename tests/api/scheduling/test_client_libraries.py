"""The official client libraries against the facade: fhirpy (sync and async), fhirclient and
fhir.resources (R4B) — search, paging, count(), first(), fetch_all(), _summary, _elements,
references, create, update, patch and conditional create, each checked in the emulator.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirclient import server as fhirclient_server
from fhirclient.models.appointment import Appointment as FcAppointment
from fhirclient.models.encounter import Encounter as FcEncounter
from fhirclient.models.patient import Patient as FcPatient
from fhirpy import AsyncFHIRClient, SyncFHIRClient

from tests.api.scheduling.support import PATIENT, PID
from tests.api.scheduling.test_scheduling import booking, free_slot

SANDBOX = PATIENT.removeprefix("Patient/")


def _token(fhir: httpx.Client) -> str:
    return str(fhir.headers["Authorization"])


def _validate(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _record(clinic: tuple[str, Any], appointment_id: str) -> Any:
    return clinic[1].schedule.appointment(PID, int(appointment_id.rsplit("-", 1)[1]))


def test_fhirpy_sync_search_count_paging_and_subsets(fhir: httpx.Client) -> None:
    client = SyncFHIRClient(str(fhir.base_url).rstrip("/"), authorization=_token(fhir))
    patients = client.resources("Patient").search(name="sandbox")
    total = patients.count()
    everything = patients.limit(3).fetch_all()  # follows next links, 3 at a time
    assert total == len(everything) >= 7
    assert len({p.id for p in everything}) == total
    first = patients.first()
    assert first is not None and first.resourceType == "Patient"
    summary = client.resources("Patient").search(_id=SANDBOX).elements("gender").fetch()
    assert [set(p.serialize()) for p in summary] == [{"resourceType", "id", "meta", "gender"}]
    counted = client.resources("Encounter").search(patient=SANDBOX).count()
    encounters = client.resources("Encounter").search(patient=SANDBOX).fetch_all()
    assert counted == len(encounters) > 0
    for encounter in encounters:
        _validate(encounter.serialize())
        patient = encounter["subject"].to_resource()  # references resolve through the facade
        assert patient.id == SANDBOX


async def test_fhirpy_async_search_and_summary_count(fhir: httpx.Client) -> None:
    client = AsyncFHIRClient(str(fhir.base_url).rstrip("/"), authorization=_token(fhir))
    search = client.resources("Patient").search(name="sandbox")
    assert await search.count() == len(await search.fetch_all())
    page = await client.resources("Patient").search(name="sandbox", _summary="true").fetch()
    assert page and all(any(t["code"] == "SUBSETTED" for t in p["meta"]["tag"]) for p in page)


def test_fhirpy_create_patch_update_and_get_or_create(
    fhir: httpx.Client, clinic: tuple[str, Any]
) -> None:
    client = SyncFHIRClient(str(fhir.base_url).rstrip("/"), authorization=_token(fhir))
    slot = free_slot(fhir)
    appointment = client.resource("Appointment", **booking(slot))
    appointment.save()  # POST
    assert appointment.id and _record(clinic, appointment.id).status == "f"
    _validate(appointment.serialize())

    # get_or_create: search parameters on the POST are its condition: no second booking.
    again, created = (
        client.resources("Appointment")
        .search(_id=appointment.id)
        .get_or_create(client.resource("Appointment", **booking(free_slot(fhir))))
    )
    assert (again.id, created) == (appointment.id, False)

    patched = client.patch(
        "Appointment", appointment.id, status="cancelled", cancelationReason={"text": "sick"}
    )
    assert patched["status"] == "cancelled"
    assert patched["cancelationReason"]["text"] == "sick"
    record = _record(clinic, appointment.id)
    assert record.status == "x" and record.cancelnote == "sick"

    second = client.resource("Appointment", **booking(free_slot(fhir)))
    second.save()
    second["status"] = "cancelled"
    second["cancelationReason"] = {"text": "moved"}
    second.save()  # PUT
    record = _record(clinic, second.id)
    assert record.status == "x" and record.cancelnote == "moved"


def test_fhirclient_read_search_and_create(fhir: httpx.Client, clinic: tuple[str, Any]) -> None:
    srv = fhirclient_server.FHIRServer(None, base_uri=str(fhir.base_url).rstrip("/") + "/")
    srv.session.headers["Authorization"] = _token(fhir)
    patient = FcPatient.read(SANDBOX, srv)
    assert patient.name[0].family.lower().startswith("sandbox")
    encounters = list(FcEncounter.where(struct={"patient": SANDBOX}).perform_resources_iter(srv))
    assert encounters and all(e.subject.reference == PATIENT for e in encounters)
    appointment = FcAppointment(booking(free_slot(fhir)))
    answer = appointment.create(srv)
    assert answer is not None and answer["resourceType"] == "Appointment"
    assert _record(clinic, answer["id"]).status == "f"


@pytest.mark.parametrize("resource_type", ["Patient", "Encounter", "Appointment", "Slot"])
def test_fhir_resources_parses_every_searched_resource(
    fhir: httpx.Client, resource_type: str
) -> None:
    params = {
        "Patient": {"name": "sandbox"},
        "Encounter": {"patient": SANDBOX},
        "Appointment": {"patient": SANDBOX},
        "Slot": {"start": "ge2025-07-01", "_count": "20"},
    }[resource_type]
    bundle = fhir.get(resource_type, params=params).json()
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert bundle["entry"]
    for entry in bundle["entry"]:
        _validate(entry["resource"])
