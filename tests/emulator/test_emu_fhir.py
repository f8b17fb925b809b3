"""Native athena FHIR Patient read and search (API-NOTES 5.2-5.5)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

PRACTICE = "Organization/a-1.Practice-195900"
INVALID = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "business-rule", "details": "Invalid FHIR request"}],
}
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"


def _ext(resource: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [e for e in resource["extension"] if e["url"].endswith(name)]
    assert len(found) == 1
    return found[0]


def test_read_sandbox_patient_is_rich(fhir: httpx.Client) -> None:
    response = fhir.get("/Patient/a-195900.E-60183")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    patient = response.json()
    assert patient["id"] == "a-195900.E-60183"
    assert patient["identifier"][0]["system"] == "urn:athenahealth:athenanet:patient:195900"
    assert patient["identifier"][0]["value"] == "60183"
    uses = {n["use"]: n for n in patient["name"]}
    assert uses["official"]["given"] == ["Anna", "Grace"]
    assert uses["usual"]["given"] == ["Annie"]
    assert uses["old"]["period"]["end"] == "2012-06-30"
    assert {(t["system"], t["use"]) for t in patient["telecom"]} == {
        ("phone", "home"), ("phone", "mobile"), ("phone", "work"), ("email", "home")
    }  # fmt: skip
    assert patient["address"][0]["period"]["start"] == "2019-06-17"
    assert patient["communication"][0]["language"]["coding"][0] == {
        "system": "urn:ietf:bcp:47", "code": "es", "display": "Spanish"
    }  # fmt: skip
    race = _ext(patient, "us-core-race")
    assert race["extension"][0]["valueCoding"]["system"] == "urn:oid:2.16.840.1.113883.6.238"
    assert _ext(patient, "us-core-ethnicity")["extension"][0]["valueCoding"]["code"] == "2135-2"
    assert _ext(patient, "us-core-birthsex")["valueCode"] == "F"
    assert (
        _ext(patient, "us-core-genderIdentity")["valueCodeableConcept"]["coding"][0]["code"]
        == "446141000124107"
    )
    assert _ext(patient, "ah-practice")["valueReference"] == {"reference": PRACTICE}
    assert patient["meta"]["lastUpdated"].endswith("Z")


def test_read_errors(fhir: httpx.Client) -> None:
    assert fhir.get("/Patient/60178").json() == INVALID
    assert fhir.get("/Patient/60178").status_code == 400
    missing = fhir.get("/Patient/a-195900.E-1")
    assert missing.status_code == 404
    assert missing.json()["issue"][0]["code"] == "not-found"
    assert fhir.get("/Patient/a-195901.E-60178").status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"name": "Sandboxtest"},  # no ah-practice
        {"ah-practice": PRACTICE},
        {"ah-practice": PRACTICE, "family": "Sandboxtest"},
        {"ah-practice": PRACTICE, "given": "Donna"},
        {"ah-practice": PRACTICE, "birthdate": "1972-10-24"},
        {"ah-practice": PRACTICE, "_lastUpdated": "ge2020-01-01"},
        {"ah-practice": "Organization/a-1.Practice-42", "name": "x"},
        {"_id": "60178"},
        {"ah-practice": PRACTICE, "_id": "60178"},
        {"ah-practice": PRACTICE, "name": "x", "cursor": "garbage"},
        {"ah-practice": PRACTICE, "name": "x", "unknown-param": "1"},
        {"ah-practice": PRACTICE, "family": "x", "gender": "robot"},
    ],
)
def test_invalid_searches_are_athena_400(fhir: httpx.Client, params: dict[str, str]) -> None:
    response = fhir.get("/Patient", params=params)
    assert response.status_code == 400
    assert response.json() == INVALID


@pytest.mark.parametrize(
    ("params", "ids"),
    [
        ({"name": "Sandboxtest"}, [60178, 60179, 60180, 60181, 60182]),
        ({"_id": "a-195900.E-60178,a-195900.E-60184"}, [60178, 60184]),
        ({"identifier": "urn:athenahealth:athenanet:patient:195900|60179"}, [60179]),
        ({"identifier": "60180"}, [60180]),
        ({"identifier": "urn:athenahealth:athenanet:patient:1|60180"}, []),
        ({"family": "sandbox", "given": "Ann"}, [60182, 60183]),  # Dorrie Ann, Anna
        ({"family": "Sandbox-Test", "gender": "female"}, [60183, 60184]),
        ({"family": "Sandboxtest", "birthdate": "1961-01-30"}, [60181]),
        ({"family": "Sandboxtest", "birthdate": "ge1980"}, [60179, 60180]),
        ({"name": "Sandboxtest", "ah-department": "Organization/a-195900.Department-21"}, []),
        ({"name": "Anna Sandbox"}, [60183]),
        ({"name": "Whitfield"}, [60183]),
    ],
)
def test_search_matches(fhir: httpx.Client, params: dict[str, str], ids: list[int]) -> None:
    bundle = fhir.get("/Patient", params={"ah-practice": PRACTICE, "_count": "50", **params}).json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    got = [int(e["resource"]["id"].rsplit("-", 1)[1]) for e in bundle["entry"]]
    sandbox = [i for i in got if i >= 60178]
    assert sandbox == ids
    assert bundle["total"] == len(got)
    for entry in bundle["entry"]:
        assert entry["fullUrl"].endswith(f"/fhir/r4/Patient/{entry['resource']['id']}")


def test_post_search_form(fhir: httpx.Client) -> None:
    response = fhir.post(
        "/Patient/_search", data={"ah-practice": PRACTICE, "_id": "a-195900.E-60182"}
    )
    assert response.status_code == 200
    assert [e["resource"]["name"][0]["given"][0] for e in response.json()["entry"]] == ["Dorrie"]


def test_cursor_paging_without_duplicates(fhir: httpx.Client) -> None:
    url: str | None = f"/Patient?ah-practice={PRACTICE}&family=S&gender=female&_count=7"
    seen: list[str] = []
    total = None
    while url:
        bundle = fhir.get(url).json()
        total = bundle["total"]
        assert len(bundle["entry"]) <= 7
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        url = links.get("next")
        if url:
            assert "cursor=" in url
    assert total is not None and total > 20
    assert len(seen) == len(set(seen)) == total
    assert seen == sorted(seen, key=lambda i: int(i.rsplit("-", 1)[1]))


def test_cursor_is_bound_to_its_query(fhir: httpx.Client) -> None:
    first = fhir.get(
        "/Patient", params={"ah-practice": PRACTICE, "family": "S", "gender": "female", "_count": 2}
    )
    next_url = next(link["url"] for link in first.json()["link"] if link["relation"] == "next")
    cursor = next_url.split("cursor=")[1]
    other = fhir.get(
        "/Patient",
        params={"ah-practice": PRACTICE, "family": "S", "gender": "male", "cursor": cursor},
    )
    assert other.status_code == 400


def test_default_count(fhir: httpx.Client) -> None:
    bundle = fhir.get("/Patient", params={"ah-practice": PRACTICE, "name": "a"}).json()
    assert len(bundle["entry"]) == 10 and bundle["total"] > 10


def test_declined_data_is_rendered_with_data_absent_reason(
    fhir: httpx.Client, v1: httpx.Client
) -> None:
    """60182 declined to give an email, 60184 to name a language (US Core missing data)."""
    dar = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
    record = v1.get("/v1/195900/patients/60182").json()[0]
    assert record["emailexists"] is False and "email" not in record
    assert v1.get("/v1/195900/patients/60178").json()[0]["emailexists"] is True
    dorrie = fhir.get("/Patient/a-195900.E-60182").json()
    (email,) = [t for t in dorrie["telecom"] if t["system"] == "email"]
    assert "value" not in email
    assert email["_value"] == {"extension": [{"url": dar, "valueCode": "asked-declined"}]}
    assert v1.get("/v1/195900/patients/60184").json()[0]["language6392code"] == "declined"
    rebecca = fhir.get("/Patient/a-195900.E-60184").json()
    (coding,) = rebecca["communication"][0]["language"]["coding"]
    assert coding["system"] == "http://terminology.hl7.org/CodeSystem/data-absent-reason"
    assert coding["code"] == "asked-declined"
