"""Tests for the test-side US Core profile validator (tests/support/profiles.py)."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Make ``tests.support`` importable however pytest is launched (``pytest`` puts
# only this file's folder on sys.path when ``tests/`` has no ``__init__.py``).
_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from tests.support.profiles import ProfileValidator, get_validator  # noqa: E402

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
PATIENT = f"{US_CORE}us-core-patient"
CDCREC = "urn:oid:2.16.840.1.113883.6.238"
Resource = dict[str, Any]


@pytest.fixture(scope="module")
def validator() -> ProfileValidator:
    return get_validator()


def _patient() -> Resource:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"profile": [PATIENT]},
        "extension": [
            {
                "url": f"{US_CORE}us-core-race",
                "extension": [
                    {"url": "ombCategory", "valueCoding": {"system": CDCREC, "code": "2106-3"}},
                    {"url": "detailed", "valueCoding": {"system": CDCREC, "code": "2108-9"}},
                    {"url": "text", "valueString": "White"},
                ],
            },
            {
                "url": f"{US_CORE}us-core-ethnicity",
                "extension": [
                    {"url": "ombCategory", "valueCoding": {"system": CDCREC, "code": "2186-5"}},
                    {"url": "text", "valueString": "Not Hispanic or Latino"},
                ],
            },
            {"url": f"{US_CORE}us-core-birthsex", "valueCode": "F"},
        ],
        "identifier": [{"use": "usual", "system": "urn:oid:2.16.840.1.113883.4.1", "value": "123"}],
        "name": [
            {"use": "official", "family": "Shaw", "given": ["Amy", "V."], "suffix": ["PhD"]},
            {"use": "old", "family": "Baxter", "given": ["Amy"], "period": {"end": "1999-06-01"}},
        ],
        "telecom": [
            {"system": "phone", "value": "555-555-5555", "use": "home"},
            {"system": "email", "value": "amy@example.org", "use": "work"},
        ],
        "gender": "female",
        "birthDate": "1987-02-20",
        "deceasedDateTime": "2020-01-01T10:00:00-05:00",
        "address": [
            {
                "use": "home",
                "line": ["49 Meadow St"],
                "city": "Mounds",
                "state": "OK",
                "postalCode": "74047",
                "period": {"start": "2010-01-01", "end": "2030-01-01"},
            }
        ],
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-US"}]}}
        ],
    }


@pytest.mark.parametrize("version", ["6.1.0", "3.1.1"])
def test_complete_patient_is_valid(validator: ProfileValidator, version: str) -> None:
    assert validator.validate(_patient(), f"{PATIENT}|{version}") == []


def test_profile_defaults_to_meta_profile(validator: ProfileValidator) -> None:
    validator.assert_valid(_patient())


def _race(p: Resource) -> list[Resource]:
    return p["extension"][0]["extension"]  # type: ignore[no-any-return]


def _no_identifier(p: Resource) -> None:
    del p["identifier"]


def _identifier_without_system(p: Resource) -> None:
    del p["identifier"][0]["system"]


def _gender_mail(p: Resource) -> None:
    p["gender"] = "mail"


def _race_without_text(p: Resource) -> None:
    p["extension"][0]["extension"] = [e for e in _race(p) if e["url"] != "text"]


def _race_bad_omb(p: Resource) -> None:
    _race(p)[0]["valueCoding"]["code"] = "2108-9"  # a detailed code, not an OMB category


def _telecom_pager2(p: Resource) -> None:
    p["telecom"][0]["system"] = "pager2"


def _address_house(p: Resource) -> None:
    p["address"][0]["use"] = "house"


def _bad_birth_date(p: Resource) -> None:
    p["birthDate"] = "1970-13-01"


def _unknown_element(p: Resource) -> None:
    p["favouriteColour"] = "blue"


def _no_meta_profile(p: Resource) -> None:
    del p["meta"]


def _nameless(p: Resource) -> None:
    p["name"] = [{"use": "official", "text": "Amy"}]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_no_identifier, "Patient.identifier: minimum cardinality 1"),
        (_identifier_without_system, "Patient.identifier[0].system: minimum cardinality 1"),
        (_gender_mail, "Patient.gender: code mail is not in required value set"),
        (_race_without_text, "Patient.extension[0].extension:text: minimum cardinality 1"),
        (_race_bad_omb, "Patient.extension[0].extension[0].valueCoding: code"),
        (_telecom_pager2, "Patient.telecom[0].system: code pager2"),
        (_address_house, "Patient.address[0].use: code house"),
        (_bad_birth_date, "Patient.birthDate"),
        (_unknown_element, "Patient.favouriteColour"),
        (_no_meta_profile, "Patient.meta.profile: does not declare"),
        (_nameless, "Patient.name[0]: constraint us-core-"),
    ],
)
@pytest.mark.parametrize("version", ["6.1.0", "3.1.1"])
def test_broken_patient_is_reported(
    validator: ProfileValidator, mutate: Callable[[Resource], None], expected: str, version: str
) -> None:
    patient = _patient()
    mutate(patient)
    errors = validator.validate(patient, f"{PATIENT}|{version}")
    assert any(e.startswith(expected) for e in errors), errors


def test_meta_profile_is_optional_when_asked(validator: ProfileValidator) -> None:
    patient = _patient()
    del patient["meta"]
    assert validator.validate(patient, PATIENT, require_meta_profile=False) == []


def test_data_absent_reason_satisfies_name_rule(validator: ProfileValidator) -> None:
    patient = _patient()
    dar = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
    patient["name"] = [{"extension": [{"url": dar, "valueCode": "unknown"}]}]
    assert validator.validate(patient) == []


def test_choice_type_outside_profile_is_reported(validator: ProfileValidator) -> None:
    patient = _patient()
    del patient["deceasedDateTime"]
    patient["deceasedString"] = "yes"
    errors = validator.validate(patient)
    assert any(e.startswith("Patient.deceasedString") for e in errors), errors


def test_birthsex_outside_value_set_is_reported(validator: ProfileValidator) -> None:
    patient = _patient()
    patient["extension"][2]["valueCode"] = "X"
    for version in ("6.1.0", "3.1.1"):
        errors = validator.validate(patient, f"{PATIENT}|{version}")
        assert any(e.startswith("Patient.extension[2].valueCode: code X") for e in errors), errors


def test_assert_valid_names_the_resource(validator: ProfileValidator) -> None:
    patient = _patient()
    patient["gender"] = "mail"
    with pytest.raises(AssertionError, match=r"Patient/p1 .*\n.*Patient\.gender"):
        validator.assert_valid(patient)


def _encounter() -> Resource:
    return {
        "resourceType": "Encounter",
        "id": "e1",
        "meta": {"profile": [f"{US_CORE}us-core-encounter"]},
        "identifier": [{"system": "urn:athena:encounter", "value": "e1"}],
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
        },
        "type": [{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]}],
        "subject": {"reference": "Patient/p1"},
        "participant": [
            {
                "type": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "PPRF",
                            }
                        ]
                    }
                ],
                "period": {"start": "2024-01-02T09:00:00-05:00"},
                "individual": {"reference": "Practitioner/pr1"},
            }
        ],
        "period": {"start": "2024-01-02T09:00:00-05:00", "end": "2024-01-02T09:30:00-05:00"},
        "reasonCode": [{"text": "Annual physical"}],
        "location": [{"location": {"reference": "Location/l1"}, "status": "completed"}],
        "serviceProvider": {"reference": "Organization/o1"},
    }


@pytest.mark.parametrize("version", ["6.1.0", "3.1.1"])
def test_encounter_is_valid(validator: ProfileValidator, version: str) -> None:
    encounter = _encounter()
    if version == "3.1.1":
        del encounter["serviceProvider"]  # no such must-support element, still valid R4
    assert validator.validate(encounter, f"{US_CORE}us-core-encounter|{version}") == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e.pop("class"), "Encounter.class: minimum cardinality 1"),
        (lambda e: e.update(status="done"), "Encounter.status: code done"),
        (
            lambda e: e["location"][0].update(status="gone"),
            "Encounter.location[0].status: code gone",
        ),
        (
            lambda e: e.update(subject={"reference": "Group/g1"}),
            "Encounter.subject.reference: Group is not an allowed target",
        ),
        (
            lambda e: e.update(subject={"reference": "patients/p1"}),
            "Encounter.subject.reference: 'patients/p1' is neither",
        ),
    ],
)
def test_broken_encounter_is_reported(
    validator: ProfileValidator, mutate: Callable[[Resource], object], expected: str
) -> None:
    encounter = _encounter()
    mutate(encounter)
    errors = validator.validate(encounter)
    assert any(e.startswith(expected) for e in errors), errors


def _practitioner() -> Resource:
    return {
        "resourceType": "Practitioner",
        "id": "pr1",
        "meta": {"profile": [f"{US_CORE}us-core-practitioner"]},
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
        "name": [{"family": "Careful", "given": ["Adam"], "prefix": ["Dr"]}],
        "telecom": [{"system": "phone", "value": "555-555-1234", "use": "work"}],
        "address": [
            {"line": ["1 Main St"], "city": "Boston", "state": "MA", "postalCode": "02110"}
        ],
    }


def _organization() -> Resource:
    return {
        "resourceType": "Organization",
        "id": "o1",
        "meta": {"profile": [f"{US_CORE}us-core-organization"]},
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1144221847"}],
        "active": True,
        "name": "Acme Clinic",
        "telecom": [{"system": "phone", "value": "555-555-0000", "use": "work"}],
        "address": [
            {"line": ["1 Main St"], "city": "Boston", "state": "MA", "postalCode": "02110"}
        ],
    }


def _location() -> Resource:
    return {
        "resourceType": "Location",
        "id": "l1",
        "meta": {"profile": [f"{US_CORE}us-core-location"]},
        "status": "active",
        "name": "Acme Clinic, Main St",
        "telecom": [{"system": "phone", "value": "555-555-0000"}],
        "address": {"line": ["1 Main St"], "city": "Boston", "state": "MA", "postalCode": "02110"},
        "managingOrganization": {"reference": "Organization/o1"},
    }


@pytest.mark.parametrize("version", ["6.1.0", "3.1.1"])
@pytest.mark.parametrize("build", [_practitioner, _organization, _location])
def test_other_profiles_are_valid(
    validator: ProfileValidator, build: Callable[[], Resource], version: str
) -> None:
    resource = build()
    profile = resource["meta"]["profile"][0]
    assert validator.validate(resource, f"{profile}|{version}") == []


def test_npi_check_digit_is_enforced(validator: ProfileValidator) -> None:
    practitioner = _practitioner()
    practitioner["identifier"][0]["value"] = "1234567890"
    errors = validator.validate(practitioner, f"{US_CORE}us-core-practitioner|6.1.0")
    assert any("constraint us-core-17" in e for e in errors), errors


def test_organization_home_address_is_reported(validator: ProfileValidator) -> None:
    organization = _organization()
    organization["address"][0]["use"] = "home"
    errors = validator.validate(organization)
    assert any(e.startswith("Organization.address[0]: constraint org-2") for e in errors), errors


def test_unknown_profile_is_an_error(validator: ProfileValidator) -> None:
    errors = validator.validate(_patient(), f"{US_CORE}us-core-nothing")
    assert errors and "not in the loaded packages" in errors[0]


def test_validation_does_not_mutate_input(validator: ProfileValidator) -> None:
    patient = _patient()
    before = copy.deepcopy(patient)
    validator.validate(patient)
    assert patient == before


def test_validator_is_built_once() -> None:
    assert get_validator() is get_validator()
