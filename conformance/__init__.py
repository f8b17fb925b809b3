"""A black-box US Core 6.1 conformance suite, runnable against any FHIR R4 base URL.

It speaks plain HTTP only (no imports from the facade) and mirrors what Inferno's
US Core test kit checks for the CapabilityStatement, Patient and Encounter groups
(``/work/shared/fhir/US-CORE-NOTES.md`` §1.5-§1.6)::

    from conformance import run_suite
    results = run_suite("https://example.org/fhir/r4", token="...", patient_ids=["123"])

``athena-facade conformance --base URL`` runs it from the command line.
"""

from conformance.result import Result, Status
from conformance.suite import DEFAULT_PATIENTS, run_suite

__all__ = ["DEFAULT_PATIENTS", "Result", "Status", "run_suite"]
