"""Scheduling on /v1: types, reasons, open slots, booking, cancel, reschedule,
check-in, booked lists (API-NOTES 3.5, 4.1, 6.1; section 7 items 12-17).

Runs against the ``clinic`` emulator: today 06/30/2025 (Monday), clock frozen
at 09:00 department-local.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from emu_support import Running

from emulator.records import us_date
from emulator.visits import AppointmentRecord

P = "/v1/195900"
TODAY = date(2025, 6, 30)
REQUIRED = "Additional fields are required."
TAKEN = {
    "detailedmessage": "The appointment ID is already booked or is not marked as being available to be scheduled via the API.",
    "error": "That appointment time was already booked or not available for booking.",
}


def _new_slot(
    cv1: httpx.Client, day: date, hhmm: str, dept: str = "1", provider: str = "86"
) -> str:
    response = cv1.post(
        f"{P}/appointments/open",
        data={
            "departmentid": dept,
            "providerid": provider,
            "appointmentdate": us_date(day),
            "appointmenttime": hhmm,
            "appointmenttypeid": "82",
        },
    )
    assert response.status_code == 200, response.text
    ids = response.json()["appointmentids"]
    assert list(ids.values()) == [hhmm]
    return str(next(iter(ids)))


def _find(clinic: Running, **want: Any) -> AppointmentRecord:
    for record in clinic.world.schedule.all_appointments("195900"):
        if all(getattr(record, k) == v for k, v in want.items()):
            return record
    raise AssertionError(f"no appointment with {want}")


def test_appointment_types(cv1: httpx.Client) -> None:
    body = cv1.get(f"{P}/appointmenttypes").json()
    names = {t["appointmenttypeid"]: t["name"] for t in body["appointmenttypes"]}
    assert names == {
        "2": "Office Visit",
        "8": "New Patient Appointment",
        "42": "Established",
        "82": "Any 15",
    }
    assert body["totalcount"] == 4
    one = cv1.get(f"{P}/appointmenttypes/82").json()
    assert isinstance(one, list) and one[0]["duration"] == 15 and one[0]["generic"] is True
    assert cv1.get(f"{P}/appointmenttypes/999").status_code == 404


def test_reasons_require_department_and_provider(cv1: httpx.Client) -> None:
    response = cv1.get(f"{P}/patientappointmentreasons", params={"departmentid": "1"})
    assert response.status_code == 400
    assert response.json() == {"missingfields": ["providerid"], "error": REQUIRED}
    every = cv1.get(
        f"{P}/patientappointmentreasons", params={"departmentid": 1, "providerid": 23}
    ).json()
    ids = [r["reasonid"] for r in every["patientappointmentreasons"]]
    assert ids == [541, 563, 761, 841, 962]  # 902 Well Child is provider 71's only
    peds = cv1.get(
        f"{P}/patientappointmentreasons", params={"departmentid": 21, "providerid": 71}
    ).json()
    assert 902 in [r["reasonid"] for r in peds["patientappointmentreasons"]]
    new = cv1.get(
        f"{P}/patientappointmentreasons/newpatient", params={"departmentid": 1, "providerid": 23}
    ).json()
    assert {r["reasontype"] for r in new["patientappointmentreasons"]} == {"new", "all"}
    old = cv1.get(
        f"{P}/patientappointmentreasons/existingpatient",
        params={"departmentid": 1, "providerid": 23},
    ).json()
    assert {r["reasontype"] for r in old["patientappointmentreasons"]} == {"existing", "all"}
    by_param = cv1.get(
        f"{P}/patientappointmentreasons",
        params={"departmentid": 1, "providerid": 23, "reasontype": "new"},
    ).json()
    assert by_param["patientappointmentreasons"] == new["patientappointmentreasons"]
    follow_up = next(r for r in every["patientappointmentreasons"] if r["reasonid"] == 962)
    assert follow_up["schedulingminhours"] == 48 and follow_up["schedulingmaxdays"] == 90


def test_open_slots_required_parameters(cv1: httpx.Client) -> None:
    missing = cv1.get(f"{P}/appointments/open", params={"appointmenttypeid": 82})
    assert missing.status_code == 400
    assert missing.json() == {"missingfields": ["departmentid"], "error": REQUIRED}
    empty = cv1.get(f"{P}/appointments/open", params={"departmentid": 1})
    assert empty.status_code == 200 and empty.json() == {"appointments": [], "totalcount": 0}
    no_provider = cv1.get(f"{P}/appointments/open", params={"departmentid": 1, "reasonid": 962})
    assert no_provider.status_code == 400
    assert no_provider.json()["missingfields"] == ["providerid"]
    any_reason = cv1.get(f"{P}/appointments/open", params={"departmentid": 1, "reasonid": -1})
    assert any_reason.status_code == 200 and any_reason.json()["totalcount"] > 0


def test_open_slot_shape_default_window_and_lead_time(cv1: httpx.Client) -> None:
    body = cv1.get(
        f"{P}/appointments/open", params={"departmentid": 1, "appointmenttypeid": 42}
    ).json()
    slots = body["appointments"]
    assert slots and body["totalcount"] == len(slots)
    assert set(slots[0]) == {
        "appointmentid", "date", "starttime", "duration", "departmentid", "providerid",
        "appointmenttypeid", "appointmenttype", "patientappointmenttypename", "reasonid",
    }  # fmt: skip
    assert isinstance(slots[0]["duration"], int) and isinstance(slots[0]["appointmentid"], str)
    days = {s["date"] for s in slots}
    window = {us_date(TODAY + timedelta(days=n)) for n in range(8)}
    assert days <= window
    # 24 h lead time from 09:00 on 06/30: nothing today, nothing before 09:00 tomorrow
    assert us_date(TODAY) not in days
    bypass = cv1.get(
        f"{P}/appointments/open",
        params={"departmentid": 1, "appointmenttypeid": 42, "bypassscheduletimechecks": "true"},
    ).json()
    assert us_date(TODAY) in {s["date"] for s in bypass["appointments"]}
    # reason 962 needs 48 h: nothing on 07/01 either
    by_reason = cv1.get(
        f"{P}/appointments/open", params={"departmentid": 1, "providerid": 23, "reasonid": 962}
    ).json()
    assert by_reason["appointments"] and all(
        s["reasonid"] == ["962"] for s in by_reason["appointments"]
    )
    assert us_date(TODAY + timedelta(days=1)) not in {s["date"] for s in by_reason["appointments"]}


def test_horizon_and_bypass(cv1: httpx.Client) -> None:
    far = TODAY + timedelta(days=120)
    slot = _new_slot(cv1, far, "10:00", dept="102", provider="71")
    params = {
        "departmentid": 102,
        "appointmenttypeid": 82,
        "startdate": us_date(far),
        "enddate": us_date(far),
    }
    assert cv1.get(f"{P}/appointments/open", params=params).json()["totalcount"] == 0
    shown = cv1.get(
        f"{P}/appointments/open", params={**params, "bypassscheduletimechecks": "true"}
    ).json()
    assert [s["appointmentid"] for s in shown["appointments"]] == [slot]


def test_frozen_and_unreleased_slots_are_hidden_unless_asked(
    cv1: httpx.Client, clinic: Running
) -> None:
    future = TODAY + timedelta(days=10)
    for flag, param in (
        ("frozen", "showfrozenslots"),
        ("api_released", "ignoreschedulablepermission"),
    ):
        wanted = flag == "frozen"
        record = next(
            r
            for r in clinic.world.schedule.all_appointments("195900")
            if r.status == "o"
            and getattr(r, flag) is wanted
            and r.date >= future
            and r.frozen is (flag == "frozen")
            and r.api_released is (flag == "frozen")
        )
        params = {
            "departmentid": record.departmentid,
            "appointmenttypeid": record.appointmenttypeid,
            "startdate": us_date(record.date),
            "enddate": us_date(record.date),
        }
        ids = {
            s["appointmentid"]
            for s in cv1.get(f"{P}/appointments/open", params=params).json()["appointments"]
        }
        assert str(record.appointmentid) not in ids
        params[param] = "true"
        ids = {
            s["appointmentid"]
            for s in cv1.get(f"{P}/appointments/open", params=params).json()["appointments"]
        }
        assert str(record.appointmentid) in ids


def test_open_slot_paging_links(cv1: httpx.Client) -> None:
    params = {"departmentid": "1", "appointmenttypeid": "42", "limit": "3", "offset": "3"}
    body = cv1.get(f"{P}/appointments/open", params=params).json()
    assert len(body["appointments"]) == 3
    assert (
        body["previous"]
        == f"{P}/appointments/open?APPOINTMENTTYPEID=42&DEPARTMENTID=1&limit=3&offset=0"
    )
    assert (
        body["next"]
        == f"{P}/appointments/open?APPOINTMENTTYPEID=42&DEPARTMENTID=1&limit=3&offset=6"
    )
    big = cv1.get(
        f"{P}/appointments/open",
        params={
            "departmentid": "1",
            "reasonid": "-1",
            "limit": "50000",
            "bypassscheduletimechecks": "true",
            "startdate": "06/01/2025",
            "enddate": "08/31/2025",
        },
    ).json()
    assert big["totalcount"] <= 10_000 and "next" not in big


def test_create_slot_errors_freeze_and_delete(cv1: httpx.Client) -> None:
    day = us_date(TODAY + timedelta(days=20))
    response = cv1.post(
        f"{P}/appointments/open",
        data={
            "departmentid": "1",
            "providerid": "86",
            "appointmentdate": day,
            "appointmenttime": "13:00",
        },
    )
    assert response.status_code == 400
    assert response.json() == {
        "detailedmessage": "An appointment type or reason must be provided.",
        "error": REQUIRED,
    }
    many = cv1.post(
        f"{P}/appointments/open",
        data={
            "departmentid": "1",
            "providerid": "86",
            "appointmentdate": day,
            "appointmenttime": "13:00,13:15",
            "reasonid": "563",
        },
    ).json()["appointmentids"]
    assert sorted(many.values()) == ["13:00", "13:15"]
    slot = next(iter(many))
    read = cv1.get(f"{P}/appointments/{slot}").json()
    assert read[0]["appointmentstatus"] == "o" and "patientid" not in read[0]
    assert read[0]["lastmodified"].count(":") == 2
    assert cv1.put(f"{P}/appointments/{slot}/freeze", data={"freeze": "true"}).json() == {
        "success": True, "errormessage": ""
    }  # fmt: skip
    again = cv1.put(f"{P}/appointments/{slot}/freeze", data={"freeze": "true"})
    assert again.status_code == 200
    assert again.json() == {"success": False, "errormessage": "Appointment is already frozen."}
    assert cv1.get(f"{P}/appointments/{slot}").json()[0]["frozenyn"] is True
    assert cv1.delete(f"{P}/appointments/{slot}").status_code == 200
    assert cv1.get(f"{P}/appointments/{slot}").status_code == 404


def test_book_validation_conflict_and_response(cv1: httpx.Client) -> None:
    slot = _new_slot(cv1, TODAY + timedelta(days=21), "14:00")
    missing = cv1.put(f"{P}/appointments/{slot}", data={"appointmenttypeid": "82"})
    assert missing.status_code == 400 and missing.json()["missingfields"] == ["patientid"]
    neither = cv1.put(f"{P}/appointments/{slot}", data={"patientid": "60178"})
    assert neither.status_code == 400
    assert neither.json()["detailedmessage"] == "An appointment type or reason must be provided."
    unknown = cv1.put(
        f"{P}/appointments/{slot}", data={"patientid": "9999999", "appointmenttypeid": "82"}
    )
    assert unknown.status_code == 404
    # athena also takes PUT parameters on the query string (section 3.0)
    booked = cv1.put(
        f"{P}/appointments/{slot}", params={"patientid": "60178", "appointmenttypeid": "42"}
    )
    assert booked.status_code == 200
    body = booked.json()
    assert isinstance(body, list) and len(body) == 1
    row = body[0]
    assert row["appointmentid"] == slot and row["appointmentstatus"] == "f"
    assert row["patientid"] == "60178" and row["appointmenttypeid"] == "42"
    assert row["appointmenttype"] == "Established" and row["chargeentrynotrequired"] is False
    assert row["scheduledby"] == "API-facade-dev"
    assert row["scheduleddatetime"] == "06/30/2025 09:00:00" == row["lastmodified"]
    second = cv1.put(
        f"{P}/appointments/{slot}", data={"patientid": "60179", "appointmenttypeid": "82"}
    )
    assert second.status_code == 409 and second.json() == TAKEN


def test_unreleased_slot_needs_ignoreschedulablepermission(
    cv1: httpx.Client, clinic: Running
) -> None:
    record = next(
        r
        for r in clinic.world.schedule.all_appointments("195900")
        if r.status == "o" and not r.api_released and not r.frozen and r.date > TODAY
    )
    url = f"{P}/appointments/{record.appointmentid}"
    refused = cv1.put(url, data={"patientid": "60180", "appointmenttypeid": "82"})
    assert refused.status_code == 409 and refused.json() == TAKEN
    ok = cv1.put(
        url,
        data={
            "patientid": "60180",
            "appointmenttypeid": "82",
            "ignoreschedulablepermission": "true",
        },
    )
    assert ok.status_code == 200


def test_concurrent_double_booking_exactly_one_wins(cv1: httpx.Client, clinic: Running) -> None:
    slot = _new_slot(cv1, TODAY + timedelta(days=22), "14:30")
    statuses: list[int] = []
    barrier = threading.Barrier(8)
    headers = dict(cv1.headers)

    def attempt(patient: int) -> None:
        with httpx.Client(base_url=clinic.base_url, headers=headers, timeout=10) as client:
            barrier.wait()
            response = client.put(
                f"{P}/appointments/{slot}", data={"patientid": str(patient), "reasonid": "563"}
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(60178 + i % 7,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 7


def test_cancel_records_fields_and_returns_the_slot(cv1: httpx.Client, clinic: Running) -> None:
    day = TODAY + timedelta(days=23)
    slot = _new_slot(cv1, day, "15:00")
    cv1.put(f"{P}/appointments/{slot}", data={"patientid": "60181", "appointmenttypeid": "82"})
    missing = cv1.put(f"{P}/appointments/{slot}/cancel")
    assert missing.status_code == 400 and missing.json()["missingfields"] == ["patientid"]
    wrong = cv1.put(f"{P}/appointments/{slot}/cancel", data={"patientid": "60182"})
    assert wrong.status_code == 400
    done = cv1.put(
        f"{P}/appointments/{slot}/cancel",
        data={"patientid": "60181", "cancellationreason": "moved"},
    )
    assert done.status_code == 200 and done.json() == {"status": "x"}
    row = cv1.get(f"{P}/appointments/{slot}").json()[0]
    assert row["appointmentstatus"] == "x"
    assert row["cancelreasonname"] == "CANCELLED FROM API" and row["cancelreasonid"] == "0"
    assert (
        row["cancelledby"] == "API-facade-dev" and row["cancelleddatetime"] == "06/30/2025 09:00:00"
    )
    assert row["cancelreasonnoshow"] is False and row["cancelreasonslotavailable"] is True
    reopened = _find(clinic, date=day, starttime="15:00", providerid=86, status="o")
    assert str(reopened.appointmentid) != slot
    assert (
        cv1.put(f"{P}/appointments/{slot}/cancel", data={"patientid": "60181"}).status_code == 400
    )
    # a no-show reason does not free the slot
    slot2 = _new_slot(cv1, day, "15:30")
    cv1.put(f"{P}/appointments/{slot2}", data={"patientid": "60181", "appointmenttypeid": "82"})
    cv1.put(
        f"{P}/appointments/{slot2}/cancel",
        data={"patientid": "60181", "appointmentcancelreasonid": "2"},
    )
    row2 = cv1.get(f"{P}/appointments/{slot2}").json()[0]
    assert row2["cancelreasonnoshow"] is True and row2["cancelreasonslotavailable"] is False
    with pytest.raises(AssertionError):
        _find(clinic, date=day, starttime="15:30", providerid=86, status="o")
    reasons = cv1.get(f"{P}/appointmentcancelreasons").json()
    assert reasons["totalcount"] == len(reasons["appointmentcancelreasons"]) >= 4


def test_reschedule(cv1: httpx.Client) -> None:
    day = TODAY + timedelta(days=24)
    old, new = _new_slot(cv1, day, "13:00"), _new_slot(cv1, day, "13:30")
    cv1.put(f"{P}/appointments/{old}", data={"patientid": "60183", "reasonid": "563"})
    missing = cv1.put(f"{P}/appointments/{old}/reschedule", data={"patientid": "60183"})
    assert missing.status_code == 400 and missing.json()["missingfields"] == ["newappointmentid"]
    moved = cv1.put(
        f"{P}/appointments/{old}/reschedule", data={"patientid": "60183", "newappointmentid": new}
    )
    assert moved.status_code == 200
    body = moved.json()
    assert body[0]["appointmentid"] == new and body[0]["appointmentstatus"] == "f"
    assert body[0]["patientid"] == "60183" and body[0]["reasonid"] == "563"
    previous = cv1.get(f"{P}/appointments/{old}").json()[0]
    assert previous["appointmentstatus"] == "x" and previous["rescheduledappointmentid"] == new
    taken = cv1.put(
        f"{P}/appointments/{new}/reschedule", data={"patientid": "60183", "newappointmentid": new}
    )
    assert taken.status_code == 409 and taken.json() == TAKEN


def test_checkin_family_creates_an_encounter(cv1: httpx.Client, cfhir: httpx.Client) -> None:
    slot = _new_slot(cv1, TODAY, "16:00")
    cv1.put(f"{P}/appointments/{slot}", data={"patientid": "60184", "reasonid": "841"})
    assert cv1.post(f"{P}/appointments/{slot}/checkout").status_code == 400
    assert cv1.post(f"{P}/appointments/{slot}/startcheckin").json() == {
        "success": True,
        "message": "",
    }
    started = cv1.get(f"{P}/appointments/{slot}").json()[0]
    assert started["appointmentstatus"] == "f" and "startcheckin" in started
    assert cv1.post(f"{P}/appointments/{slot}/checkin").status_code == 200
    row = cv1.get(f"{P}/appointments/{slot}").json()[0]
    assert row["appointmentstatus"] == "2" and row["encounterstatus"] == "READYFORSTAFF"
    encounterid = row["encounterid"]
    encounter = cv1.get(f"{P}/chart/encounter/{encounterid}").json()[0]
    assert encounter["appointmentid"] == int(slot) and encounter["status"] == "OPEN"
    assert encounter["stage"] == "INTAKE" and encounter["encountertype"] == "VISIT"
    listed = cv1.get(f"{P}/chart/60184/encounters", params={"departmentid": 1}).json()["encounters"]
    assert int(encounterid) in [e["encounterid"] for e in listed]
    fhir_id = f"a-195900.encounter-{encounterid}"
    resource = cfhir.get(f"/Encounter/{fhir_id}").json()
    assert resource["status"] == "in-progress" and "end" not in resource["period"]
    assert resource["reasonCode"][0]["coding"][0]["code"] == "2704003"
    assert cv1.post(f"{P}/appointments/{slot}/checkin").status_code == 400
    assert cv1.post(f"{P}/appointments/{slot}/checkout").status_code == 200
    row = cv1.get(f"{P}/appointments/{slot}").json()[0]
    assert row["appointmentstatus"] == "3" and row["encounterstatus"] == "CHECKEDOUT"
    resource = cfhir.get(f"/Encounter/{fhir_id}").json()
    assert resource["status"] == "finished" and "end" in resource["period"]
    assert resource["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "home"


def test_cancel_checkin(cv1: httpx.Client, cfhir: httpx.Client) -> None:
    slot = _new_slot(cv1, TODAY, "16:30")
    cv1.put(f"{P}/appointments/{slot}", data={"patientid": "60182", "appointmenttypeid": "82"})
    cv1.post(f"{P}/appointments/{slot}/checkin")
    encounterid = cv1.get(f"{P}/appointments/{slot}").json()[0]["encounterid"]
    assert cv1.post(f"{P}/appointments/{slot}/cancelcheckin").status_code == 200
    row = cv1.get(f"{P}/appointments/{slot}").json()[0]
    assert row["appointmentstatus"] == "f" and "stopcheckin" not in row
    assert cfhir.get(f"/Encounter/a-195900.encounter-{encounterid}").json()["status"] == "cancelled"
    listed = cv1.get(f"{P}/chart/60182/encounters", params={"departmentid": 1}).json()["encounters"]
    assert int(encounterid) not in [e["encounterid"] for e in listed]


def test_booked_list_required_and_filters(cv1: httpx.Client) -> None:
    missing = cv1.get(f"{P}/appointments/booked", params={"startdate": "06/30/2025"})
    assert missing.status_code == 400
    assert missing.json() == {"missingfields": ["departmentid", "enddate"], "error": REQUIRED}
    base = {"startdate": "06/23/2025", "enddate": "07/04/2025"}
    comma = cv1.get(f"{P}/appointments/booked", params={**base, "departmentid": "1,21"}).json()
    repeated = cv1.get(
        f"{P}/appointments/booked",
        params=[("departmentid", "1"), ("departmentid", "21"), *base.items()],
    ).json()
    assert comma["totalcount"] == repeated["totalcount"] > 0
    rows = comma["appointments"]
    assert {r["departmentid"] for r in rows} == {"1", "21"}
    assert "x" not in {r["appointmentstatus"] for r in rows} and "o" not in {
        r["appointmentstatus"] for r in rows
    }
    assert all(r["scheduledby"] and r["scheduleddatetime"] and r["lastmodified"] for r in rows)
    assert {"f", "2", "3", "4"} <= {r["appointmentstatus"] for r in rows}
    cancelled = cv1.get(
        f"{P}/appointments/booked", params={**base, "departmentid": "1", "showcancelled": "true"}
    ).json()
    assert "x" in {r["appointmentstatus"] for r in cancelled["appointments"]}
    only = cv1.get(
        f"{P}/appointments/booked",
        params={
            **base,
            "departmentid": "1",
            "providerid": "23",
            "patientid": "60178",
            "showpatientdetail": "true",
        },
    ).json()["appointments"]
    assert {r["providerid"] for r in only} == {"23"} and {r["patientid"] for r in only} == {"60178"}
    assert only[0]["patient"]["firstname"] == "Donna"
    checked_in = cv1.get(
        f"{P}/appointments/booked", params={**base, "departmentid": "1", "appointmentstatus": "2"}
    ).json()
    assert {r["appointmentstatus"] for r in checked_in["appointments"]} == {"2"}
    modified = cv1.get(
        f"{P}/appointments/booked",
        params={
            **base,
            "departmentid": "1",
            "startlastmodified": "06/30/2025",
            "endlastmodified": "06/30/2025",
        },
    ).json()["appointments"]
    assert modified and all(r["lastmodified"].startswith("06/30/2025") for r in modified)
    bad = cv1.get(
        f"{P}/appointments/booked", params={**base, "departmentid": "1", "startdate": "2025-06-01"}
    )
    assert bad.status_code == 400


def test_booked_paging_links_and_multipledepartment(cv1: httpx.Client) -> None:
    params = {"departmentid": "1,21,102", "startdate": "06/02/2025", "enddate": "08/08/2025"}
    first = cv1.get(f"{P}/appointments/booked", params=params).json()
    assert first["totalcount"] > 1000 and len(first["appointments"]) == 1000
    assert first["next"] == (
        f"{P}/appointments/booked?DEPARTMENTID=1%2C21%2C102&ENDDATE=08%2F08%2F2025"
        "&STARTDATE=06%2F02%2F2025&limit=1000&offset=1000"
    )
    assert "previous" not in first
    second = cv1.get(first["next"]).json()
    assert second["previous"].endswith("limit=1000&offset=0")
    ids = [r["appointmentid"] for r in first["appointments"] + second["appointments"]]
    assert len(ids) == len(set(ids))
    multi = cv1.get(
        f"{P}/appointments/booked/multipledepartment", params={**params, "limit": "5"}
    ).json()
    assert multi["next"].startswith(f"{P}/appointments/booked/multipledepartment?DEPARTMENTID=")
    assert multi["totalcount"] == first["totalcount"]


def test_patient_appointments(cv1: httpx.Client) -> None:
    body = cv1.get(f"{P}/patients/60179/appointments").json()
    dates = [r["date"] for r in body["appointments"]]
    assert body["totalcount"] == len(dates) >= 4
    assert any(d < "06/30/2025" for d in dates) and any(d > "06/30/2025" for d in dates)
    with_cancelled = cv1.get(
        f"{P}/patients/60179/appointments", params={"showcancelled": "true"}
    ).json()
    assert with_cancelled["totalcount"] > body["totalcount"]
    assert cv1.get(f"{P}/patients/9999999/appointments").status_code == 404
