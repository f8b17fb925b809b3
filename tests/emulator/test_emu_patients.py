"""Proprietary patient endpoints (API-NOTES 3.3, 4.1, 4.2) and /v1 -> FHIR visibility."""

from __future__ import annotations

import httpx
import pytest

from emulator.world import World

SANDBOX = {
    60178: "Donna", 60179: "Eleana", 60180: "Frankie", 60181: "Gary", 60182: "Dorrie",
    60183: "Anna", 60184: "Rebecca",
}  # fmt: skip


def test_sandbox_patients_by_lastname(v1: httpx.Client) -> None:
    body = v1.get("/v1/195900/patients", params={"lastname": "sandboxtest"}).json()
    assert body["totalcount"] == 5
    assert [p["patientid"] for p in body["patients"]] == [
        "60178",
        "60179",
        "60180",
        "60181",
        "60182",
    ]
    dashed = v1.get("/v1/195900/patients", params={"lastname": "Sandbox-Test"}).json()
    assert [p["firstname"] for p in dashed["patients"]] == ["Anna", "Rebecca"]
    assert all(p["primaryproviderid"] == "23" for p in body["patients"] + dashed["patients"])


def test_paging_links_exactly_like_athena(v1: httpx.Client) -> None:
    body = v1.get(
        "/v1/195900/patients", params={"lastname": "Sandboxtest", "limit": 2, "offset": 2}
    ).json()
    assert [p["patientid"] for p in body["patients"]] == ["60180", "60181"]
    assert body["next"] == "/v1/195900/patients?LASTNAME=Sandboxtest&limit=2&offset=4"
    assert body["previous"] == "/v1/195900/patients?LASTNAME=Sandboxtest&limit=2&offset=0"
    body = v1.get(
        "/v1/195900/patients", params={"lastname": "Sandboxtest", "dob": "10/24/1972", "limit": 1}
    ).json()
    assert body["totalcount"] == 1 and "next" not in body and "previous" not in body
    body = v1.get(
        "/v1/195900/patients", params={"departmentid": "1", "firstname": "Donna", "limit": 1}
    ).json()
    if "next" in body:
        assert body["next"].startswith(
            "/v1/195900/patients?DEPARTMENTID=1&FIRSTNAME=Donna&limit=1&offset=1"
        )


def test_paging_walk_has_no_duplicates(v1: httpx.Client) -> None:
    seen: list[str] = []
    path: str | None = "/v1/195901/patients?limit=250"
    while path:
        body = v1.get(path).json()
        seen += [p["patientid"] for p in body["patients"]]
        path = body.get("next")
    assert len(seen) == len(set(seen)) == body["totalcount"]
    assert [int(s) for s in seen] == sorted(int(s) for s in seen)


def test_default_and_max_limit(v1: httpx.Client) -> None:
    assert len(v1.get("/v1/195900/patients").json()["patients"]) == 1500
    body = v1.get("/v1/195900/patients", params={"limit": 99999}).json()
    assert len(body["patients"]) == body["totalcount"] <= 5000


def test_read_is_one_element_array_with_athena_types(v1: httpx.Client) -> None:
    body = v1.get("/v1/195900/patients/60183").json()
    assert isinstance(body, list) and len(body) == 1
    patient = body[0]
    assert patient["patientid"] == "60183"
    assert patient["dob"] == "05/05/1983"
    assert patient["race"] == ["2106-3"]
    assert patient["countrycode"] == "USA" and patient["countrycode3166"] == "US"
    assert patient["ssn"].startswith("*****")
    assert patient["homephone"].isdigit()
    assert patient["preferredname"] == "Annie"


def test_unknown_patient_404(v1: httpx.Client) -> None:
    response = v1.get("/v1/195900/patients/5")
    assert response.status_code == 404
    assert response.json() == {"error": "The Patient ID or Department ID is invalid."}
    response = v1.get("/v1/195900/patients/60178", params={"departmentid": "21"})
    assert response.status_code == 404
    assert response.json()["error"] == "The specified patient does not exist in that department."


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        ({"lastname": "Sandboxtest", "dob": "10/24/1972"}, ["firstname"]),
        ({}, ["firstname", "lastname", "dob"]),
    ],
)
def test_bestmatch_missing_fields(
    v1: httpx.Client, params: dict[str, str], missing: list[str]
) -> None:
    response = v1.get("/v1/195900/patients/enhancedbestmatch", params=params)
    assert response.status_code == 400
    assert response.json() == {"missingfields": missing, "error": "Additional fields are required."}


def test_bestmatch_bad_date(v1: httpx.Client) -> None:
    params = {"firstname": "Donna", "lastname": "Sandboxtest", "dob": "1972-10-24"}
    response = v1.get("/v1/195900/patients/enhancedbestmatch", params=params)
    assert response.status_code == 400
    assert response.json() == {
        "detailedmessage": "Expecting format date, but value is 1972-10-24",
        "error": "The data provided is invalid.",
    }


