"""The emulator's claims over real HTTP (API-NOTES 3.7, 3.9): create (POST /claims and the
appointment claim), athena's validation and error bodies, reads, lists and paging, notes,
the seeded lifecycle on the clock (the admin API moves it), adjudication and remittance,
and the claims changed-data feed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from emulator.app import create_app
from emulator.claims import ADJUDICATION_SECONDS, DROP_SECONDS, SCRUB_SECONDS
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from tests.emulator.emu_support import FakeClock, fetch_token

PID = "195900"
NOW = datetime(2025, 6, 30, 14, 0, tzinfo=UTC).timestamp()
Json = dict[str, Any]


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[str, Any]]:
    config = EmulatorConfig(
        today=date(2025, 6, 30), token_ttl_seconds=10**8, api_requests_per_second=100_000
    )
    app = create_app(config, clock=FakeClock(NOW))
    server = ServerThread(app)
    url = server.start()
    try:
        yield url, app.state.emulator
    finally:
        server.stop()


@pytest.fixture(scope="module")
def v1(running: tuple[str, Any]) -> Iterator[httpx.Client]:
    url, _ = running
    with httpx.Client(base_url=url, timeout=10) as plain:
        headers = {"Authorization": f"Bearer {fetch_token(plain)}"}
    with httpx.Client(base_url=f"{url}/v1/{PID}", headers=headers, timeout=10) as client:
        yield client


def advance(running: tuple[str, Any], seconds: float) -> None:
    with httpx.Client(base_url=running[0], timeout=10) as admin:
        response = admin.post("/_emulator/clock", json={"advance": seconds})
    assert response.status_code == 200, response.text


def charges(*rows: Json) -> str:
    return json.dumps(list(rows))


def form(**extra: Any) -> dict[str, str]:
    base = {
        "patientid": "60178",
        "departmentid": "1",
        "supervisingproviderid": "23",
        "servicedate": "06/27/2025",
        "claimcharges": charges({"procedurecode": "99213", "units": 1, "icd10code1": "I10"}),
    }
    return {**base, **{k: str(v) for k, v in extra.items()}}


def refused(response: httpx.Response, field: str, text: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "The data provided is invalid." and field in body["invalidfields"]
    assert text in body["detailedmessage"]


def test_a_claim_is_created_and_read_back(v1: httpx.Client) -> None:
    created = v1.post("/claims", data=form())
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["success"] is True and body["errormessage"] == "" and len(body["claimids"]) == 1
    claim = v1.get(f"/claims/{body['claimids'][0]}").json()
    assert isinstance(claim, dict) and claim["claimid"] == body["claimids"][0]
    assert (
        claim["patientid"] == 60178
        and claim["departmentid"] == 1
        and claim["billedproviderid"] == 23
    )
    assert claim["billedservicedate"] == "06/27/2025" and claim["claimcreateddate"] == "06/30/2025"
    assert claim["procedures"][0]["procedurecode"] == "99213" and claim["chargeamount"] == "150"
    assert claim["diagnoses"][0]["diagnosisrawcode"] == "I10"
    assert claim["primaryinsurancepayer"] == {
        "primarypatientinsuranceid": 7001,
        "insurancepackageid": 8477,
        "insuranceplanname": "BCBS-MA: BCBS (PPO)",
        "status": "PEND",
    }
    assert claim["patientpayer"] == {"status": "PEND"}
    assert v1.put(f"/claims/{claim['claimid']}", data={}).status_code in (404, 405)
    assert v1.delete(f"/claims/{claim['claimid']}").status_code in (404, 405)


def test_athenas_rules_refuse_with_its_error_bodies(
    v1: httpx.Client, running: tuple[str, Any]
) -> None:
    before = len(running[1].claims.all(PID))
    missing = v1.post("/claims", data={"patientid": "60178"})
    assert missing.status_code == 400
    assert missing.json()["missingfields"] == [
        "departmentid",
        "supervisingproviderid",
        "claimcharges",
    ]
    five = {"procedurecode": "99213", **{f"icd10code{n}": "I10" for n in range(1, 6)}}
    refused(v1.post("/claims", data=form(claimcharges=charges(five))), "claimcharges", "at most 4")
    unknown = {"procedurecode": "99999", "icd10code1": "I10"}
    refused(
        v1.post("/claims", data=form(claimcharges=charges(unknown))), "claimcharges", "fee schedule"
    )
    bad = {"procedurecode": "99213", "icd10code1": "NOTACODE"}
    refused(v1.post("/claims", data=form(claimcharges=charges(bad))), "claimcharges", "ICD-10")
    refused(
        v1.post("/claims", data=form(patientid="60180")),
        "primarypatientinsuranceid",
        "at least one insurance",
    )
    refused(
        v1.post("/claims", data=form(supervisingproviderid="4040")),
        "supervisingproviderid",
        "active provider",
    )
    refused(
        v1.post("/claims", data=form(departmentid="9999")), "departmentid", "billing department"
    )
    refused(
        v1.post("/claims", data=form(primarypatientinsuranceid="7002")),
        "primarypatientinsuranceid",
        "not an active insurance",
    )
    refused(v1.post("/claims", data=form(servicedate="07/30/2025")), "servicedate", "future")
    refused(v1.post("/claims", data=form(claimcharges="not json")), "claimcharges", "JSON")
    assert len(running[1].claims.all(PID)) == before


def test_the_appointment_claim(v1: httpx.Client, running: tuple[str, Any]) -> None:
    world = running[1]
    appointment = next(
        a for a in world.schedule.all_appointments(PID)
        if a.patientid == 60179 and a.status == "4" and world.claims.for_appointment(PID, a.appointmentid) is None
    )  # fmt: skip
    path = f"/appointments/{appointment.appointmentid}/claim"
    created = v1.post(
        path, data={"claimcharges": charges({"procedurecode": "99214", "icd10code1": "J06.9"})}
    )
    assert created.status_code == 200, created.text
    claim = v1.get(f"/claims/{created.json()['claimids'][0]}").json()
    assert claim["appointmentid"] == str(appointment.appointmentid)
    assert claim["encounterid"] == str(appointment.encounterid)
    assert claim["secondaryinsurancepayer"]["secondarypatientinsuranceid"] == 7003
    again = v1.post(
        path, data={"claimcharges": charges({"procedurecode": "99214", "icd10code1": "J06.9"})}
    )
    refused(again, "appointmentid", "already exists")
    booked = next(
        a for a in world.schedule.all_appointments(PID) if a.status == "f" and a.patientid
    )
    not_seen = v1.post(f"/appointments/{booked.appointmentid}/claim", data={"claimcharges": "[]"})
    refused(not_seen, "appointmentid", "checked-in")
    assert v1.post("/appointments/1/claim", data={"claimcharges": "[]"}).status_code == 404


def test_lists_filter_and_page(v1: httpx.Client) -> None:
    page = v1.get("/claims", params={"patientid": "60181", "limit": 1}).json()
    assert page["totalcount"] >= 2 and len(page["claims"]) == 1 and "next" in page
    assert all(c["patientid"] == 60181 for c in page["claims"])
    second = v1.get("/claims", params={"patientid": "60181", "limit": 1, "offset": 1}).json()
    assert second["claims"][0]["claimid"] != page["claims"][0]["claimid"]
    window = v1.get(
        "/claims", params={"servicestartdate": "06/09/2025", "serviceenddate": "06/09/2025"}
    ).json()
    assert window["claims"] and {c["billedservicedate"] for c in window["claims"]} == {"06/09/2025"}
    assert v1.get("/claims/123").status_code == 404


def test_the_seed_has_claims_in_every_state(running: tuple[str, Any]) -> None:
    claims = running[1].claims.all(PID)
    states = {c.payers[0].status for c in claims}
    assert {"PEND", "HOLD", "DROP", "BILLED", "CLOSED"} <= states
    notes = {(c.payers[0].remittance or {}).get("paymentmethod") for c in claims}
    assert {"EFT", "CHECK"} <= notes
    reasons = {
        a["reason"]
        for c in claims
        for line in (c.payers[0].remittance or {}).get("lines", [])
        for a in line["adjustments"]
    }
    assert {"1", "2", "3", "27", "31", "45", "96"} <= reasons
    assert any(c.payers[1].status == "CLOSED" for c in claims if len(c.payers) > 1)
    held = next(c for c in claims if c.payers[0].status == "HOLD")
    assert "referring provider" in held.payers[0].note


def test_the_lifecycle_hold_note_drop_billed_closed(
    v1: httpx.Client, running: tuple[str, Any]
) -> None:
    consult = charges(
        {"procedurecode": "99243", "icd10code1": "I10"},
        {"procedurecode": "36415", "icd10code1": "I10"},
    )
    claimid = v1.post("/claims", data=form(claimcharges=consult, servicedate="06/26/2025")).json()[
        "claimids"
    ][0]

    def status() -> Json:
        found: Json = v1.get(f"/claims/{claimid}").json()["primaryinsurancepayer"]
        return found

    assert status()["status"] == "PEND"
    advance(running, SCRUB_SECONDS)
    held = status()
    assert held["status"] == "HOLD" and "REFERRINGPROVIDERID" in held["note"]
    missing = v1.post(f"/claims/{claimid}/note", data={})
    assert missing.status_code == 400 and missing.json()["missingfields"] == ["claimnote"]
    assert v1.post(f"/claims/{claimid}/note", data={"claimnote": "Referral on file."}).json() == {
        "success": True
    }
    assert status()["status"] == "DROP"
    assert v1.get(f"/claims/{claimid}").json()["notes"][0]["note"] == "Referral on file."
    advance(running, DROP_SECONDS)
    assert status()["status"] == "BILLED"
    advance(running, ADJUDICATION_SECONDS)
    closed = status()
    assert closed["status"] == "CLOSED"
    remittance = closed["remittance"]
    lines = remittance["lines"]
    assert [line["procedurecode"] for line in lines] == ["99243", "36415"]
    copay = [a for a in lines[0]["adjustments"] if a["reason"] == "3"]
    assert copay == [{"group": "PR", "reason": "3", "amount": "50"}]  # Donna's specialist copay
    paid = sum(float(line["paidamount"]) for line in lines)
    assert float(remittance["paymentamount"]) == round(paid, 2)
    for line in lines:
        adjustments = sum(float(a["amount"]) for a in line["adjustments"])
        assert round(float(line["paidamount"]) + adjustments, 2) == float(line["chargeamount"])
    assert remittance["paymentdate"] and (
        remittance.get("eftnumber") or remittance.get("checknumber")
    )


def test_a_hold_is_released_after_a_time(v1: httpx.Client, running: tuple[str, Any]) -> None:
    consult = charges({"procedurecode": "71046", "icd10code1": "J06.9"})
    claimid = v1.post("/claims", data=form(claimcharges=consult, servicedate="06/25/2025")).json()[
        "claimids"
    ][0]
    advance(running, SCRUB_SECONDS)
    assert v1.get(f"/claims/{claimid}").json()["primaryinsurancepayer"]["status"] == "HOLD"
    advance(running, 3 * 86400)
    assert v1.get(f"/claims/{claimid}").json()["primaryinsurancepayer"]["status"] == "DROP"


def test_claim_changes_are_in_the_claims_feed(v1: httpx.Client, running: tuple[str, Any]) -> None:
    assert v1.post("/claims/changed/subscription", data={}).json() == {"success": True}
    claimid = v1.post("/claims", data=form(servicedate="06/24/2025")).json()["claimids"][0]
    rows = v1.get("/claims/changed").json()["claims"]
    assert [r["primaryinsurancepayer"]["status"] for r in rows if r["claimid"] == claimid] == [
        "PEND"
    ]
    advance(running, SCRUB_SECONDS)
    rows = v1.get("/claims/changed").json()["claims"]
    assert [r["primaryinsurancepayer"]["status"] for r in rows if r["claimid"] == claimid] == [
        "DROP"
    ]
    assert v1.get("/claims/changed").json()["claims"] == []


def test_the_clock_only_moves_forward(running: tuple[str, Any]) -> None:
    with httpx.Client(base_url=running[0], timeout=10) as admin:
        assert admin.post("/_emulator/clock", json={"advance": -5}).status_code == 400
        assert admin.post("/_emulator/clock", json={"advance": "soon"}).status_code == 400
        assert admin.get("/_emulator/clock").json()["now"]
