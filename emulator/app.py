"""The emulator's ASGI app: one readable route table (API-NOTES section 7).

``create_app(config)`` builds a Starlette app whose ``app.state.emulator`` is
the in-memory :class:`~emulator.world.World`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.routing import Route

from emulator import (
    admin_changes,
    bulk_export,
    changed_feeds,
    event_platform,
    fhir_api,
    fhir_clinical,
    fhir_coverage,
    fhir_resources,
    rest_appointments,
    rest_chart,
    rest_claims,
    rest_eligibility,
    rest_insurance,
    rest_patients,
    rest_practice,
)
from emulator.config import EmulatorConfig
from emulator.faults import ADMIN_ROUTES, FaultInjector, FaultState
from emulator.gateway import PUBLIC, V1, Handler, Need, endpoint, fhir
from emulator.oauth import token_endpoint
from emulator.world import World

# (method, path template, what the gateway requires, handler)
ROUTES: list[tuple[str, str, Need, Handler]] = [
    ("POST", "/oauth2/v1/token", PUBLIC, token_endpoint),
    ("GET", "/fhir/r4/metadata", PUBLIC, fhir_api.metadata),
    ("GET", "/fhir/r4/.well-known/smart-configuration", PUBLIC, fhir_api.smart_configuration),
    ("GET", "/fhir/r4/Patient", fhir("Patient", "search"), fhir_api.search_patients),
    ("POST", "/fhir/r4/Patient/_search", fhir("Patient", "search"), fhir_api.search_patients),
    ("GET", "/fhir/r4/Patient/{id}", fhir("Patient", "read"), fhir_api.read_patient),
    ("GET", "/fhir/r4/Encounter", fhir("Encounter", "search"), fhir_resources.search_encounters),
    ("POST", "/fhir/r4/Encounter/_search", fhir("Encounter", "search"), fhir_resources.search_encounters),
    ("GET", "/fhir/r4/Encounter/{id}", fhir("Encounter", "read"), fhir_resources.read_encounter),
    ("GET", "/fhir/r4/Condition", fhir("Condition", "search"), fhir_resources.search_conditions),
    ("POST", "/fhir/r4/Condition/_search", fhir("Condition", "search"), fhir_resources.search_conditions),
    ("GET", "/fhir/r4/Condition/{id}", fhir("Condition", "read"), fhir_resources.read_condition),
    ("GET", "/fhir/r4/Provenance", fhir("Provenance", "search"), fhir_resources.search_provenance),
    ("GET", "/fhir/r4/Provenance/{id}", fhir("Provenance", "read"), fhir_resources.read_provenance),
    ("GET", "/fhir/r4/Practitioner", fhir("Practitioner", "search"), fhir_resources.search_practitioners),
    ("GET", "/fhir/r4/Practitioner/{id}", fhir("Practitioner", "read"), fhir_resources.read_practitioner),
    ("GET", "/fhir/r4/Organization", fhir("Organization", "search"), fhir_resources.search_organizations),
    ("GET", "/fhir/r4/Organization/{id}", fhir("Organization", "read"), fhir_resources.read_organization),
    ("GET", "/fhir/r4/Coverage", fhir("Coverage", "search"), fhir_coverage.search_coverage),
    ("POST", "/fhir/r4/Coverage/_search", fhir("Coverage", "search"), fhir_coverage.search_coverage),
    ("GET", "/fhir/r4/Coverage/{id}", fhir("Coverage", "read"), fhir_coverage.read_coverage),
    ("GET", "/fhir/r4/Location", fhir("Location", "search"), fhir_resources.search_locations),
    ("GET", "/fhir/r4/Location/{id}", fhir("Location", "read"), fhir_resources.read_location),
    ("GET", "/fhir/r4/Appointment", fhir("Appointment", "search"), fhir_resources.search_appointments),
    ("GET", "/fhir/r4/Appointment/{id}", fhir("Appointment", "read"), fhir_resources.read_appointment),
    ("GET", "/fhir/r4/Group/{id}/$export", fhir("Patient", "read"), bulk_export.kick_off),
    ("GET", "/fhir/r4/bulk/status/{job}", fhir("Patient", "read"), bulk_export.status),
    ("DELETE", "/fhir/r4/bulk/status/{job}", fhir("Patient", "read"), bulk_export.delete),
    ("GET", "/fhir/r4/bulk/files/{job}/{name}", fhir("Patient", "read"), bulk_export.download),
    ("GET", "/v1/{practiceid}/practiceinfo", V1, rest_practice.practiceinfo),
    ("GET", "/v1/{practiceid}/departments", V1, rest_practice.departments),
    ("GET", "/v1/{practiceid}/departments/{departmentid}", V1, rest_practice.department),
    ("GET", "/v1/{practiceid}/providers", V1, rest_practice.providers),
    ("GET", "/v1/{practiceid}/providers/{providerid}", V1, rest_practice.provider),
    ("GET", "/v1/{practiceid}/patients", V1, rest_patients.list_patients),
    ("POST", "/v1/{practiceid}/patients", V1, rest_patients.create_patient),
    ("GET", "/v1/{practiceid}/patients/enhancedbestmatch", V1, rest_patients.best_match),
    ("GET", "/v1/{practiceid}/patients/{patientid}", V1, rest_patients.read_patient),
    ("PUT", "/v1/{practiceid}/patients/{patientid}", V1, rest_patients.update_patient),
    ("GET", "/v1/{practiceid}/patients/{patientid}/appointments", V1, rest_appointments.patient_appointments),
    ("GET", "/v1/{practiceid}/patients/{patientid}/insurances", V1, rest_insurance.list_insurances),
    ("POST", "/v1/{practiceid}/patients/{patientid}/insurances", V1, rest_insurance.create_insurance),
    ("PUT", "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}", V1, rest_insurance.update_insurance),
    ("DELETE", "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}", V1, rest_insurance.delete_insurance),
    ("POST", "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}/eligibility", V1, rest_eligibility.run_eligibility),
    ("GET", "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}/eligibility", V1, rest_eligibility.last_eligibility),
    ("GET", "/v1/{practiceid}/insurancepackages", V1, rest_insurance.search_packages),
    ("GET", "/v1/{practiceid}/misc/topinsurancepackages", V1, rest_insurance.top_packages),
    ("GET", "/v1/{practiceid}/appointmenttypes", V1, rest_appointments.appointment_types),
    ("GET", "/v1/{practiceid}/appointmenttypes/{appointmenttypeid}", V1, rest_appointments.appointment_type),
    ("GET", "/v1/{practiceid}/patientappointmentreasons", V1, rest_appointments.reasons),
    ("GET", "/v1/{practiceid}/patientappointmentreasons/newpatient", V1, rest_appointments.new_patient_reasons),
    ("GET", "/v1/{practiceid}/patientappointmentreasons/existingpatient", V1, rest_appointments.existing_patient_reasons),
    ("GET", "/v1/{practiceid}/appointmentcancelreasons", V1, rest_appointments.cancel_reasons),
    ("GET", "/v1/{practiceid}/appointments/open", V1, rest_appointments.open_slots),
    ("POST", "/v1/{practiceid}/appointments/open", V1, rest_appointments.create_slots),
    ("GET", "/v1/{practiceid}/appointments/booked", V1, rest_appointments.booked),
    ("GET", "/v1/{practiceid}/appointments/booked/multipledepartment", V1, rest_appointments.booked_multiple_departments),
    ("GET", "/v1/{practiceid}/appointments/{appointmentid}", V1, rest_appointments.read_appointment),
    ("PUT", "/v1/{practiceid}/appointments/{appointmentid}", V1, rest_appointments.book),
    ("DELETE", "/v1/{practiceid}/appointments/{appointmentid}", V1, rest_appointments.delete_slot),
    ("PUT", "/v1/{practiceid}/appointments/{appointmentid}/freeze", V1, rest_appointments.freeze),
    ("PUT", "/v1/{practiceid}/appointments/{appointmentid}/cancel", V1, rest_appointments.cancel),
    ("PUT", "/v1/{practiceid}/appointments/{appointmentid}/reschedule", V1, rest_appointments.reschedule),
    ("POST", "/v1/{practiceid}/appointments/{appointmentid}/startcheckin", V1, rest_appointments.start_checkin),
    ("POST", "/v1/{practiceid}/appointments/{appointmentid}/checkin", V1, rest_appointments.checkin),
    ("POST", "/v1/{practiceid}/appointments/{appointmentid}/cancelcheckin", V1, rest_appointments.cancel_checkin),
    ("POST", "/v1/{practiceid}/appointments/{appointmentid}/checkout", V1, rest_appointments.checkout),
    ("POST", "/v1/{practiceid}/appointments/{appointmentid}/claim", V1, rest_claims.create_appointment_claim),
    ("GET", "/v1/{practiceid}/claims", V1, rest_claims.list_claims),
    ("POST", "/v1/{practiceid}/claims", V1, rest_claims.create_claim),
    ("GET", "/v1/{practiceid}/claims/{claimid}", V1, rest_claims.read_claim),
    ("POST", "/v1/{practiceid}/claims/{claimid}/note", V1, rest_claims.add_note),
    ("GET", "/v1/{practiceid}/chart/{patientid}/encounters", V1, rest_chart.patient_encounters),
    ("GET", "/v1/{practiceid}/chart/encounter/{encounterid}", V1, rest_chart.read_encounter),
    ("GET", "/v1/{practiceid}/chart/encounters/{encounterid}/summary", V1, rest_chart.encounter_summary),
    ("GET", "/v1/{practiceid}/chart/encounter/{encounterid}/diagnoses", V1, rest_chart.encounter_diagnoses),
    ("POST", "/v1/{practiceid}/chart/encounter/{encounterid}/diagnoses", V1, rest_chart.add_diagnosis),
]  # fmt: skip


def create_app(
    config: EmulatorConfig | None = None, *, clock: Callable[[], float] = time.time
) -> Starlette:
    """Build the emulator app with a freshly seeded world."""
    config = config or EmulatorConfig()
    routes = [
        Route(path, endpoint(path, need, handler), methods=[method], name=f"{method} {path}")
        for method, path, need, handler in [
            *changed_feeds.ROUTES,
            *event_platform.ROUTES,
            *ROUTES,
            *fhir_clinical.routes(fhir),
        ]
    ]
    app = Starlette(routes=[*routes, *ADMIN_ROUTES, *admin_changes.ADMIN_ROUTES])
    app.state.emulator = World(config, clock)
    app.state.faults = FaultState(config.faults)
    app.state.bulk_exports = bulk_export.BulkExports()
    app.add_middleware(FaultInjector, state=app.state.faults, world=app.state.emulator)
    return app
