"""US Core 6.1 Coverage over real HTTP: read, search, the payer Organization, /metadata.

Every served Coverage validates against us-core-coverage 6.1.0 (us-core-15 included) and
every payor it names resolves to a US Core Organization.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.coverage.support import (
    DONNA,
    DOWN,
    ELEANA,
    FRANKIE,
    GARY,
    PID,
    SLOW,
    UNKNOWN,
    US_CORE_COVERAGE,
    US_CORE_ORGANIZATION,
    Stack,
    coverage_id,
    entries,
    ids,
    issue,
    search,
    stack,
)
from tests.support.profiles import ProfileValidator

SANDBOX = [DONNA, ELEANA, FRANKIE, GARY, SLOW, DOWN, UNKNOWN]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("coverage")) as running:
        yield running


@pytest.fixture(scope="module")
def fhir(site: Stack) -> Iterator[httpx.Client]:
    with site.system() as client:
        yield client


def test_a_patients_coverage(fhir: httpx.Client, validator: ProfileValidator) -> None:
    """Donna's primary: every must-support element athena has, from /v1."""
    (coverage,) = entries(search(fhir, "Coverage", patient=DONNA))
    validator.assert_valid(coverage, US_CORE_COVERAGE)
    assert coverage["id"] == coverage_id(7001)
    assert coverage["status"] == "active" and coverage["order"] == 1
    member = next(i for i in coverage["identifier"] if "type" in i)
    assert member["type"]["coding"][0]["code"] == "MB" and member["value"] == "XKB884412078"
    assert coverage["subscriberId"] == "XKB884412078"
    assert coverage["beneficiary"] == {"reference": f"Patient/{DONNA}"}
    assert coverage["subscriber"] == coverage["policyHolder"] == coverage["beneficiary"]
    assert coverage["relationship"]["coding"][0]["code"] == "self"
    assert coverage["period"] == {"start": "2024-01-01"}
    assert coverage["payor"] == [
        {
            "reference": f"Organization/a-{PID}.InsurancePackage-8477",
            "display": "BCBS-MA: BCBS (PPO)",
        }
    ]
    classes = {c["type"]["coding"][0]["code"]: c for c in coverage["class"]}
    assert classes["group"]["value"] == "004871200"
    assert classes["plan"] == {**classes["plan"], "value": "8477", "name": "BCBS-MA: BCBS (PPO)"}
    office = next(
        c for c in coverage["costToBeneficiary"] if c["type"]["coding"][0]["code"] == "gpvisit"
    )
    assert office["valueMoney"] == {"value": 25.0, "currency": "USD"}
    read = fhir.get(f"Coverage/{coverage['id']}")
    assert read.status_code == 200 and read.json() == coverage


def test_every_sandbox_coverage_is_us_core(fhir: httpx.Client, validator: ProfileValidator) -> None:
    found = {p: ids(search(fhir, "Coverage", patient=p)) for p in SANDBOX}
    assert found == {
        DONNA: [coverage_id(7001)],
        ELEANA: [coverage_id(7002), coverage_id(7003)],
        FRANKIE: [],  # self-pay is no Coverage
        GARY: [coverage_id(7005)],
        SLOW: [coverage_id(7006)],
        DOWN: [coverage_id(7007)],
        UNKNOWN: [coverage_id(7008)],
    }
    payors = set()
    for patient in SANDBOX:
        for coverage in entries(search(fhir, "Coverage", patient=patient)):
            validator.assert_valid(coverage, US_CORE_COVERAGE)
            assert fhir.get(f"Coverage/{coverage['id']}").json() == coverage
            payors.add(coverage["payor"][0]["reference"])
    for reference in sorted(payors):
        organization = fhir.get(reference)
        assert organization.status_code == 200, reference
        validator.assert_valid(organization.json(), US_CORE_ORGANIZATION)
        assert organization.json()["type"][0]["coding"][0]["code"] == "pay"


def test_generated_patients_coverages_are_us_core(
    fhir: httpx.Client, validator: ProfileValidator
) -> None:
    """A realistic mix: Medicare, Medicaid, a parent's or spouse's plan, secondaries."""
    patients = search(fhir, "Patient", name="a", _count="40")
    relationships = set()
    for patient in entries(patients):
        for coverage in entries(search(fhir, "Coverage", patient=patient["id"])):
            validator.assert_valid(coverage, US_CORE_COVERAGE)
            relationships.add(coverage["relationship"]["coding"][0]["code"])
            if coverage["relationship"]["coding"][0]["code"] != "self":
                (holder,) = coverage["contained"]
                assert coverage["subscriber"] == {"reference": "#holder"}
                assert holder["resourceType"] == "RelatedPerson" and holder["name"]
    assert "self" in relationships and len(relationships) > 1


