"""practiceinfo, departments, providers (API-NOTES 1.2, 3.1, 3.2, 4.1)."""

from __future__ import annotations

import httpx


def test_practiceinfo_for_sandbox(v1: httpx.Client) -> None:
    body = v1.get("/v1/195900/practiceinfo").json()
    assert body["totalcount"] == 1
    info = body["practiceinfo"][0]
    assert info["practiceid"] == "195900"
    assert info["name"] == "athenahealth MDP Sandbox"
    assert info["hasclinicals"] is True


def test_pseudo_practice_1_lists_every_practice(v1: httpx.Client) -> None:
    body = v1.get("/v1/1/practiceinfo").json()
    assert body["totalcount"] == 2
    assert [p["practiceid"] for p in body["practiceinfo"]] == ["195900", "195901"]
    assert body["practiceinfo"][1]["name"] == "Riverbend Family Medicine"


def test_unknown_practice_is_404(v1: httpx.Client) -> None:
    response = v1.get("/v1/999999/patients/1")
    assert response.status_code == 404
    assert "error" in response.json()


def test_departments_and_paging_links(v1: httpx.Client) -> None:
    body = v1.get("/v1/195900/departments").json()
    assert body["totalcount"] == 10
    assert [d["departmentid"] for d in body["departments"]] == [
        "1", "21", "102", "144", "145", "148", "150", "157", "162", "172"
    ]  # fmt: skip
    main = body["departments"][0]
    assert main["name"] == "MAIN ST (HUB)"
    assert main["chartsharinggroupid"] == "42"
    assert isinstance(main["timezone"], int)
    assert main["placeofservicetypeid"] == "11"
    assert "next" not in body and "previous" not in body
    page = v1.get("/v1/195900/departments", params={"limit": 1}).json()
    assert page["next"] == "/v1/195900/departments?limit=1&offset=1"
    assert "previous" not in page
    page = v1.get("/v1/195900/departments", params={"limit": "1", "offset": "9"}).json()
    assert page["previous"] == "/v1/195900/departments?limit=1&offset=8"
    assert "next" not in page


def test_department_is_one_element_array_with_providerlist(v1: httpx.Client) -> None:
    body = v1.get("/v1/195900/departments/1", params={"providerlist": "true"}).json()
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["departmentid"] == "1"
    assert body[0]["providerlist"] == ["1", "23", "71", "86"]
    assert "providerlist" not in v1.get("/v1/195900/departments/1").json()[0]
    assert v1.get("/v1/195900/departments/999").status_code == 404


def test_providers(v1: httpx.Client) -> None:
    body = v1.get("/v1/195900/providers").json()
    assert [p["providerid"] for p in body["providers"]] == [1, 23, 71, 86, 87]
    one = v1.get("/v1/195900/providers/23").json()
    assert len(one) == 1
    assert isinstance(one[0]["npi"], int)
    assert one[0]["displayname"].endswith(", MD")
    assert one[0]["providertypeid"] == "MD"
    assert v1.get("/v1/195900/providers/4242").status_code == 404
    assert len(v1.get("/v1/195901/providers").json()["providers"]) == 3


def test_bad_integer_is_400(v1: httpx.Client) -> None:
    response = v1.get("/v1/195900/departments", params={"limit": "ten"})
    assert response.status_code == 400
    assert response.json() == {
        "detailedmessage": "Expecting type integer, but value is ten",
        "error": "The data provided is invalid.",
    }
