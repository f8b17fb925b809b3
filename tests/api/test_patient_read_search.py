"""Patient end to end: facade + emulator over real loopback HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.profiles import ProfileValidator

SANDBOX = [f"a-195900.E-{n}" for n in range(60178, 60185)]
SYSTEM = "urn:athenahealth:athenanet:patient:195900"


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def search_all(fhir: httpx.Client, query: str) -> list[dict[str, Any]]:
    """Follow next links verbatim (as Inferno does) and collect every match."""
    found: list[dict[str, Any]] = []
    url: str | None = f"Patient?{query}"
    pages = 0
    while url and pages < 50:
        response = fhir.get(url)
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert bundle["type"] == "searchset"
        found.extend(e["resource"] for e in bundle.get("entry", []))
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        pages += 1
    return found


def test_name_sandbox_returns_the_sandbox_patients_as_us_core(
    fhir: httpx.Client, validator: ProfileValidator
) -> None:
    response = fhir.get("Patient", params={"name": "sandbox"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert sorted(ids(bundle)) == SANDBOX
    assert bundle["total"] == 7
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"{fhir.base_url}Patient/{entry['resource']['id']}".replace(
            "r4/Patient", "r4/Patient"
        )
        assert entry["search"] == {"mode": "match"}
        resource = entry["resource"]
        assert resource["meta"]["profile"] == [
            "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
        ]
        validator.assert_valid(
            resource, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0"
        )
        validator.assert_valid(
            resource, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|3.1.1"
        )


def test_read_returns_the_patient(fhir: httpx.Client, validator: ProfileValidator) -> None:
    response = fhir.get("Patient/a-195900.E-60178")
    assert response.status_code == 200
    patient = response.json()
    assert patient["id"] == "a-195900.E-60178"
    assert patient["name"][0]["family"] == "Sandboxtest"
    assert {"system": SYSTEM, "value": "60178"}.items() <= patient["identifier"][0].items()
    validator.assert_valid(patient)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("Patient/a-195900.E-99999999", 404, "not-found"),
        ("Patient/60178", 400, "invalid"),
        ("Patient/a-195900.E-6017x", 400, "invalid"),
        ("ImagingStudy/a-195900.E-60178", 404, "not-found"),
        ("Patient/a-999999.E-1", 404, "not-found"),
    ],
)
def test_read_errors_are_operation_outcomes(
    fhir: httpx.Client, path: str, status: int, code: str
) -> None:
    response = fhir.get(path)
    assert response.status_code == status
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code


def test_id_search_and_post_search_agree(fhir: httpx.Client) -> None:
    get = fhir.get("Patient", params={"_id": "a-195900.E-60179"}).json()
    post = fhir.post(
        "Patient/_search",
        data={"_id": "a-195900.E-60179"},
    ).json()
    assert ids(get) == ids(post) == ["a-195900.E-60179"]
    other_practice = fhir.get("Patient", params={"_id": "a-195901.E-60179"}).json()
    assert ids(other_practice) == [] and other_practice["total"] == 0


def test_identifier_value_and_system_value(fhir: httpx.Client) -> None:
    bare = fhir.get("Patient", params={"identifier": "60180"}).json()
    full = fhir.get("Patient", params={"identifier": f"{SYSTEM}|60180"}).json()
    assert ids(bare) == ids(full) == ["a-195900.E-60180"]
    foreign = fhir.get("Patient", params={"identifier": "http://example.org/mrn|60180"}).json()
    assert ids(foreign) == []


def test_name_is_case_insensitive_starts_with_over_all_parts(fhir: httpx.Client) -> None:
    upper = search_all(fhir, "name=SANDBOX")
    assert sorted(p["id"] for p in upper) == SANDBOX
    donna = search_all(fhir, "given=donn&family=sandboxtest")
    assert [p["id"] for p in donna] == ["a-195900.E-60178"]
    exact = search_all(fhir, "family:exact=Sandbox-Test")
    assert sorted(p["id"] for p in exact) == ["a-195900.E-60183", "a-195900.E-60184"]
    contains = search_all(fhir, "family:contains=box-te")
    assert {p["id"] for p in exact} <= {p["id"] for p in contains}


@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "ge", "lt", "le", "sa", "eb"])
def test_birthdate_prefixes_match_brute_force(fhir: httpx.Client, prefix: str) -> None:
    everyone = {p["id"]: p["birthDate"] for p in search_all(fhir, "family=Sandbox")}
    assert len(everyone) == 7
    pivot = sorted(everyone.values())[3]
    expected = {
        pid
        for pid, born in everyone.items()
        if {
            "eq": born == pivot,
            "ne": born != pivot,
            "gt": born > pivot,
            "ge": born >= pivot,
            "lt": born < pivot,
            "le": born <= pivot,
            "sa": born > pivot,
            "eb": born < pivot,
        }[prefix]
    }
    got = {p["id"] for p in search_all(fhir, f"family=Sandbox&birthdate={prefix}{pivot}")}
    assert got == expected


def test_birthdate_alone_uses_the_date_of_birth_filter(
    fhir: httpx.Client, emulator_world: Any
) -> None:
    donna = fhir.get("Patient/a-195900.E-60178").json()
    emulator_world.reset_call_counts()
    matches = search_all(fhir, f"birthdate={donna['birthDate']}")
    assert "a-195900.E-60178" in [p["id"] for p in matches]
    assert all(p["birthDate"] == donna["birthDate"] for p in matches)
    assert emulator_world.calls("GET", "/v1/{practiceid}/patients") >= 1


def test_gender_and_name(fhir: httpx.Client) -> None:
    women = search_all(fhir, "name=sandbox&gender=female")
    assert women and all(p["gender"] == "female" for p in women)
    both = search_all(fhir, "name=sandbox&gender=http://hl7.org/fhir/administrative-gender|female")
    assert [p["id"] for p in both] == [p["id"] for p in women]


def test_death_date_and_family(fhir: httpx.Client, emulator_world: Any) -> None:
    deceased = next(r for r in emulator_world.live_patients("195900") if r.text("deceaseddate"))
    family = deceased.text("lastname")
    matches = search_all(fhir, f"family={family}&death-date=le2100")
    assert matches
    assert all(p.get("deceasedDateTime") for p in matches)
    assert f"a-195900.E-{deceased.patientid}" in [p["id"] for p in matches]


def test_paging_has_no_gaps_or_duplicates_and_links_back(fhir: httpx.Client) -> None:
    whole = [p["id"] for p in search_all(fhir, "name=sandbox&_count=100")]
    paged = [p["id"] for p in search_all(fhir, "name=sandbox&_count=2")]
    assert paged == whole and len(set(paged)) == len(paged) == 7
    first = fhir.get("Patient", params={"name": "sandbox", "_count": "3"}).json()
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert nxt.startswith(str(fhir.base_url))
    second = fhir.get(nxt).json()
    prev = next(link["url"] for link in second["link"] if link["relation"] == "previous")
    assert ids(fhir.get(prev).json()) == ids(first)


def test_tampered_or_foreign_cursor_is_400(fhir: httpx.Client) -> None:
    first = fhir.get("Patient", params={"name": "sandbox", "_count": "2"}).json()
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    tampered = nxt[:-3] + ("AAA" if not nxt.endswith("AAA") else "BBB")
    assert fhir.get(tampered).status_code == 400
    cursor = nxt.split("_cursor=")[1]
    moved = fhir.get("Patient", params={"name": "sandboxtest", "_count": "2", "_cursor": cursor})
    assert moved.status_code == 400
    assert moved.json()["resourceType"] == "OperationOutcome"


def test_count_is_clamped(fhir: httpx.Client) -> None:
    bundle = fhir.get("Patient", params={"gender": "female", "_count": "100000"}).json()
    assert len(bundle["entry"]) == 100


def test_results_contain_only_matches_on_a_scan(fhir: httpx.Client) -> None:
    bundle = fhir.get("Patient", params={"gender": "unknown", "_count": "50"}).json()
    assert all(e["resource"]["gender"] == "unknown" for e in bundle["entry"])


def test_self_link_shows_only_applied_parameters(fhir: httpx.Client) -> None:
    bundle = fhir.get("Patient", params={"name": "sandbox", "bogus": "1", "_sort": "name"}).json()
    self_url = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert "name=sandbox" in self_url and "bogus" not in self_url and "_sort" not in self_url
    assert len(bundle["entry"]) == 7


def test_strict_handling_refuses_unknown_parameters(fhir: httpx.Client) -> None:
    strict = {"Prefer": "handling=strict"}
    response = fhir.get("Patient", params={"name": "sandbox", "bogus": "1"}, headers=strict)
    assert response.status_code == 400
    assert "bogus" in response.json()["issue"][0]["diagnostics"]
    ok = fhir.get("Patient", params={"name": "sandbox"}, headers=strict)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"birthdate": "1970-13-45"},
        {"birthdate": "xx1970"},
        {"name:fuzzy": "x"},
        {"_count": "-1"},
        {"ah-practice": "195900", "name": "x"},
        {"death-date": "yesterday"},
    ],
)
def test_malformed_parameters_are_400(fhir: httpx.Client, params: dict[str, str]) -> None:
    response = fhir.get("Patient", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_department_search(fhir: httpx.Client, emulator_world: Any) -> None:
    bundle = fhir.get(
        "Patient", params={"ah-department": "Organization/a-195900.Department-21", "_count": "20"}
    ).json()
    assert bundle["entry"]
    for entry in bundle["entry"]:
        local = int(entry["resource"]["id"].rsplit("-", 1)[1])
        record = emulator_world.patient("195900", local)
        assert record.text("departmentid") == "21"


def test_ah_practice_narrows_to_that_practice(fhir: httpx.Client) -> None:
    bundle = fhir.get(
        "Patient",
        params={"ah-practice": "Organization/a-1.Practice-195901", "gender": "male", "_count": "5"},
    ).json()
    assert bundle["entry"]
    assert all(e["resource"]["id"].startswith("a-195901.E-") for e in bundle["entry"])


def test_count_zero_gives_only_the_total(fhir: httpx.Client) -> None:
    bundle = fhir.get("Patient", params={"_id": "a-195900.E-60178", "_count": "0"}).json()
    assert bundle.get("entry", []) == []
    assert bundle["total"] == 1
    assert not [link for link in bundle["link"] if link["relation"] == "next"]