def test_a_spouses_plan_names_its_holder(fhir: httpx.Client, validator: ProfileValidator) -> None:
    secondary = fhir.get(f"Coverage/{coverage_id(7003)}").json()
    validator.assert_valid(secondary, US_CORE_COVERAGE)
    assert secondary["order"] == 2 and secondary["relationship"]["coding"][0]["code"] == "spouse"
    assert secondary["subscriber"] == secondary["policyHolder"] == {"reference": "#holder"}
    (holder,) = secondary["contained"]
    assert holder == {
        "id": "holder",
        "resourceType": "RelatedPerson",
        "patient": {"reference": f"Patient/{ELEANA}"},
        "name": [{"family": "SANDBOXTEST", "given": ["MARCO"]}],
        "gender": "male",
        "birthDate": "1986-02-11",
        "address": [holder["address"][0]],
    }


def test_an_expired_policy_is_not_in_force(fhir: httpx.Client) -> None:
    expired = fhir.get(f"Coverage/{coverage_id(7005)}").json()
    assert expired["status"] == "cancelled" and expired["period"]["end"] == "2024-12-31"
    assert ids(search(fhir, "Coverage", patient=GARY, status="cancelled")) == [coverage_id(7005)]
    assert ids(search(fhir, "Coverage", patient=GARY, status="active")) == []


def test_search_parameters(fhir: httpx.Client) -> None:
    primary, secondary = coverage_id(7002), coverage_id(7003)
    for params, expected in (
        ({"patient": f"Patient/{ELEANA}"}, [primary, secondary]),
        ({"patient:Patient": ELEANA}, [primary, secondary]),
        ({"_id": secondary}, [secondary]),
        ({"_id": secondary, "patient": ELEANA}, [secondary]),
        ({"_id": secondary, "patient": DONNA}, []),
        ({"patient": ELEANA, "payor": f"Organization/a-{PID}.InsurancePackage-8477"}, [secondary]),
        ({"patient": ELEANA, "status": "active"}, [primary, secondary]),
        ({"_id": coverage_id(7004)}, []),  # self-pay
        ({"_id": coverage_id(99999)}, []),  # unknown to athena
        ({"_id": "a-195901.Coverage-7001"}, []),  # another practice
    ):
        assert ids(search(fhir, "Coverage", **params)) == expected, params
    post = fhir.post(
        "Coverage/_search",
        data={"patient": ELEANA},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ids(post.json()) == [primary, secondary]
    refused = issue(
        fhir.get("Coverage", params={"payor": "Organization/a-195900.InsurancePackage-8477"}), 400
    )
    assert "patient" in refused["diagnostics"]
    assert fhir.get("Coverage/not-an-id").status_code == 400
    assert fhir.get(f"Coverage/{coverage_id(99999)}").status_code == 404


def test_revinclude_provenance(fhir: httpx.Client, validator: ProfileValidator) -> None:
    bundle = search(fhir, "Coverage", patient=ELEANA, _revinclude="Provenance:target")
    included = entries(bundle, "include")
    assert sorted(p["target"][0]["reference"] for p in included) == [
        f"Coverage/{coverage_id(7002)}",
        f"Coverage/{coverage_id(7003)}",
    ]
    for provenance in included:
        validator.assert_valid(provenance)
        assert fhir.get(f"Provenance/{provenance['id']}").json() == provenance


def test_metadata(fhir: httpx.Client) -> None:
    statement = fhir.get("metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    coverage = by_type["Coverage"]
    assert coverage["supportedProfile"] == [US_CORE_COVERAGE]
    params = {p["name"]: p["definition"] for p in coverage["searchParam"]}
    assert params["patient"] == (
        "http://hl7.org/fhir/us/core/SearchParameter/us-core-coverage-patient"
    )
    assert {"_id", "status", "payor"} <= set(params)
    assert coverage["searchRevInclude"] == ["Provenance:target"]
    codes = {i["code"] for i in coverage["interaction"]}
    assert {"read", "search-type", "create", "update"} <= codes
    assert "Organization" in by_type
