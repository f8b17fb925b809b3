"""Simulated real-time eligibility, 270/271 (API-NOTES 3.8; REVENUE-CYCLE 4, 5.2)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from emu_support import FakeClock, Running, fetch_token

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.eligibility import UNDETERMINED_MESSAGE
from emulator.server import ServerThread

TODAY = "06/30/2025"
NOW = datetime(2025, 6, 30, 14, 0, tzinfo=UTC).timestamp()  # 09:00 Eastern
ELIG = "/v1/195900/patients/{}/insurances/{}/eligibility"
INS = "/v1/195900/patients/{}/insurances"


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(NOW)


def _start(config: EmulatorConfig, clock: FakeClock) -> Iterator[tuple[Running, httpx.Client]]:
    app = create_app(config, clock=clock)
    with ServerThread(app) as base_url, httpx.Client(base_url=base_url) as plain:
        headers = {"Authorization": f"Bearer {fetch_token(plain)}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
            yield Running(app, base_url), client


def _config(**extra: Any) -> EmulatorConfig:
    return EmulatorConfig(
        generated_patients=200, today=date(2025, 6, 30), api_requests_per_second=1_000_000, **extra
    )


@pytest.fixture(scope="module")
def running(clock: FakeClock) -> Iterator[tuple[Running, httpx.Client]]:
    yield from _start(_config(eligibility_delay_seconds=20), clock)


@pytest.fixture(scope="module")
def client(running: tuple[Running, httpx.Client]) -> httpx.Client:
    return running[1]


def _check(client: httpx.Client, patientid: int, iid: int, **form: str) -> dict[str, Any]:
    response = client.post(ELIG.format(patientid, iid), data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    result: dict[str, Any] = body[0]
    return result


def _insurance(client: httpx.Client, patientid: int, iid: int) -> dict[str, Any]:
    rows = client.get(INS.format(patientid)).json()["insurances"]
    row: dict[str, Any] = next(r for r in rows if r["insuranceid"] == str(iid))
    return row


def _segments(result: dict[str, Any]) -> set[str]:
    return {b["segment"] for b in result.get("benefits", [])}


def test_active_plan_with_benefits(client: httpx.Client) -> None:
    assert client.get(ELIG.format(60178, 7001)).status_code == 404  # never checked
    result = _check(client, 60178, 7001)
    assert result["status"] == "complete"
    assert result["eligibilitystatus"] == "Eligible"
    assert result["eligibilitymessage"] == "Member is eligible."
    assert result["dateofservice"] == TODAY and result["servicetypecode"] == "30"
    assert result["planname"] == "BCBS-MA: BCBS (PPO)" and result["memberid"] == "XKB884412078"
    assert result["coveragestartdate"] == "01/01/2024" and "coverageenddate" not in result
    assert (result["planbegindate"], result["planenddate"]) == ("01/01/2025", "12/31/2025")
    segments = _segments(result)
    assert "EB*1*IND*30*PR*BCBS-MA (PPO)" in segments
    assert {"EB*B*IND*98*PR**27*25*****Y", "EB*B*IND*3*PR**27*50*****Y",
            "EB*B*IND*UC*PR**27*75*****Y", "EB*B*IND*86*PR**27*250*****Y",
            "EB*B*IND*BZ*PR**27*0*****Y"} <= segments  # fmt: skip
    assert {"EB*A*IND*30*PR****0.2****Y", "EB*A*IND*30*PR****0.4****N"} <= segments
    assert {"EB*C*IND*30*PR**23*1500*****Y", "EB*C*FAM*30*PR**23*3000*****Y",
            "EB*C*IND*30*PR**23*3000*****N", "EB*G*IND*30*PR**23*6000*****Y",
            "EB*G*FAM*30*PR**23*12000*****Y", "EB*G*IND*30*PR**23*12000*****N"} <= segments  # fmt: skip
    by_key = {(b["benefitcode"], b["coveragelevel"], b.get("innetwork"), b.get("timeperiodcode")): b
              for b in result["benefits"]}  # fmt: skip
    deductible, remaining = by_key[("C", "IND", "Y", "23")], by_key[("C", "IND", "Y", "29")]
    assert deductible["timeperiod"] == "Calendar Year" and remaining["timeperiod"] == "Remaining"
    assert 0 <= float(remaining["amount"]) <= float(deductible["amount"]) == 1500
    copay = by_key[("B", "IND", "Y", "27")]
    assert copay["benefit"] == "Co-Payment" and copay["servicetype"]
    assert client.get(ELIG.format(60178, 7001)).json() == [result]
    insurance = _insurance(client, 60178, 7001)
    assert insurance["eligibilitystatus"] == "Eligible"
    assert insurance["eligibilitylastchecked"] == TODAY
    assert {"copaytype": "Specialist", "copayamount": "50"} in insurance["copays"]


def test_one_service_type_and_bad_input(client: httpx.Client) -> None:
    result = _check(client, 60179, 7002, servicetypecode="98", dateofservice="07/01/2025")
    assert result["dateofservice"] == "07/01/2025" and result["servicetypecode"] == "98"
    codes = {(b["benefitcode"], b["servicetypecode"]) for b in result["benefits"]}
    assert codes == {("1", "30"), ("B", "98"), ("A", "98")}
    response = client.post(ELIG.format(60179, 7002), data={"servicetypecode": "ZZ"})
    assert (
        response.status_code == 400 and response.json()["error"] == "The data provided is invalid."
    )
    response = client.post(ELIG.format(60179, 7002), data={"dateofservice": "2025-07-01"})
    assert response.json()["detailedmessage"] == "Expecting format date, but value is 2025-07-01"


def test_expired_policy_is_inactive(client: httpx.Client) -> None:
    result = _check(client, 60181, 7005)
    assert result["status"] == "complete" and result["eligibilitystatus"] == "Ineligible"
    assert result["coverageenddate"] == "12/31/2024"
    assert _segments(result) == {"EB*6*IND*30*PR"}
    assert "12/31/2024" in result["eligibilitymessage"]
    assert _insurance(client, 60181, 7005)["eligibilitystatus"] == "Ineligible"
    earlier = _check(client, 60181, 7005, dateofservice="06/01/2024")
    assert earlier["eligibilitystatus"] == "Eligible"


def test_slow_payer_answers_later(client: httpx.Client, clock: FakeClock) -> None:
    before = _insurance(client, 60182, 7006)
    pending = _check(client, 60182, 7006)
    assert pending["status"] == "pending" and "benefits" not in pending
    assert pending["eligibilitystatus"] == before["eligibilitystatus"]
    assert client.get(ELIG.format(60182, 7006)).json()[0]["status"] == "pending"
    assert _check(client, 60182, 7006)["requestdatetime"] == pending["requestdatetime"]
    assert _insurance(client, 60182, 7006)["eligibilitylastchecked"] == "01/15/2025"
    clock.now += 20
    [done] = client.get(ELIG.format(60182, 7006)).json()
    assert done["status"] == "complete" and done["eligibilitystatus"] == "Eligible"
    assert "EB*1*IND*30*MB*Medicare (MA)" in _segments(done)
    assert "EB*C*IND*30*MB**23*257*****Y" in _segments(done)
    assert _insurance(client, 60182, 7006)["eligibilitylastchecked"] == TODAY


def test_payer_down(client: httpx.Client) -> None:
    result = _check(client, 60183, 7007)
    assert result["status"] == "error"
    assert [r["segment"] for r in result["rejections"]] == ["AAA*Y**42*R"]
    assert result["rejections"][0]["rejectreason"] == "Unable to Respond at Current Time"
    insurance = _insurance(client, 60183, 7007)
    assert insurance["eligibilitystatus"] == "Eligible"  # unchanged
    assert insurance["eligibilitymessage"] == UNDETERMINED_MESSAGE


def test_subscriber_not_found_then_fixed(client: httpx.Client) -> None:
    result = _check(client, 60184, 7008)
    assert result["status"] == "rejected" and result["eligibilitystatus"] == "Ineligible"
    [aaa] = result["rejections"]
    assert aaa["segment"] == "AAA*N**75*C" and aaa["rejectreason"] == "Subscriber/Insured Not Found"
    assert aaa["level"] == "subscriber" and "benefits" not in result
    assert _insurance(client, 60184, 7008)["eligibilitystatus"] == "Ineligible"
    response = client.put(INS.format(60184) + "/7008", data={"insuranceidnumber": "TH1029384765"})
    assert response.status_code == 200
    assert _check(client, 60184, 7008)["eligibilitystatus"] == "Eligible"


def test_unknown_member_id_on_a_new_insurance(client: httpx.Client) -> None:
    created = client.post(
        INS.format(60178),
        data={"insurancepackageid": "31724", "sequencenumber": "2", "insuranceidnumber": "unknown",
              "insurancepolicyholderfirstname": "Donna", "insurancepolicyholderlastname": "Sandboxtest",
              "insurancepolicyholdersex": "F"},
    ).json()[0]  # fmt: skip
    result = _check(client, 60178, int(created["insuranceid"]))
    assert result["rejections"][0]["rejectreasoncode"] == "75"


def test_self_pay_and_cancelled_cannot_be_checked(client: httpx.Client) -> None:
    response = client.post(ELIG.format(60180, 7004))
    assert response.status_code == 400
    assert response.json()["detailedmessage"] == "Eligibility cannot be checked for self-pay."
    assert client.post(ELIG.format(60178, 7002)).status_code == 404  # another patient's
    assert client.post(ELIG.format(60178, 99999)).status_code == 404


def test_same_seed_same_answer(clock: FakeClock) -> None:
    answers = []
    for _ in range(2):
        for _running, client in _start(_config(), FakeClock(NOW)):
            answers.append(_check(client, 60178, 7001))
    assert answers[0] == answers[1]


def test_preview_has_no_eligibility(clock: FakeClock) -> None:
    for _running, client in _start(_config(environment="preview"), FakeClock(NOW)):
        for method in ("POST", "GET"):
            response = client.request(method, ELIG.format(60178, 7001))
            assert response.status_code == 200
            assert response.json() == {
                "success": False,
                "errormessage": "Eligibility checks are not available in the preview environment.",
            }
        insurance = _insurance(client, 60178, 7001)
        assert insurance["eligibilitystatus"] == "Eligible"
        assert insurance["eligibilitylastchecked"] == "01/15/2025"
