"""Stored appointments, encounters and encounter diagnoses (API-NOTES sections 3.5, 3.6, 6.1, 6.2).

Every instant is an aware ``datetime`` in the department's fixed UTC offset
(the department ``timezone`` field; [G] DST is ignored), so /v1 renders
department-local ``MM/DD/YYYY HH:MM:SS`` and FHIR renders ISO with offset.

One type per field, following the newest fixtures: appointment ids are
strings, ``duration`` is an integer and flags are real booleans; encounter
``encounterid``/``departmentid`` are integers (NET), diagnosis ids integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import orjson

from emulator.catalog import APPOINTMENT_TYPES, PATIENT_STATUS, CancelReason
from emulator.records import us_date

BOOKED_STATUSES = frozenset({"f", "2", "3", "4", "x"})


def us_stamp(at: datetime) -> str:
    """MM/DD/YYYY HH:MM:SS (section 3.0); ``strftime``'s text, formatted directly (us_date)."""
    return f"{at.month:02d}/{at.day:02d}/{at.year} {at.hour:02d}:{at.minute:02d}:{at.second:02d}"


@dataclass
class AppointmentRecord:
    """One slot or appointment; ``status`` "o" is an open slot (section 6.1)."""

    practiceid: str
    appointmentid: int
    departmentid: str
    providerid: int
    date: date
    starttime: str  # HH:MM, department-local
    duration: int
    appointmenttypeid: int
    status: str
    lastmodified: datetime
    lastmodifiedby: str = "ADMIN"
    patientid: int | None = None
    reasonid: int | None = None
    frozen: bool = False
    api_released: bool = True
    deleted: bool = False
    scheduledby: str | None = None
    scheduled: datetime | None = None
    template_typeid: int = 0
    startcheckin: datetime | None = None
    stopcheckin: datetime | None = None
    checkout: datetime | None = None
    encounterid: int | None = None
    encounterstatus: str | None = None
    cancel: CancelReason | None = None
    cancelledby: str | None = None
    cancelled: datetime | None = None
    cancelnote: str | None = None  # the free-text cancellationreason sent with the cancel
    rescheduledappointmentid: int | None = None
    bookingnote: str = ""

    def starts_at(self, tz: Any) -> datetime:
        hour, minute = (int(p) for p in self.starttime.split(":"))
        return datetime.combine(self.date, time(hour, minute), tz)

    @property
    def is_slot(self) -> bool:
        return self.status == "o"

    def v1_slot(self, reasonids: list[int]) -> dict[str, Any]:
        """An item of ``GET /appointments/open`` (section 3.5, exact shape)."""
        kind = APPOINTMENT_TYPES[self.appointmenttypeid]
        return {
            "appointmentid": str(self.appointmentid),
            "date": us_date(self.date),
            "starttime": self.starttime,
            "duration": self.duration,
            "departmentid": self.departmentid,
            "providerid": str(self.providerid),
            "appointmenttypeid": str(self.appointmenttypeid),
            "appointmenttype": kind.name,
            "patientappointmenttypename": kind.patientdisplayname,
            "reasonid": [str(r) for r in reasonids],
        }

    def __setattr__(self, name: str, value: Any) -> None:
        # Any change to a field forgets the rendered row (v1, v1_json); the catalog entries
        # a row names (appointment type, cancel reason) are frozen.
        self.__dict__[name] = value
        self.__dict__.pop("_row", None)
        self.__dict__.pop("_json", None)

    def v1(self) -> dict[str, Any]:
        """``GET /appointments/{id}`` / booked-list item (section 3.5); a fresh dict each call.

        Rendered once per version of the record (v1_json says why).
        """
        return dict(self._rendered())

    def v1_json(self) -> orjson.Fragment:
        """``v1()`` as JSON, serialised once per version of the record.

        A booked page renders ~125 records for the facade's one-week search, and
        formatting their date-time texts was half of the emulator's CPU per page (py-spy
        under bench P6's Appointment search: 1.20 ms per search through the facade, 0.63
        with the row kept). The emulator shares the benchmark machine's two cores with the
        facade, and athena's own servers do not.
        """
        text = self.__dict__.get("_json")
        if text is None:
            text = self.__dict__["_json"] = orjson.Fragment(orjson.dumps(self._rendered()))
        return text

    def _rendered(self) -> dict[str, Any]:
        row = self.__dict__.get("_row")
        if row is None:
            row = self.__dict__["_row"] = self._render()
        return row

    def _render(self) -> dict[str, Any]:
        kind = APPOINTMENT_TYPES[self.appointmenttypeid]
        out: dict[str, Any] = {
            "appointmentid": str(self.appointmentid),
            "date": us_date(self.date),
            "starttime": self.starttime,
            "duration": self.duration,
            "departmentid": self.departmentid,
            "providerid": str(self.providerid),
            "appointmentstatus": self.status,
            "appointmenttypeid": str(self.appointmenttypeid),
            "appointmenttype": kind.name,
            "patientappointmenttypename": kind.patientdisplayname,
            "frozenyn": self.frozen,
            "urgentyn": False,
            "lastmodified": us_stamp(self.lastmodified),
            "lastmodifiedby": self.lastmodifiedby,
        }
        if self.template_typeid:
            out["templateappointmentid"] = str(self.appointmentid)
            out["templateappointmenttypeid"] = str(self.template_typeid)
        if self.patientid is not None:
            out["patientid"] = str(self.patientid)
            out["chargeentrynotrequired"] = False
            out["renderingproviderid"] = str(self.providerid)
            out["hl7providerid"] = str(self.providerid)
        if self.reasonid is not None:
            out["reasonid"] = str(self.reasonid)
        if self.scheduled is not None:
            out["scheduledby"] = self.scheduledby or "ADMIN"
            out["scheduleddatetime"] = us_stamp(self.scheduled)
        if self.bookingnote:
            out["appointmentnotes"] = [{"notetext": self.bookingnote}]
        for name, value in (
            ("startcheckin", self.startcheckin),
            ("stopcheckin", self.stopcheckin),
            ("checkindatetime", self.stopcheckin),
            ("checkoutdatetime", self.checkout),
        ):
            if value is not None:
                out[name] = us_stamp(value)
        if self.encounterid is not None:
            out["encounterid"] = str(self.encounterid)
            out["encounterstatus"] = self.encounterstatus or "READYFORSTAFF"
        if self.cancel is not None and self.cancelled is not None:
            out["cancelreasonname"] = self.cancel.name
            out["cancelreasonid"] = str(self.cancel.appointmentcancelreasonid)
            out["cancelledby"] = self.cancelledby or "ADMIN"
            out["cancelleddatetime"] = us_stamp(self.cancelled)
            out["cancelreasonnoshow"] = self.cancel.noshow
            out["cancelreasonslotavailable"] = self.cancel.slotavailable
            if self.cancelnote:  # [G] athena keeps the free text; echoed under the form name
                out["cancellationreason"] = self.cancelnote
        if self.rescheduledappointmentid is not None:
            out["rescheduledappointmentid"] = str(self.rescheduledappointmentid)
        return out