def test_bestmatch_scores(v1: httpx.Client) -> None:
    params = {"firstname": "donna", "lastname": "SANDBOXTEST", "dob": "10/24/1972"}
    body = v1.get("/v1/195900/patients/enhancedbestmatch", params=params).json()
    assert [(p["patientid"], p["score"]) for p in body] == [("60178", "26")]
    params = {
        "firstname": "Dana",
        "lastname": "Sandboxtest",
        "dob": "10/24/1972",
        "returnbestmatches": "true",
    }
    body = v1.get("/v1/195900/patients/enhancedbestmatch", params=params).json()
    assert body[0]["patientid"] == "60178" and body[0]["score"] == "19"
    assert all(int(p["score"]) >= 16 for p in body) and len(body) <= 5


def test_create_validation(v1: httpx.Client) -> None:
    response = v1.post("/v1/195900/patients", data={"departmentid": "1"})
    assert response.status_code == 400
    assert response.json() == {
        "invalidfields": [],
        "missingfields": ["firstname", "lastname", "dob"],
        "error": "Additional fields are required.",
    }
    base = {"firstname": "Ada", "lastname": "Lovelace", "departmentid": "1"}
    response = v1.post("/v1/195900/patients", data={**base, "dob": "12/10/1815"})
    assert response.status_code == 400
    assert response.json()["missingfields"] == ["homephone", "mobilephone", "workphone"]
    for dob in ("13/45/1990", "12/10/2999"):
        response = v1.post(
            "/v1/195900/patients", data={**base, "dob": dob, "mobilephone": "6175550000"}
        )
        assert response.status_code == 400
        assert response.json() == {"error": "Improper DOB."}


def test_create_then_visible_in_v1_and_fhir(
    v1: httpx.Client, fhir: httpx.Client, world: World
) -> None:
    before = max(world.patients["195900"])
    data = {
        "firstname": "Grace",
        "lastname": "Hopper",
        "dob": "12/09/1906",
        "departmentid": " 21 ",
        "mobilephone": "(617) 555-0199",
        "sex": "f",
        "race": "2106-3",
        "language6392code": "eng",
        "address1": "1 Navy Way",
        "city": "Arlington",
        "state": "VA",
        "zip": "22202",
    }
    response = v1.post("/v1/195900/patients", data=data)
    assert response.status_code == 200
    [created] = response.json()
    patientid = int(created["patientid"])
    assert patientid == before + 1
    record = v1.get(f"/v1/195900/patients/{patientid}").json()[0]
    assert record["mobilephone"] == "6175550199"
    assert record["departmentid"] == "21" and record["status"] == "active"
    resource = fhir.get(f"/Patient/a-195900.E-{patientid}").json()
    assert resource["name"][0]["family"] == "Hopper"
    assert resource["gender"] == "female"
    assert resource["birthDate"] == "1906-12-09"
    assert resource["address"][0]["postalCode"] == "22202"
    # Patient matching: the same person again returns the same id.
    assert v1.post("/v1/195900/patients", data=data).json() == [{"patientid": str(patientid)}]


def test_update_and_delete(v1: httpx.Client, fhir: httpx.Client) -> None:
    data = {
        "firstname": "Temp",
        "lastname": "Person",
        "dob": "01/02/1990",
        "departmentid": "1",
        "homephone": "6175550111",
    }
    patientid = v1.post("/v1/195900/patients", data=data).json()[0]["patientid"]
    response = v1.put(
        f"/v1/195900/patients/{patientid}",
        data={"email": "temp@example.com", "lastname": "Changed"},
    )
    assert response.json() == [{"patientid": patientid}]
    assert v1.get(f"/v1/195900/patients/{patientid}").json()[0]["lastname"] == "Changed"
    assert fhir.get(f"/Patient/a-195900.E-{patientid}").json()["name"][0]["family"] == "Changed"
    # Parameters on the query string are accepted for PUT too.
    v1.put(f"/v1/195900/patients/{patientid}", params={"middlename": "Q"})
    assert v1.get(f"/v1/195900/patients/{patientid}").json()[0]["middlename"] == "Q"
    assert v1.put(f"/v1/195900/patients/{patientid}", data={"dob": "99/99/1990"}).json() == {
        "error": "Improper DOB."
    }
    assert v1.put(f"/v1/195900/patients/{patientid}", data={"status": "deleted"}).status_code == 200
    assert v1.get(f"/v1/195900/patients/{patientid}").status_code == 404
    assert fhir.get(f"/Patient/a-195900.E-{patientid}").status_code == 404
    assert (
        v1.put(f"/v1/195900/patients/{patientid}", data={"email": "x@example.com"}).status_code
        == 404
    )


def test_status_codes_accepted_on_update(v1: httpx.Client) -> None:
    data = {
        "firstname": "Stat",
        "lastname": "Us",
        "dob": "01/02/1991",
        "departmentid": "1",
        "homephone": "6175550112",
    }
    patientid = v1.post("/v1/195900/patients", data=data).json()[0]["patientid"]
    v1.put(f"/v1/195900/patients/{patientid}", data={"status": "i"})
    assert v1.get(f"/v1/195900/patients/{patientid}").json()[0]["status"] == "inactive"
    listed = v1.get("/v1/195900/patients", params={"lastname": "Us", "status": "inactive"}).json()
    assert patientid in [p["patientid"] for p in listed["patients"]]
