"""The schedule and chart store: slots, appointments, encounters, diagnoses
(API-NOTES sections 3.5, 3.6, 6.1, 7 items 13-16 and 20).

Every state change happens under the world's lock, so two concurrent
bookings of one slot cannot both succeed. Operations raise
:class:`~emulator.errors.AthenaError` with athena's bodies.

Cancelled slots: when the cancel reason has ``slotavailable`` (the default
"CANCELLED FROM API" does), the cancelled appointment keeps its id and status
``x`` for history, and a NEW open slot with a new id takes its place in the
open pool [G: athena's exact mechanism is unknown; a new id keeps the
cancelled appointment readable]. A reschedule frees the old slot the same way.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime, tzinfo
from typing import Any

from emulator.catalog import (
    API_CANCEL,
    APPOINTMENT_TYPES,
    CANCEL_REASONS,
    DIAGNOSES,
    REASONS,
    CancelReason,
)
from emulator.errors import AthenaError
from emulator.visits import AppointmentRecord, DiagnosisRecord, EncounterRecord

TAKEN = AthenaError(
    409,
    "That appointment time was already booked or not available for booking.",
    detailedmessage="The appointment ID is already booked or is not marked as being available to be scheduled via the API.",
)
NOT_FOUND = "The requested ID does not exist."


def order_key(record: AppointmentRecord) -> tuple[date, str, int]:
    """athena's order of slot and appointment lists: date, start time, id."""
    return (record.date, record.starttime, record.appointmentid)


def _state_error(message: str) -> AthenaError:
    # [G] athena's text for an action in the wrong appointment state is unknown.
    return AthenaError(400, message)


