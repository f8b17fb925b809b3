"""Patient insurances and insurance packages on /v1 (API-NOTES 3.4, 4.1, 4.2; REVENUE-CYCLE 5.2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from emu_support import fetch_token

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.insurance_seed import build_insurances
from emulator.records import parse_us_date
from emulator.seed import build_seed
from emulator.server import ServerThread
from emulator.world import World

INS = "/v1/195900/patients/{}/insurances"
HOLDER = {
    "insurancepolicyholderfirstname": "Pat",
    "insurancepolicyholderlastname": "Newman",
    "insurancepolicyholdersex": "F",
    "insurancepolicyholderdob": "04/02/1980",
}


@pytest.fixture(scope="module")
def own() -> Iterator[httpx.Client]:
    """A private emulator for tests that write (the shared one stays as seeded)."""
    config = EmulatorConfig(generated_patients=200, api_requests_per_second=1_000_000)
    with ServerThread(create_app(config)) as base_url, httpx.Client(base_url=base_url) as plain:
        headers = {"Authorization": f"Bearer {fetch_token(plain)}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
            yield client


def _list(client: httpx.Client, patientid: int, **params: Any) -> dict[str, Any]:
    response = client.get(INS.format(patientid), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _new_patient(client: httpx.Client, last: str) -> int:
    response = client.post(
        "/v1/195900/patients",
        data={"firstname": "Pat", "lastname": last, "dob": "04/02/1980", "departmentid": "1",
              "mobilephone": "6175559999", "bypasspatientmatching": "true"},
    )  # fmt: skip
    return int(response.json()[0]["patientid"])


def _post(client: httpx.Client, patientid: int, **fields: str) -> httpx.Response:
    return client.post(INS.format(patientid), data=fields)


# -- seed -------------------------------------------------------------------------------


def test_sandbox_insurances_as_specified(v1: httpx.Client) -> None:
    donna = _list(v1, 60178)
    assert donna["totalcount"] == 1
    [primary] = donna["insurances"]
    assert primary["insuranceid"] == "7001" and primary["sequencenumber"] == 1
    assert primary["insurancepackageid"] == 8477
    assert primary["insuranceplanname"] == "BCBS-MA: BCBS (PPO)"
    assert primary["insurancetype"] == "Group Policy" and primary["ircname"] == "BCBS-MA"
    assert primary["insuranceidnumber"] and primary["policynumber"]
    assert primary["relationshiptoinsured"] == "Self" and primary["relationshiptoinsuredid"] == 1
    assert primary["insurancepolicyholder"] == "DONNA SANDBOXTEST"
    assert primary["insurancepolicyholderdob"] == "10/24/1972"
    assert primary["eligibilitystatus"] == "Eligible" and primary["eligibilityreason"] == "Athena"
    assert {"copaytype": "Office Visit", "copayamount": "25"} in primary["copays"]
    assert "expirationdate" not in primary and "cancelled" not in primary

    eleana = _list(v1, 60179)["insurances"]
    assert [(i["sequencenumber"], i["insurancepackageid"]) for i in eleana] == [
        (1, 31724),
        (2, 8477),
    ]
    assert eleana[1]["relationshiptoinsured"] == "Spouse"
    assert eleana[1]["insurancepolicyholder"] == "MARCO SANDBOXTEST"

    [self_pay] = _list(v1, 60180)["insurances"]
    assert self_pay["insurancepackageid"] == 0 and self_pay["insuranceplanname"] == "*SELF PAY*"
    assert "insuranceidnumber" not in self_pay

    [expired] = _list(v1, 60181)["insurances"]
    ends = parse_us_date(expired["expirationdate"])
    assert ends is not None and ends < date(2025, 6, 30)

    for patientid in (60182, 60183, 60184):
        rows = _list(v1, patientid)["insurances"]
        assert rows and rows[0]["sequencenumber"] == 1
        assert rows[0]["insurancepackageid"] not in {0, -500}
        assert "expirationdate" not in rows[0]


def test_list_paging_like_athena(v1: httpx.Client) -> None:
    body = _list(v1, 60179, limit=1)
    assert body["totalcount"] == 2 and len(body["insurances"]) == 1
    assert body["next"] == "/v1/195900/patients/60179/insurances?limit=1&offset=1"
    body = _list(v1, 60179, limit=1, offset=1, showcancelled="true")
    assert body["previous"] == (
        "/v1/195900/patients/60179/insurances?SHOWCANCELLED=true&limit=1&offset=0"
    )
    assert "next" not in body


def test_unknown_patient_and_insurance(v1: httpx.Client) -> None:
    response = v1.get(INS.format(99999999))
    assert response.status_code == 404
    assert response.json() == {"error": "The Patient ID or Department ID is invalid."}
    response = v1.put(INS.format(60178) + "/7002", data={"insuranceidnumber": "X"})
    assert response.status_code == 404  # 7002 belongs to 60179
    assert response.json() == {"error": "The requested ID does not exist."}


def test_patient_read_with_showinsurance(v1: httpx.Client) -> None:
    plain = v1.get("/v1/195900/patients/60179").json()[0]
    assert "insurances" not in plain
    shown = v1.get("/v1/195900/patients/60179", params={"showinsurance": "true"}).json()[0]
    assert [i["insuranceid"] for i in shown["insurances"]] == ["7002", "7003"]


def test_population_mix(world: World) -> None:
    rows = [
        r for p in ("195900", "195901") for r in world.insurances.all(p) if r.insuranceid > 10000
    ]
    kinds = Counter(r.package.kind for r in rows)
    for kind in ("commercial", "medicare", "medicaid", "selfpay", "supplement", "advantage"):
        assert kinds[kind] >= 10, kinds
    assert sum(r.sequencenumber == 2 for r in rows) >= 50
    expired = [r for r in rows if r.text("expirationdate")]
    assert len(expired) >= 20
    assert {r.relationshiptoinsuredid for r in rows} >= {1, 2, 3}
    insured = {(r.practiceid, r.patientid) for r in rows}
    patients = [(p, i) for p in ("195900", "195901") for i in world.patients[p] if i < 60178]
    assert 0.9 * len(patients) < len(insured) < len(patients)  # a few have none at all
    assert len(world.unknown_members) >= 10
    for record in rows:  # every secondary has a real primary
        if record.sequencenumber == 2:
            peers = world.insurances.for_patient(record.practiceid, record.patientid)
            assert any(p.sequencenumber == 1 and p.package.is_insurance for p in peers)


def test_insurances_deterministic_and_separate_from_patients() -> None:
    seed = build_seed(5, 300)
    patients = {p: {r.patientid: r for r in rows} for p, rows in seed.patients.items()}
    first, again = build_insurances(5, patients), build_insurances(5, patients)
    assert first == again
    other = build_insurances(
        6, {p: {r.patientid: r for r in build_seed(6, 300).patients[p]} for p in patients}
    )
    assert [r.v1() for r in other.records] != [r.v1() for r in first.records]
    sandbox = [r for r in first.records if r.insuranceid < 10000]
    assert sandbox == [r for r in other.records if r.insuranceid < 10000]
    assert build_seed(5, 300) == seed  # building insurances never touched the patients


# -- writes and athena's rules --------------------------------------------------------------


def test_create_validation_bodies(own: httpx.Client) -> None:
    pid = _new_patient(own, "Rulecheck")
    response = _post(own, pid)
    assert response.status_code == 400
    assert response.json() == {
        "invalidfields": [],
        "missingfields": ["insurancepackageid", "sequencenumber"],
        "error": "Additional fields are required.",
    }
    response = _post(own, pid, insurancepackageid="8477", sequencenumber="1")
    assert response.status_code == 400
    assert response.json()["missingfields"] == [
        "insuranceidnumber", "insurancepolicyholderfirstname", "insurancepolicyholderlastname",
        "insurancepolicyholdersex",
    ]  # fmt: skip
    response = _post(own, pid, insurancepackageid="123", sequencenumber="1", **HOLDER)
    assert response.status_code == 400 and response.json()["invalidfields"] == [
        "insurancepackageid"
    ]
    response = _post(
        own, pid, insurancepackageid="8477", sequencenumber="4", insuranceidnumber="A1", **HOLDER
    )
    assert response.status_code == 400
    assert response.json()["error"] == "The data provided is invalid."
    bad_date = {**HOLDER, "insurancepolicyholderdob": "1980-04-02"}
    response = _post(
        own, pid, insurancepackageid="8477", sequencenumber="1", insuranceidnumber="A1", **bad_date
    )
    assert response.json() == {
        "detailedmessage": "Expecting format date, but value is 1980-04-02",
        "error": "The data provided is invalid.",
    }


def test_secondary_rules(own: httpx.Client) -> None:
    pid = _new_patient(own, "Seconds")
    response = _post(
        own, pid, insurancepackageid="31724", sequencenumber="2", insuranceidnumber="H1", **HOLDER
    )
    assert response.status_code == 400
    assert response.json() == {
        "detailedmessage": "The patient has no primary insurance.",
        "error": "Secondary insurance without primary",
    }
    response = _post(own, pid, insurancepackageid="0", sequencenumber="2")
    assert response.status_code == 400 and response.json()["invalidfields"] == [
        "insurancepackageid"
    ]
    assert _post(own, pid, insurancepackageid="0", sequencenumber="1").status_code == 200
    response = _post(
        own, pid, insurancepackageid="31724", sequencenumber="2", insuranceidnumber="H1", **HOLDER
    )
    assert response.status_code == 400
    assert response.json() == {
        "detailedmessage": "The primary insurance is self-pay.",
        "error": "Secondary insurance without primary",
    }
    response = _post(
        own, pid, insurancepackageid="8477", sequencenumber="1", insuranceidnumber="X1", **HOLDER
    )
    assert response.status_code == 400  # sequence 1 is taken (by self-pay)
    assert response.json()["error"] == "The data provided is invalid."
    response = _post(
        own, 60178, insurancepackageid="31724", sequencenumber="3", insuranceidnumber="H1", **HOLDER
    )
    assert (
        response.status_code == 400
        and response.json()["error"] == "Tertiary insurance without secondary"
    )


def test_create_update_delete_round_trip(own: httpx.Client) -> None:
    pid = _new_patient(own, "Roundtrip")
    response = _post(
        own, pid, insurancepackageid="31724", sequencenumber="1", insuranceidnumber="H55",
        policynumber="G77", issuedate="01/01/2025", **HOLDER,
    )  # fmt: skip
    assert response.status_code == 200
    [created] = response.json()
    assert created["insuranceplanname"] == "HUMANA (PPO)" and created["ircname"] == "Humana"
    assert created["eligibilitystatus"] == "Unverified" and created["sequencenumber"] == 1
    assert created["insurancepolicyholder"] == "PAT NEWMAN"
    assert created["insurancepolicyholdercountrycode"] == "USA"
    iid = created["insuranceid"]
    assert _list(own, pid)["insurances"] == [created]

    path = INS.format(pid) + f"/{iid}"
    response = own.put(path, data={"insuranceidnumber": "H56", "expirationdate": "12/31/2025",
                                   "insurancepackageid": "31724"})  # fmt: skip
    assert response.status_code == 200 and response.json() == {"success": True, "message": ""}
    [updated] = _list(own, pid)["insurances"]
    assert updated["insuranceidnumber"] == "H56" and updated["expirationdate"] == "12/31/2025"

    response = own.put(path, data={"insurancepackageid": "8477"})
    assert response.status_code == 400
    assert response.json()["invalidfields"] == ["insurancepackageid"]
    assert "Delete the insurance" in response.json()["detailedmessage"]
    response = own.put(path, data={"insurancepolicyholderlastname": ""})
    assert response.status_code == 400 and response.json()["missingfields"] == [
        "insurancepolicyholderlastname"
    ]
    response = own.put(path, data={"issuedate": "01/01/2026"})
    assert response.status_code == 400  # would start after it expires

    response = own.delete(path, params={"cancellationnote": "moved"})
    assert response.status_code == 200 and response.json() == {"success": True, "message": ""}
    assert _list(own, pid) == {"insurances": [], "totalcount": 0}
    [cancelled] = _list(own, pid, showcancelled="true")["insurances"]
    assert cancelled["insuranceid"] == iid and parse_us_date(cancelled["cancelled"])
    assert own.put(path, data={"insuranceidnumber": "H57"}).status_code == 404
    assert own.delete(path).status_code == 404
    # The package is changed by delete + post, and the sequence is free again.
    response = _post(
        own, pid, insurancepackageid="8477", sequencenumber="1", insuranceidnumber="X9", **HOLDER
    )
    assert response.status_code == 200 and int(response.json()[0]["insuranceid"]) > int(iid)


def test_new_sequence_number_swaps(own: httpx.Client) -> None:
    response = own.put(INS.format(60179) + "/7003", data={"newsequencenumber": "1"})
    assert response.status_code == 200
    rows = _list(own, 60179)["insurances"]
    assert [(r["insuranceid"], r["sequencenumber"]) for r in rows] == [("7003", 1), ("7002", 2)]
    response = own.put(INS.format(60180) + "/7004", data={"newsequencenumber": "2"})
    assert response.status_code == 400  # self-pay cannot move off primary


# -- insurance packages -----------------------------------------------------------------------


def test_package_search(v1: httpx.Client) -> None:
    body = v1.get("/v1/195900/insurancepackages", params={"insuranceplanname": "bcbs"}).json()
    ids = [p["insurancepackageid"] for p in body["insurances"]]
    assert {8477, 9037, 90283} <= set(ids) and body["totalcount"] == len(ids)
    bcbs = next(p for p in body["insurances"] if p["insurancepackageid"] == 8477)
    assert bcbs == {
        "insurancepackageid": 8477,
        "insuranceplanname": "BCBS-MA: BCBS (PPO)",
        "affiliations": ["Blue Cross Blue Shield of Massachusetts"],
        "addresslist": ["PO BOX 986020  BOSTON MA 02298-6020"],
    }
    by_payer = v1.get("/v1/195900/insurancepackages", params={"insuranceplanname": "humana"}).json()
    assert {p["insurancepackageid"] for p in by_payer["insurances"]} >= {31724, 900110}
    by_member = v1.get("/v1/195900/insurancepackages", params={"memberid": "XKB884412078"}).json()
    assert [p["insurancepackageid"] for p in by_member["insurances"]] == [8477]
    vermont = v1.get(
        "/v1/195900/insurancepackages",
        params={"insuranceplanname": "bcbs", "stateofcoverage": "VT"},
    ).json()
    assert [p["insurancepackageid"] for p in vermont["insurances"]] == [900106]
    assert (
        v1.get("/v1/195900/insurancepackages", params={"insuranceplanname": "self pay"}).json()[
            "totalcount"
        ]
        == 0
    )
    response = v1.get("/v1/195900/insurancepackages")
    assert response.status_code == 400 and response.json()["missingfields"] == ["insuranceplanname"]


def test_top_packages(v1: httpx.Client) -> None:
    body = v1.get("/v1/195900/misc/topinsurancepackages").json()
    rows = body["insurancepackages"]
    assert body["totalcount"] == len(rows) == 10
    assert [int(r["ranking"]) for r in rows] == sorted(int(r["ranking"]) for r in rows)
    assert rows[0]["ranking"] == "1" and all(isinstance(r["insurancepackageid"], str) for r in rows)
    shares = [float(r["percentage"]) for r in rows]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 100
    insured = next(r for r in rows if r["insurancepackageid"] not in {"0", "-500"})
    assert {
        "insuranceproducttypename",
        "address",
        "city",
        "state",
        "zip",
        "phone",
    } <= insured.keys()
    page = v1.get("/v1/195900/misc/topinsurancepackages", params={"limit": 3}).json()
    assert page["insurancepackages"] == rows[:3]
    assert page["next"] == "/v1/195900/misc/topinsurancepackages?limit=3&offset=3"
