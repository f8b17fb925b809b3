"""Hand-written Python for the FHIRPath invariants that matter to the facade.

The snapshot carries invariants as FHIRPath; we do not evaluate FHIRPath.
Instead each invariant we care about is written out here, keyed by
``(key, element id)`` because keys are only unique within a package
(``us-core-6`` is the Patient name rule in 6.1.0, ``us-core-8`` in 3.1.1).
Invariants not listed are recorded as skipped by the validator.
Base-resource rules that need no resolution (org-1/2/3, pat-1, con-1/2/4/5)
are included because an Inferno run reports them as errors too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["IGNORED_PREFIXES", "INVARIANTS"]

Check = Callable[[Any], bool]

_DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

# ele-1 (has value or children), ext-1 (extension or value[x]) and the
# dom-* rules are already enforced by the pydantic base models.
IGNORED_PREFIXES = ("ele-", "ext-", "dom-")


def _has(obj: Any, key: str) -> bool:
    return isinstance(obj, Mapping) and (obj.get(key) not in (None, [], "") or f"_{key}" in obj)


def _name_present_xor_dar(name: Any) -> bool:
    """us-core-6 / us-core-8: (family or given) xor a data-absent-reason extension."""
    present = _has(name, "family") or _has(name, "given")
    dar = any(e.get("url") == _DAR for e in name.get("extension", ()) if isinstance(e, Mapping))
    return present != dar


def _codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding", ()) if isinstance(c, Mapping)]


def _has_coding(concept: Any, system: str, codes: tuple[str, ...]) -> bool:
    return any(c.get("system") == system and c.get("code") in codes for c in _codings(concept))


def _npi_luhn(identifier: Any) -> bool:
    """us-core-17: NPI check digit (Luhn over the ``80840`` prefix, hence ``+ 24``)."""
    value = str(identifier.get("value", ""))
    if not re.fullmatch(r"[0-9]{10}", value):
        return True  # us-core-16 reports the format
    total = 24
    for index, char in enumerate(value):
        digit = int(char)
        if index % 2 == 0 and index < 9:
            digit = digit * 2 if digit < 5 else digit * 2 - 9
        total += digit
    return total % 10 == 0


def _matches(pattern: str) -> Check:
    return lambda ident: re.fullmatch(pattern, str(ident.get("value", ""))) is not None


_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _con4(cond: Any) -> bool:
    abated = any(key.startswith(("abatement", "_abatement")) for key in cond)
    return not abated or _has_coding(
        cond.get("clinicalStatus"), _CLINICAL, ("resolved", "remission", "inactive")
    )


def _con5(cond: Any) -> bool:
    entered_in_error = _has_coding(
        cond.get("verificationStatus"), _VERIFICATION, ("entered-in-error",)
    )
    return not entered_in_error or "clinicalStatus" not in cond


INVARIANTS: dict[tuple[str, str], Check] = {
    ("us-core-6", "Patient.name"): _name_present_xor_dar,
    ("us-core-8", "Patient.name"): _name_present_xor_dar,
    ("pat-1", "Patient.contact"): lambda c: any(
        _has(c, k) for k in ("name", "telecom", "address", "organization")
    ),
    ("org-1", "Organization"): lambda o: _has(o, "identifier") or _has(o, "name"),
    ("org-2", "Organization.address"): lambda a: a.get("use") != "home",
    ("org-3", "Organization.telecom"): lambda t: t.get("use") != "home",
    ("us-core-16", "Practitioner.identifier:NPI"): _matches(r"[0-9]{10}"),
    ("us-core-17", "Practitioner.identifier:NPI"): _npi_luhn,
    ("us-core-16", "Organization.identifier:NPI"): _matches(r"[0-9]{10}"),
    ("us-core-17", "Organization.identifier:NPI"): _npi_luhn,
    ("us-core-18", "Organization.identifier:CLIA"): _matches(r"[0-9]{2}D[0-9]{7}"),
    ("us-core-19", "Organization.identifier:NAIC"): _matches(r"[0-9]{5}"),
    ("us-core-15", "Coverage"): lambda c: (
        _has(c, "subscriberId")
        or any(
            _has_coding(i.get("type"), "http://terminology.hl7.org/CodeSystem/v2-0203", ("MB",))
            for i in c.get("identifier", ())
            if isinstance(i, Mapping)
        )
    ),
    ("us-core-13", "PractitionerRole"): lambda r: any(
        _has(r, k) for k in ("practitioner", "organization", "healthcareService", "location")
    ),
    ("pd-1", "PractitionerRole"): lambda r: _has(r, "telecom") or _has(r, "endpoint"),
    ("con-1", "Condition.stage"): lambda s: _has(s, "summary") or _has(s, "assessment"),
    ("con-2", "Condition.evidence"): lambda e: _has(e, "code") or _has(e, "detail"),
    ("con-4", "Condition"): _con4,
    ("con-5", "Condition"): _con5,
}