class Schedule:
    """Appointments and encounters of every practice.

    ``now`` returns the scheduling "now" (aware UTC); ``tz_of(practice,
    department)`` the department's fixed offset.
    """

    def __init__(
        self,
        lock: threading.RLock,
        now: Callable[[], datetime],
        tz_of: Callable[[str, str], tzinfo],
    ) -> None:
        self.lock = lock
        self.now = now
        self.tz_of = tz_of
        self.appointments: dict[str, dict[int, AppointmentRecord]] = {}
        self.encounters: dict[str, dict[int, EncounterRecord]] = {}
        self.diagnoses: dict[str, dict[int, DiagnosisRecord]] = {}
        self._next: dict[tuple[str, str], int] = {}
        # per practice: every record in order_key order and its dates, for date-window
        # lists (a record's date and time never change; rebuilt after records are added)
        self._dated: dict[str, tuple[list[AppointmentRecord], list[date]]] = {}
        # (practiceid, eventname, record) after each change: athena's changed feeds
        # (emulator/changed_feeds.py); the world connects it
        self.on_change: Callable[[str, str, AppointmentRecord], None] = lambda *_: None

    # -- loading and ids ------------------------------------------------------------

    def load(
        self,
        appointments: Iterable[AppointmentRecord],
        encounters: Iterable[EncounterRecord],
    ) -> None:
        with self.lock:
            for record in appointments:
                self.appointments.setdefault(record.practiceid, {})[record.appointmentid] = record
            self._dated.clear()
            for encounter in encounters:
                self.encounters.setdefault(encounter.practiceid, {})[encounter.encounterid] = (
                    encounter
                )
                for diagnosis in encounter.diagnoses:
                    rows = self.diagnoses.setdefault(encounter.practiceid, {})
                    rows[diagnosis.diagnosisid] = diagnosis

    def _new_id(self, practiceid: str, kind: str, start: int) -> int:
        key = (practiceid, kind)
        if key not in self._next:
            tables: dict[str, dict[str, dict[int, Any]]] = {
                "appointment": self.appointments,
                "encounter": self.encounters,
                "diagnosis": self.diagnoses,
            }
            self._next[key] = max(tables[kind].get(practiceid, {}), default=start - 1) + 1
        value = self._next[key]
        self._next[key] = value + 1
        return value

    def local_now(self, practiceid: str, departmentid: str) -> datetime:
        return self.now().astimezone(self.tz_of(practiceid, departmentid))

    # -- reads ----------------------------------------------------------------------

    def appointment(self, practiceid: str, appointmentid: int) -> AppointmentRecord | None:
        with self.lock:
            record = self.appointments.get(practiceid, {}).get(appointmentid)
        return None if record is None or record.deleted else record

    def all_appointments(self, practiceid: str) -> list[AppointmentRecord]:
        """Every live slot and appointment, in id order (a snapshot)."""
        with self.lock:
            rows = list(self.appointments.get(practiceid, {}).values())
        return [r for r in rows if not r.deleted]

    def dated(self, practiceid: str, start: date, end: date) -> list[AppointmentRecord]:
        """Every live slot and appointment dated ``start`` to ``end``, in ``order_key`` order.

        The booked and open lists ask for a date window of a practice's thousands of
        records on every call: a sorted index and two bisections instead of a scan and
        a sort (py-spy of the emulator under bench P6: the scan was a third of a
        booked-list call).
        """
        with self.lock:
            index = self._dated.get(practiceid)
            if index is None:
                rows = sorted(self.appointments.get(practiceid, {}).values(), key=order_key)
                index = self._dated[practiceid] = (rows, [r.date for r in rows])
        rows, dates = index
        window = rows[bisect_left(dates, start) : bisect_right(dates, end)]
        return [r for r in window if not r.deleted]

    def encounter(self, practiceid: str, encounterid: int) -> EncounterRecord | None:
        with self.lock:
            return self.encounters.get(practiceid, {}).get(encounterid)

    def all_encounters(self, practiceid: str) -> list[EncounterRecord]:
        with self.lock:
            return list(self.encounters.get(practiceid, {}).values())

    def diagnosis(self, practiceid: str, diagnosisid: int) -> DiagnosisRecord | None:
        with self.lock:
            return self.diagnoses.get(practiceid, {}).get(diagnosisid)

    def all_diagnoses(self, practiceid: str) -> list[DiagnosisRecord]:
        with self.lock:
            return list(self.diagnoses.get(practiceid, {}).values())

    def _require(self, practiceid: str, appointmentid: int) -> AppointmentRecord:
        record = self.appointment(practiceid, appointmentid)
        if record is None:
            raise AthenaError(404, NOT_FOUND)
        return record

    # -- slots ------------------------------------------------------------------------

    def create_slots(
        self,
        practiceid: str,
        departmentid: str,
        providerid: int,
        day: date,
        times: list[str],
        appointmenttypeid: int,
        by: str,
    ) -> list[AppointmentRecord]:
        """``POST /appointments/open``: new open, API-released, unfrozen slots."""
        kind = APPOINTMENT_TYPES[appointmenttypeid]
        with self.lock:
            stamp = self.local_now(practiceid, departmentid)
            created = []
            for starttime in times:
                record = AppointmentRecord(
                    practiceid=practiceid,
                    appointmentid=self._new_id(practiceid, "appointment", 1_000_000),
                    departmentid=departmentid,
                    providerid=providerid,
                    date=day,
                    starttime=starttime,
                    duration=kind.duration,
                    appointmenttypeid=appointmenttypeid,
                    status="o",
                    lastmodified=stamp,
                    lastmodifiedby=by,
                    template_typeid=appointmenttypeid,
                )
                self.appointments.setdefault(practiceid, {})[record.appointmentid] = record
                self._dated.pop(practiceid, None)
                created.append(record)
                self.on_change(practiceid, "AddAppointmentSlot", record)
            return created

    def _reopen(self, old: AppointmentRecord, by: str) -> AppointmentRecord:
        """A new open slot where ``old`` was (caller holds the lock)."""
        return self.create_slots(
            old.practiceid,
            old.departmentid,
            old.providerid,
            old.date,
            [old.starttime],
            old.template_typeid or old.appointmenttypeid,
            by,
        )[0]

    def freeze(self, practiceid: str, appointmentid: int, freeze: bool, by: str) -> str:
        """``PUT /appointments/{id}/freeze``; returns athena's errormessage ("" on success)."""
        with self.lock:
            record = self._require(practiceid, appointmentid)
            if record.frozen == freeze:
                return "Appointment is already frozen." if freeze else "Appointment is not frozen."
            record.frozen = freeze
            record.lastmodified = self.local_now(practiceid, record.departmentid)
            record.lastmodifiedby = by
            self.on_change(
                practiceid, "FreezeAppointment" if freeze else "UnfreezeAppointment", record
            )
            return ""

    def delete_slot(self, practiceid: str, appointmentid: int) -> None:
        with self.lock:
            record = self._require(practiceid, appointmentid)
            if record.status != "o":
                raise _state_error("Only open appointment slots can be deleted.")
            record.deleted = True
            self.on_change(practiceid, "DeleteAppointment", record)

    # -- booking ------------------------------------------------------------------------

    def _bookable(self, record: AppointmentRecord, ignore_permission: bool) -> bool:
        return (
            record.status == "o"
            and not record.frozen
            and (record.api_released or ignore_permission)
        )

    def _take(
        self,
        record: AppointmentRecord,
        patientid: int,
        appointmenttypeid: int | None,
        reasonid: int | None,
        by: str,
        note: str,
    ) -> None:
        stamp = self.local_now(record.practiceid, record.departmentid)
        record.status = "f"
        record.patientid = patientid
        if appointmenttypeid is not None:
            record.appointmenttypeid = appointmenttypeid
        record.reasonid = reasonid
        record.scheduledby = by
        record.scheduled = stamp
        record.lastmodified = stamp
        record.lastmodifiedby = by
        record.bookingnote = note

    def book(
        self,
        practiceid: str,
        appointmentid: int,
        patientid: int,
        *,
        appointmenttypeid: int | None,
        reasonid: int | None,
        ignore_permission: bool,
        by: str,
        note: str = "",
    ) -> AppointmentRecord:
        """``PUT /appointments/{id}``: o -> f atomically; 409 when taken or unreleased."""
        with self.lock:
            record = self._require(practiceid, appointmentid)
            if not self._bookable(record, ignore_permission):
                raise TAKEN
            self._take(record, patientid, appointmenttypeid, reasonid, by, note)
            self.on_change(practiceid, "ScheduleAppointment", record)
            return replace(record)

    def cancel(
        self,
        practiceid: str,
        appointmentid: int,
        patientid: int,
        reason: CancelReason | None,
        by: str,
        note: str | None = None,
    ) -> AppointmentRecord | None:
        """``PUT /appointments/{id}/cancel``; returns the new open slot, if any.

        ``note`` is the free-text ``cancellationreason``, kept with the record.
        """
        with self.lock:
            record = self._require(practiceid, appointmentid)
            if record.status == "x":
                raise _state_error("The appointment is already cancelled.")
            if record.status != "f" or record.patientid != patientid:
                raise _state_error("The appointment is not booked for this patient.")
            record.cancelnote = (note or "").strip()[:500] or None
            return self._cancel(record, reason or API_CANCEL, by)

    def _cancel(
        self, record: AppointmentRecord, reason: CancelReason, by: str
    ) -> AppointmentRecord | None:
        stamp = self.local_now(record.practiceid, record.departmentid)
        record.status = "x"
        record.cancel = reason
        record.cancelledby = by
        record.cancelled = stamp
        record.lastmodified = stamp
        record.lastmodifiedby = by
        self.on_change(record.practiceid, "CancelAppointment", record)
        return self._reopen(record, by) if reason.slotavailable else None

    def reschedule(
        self,
        practiceid: str,
        appointmentid: int,
        newappointmentid: int,
        patientid: int,
        *,
        reasonid: int | None,
        ignore_permission: bool,
        by: str,
    ) -> AppointmentRecord:
        """``PUT /appointments/{id}/reschedule``: book the new slot, cancel the old (x)."""
        with self.lock:
            old = self._require(practiceid, appointmentid)
            new = self._require(practiceid, newappointmentid)
            if old.status != "f" or old.patientid != patientid:
                raise _state_error("The appointment is not booked for this patient.")
            if not self._bookable(new, ignore_permission):
                raise TAKEN
            self._take(
                new,
                patientid,
                old.appointmenttypeid,
                reasonid if reasonid is not None else old.reasonid,
                by,
                old.bookingnote,
            )
            old.rescheduledappointmentid = new.appointmentid
            self.on_change(practiceid, "ScheduleAppointment", new)
            self._cancel(old, CANCEL_REASONS[5], by)
            return replace(new)

    # -- check-in family --------------------------------------------------------------

    def start_checkin(self, practiceid: str, appointmentid: int, by: str) -> None:
        with self.lock:
            record = self._require(practiceid, appointmentid)
            if record.status != "f":
                raise _state_error("The appointment is not in a state that allows check-in.")
            record.startcheckin = record.lastmodified = self.local_now(
                practiceid, record.departmentid
            )
            record.lastmodifiedby = by
            self.on_change(practiceid, "UpdateAppointment", record)

    def checkin(self, practiceid: str, appointmentid: int, by: str) -> EncounterRecord:
        """f -> 2; creates the encounter tied to the appointment (section 7.20) [G mechanism]."""
        with self.lock:
            record = self._require(practiceid, appointmentid)
            if record.status != "f" or record.patientid is None:
                raise _state_error("The appointment is not in a state that allows check-in.")
            stamp = self.local_now(practiceid, record.departmentid)
            record.status = "2"
            record.startcheckin = record.startcheckin or stamp
            record.stopcheckin = stamp
            record.lastmodified = stamp
            record.lastmodifiedby = by
            existing = self.encounter(practiceid, record.encounterid or -1)
            if existing is not None and existing.cancelled:
                # a check-in after cancelcheckin reopens the same encounter [G]
                existing.cancelled = False
                existing.status, existing.stage = "OPEN", "INTAKE"
                existing.start, existing.last_updated = stamp, stamp
                record.encounterstatus = "READYFORSTAFF"
                self.on_change(practiceid, "CheckIn", record)
                return existing
            kind = APPOINTMENT_TYPES[record.appointmenttypeid]
            reason = REASONS[record.reasonid].snomed if record.reasonid in REASONS else None
            encounter = EncounterRecord(
                practiceid=practiceid,
                encounterid=self._new_id(practiceid, "encounter", 40_000),
                patientid=record.patientid,
                departmentid=record.departmentid,
                providerid=record.providerid,
                appointmentid=record.appointmentid,
                encounterdate=record.date,
                encountertype="VISIT",
                visitname=kind.name,
                status="OPEN",
                stage="INTAKE",
                last_updated=stamp,
                start=stamp,
                type_code=kind.visit_code,
                reason=reason,
            )
            self.encounters.setdefault(practiceid, {})[encounter.encounterid] = encounter
            record.encounterid = encounter.encounterid
            record.encounterstatus = "READYFORSTAFF"
            self.on_change(practiceid, "CheckIn", record)
            return encounter

    def cancel_checkin(self, practiceid: str, appointmentid: int, by: str) -> None:
        """2 -> f (or clears a started check-in); the encounter is cancelled [G]."""
        with self.lock:
            record = self._require(practiceid, appointmentid)
            if record.status not in {"f", "2"}:
                raise _state_error("The appointment is not checked in.")
            stamp = self.local_now(practiceid, record.departmentid)
            record.status = "f"
            record.startcheckin = record.stopcheckin = None
            record.lastmodified, record.lastmodifiedby = stamp, by
            encounter = self.encounter(practiceid, record.encounterid or -1)
            if encounter is not None:
                encounter.cancelled = True
                encounter.status = "DELETED"
                encounter.last_updated = stamp
                record.encounterstatus = None
            self.on_change(practiceid, "UpdateAppointment", record)

    def checkout(self, practiceid: str, appointmentid: int, by: str) -> None:
        """2 -> 3; the encounter moves to CHECKOUT and gets its end instant."""
        with self.lock:
            record = self._require(practiceid, appointmentid)
            if record.status != "2":
                raise _state_error("The appointment is not checked in.")
            stamp = self.local_now(practiceid, record.departmentid)
            record.status = "3"
            record.checkout = stamp
            record.lastmodified, record.lastmodifiedby = stamp, by
            record.encounterstatus = "CHECKEDOUT"
            encounter = self.encounter(practiceid, record.encounterid or -1)
            if encounter is not None:
                encounter.stage = "CHECKOUT"
                encounter.end = stamp
                encounter.discharge = encounter.discharge or "home"
                encounter.last_updated = stamp
            self.on_change(practiceid, "CheckOut", record)

    # -- diagnoses ------------------------------------------------------------------------

    def add_diagnosis(
        self,
        encounter: EncounterRecord,
        snomed: str,
        icd10: list[str],
        note: str,
    ) -> DiagnosisRecord:
        with self.lock:
            known = DIAGNOSES.get(snomed)
            icd = [
                (code, known.icd10_description if known and known.icd10 == code else code)
                for code in icd10
            ]
            if not icd10 and known is not None:
                icd = [(known.icd10, known.icd10_description)]
            stamp = self.local_now(encounter.practiceid, encounter.departmentid)
            diagnosis = DiagnosisRecord(
                practiceid=encounter.practiceid,
                diagnosisid=self._new_id(encounter.practiceid, "diagnosis", 15_000),
                encounterid=encounter.encounterid,
                patientid=encounter.patientid,
                snomed=snomed,
                description=known.description if known else f"SNOMED CT concept {snomed}",
                icd10=icd,
                ranking=len(encounter.diagnoses) + 1,
                recorded=stamp,
                clinical_status="active",
                note=note,
            )
            encounter.diagnoses.append(diagnosis)
            encounter.last_updated = stamp
            self.diagnoses.setdefault(encounter.practiceid, {})[diagnosis.diagnosisid] = diagnosis
            return diagnosis
