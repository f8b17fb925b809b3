"""Literal value sets that the US Core packages bind to but do not contain.

Two groups, both written as FHIR ``ValueSet.compose`` objects so that one
expansion routine (``terminology.py``) handles them and the package's own
ValueSets alike:

* FHIR R4 (4.0.1) core value sets bound ``required`` by the US Core profiles
  and data types we serve. Each entry cites its page under
  https://hl7.org/fhir/R4/ (the code lists are the R4 code systems verbatim).
* VSAC value sets (``http://cts.nlm.nih.gov/fhir/ValueSet/<oid>``) that US
  Core 6.1.0 uses for race, ethnicity and birth sex instead of the literal
  lists of 3.1.1. These are transcribed from the 3.1.1 lists and the VSAC
  expansions Inferno loads (us-core-test-kit ``REQUIRED_VSAC_VALUE_SET_URLS``);
  the detailed lists lean on the CDC Race & Ethnicity CodeSystem vendored in
  ``hl7.fhir.us.core-3.1.1/CodeSystem-cdcrec.json``.

A value set missing from here and from the package is "unknown": its binding
is skipped (never failed) and recorded in ``ProfileValidator.skipped_bindings``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CORE_VALUE_SETS"]

_FHIR = "http://hl7.org/fhir"
_NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
_V3_GENDER = "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender"
_CDCREC = "urn:oid:2.16.840.1.113883.6.238"
_VSAC = "http://cts.nlm.nih.gov/fhir/ValueSet/"
_OMB_RACE = ("1002-5", "2028-9", "2054-5", "2076-8", "2106-3")
_OMB_ETHNICITY = ("2135-2", "2186-5")


def _codes(system: str, *codes: str) -> dict[str, Any]:
    """One ``compose`` with a single include listing ``codes`` of ``system``."""
    return {"include": [{"system": system, "concept": [{"code": c} for c in codes]}]}


def _core(name: str, *codes: str, system: str | None = None) -> tuple[str, dict[str, Any]]:
    """A FHIR core value set whose code system is ``http://hl7.org/fhir/<name>``."""
    return f"{_FHIR}/ValueSet/{name}", _codes(system or f"{_FHIR}/{name}", *codes)