@dataclass
class DiagnosisRecord:
    """An encounter diagnosis (section 3.6)."""

    practiceid: str
    diagnosisid: int
    encounterid: int
    patientid: int
    snomed: str
    description: str
    icd10: list[tuple[str, str]]  # (code, description)
    ranking: int
    recorded: datetime
    clinical_status: str = "active"  # active | resolved (FHIR Condition)
    note: str = ""

    def v1(self) -> dict[str, Any]:
        return {
            "diagnosisid": self.diagnosisid,
            "snomedcode": int(self.snomed),
            "description": self.description,
            "icdcodes": [
                {"code": code, "codeset": "ICD10", "description": text} for code, text in self.icd10
            ],
            "ranking": self.ranking,
            "supportslaterality": False,
            **({"note": self.note} if self.note else {}),
        }


@dataclass
class EncounterRecord:
    """A chart encounter (section 3.6) plus the facts FHIR Encounter needs [G].

    ``enc_class`` None, ``type_code`` None, ``reason`` None and ``end`` None are
    genuinely unknown data (rendered with null flavors / data-absent-reason).
    """

    practiceid: str
    encounterid: int
    patientid: int
    departmentid: str
    providerid: int
    appointmentid: int | None
    encounterdate: date
    encountertype: str  # VISIT | ORDERSONLY
    visitname: str
    status: str  # OPEN | TEMP | CLOSED | REVIEW | DELETED [G]
    stage: str  # INTAKE | EXAM | CHECKOUT | SIGNOFF
    last_updated: datetime
    start: datetime | None = None
    end: datetime | None = None
    enc_class: str | None = "AMB"
    type_code: tuple[str, str, str] | None = None
    reason: tuple[str, str] | None = None
    discharge: str | None = None
    cancelled: bool = False
    diagnoses: list[DiagnosisRecord] = field(default_factory=list)

    def v1(self) -> dict[str, Any]:
        patientstatus, patientstatusid = PATIENT_STATUS.get(self.stage, ("Ready For Staff", 1))
        out: dict[str, Any] = {
            "encounterid": self.encounterid,
            "encounterdate": us_date(self.encounterdate),
            "lastupdated": us_stamp(self.last_updated),
            "departmentid": int(self.departmentid),
            "encountertype": self.encountertype,
            "encountervisitname": self.visitname,
            "status": self.status,
            "stage": self.stage,
            "patientstatus": patientstatus,
            "patientstatusid": patientstatusid,
            "providerid": self.providerid,
            "diagnoses": [d.v1() for d in self.diagnoses],
        }
        if self.appointmentid is not None:
            out["appointmentid"] = self.appointmentid
        # [G] the check-in / check-out instants behind FHIR Encounter.period.
        if self.start is not None:
            out["checkindatetime"] = us_stamp(self.start)
        if self.end is not None:
            out["checkoutdatetime"] = us_stamp(self.end)
        return out
