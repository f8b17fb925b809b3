"""Real-time eligibility over real HTTP: CoverageEligibilityRequest/$submit and create, the
kept requests and responses, slow, down and rejecting payers, invalid requests, keyed
retries and the patient compartment.

Every response is valid base R4 (fhir.resources R4B) and holds ces-1. The full request
and response of Donna's office-visit check are written to
``test-artifacts/eligibility-60178-office-visit.json`` (the README example).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.coverage.support import (
    DONNA,
    DOWN,
    ELEANA,
    ELIGIBILITY,
    FHIR_JSON,
    FRANKIE,
    GARY,
    PID,
    SLOW,
    UNKNOWN,
    Json,
    Stack,
    coverage_id,
    entries,
    ids,
    issue,
    search,
    stack,
)
from tests.support.profiles import _base_errors

X12 = "https://x12.org/codes/service-type-codes"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
SUBMIT = "CoverageEligibilityRequest/$submit"
PACKAGES = {7001: 8477, 7002: 31724, 7003: 8477, 7005: 900101, 7006: 900201, 7007: 900104, 7008: 900105}  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("eligibility")) as running:
        yield running


@pytest.fixture(scope="module")
def fhir(site: Stack) -> Iterator[httpx.Client]:
    with site.system() as client:
        yield client


@pytest.fixture(scope="module")
def donna(site: Stack) -> Iterator[httpx.Client]:
    with site.user("patient.demo", "openid fhirUser patient/*.cruds") as client:
        yield client


def request_for(patient: str, insuranceid: int | None, *categories: str, **extra: Any) -> Json:
    body: Json = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["validation", "benefits"],
        "patient": {"reference": f"Patient/{patient}"},
        "created": "2025-06-30T10:00:00-04:00",
        "insurer": {
            "reference": f"Organization/a-{PID}.InsurancePackage-{PACKAGES.get(insuranceid or 7001, 8477)}"
        },
    }
    if insuranceid is not None:
        body["insurance"] = [
            {"focal": True, "coverage": {"reference": f"Coverage/{coverage_id(insuranceid)}"}}
        ]
    if categories:
        body["item"] = [{"category": {"coding": [{"system": X12, "code": c}]}} for c in categories]
    return {**body, **extra}


def submit(client: httpx.Client, body: Json, **headers: str) -> httpx.Response:
    return client.post(SUBMIT, json=body, headers={**FHIR_JSON, **headers})


def checked(response: httpx.Response) -> Json:
    """A $submit answer: 200 with a valid CoverageEligibilityResponse that keeps ces-1."""
    assert response.status_code == 200, response.text
    body: Json = response.json()
    assert body["resourceType"] == "CoverageEligibilityResponse"
    assert _base_errors(body) == []
    for key in ("request", "patient", "insurer", "created", "outcome", "disposition"):
        assert body.get(key), key
    for insurance in body.get("insurance", []):
        assert insurance["coverage"]["reference"].startswith("Coverage/")
        if body["outcome"] in ("complete", "partial"):
            assert isinstance(insurance["inforce"], bool)
        for item in insurance.get("item", []):
            assert ("category" in item) != ("productOrService" in item)  # ces-1
    return body


def item(response: Json, code: str, network: str = "in") -> Json:
    for found in response["insurance"][0]["item"]:
        codes = [c["code"] for c in found["category"]["coding"]]
        nets = [c["code"] for c in found.get("network", {}).get("coding", [])]
        if code in codes and (network in nets if network else not nets):
            result: Json = found
            return result
    raise AssertionError(f"no item {code} {network}")


def money(item: Json, kind: str) -> Any:
    benefit = next(b for b in item["benefit"] if b["type"]["coding"][0]["code"] == kind)
    return benefit.get("allowedMoney", benefit.get("allowedUnsignedInt"))


def test_office_visit_for_donna(site: Stack, fhir: httpx.Client) -> None:
    """A client that knows only FHIR R4: find her Coverage, check it, read the answer."""
    (coverage,) = entries(search(fhir, "Coverage", patient=DONNA))
    payor = coverage["payor"][0]["reference"]
    request = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["validation", "benefits"],
        "patient": {"reference": f"Patient/{DONNA}"},
        "created": "2025-06-30T10:00:00-04:00",
        "insurer": {"reference": payor},
        "insurance": [{"focal": True, "coverage": {"reference": f"Coverage/{coverage['id']}"}}],
        "servicedDate": "2025-07-01",
        "item": [{"category": {"coding": [{"system": X12, "code": "98"}]}}],
    }
    response = checked(submit(fhir, request))
    ARTIFACTS.mkdir(exist_ok=True)
    example = {"request": request, "response": response}
    (ARTIFACTS / "eligibility-60178-office-visit.json").write_text(json.dumps(example, indent=2))
    assert response["outcome"] == "complete"
    assert response["disposition"] == "Member is eligible."
    assert response["servicedDate"] == "2025-07-01"
    assert response["insurer"]["reference"] == payor
    (insurance,) = response["insurance"]
    assert insurance["coverage"] == {"reference": f"Coverage/{coverage['id']}"}
    assert insurance["inforce"] is True
    office = item(response, "98")
    assert office["unit"]["coding"][0]["code"] == "individual"
    assert money(office, "copay") == {"value": 25.0, "currency": "USD"}
    assert money(office, "copay-percent") == 20  # coinsurance, in percent
    x12 = office["benefit"][0]["type"]["coding"][1]
    assert x12 == {"system": "https://codesystem.x12.org/005010/1390", "code": "B", "display": "Co-Payment"}  # fmt: skip
    assert item(response, "98", "out")["benefit"][0]["allowedUnsignedInt"] == 40

    # both are kept: readable and searchable
    request_id = response["request"]["reference"]
    kept = fhir.get(request_id).json()
    assert kept["resourceType"] == "CoverageEligibilityRequest" and _base_errors(kept) == []
    assert {k: kept[k] for k in request} == {**request}
    assert fhir.get(f"CoverageEligibilityResponse/{response['id']}").json() == response
    for params in (
        {"patient": DONNA},
        {"request": request_id},
        {"patient": f"Patient/{DONNA}", "outcome": "complete"},
        {"insurer": payor, "patient": DONNA},
        {"created": f"ge{response['created'][:10]}", "patient": DONNA},
        {"_id": response["id"]},
    ):
        assert response["id"] in ids(search(fhir, "CoverageEligibilityResponse", **params)), params
    assert ids(search(fhir, "CoverageEligibilityResponse", patient=DONNA, outcome="error")) == []
    assert kept["id"] in ids(search(fhir, "CoverageEligibilityRequest", patient=DONNA))
    assert site.calls("POST", ELIGIBILITY) >= 1


def test_all_benefits_of_the_plan(fhir: httpx.Client) -> None:
    """No item.category: the whole plan (X12 30): deductibles and out-of-pocket by network,
    individual and family, calendar-year totals with what is used."""
    response = checked(submit(fhir, request_for(DONNA, 7001)))
    by_key = {
        (
            i["category"]["coding"][0]["code"],
            i.get("network", {}).get("coding", [{}])[0].get("code"),
            i.get("unit", {}).get("coding", [{}])[0].get("code"),
        ): i
        for i in response["insurance"][0]["item"]
    }
    yearly = by_key[("30", "in", "individual")]
    assert yearly["term"]["coding"][0]["code"] == "annual"
    deductible = next(
        b for b in yearly["benefit"] if b["type"]["coding"][0]["code"] == "deductible"
    )
    assert deductible["allowedMoney"] == {"value": 1500.0, "currency": "USD"}
    assert 0 <= deductible["usedMoney"]["value"] <= 1500
    oop = next(b for b in yearly["benefit"] if b["type"]["coding"][1]["code"] == "G")
    assert oop["type"]["coding"][0]["code"] == "maxoutofpocket"
    assert {("30", "in", "family"), ("30", "out", "individual"), ("30", "out", "family")} <= set(
        by_key
    )
    for code in ("98", "3", "UC", "86", "BZ"):
        assert money(item(response, code), "copay")["currency"] == "USD"
    several = checked(submit(fhir, request_for(DONNA, 7001, "98", "UC")))
    assert {i["category"]["coding"][0]["code"] for i in several["insurance"][0]["item"]} == {
        "98",
        "UC",
    }


def test_the_three_input_forms_and_create(fhir: httpx.Client) -> None:
    bare = request_for(ELEANA, 7003, "98")
    answers = [checked(submit(fhir, bare))]
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": bare}],
    }
    answers.append(checked(submit(fhir, parameters)))
    in_bundle = {
        **bare,
        "patient": {"reference": "urn:uuid:7c0f0c52-0001"},
        "insurance": [{"coverage": {"reference": "urn:uuid:7c0f0c52-0002"}}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:7c0f0c52-0000", "resource": in_bundle},
            {"fullUrl": "urn:uuid:7c0f0c52-0001", "resource": {"resourceType": "Patient", "id": ELEANA}},
            {"fullUrl": "urn:uuid:7c0f0c52-0002", "resource": {"resourceType": "Coverage", "id": coverage_id(7003)}},
        ],
    }  # fmt: skip
    answers.append(checked(submit(fhir, bundle)))
    assert len({a["id"] for a in answers}) == 3  # three checks, three responses
    for answer in answers:
        assert answer["outcome"] == "complete" and answer["patient"] == {
            "reference": f"Patient/{ELEANA}"
        }
        assert answer["insurance"][0]["coverage"] == {"reference": f"Coverage/{coverage_id(7003)}"}
    created = fhir.post("CoverageEligibilityRequest", json=bare, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    request = created.json()
    assert created.headers["location"].endswith(f"/CoverageEligibilityRequest/{request['id']}")
    assert _base_errors(request) == [] and request["status"] == "active"
    (response,) = entries(
        search(
            fhir,
            "CoverageEligibilityResponse",
            request=f"CoverageEligibilityRequest/{request['id']}",
        )
    )
    assert checked(httpx.Response(200, json=response))["outcome"] == "complete"


def test_without_a_coverage_the_primary(fhir: httpx.Client) -> None:
    response = checked(submit(fhir, request_for(ELEANA, None, insurer={"reference": f"Organization/a-{PID}.InsurancePackage-31724"})))  # fmt: skip
    assert response["insurance"][0]["coverage"] == {"reference": f"Coverage/{coverage_id(7002)}"}
    wrong = submit(fhir, request_for(ELEANA, None))  # BCBS is her secondary's payer
    assert issue(wrong, 422)["expression"] == ["CoverageEligibilityRequest.insurer"]


def test_an_expired_policy_is_not_in_force(fhir: httpx.Client) -> None:
    response = checked(submit(fhir, request_for(GARY, 7005)))
    assert response["outcome"] == "complete" and response["insurance"][0]["inforce"] is False
    assert "12/31/2024" in response["disposition"]


def test_payer_rejections_are_outcome_error(fhir: httpx.Client) -> None:
    down = checked(submit(fhir, request_for(DOWN, 7007)))
    assert down["outcome"] == "error" and "try again later" in down["disposition"]
    assert down["error"][0]["code"]["coding"][0]["code"] == "42"
    assert "inforce" not in down["insurance"][0]
    unknown = checked(submit(fhir, request_for(UNKNOWN, 7008)))
    assert unknown["outcome"] == "error"
    assert unknown["error"][0]["code"]["coding"] == [
        {
            "system": "https://codesystem.x12.org/005010/901",
            "code": "75",
            "display": "Subscriber/Insured Not Found",
        }
    ]
    self_pay = checked(submit(fhir, request_for(FRANKIE, None)))
    assert self_pay["outcome"] == "error" and "self-pay" in self_pay["disposition"]
    assert "insurance" not in self_pay


def test_a_slow_payer_is_queued_then_complete(site: Stack, fhir: httpx.Client) -> None:
    queued = checked(submit(fhir, request_for(SLOW, 7006, "98")))
    assert queued["outcome"] == "queued" and "read it again later" in queued["disposition"]
    assert "inforce" not in queued["insurance"][0]
    rid = f"CoverageEligibilityResponse/{queued['id']}"
    assert fhir.get(rid).json()["outcome"] == "queued"  # the payer has not answered yet
    site.clock.advance(21)  # the emulator's slow payer answers after 20 s
    complete = checked(fhir.get(rid))
    assert complete["id"] == queued["id"] and complete["outcome"] == "complete"
    assert complete["insurance"][0]["inforce"] is True and complete["created"] == queued["created"]
    assert complete["request"] == queued["request"]
    assert fhir.get(rid).json() == complete  # settled in the store
    found = search(fhir, "CoverageEligibilityResponse", patient=SLOW, outcome="complete")
    assert queued["id"] in ids(found)


def test_invalid_requests(site: Stack, fhir: httpx.Client) -> None:
    base = request_for(DONNA, 7001)
    no_patient = {k: v for k, v in base.items() if k != "patient"}
    for body, status, element in (
        (no_patient, 400, "CoverageEligibilityRequest.patient"),
        ({k: v for k, v in base.items() if k != "insurer"}, 400, "CoverageEligibilityRequest.insurer"),
        ({**base, "purpose": []}, 400, "CoverageEligibilityRequest.purpose"),
        ({**base, "purpose": ["discovery"]}, 422, "CoverageEligibilityRequest.purpose"),
        ({**base, "status": "draft"}, 422, "CoverageEligibilityRequest.status"),
        # another patient's coverage
        (request_for(DONNA, 7002, insurer={"reference": f"Organization/a-{PID}.InsurancePackage-31724"}),
         422, "CoverageEligibilityRequest.insurance[0].coverage.reference"),
        (request_for(DONNA, 7001, "98", item=[{"category": {"coding": [{"code": "98"}]}}]),
         422, "CoverageEligibilityRequest.item[0].category"),
        (request_for(DONNA, 7001, "ZZ"), 422, "CoverageEligibilityRequest.item.category.coding.code"),
        ({**base, "insurance": [{"coverage": {"reference": "Coverage/a-195901.Coverage-7001"}}]},
         400, "CoverageEligibilityRequest.insurance[0].coverage.reference"),
        ({**base, "resourceType": "Claim"}, 400, "resourceType"),
        ({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient"}}]}, 400, "Bundle.entry[0].resource"),
        ({"resourceType": "Parameters", "parameter": []}, 400, "Parameters.parameter"),
    ):  # fmt: skip
        found = issue(submit(fhir, body), status)
        assert found.get("expression") == [element], (body, found)
    unknown = issue(submit(fhir, request_for(DONNA, 99999)), 404)
    assert unknown["expression"] == ["CoverageEligibilityRequest.insurance[0].coverage.reference"]
    nobody = issue(submit(fhir, request_for("a-195900.E-99999999", None)), 404)
    assert nobody["expression"] == ["CoverageEligibilityRequest.patient"]


def test_keyed_retries_check_once(site: Stack, fhir: httpx.Client) -> None:
    site.world.reset_call_counts()
    body = request_for(ELEANA, 7002)
    first = checked(submit(fhir, body, **{"Idempotency-Key": "eleana-before-visit"}))
    again = checked(submit(fhir, body, **{"Idempotency-Key": "eleana-before-visit"}))
    assert again == first
    assert site.calls("POST", ELIGIBILITY) == 1
    other = submit(
        fhir, {**body, "purpose": ["validation"]}, **{"Idempotency-Key": "eleana-before-visit"}
    )
    assert issue(other, 422)["expression"] == ["Idempotency-Key"]
    created = [
        fhir.post("CoverageEligibilityRequest", json=body, headers={**FHIR_JSON, "Idempotency-Key": "create-1"})
        for _ in range(2)
    ]  # fmt: skip
    assert [c.status_code for c in created] == [201, 201] and created[0].json() == created[1].json()
    assert site.calls("POST", ELIGIBILITY) == 2


def test_a_patient_checks_only_her_own(
    site: Stack, fhir: httpx.Client, donna: httpx.Client
) -> None:
    theirs = checked(submit(fhir, request_for(ELEANA, 7003)))
    site.world.reset_call_counts()
    refused = [
        submit(donna, request_for(ELEANA, 7003)),  # another patient
        submit(donna, request_for(DONNA, 7003)),  # her own name, another patient's coverage
        submit(donna, request_for(ELEANA, None)),
    ]
    assert [r.status_code for r in refused] == [403, 404, 403]
    assert all(r.json()["resourceType"] == "OperationOutcome" for r in refused)
    assert site.calls("POST", ELIGIBILITY) == 0
    assert donna.get(f"CoverageEligibilityResponse/{theirs['id']}").status_code == 404
    assert donna.get(theirs["request"]["reference"]).status_code == 404
    assert ids(search(donna, "CoverageEligibilityResponse", patient=ELEANA)) == []
    mine = checked(submit(donna, request_for(DONNA, 7001, "98")))
    assert donna.get(f"CoverageEligibilityResponse/{mine['id']}").json() == mine
    assert set(ids(search(donna, "CoverageEligibilityResponse"))) >= {mine["id"]}
    for response in entries(search(donna, "CoverageEligibilityResponse", _count="100")):
        assert response["patient"] == {"reference": f"Patient/{DONNA}"}
    assert site.calls("POST", ELIGIBILITY) == 1


def test_scope_letters(site: Stack) -> None:
    from tests.conftest import dev_token

    with site.client(dev_token(site.base, "system/CoverageEligibilityRequest.c")) as create_only:
        response = checked(submit(create_only, request_for(DONNA, 7001)))
        assert create_only.get(f"CoverageEligibilityResponse/{response['id']}").status_code == 403
        assert (
            create_only.get("CoverageEligibilityResponse", params={"patient": DONNA}).status_code
            == 403
        )
    with site.client(dev_token(site.base, "system/*.rs")) as read_only:
        assert submit(read_only, request_for(DONNA, 7001)).status_code == 403
        assert read_only.get(f"CoverageEligibilityResponse/{response['id']}").status_code == 200


def test_metadata_and_operation_definition(fhir: httpx.Client) -> None:
    statement = fhir.get("metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    request = by_type["CoverageEligibilityRequest"]
    assert request["operation"] == [
        {
            "name": "submit",
            "definition": "http://hl7.org/fhir/OperationDefinition/CoverageEligibilityRequest-submit",
            "documentation": request["operation"][0]["documentation"],
        }
    ]
    assert {i["code"] for i in request["interaction"]} >= {"read", "search-type", "create"}
    response = by_type["CoverageEligibilityResponse"]
    assert {p["name"] for p in response["searchParam"]} == {
        "_id", "patient", "request", "created", "outcome", "insurer"
    }  # fmt: skip
    definition = fhir.get("OperationDefinition/CoverageEligibilityRequest-submit").json()
    assert (
        definition["base"]
        == "http://hl7.org/fhir/OperationDefinition/CoverageEligibilityRequest-submit"
    )
    assert definition["code"] == "submit" and definition["resource"] == [
        "CoverageEligibilityRequest"
    ]
    assert _base_errors(definition) == []
