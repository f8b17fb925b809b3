"""Runs the checks in order (collecting searches first, as Inferno does) and returns results."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from conformance import capability, encounter, paging, patient, references, uscore, validation
from conformance.client import FhirClient
from conformance.context import Context
from conformance.result import Result

DEFAULT_PATIENTS = [f"a-195900.E-{n}" for n in range(60178, 60185)]  # the athena sandbox

CHECKS: list[Callable[[Context], Result]] = [
    capability.capability_statement,
    *patient.CHECKS,
    *encounter.CHECKS,
    references.encounter_references,
    paging.paging,
    validation.profile_validation,
    *uscore.CHECKS,  # the US Core 6.1 clinical profile groups
    paging.bundles,  # last: audits every Bundle the run received
]


def run_suite(
    base: str,
    token: str | None = None,
    patient_ids: Sequence[str] | None = None,
) -> list[Result]:
    """Every check's result against ``base`` (a FHIR base URL)."""
    ids = list(DEFAULT_PATIENTS if patient_ids is None else patient_ids)
    client = FhirClient(base, token)
    try:
        ctx = Context(client, ids)
        return [run(ctx) for run in CHECKS]
    finally:
        client.close()


def failed(results: Sequence[Result]) -> list[Result]:
    return [r for r in results if r.status == "failed"]