CORE_VALUE_SETS: dict[str, dict[str, Any]] = dict(
    [
        # https://hl7.org/fhir/R4/valueset-administrative-gender.html
        _core("administrative-gender", "male", "female", "other", "unknown"),
        # https://hl7.org/fhir/R4/valueset-contact-point-system.html
        _core("contact-point-system", "phone", "fax", "email", "pager", "url", "sms", "other"),
        # https://hl7.org/fhir/R4/valueset-contact-point-use.html
        _core("contact-point-use", "home", "work", "temp", "old", "mobile"),
        # https://hl7.org/fhir/R4/valueset-address-use.html
        _core("address-use", "home", "work", "temp", "old", "billing"),
        # https://hl7.org/fhir/R4/valueset-address-type.html
        _core("address-type", "postal", "physical", "both"),
        # https://hl7.org/fhir/R4/valueset-name-use.html
        _core("name-use", "usual", "official", "temp", "nickname", "anonymous", "old", "maiden"),
        # https://hl7.org/fhir/R4/valueset-identifier-use.html
        _core("identifier-use", "usual", "official", "temp", "secondary", "old"),
        # https://hl7.org/fhir/R4/valueset-narrative-status.html
        _core("narrative-status", "generated", "extensions", "additional", "empty"),
        # https://hl7.org/fhir/R4/valueset-publication-status.html
        _core("publication-status", "draft", "active", "retired", "unknown"),
        # https://hl7.org/fhir/R4/valueset-request-status.html
        _core(
            "request-status",
            "draft",
            "active",
            "on-hold",
            "revoked",
            "completed",
            "entered-in-error",
            "unknown",
        ),
        # https://hl7.org/fhir/R4/valueset-encounter-status.html
        _core(
            "encounter-status",
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        ),
        # https://hl7.org/fhir/R4/valueset-encounter-location-status.html
        _core("encounter-location-status", "planned", "active", "reserved", "completed"),
        # https://hl7.org/fhir/R4/valueset-fm-status.html
        _core("fm-status", "active", "cancelled", "draft", "entered-in-error"),
        # https://hl7.org/fhir/R4/valueset-location-status.html
        _core("location-status", "active", "suspended", "inactive"),
        # https://hl7.org/fhir/R4/valueset-location-mode.html
        _core("location-mode", "instance", "kind"),
        # https://hl7.org/fhir/R4/valueset-days-of-week.html
        _core("days-of-week", "mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        # https://hl7.org/fhir/R4/valueset-link-type.html
        _core("link-type", "replaced-by", "replaces", "refer", "seealso"),
        # https://hl7.org/fhir/R4/valueset-provenance-entity-role.html
        _core("provenance-entity-role", "derivation", "revision", "quotation", "source", "removal"),
        # https://hl7.org/fhir/R4/valueset-quantity-comparator.html
        _core("quantity-comparator", "<", "<=", ">=", ">"),
        # https://hl7.org/fhir/R4/valueset-condition-clinical.html
        _core(
            "condition-clinical",
            "active",
            "recurrence",
            "relapse",
            "inactive",
            "remission",
            "resolved",
            system="http://terminology.hl7.org/CodeSystem/condition-clinical",
        ),
        # https://hl7.org/fhir/R4/valueset-condition-ver-status.html
        _core(
            "condition-ver-status",
            "unconfirmed",
            "provisional",
            "differential",
            "confirmed",
            "refuted",
            "entered-in-error",
            system="http://terminology.hl7.org/CodeSystem/condition-ver-status",
        ),
        # --- VSAC value sets used by US Core 6.1.0 race/ethnicity/birthsex ---
        # Race (CDC) OMB categories (the five OMB race codes).
        (f"{_VSAC}2.16.840.1.114222.4.11.836", _codes(_CDCREC, *_OMB_RACE)),
        # Race Category Excluding Nulls (used as an exclude by detailed-race).
        (f"{_VSAC}2.16.840.1.113883.3.2074.1.1.3", _codes(_CDCREC, *_OMB_RACE)),
        # Ethnicity (CDC) OMB categories.
        (f"{_VSAC}2.16.840.1.114222.4.11.837", _codes(_CDCREC, *_OMB_ETHNICITY)),
        # Race: every CDC race concept (descendants of 1000-9).
        (
            f"{_VSAC}2.16.840.1.113883.1.11.14914",
            {
                "include": [
                    {
                        "system": _CDCREC,
                        "filter": [
                            {"property": "concept", "op": "descendent-of", "value": "1000-9"}
                        ],
                    }
                ]
            },
        ),
        # Detailed ethnicity: CDC ethnicity concepts (descendants of 2133-7).
        (
            f"{_VSAC}2.16.840.1.114222.4.11.877",
            {
                "include": [
                    {
                        "system": _CDCREC,
                        "filter": [
                            {"property": "concept", "op": "descendent-of", "value": "2133-7"}
                        ],
                    }
                ],
                "exclude": [{"system": _CDCREC, "concept": [{"code": c} for c in _OMB_ETHNICITY]}],
            },
        ),
        # ONC Administrative Sex.
        (f"{_VSAC}2.16.840.1.113762.1.4.1", _codes(_V3_GENDER, "F", "M")),
        # Unknown or asked-but-declined (null flavours used with OMB categories).
        (f"{_VSAC}2.16.840.1.113762.1.4.1021.102", _codes(_NULL_FLAVOR, "UNK", "ASKU")),
        # Other, unknown or asked-but-declined.
        (f"{_VSAC}2.16.840.1.113762.1.4.1021.103", _codes(_NULL_FLAVOR, "OTH", "UNK", "ASKU")),
    ]
)
