"""Deterministic seed schedule and chart (API-NOTES sections 1.4, 3.5, 3.6, 6.1, 6.2).

Depends only on ``seed`` and ``today`` (never the clock). For every
department x provider pair of each practice, weekday slots 09:00-12:00
from four weeks before ``today`` to six weeks after, every 15/20/30 minutes
by appointment type. Department 1 x provider 23 works every weekday; the
other pairs three weekdays a week.

Past slots are mostly visits (charge entered 4, checked out 3, a few still
checked in 2) with an encounter and diagnoses, some never checked in (f,
athena does not mark no-shows automatically), cancelled (x, some no-show) or
left open; future slots are booked (f), cancelled (x; the freed slot reappears
as a new open slot) or open (o), some frozen, some not released to the API.
Visits go to a pool of 30% of each practice's patients, so those patients
have past encounters; ~2% of the pool also has an orders-only encounter.

Sandbox patients 60178-60184 get fixed appointments with provider 23 in
department 1 (see :data:`SANDBOX_PLAN`), each at its own time of day.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from emulator.catalog import (
    APPOINTMENT_TYPES,
    CANCEL_REASONS,
    DIAGNOSES,
    REASONS,
)
from emulator.visits import AppointmentRecord, DiagnosisRecord, EncounterRecord

PAST_DAYS = 28
FUTURE_DAYS = 42
FIRST_APPOINTMENT = {"195900": 1_000_000, "195901": 500_000}
FIRST_ENCOUNTER = {"195900": 40_000, "195901": 20_000}
FIRST_DIAGNOSIS = {"195900": 15_000, "195901": 8_000}
SANDBOX_PAIR = ("1", 23)
# (minutes between slots, appointment type) cycled over the pairs; (1, 23) uses 15/42.
TEMPLATES = [(15, 82), (20, 2), (30, 8), (15, 42)]
STAFF = ["API-2530", "jdoe1", "mvega", "frontdesk2", "API-2530", "kwatanabe"]
VISIT_MIX = [("AMB", 88), ("VR", 7), ("HH", 3), (None, 2)]

# Sandbox plan: patient -> [(day offset, status, special)]; "unknown" marks an
# encounter with unknown class, type and reason and no end; "VR"/"HH" set the class.
SANDBOX_PLAN: dict[int, list[tuple[int, str, str]]] = {
    60178: [(-21, "4", ""), (-7, "3", ""), (0, "2", ""), (2, "f", ""), (7, "f", ""), (28, "f", "")],
    60179: [(-21, "4", ""), (-14, "x", "noshow"), (-7, "3", ""), (7, "f", ""), (28, "f", "")],
    60180: [(-21, "4", ""), (-10, "x", ""), (-7, "3", ""), (7, "f", ""), (14, "x", "")],
    60181: [(-21, "4", ""), (-7, "3", ""), (-3, "f", ""), (0, "3", ""), (7, "f", "")],
    60182: [(-21, "4", "HH"), (-7, "3", ""), (7, "f", ""), (28, "f", "")],
    60183: [(-21, "4", ""), (-7, "3", "VR"), (7, "f", ""), (28, "f", "")],
    60184: [(-21, "4", "unknown"), (-7, "3", ""), (7, "f", ""), (28, "f", "")],
}
SANDBOX_DIAGNOSES: dict[int, list[str]] = {
    60178: ["38341003", "55822004"],
    60179: ["54150009"],
    60180: ["279039007"],
    60181: ["44054006", "38341003"],
    60182: ["185349003"],
    60183: ["197480006"],
    60184: ["40930008"],
}


@dataclass
class SeededSchedule:
    appointments: list[AppointmentRecord]
    encounters: list[EncounterRecord]


def _weekday_near(day: date, forward: bool) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1 if forward else -1)
    return day


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class _Builder:
    def __init__(
        self,
        rng: random.Random,
        practiceid: str,
        today: date,
        tz: dict[str, tzinfo],
        pool: list[int],
        everyone: list[int],
    ) -> None:
        self.rng = rng
        self.practiceid = practiceid
        self.today = today
        self.tz = tz
        self.pool = pool
        self.everyone = everyone
        self.appointments: list[AppointmentRecord] = []
        self.encounters: list[EncounterRecord] = []
        self.next_appointment = FIRST_APPOINTMENT.get(practiceid, 100_000)
        self.next_encounter = FIRST_ENCOUNTER.get(practiceid, 10_000)
        self.next_diagnosis = FIRST_DIAGNOSIS.get(practiceid, 5_000)

    def at(self, department: str, day: date, hhmm: str, plus_minutes: int = 0) -> datetime:
        hour, minute = (int(p) for p in hhmm.split(":"))
        start = datetime.combine(day, time(hour, minute), self.tz[department])
        return start + timedelta(minutes=plus_minutes)

    def slot(
        self, department: str, provider: int, day: date, hhmm: str, typeid: int
    ) -> AppointmentRecord:
        record = AppointmentRecord(
            practiceid=self.practiceid,
            appointmentid=self.next_appointment,
            departmentid=department,
            providerid=provider,
            date=day,
            starttime=hhmm,
            duration=APPOINTMENT_TYPES[typeid].duration,
            appointmenttypeid=typeid,
            status="o",
            lastmodified=self.at(department, day - timedelta(days=60), "07:00"),
            template_typeid=typeid,
        )
        self.next_appointment += 1
        self.appointments.append(record)
        return record

    def reason_for(self, record: AppointmentRecord) -> int | None:
        fits = [
            r.reasonid
            for r in REASONS.values()
            if record.appointmenttypeid in r.appointmenttypeids
            and (r.providers is None or record.providerid in r.providers)
        ]
        return self.rng.choice(fits) if fits and self.rng.random() < 0.85 else None

    def book(self, record: AppointmentRecord, patientid: int, reasonid: int | None) -> None:
        lead = self.rng.randrange(1, 30)
        record.status = "f"
        record.patientid = patientid
        record.reasonid = reasonid
        record.scheduledby = self.rng.choice(STAFF)
        hour = f"{self.rng.randrange(8, 17):02d}:{self.rng.randrange(60):02d}"
        record.scheduled = self.at(record.departmentid, record.date - timedelta(days=lead), hour)
        record.lastmodified = record.scheduled
        record.lastmodifiedby = record.scheduledby

    def cancel(self, record: AppointmentRecord, noshow: bool) -> None:
        reason = CANCEL_REASONS[2] if noshow else CANCEL_REASONS[1]
        record.status = "x"
        record.cancel = reason
        record.cancelledby = (record.scheduledby or "ADMIN") if not noshow else "frontdesk2"
        stamp = (
            self.at(record.departmentid, record.date, record.starttime, 30)
            if noshow
            else (record.scheduled or record.lastmodified) + timedelta(days=1)
        )
        record.cancelled = record.lastmodified = stamp
        record.lastmodifiedby = record.cancelledby
        if reason.slotavailable and record.date >= self.today:
            # the freed time returns to the open pool as a new slot (see emulator.schedule)
            self.slot(
                record.departmentid,
                record.providerid,
                record.date,
                record.starttime,
                record.template_typeid,
            ).lastmodified = stamp

    def visit(self, record: AppointmentRecord, status: str, special: str = "") -> EncounterRecord:
        """Check the booked ``record`` in (2), out (3) or to charge entered (4)."""
        assert record.patientid is not None
        rng = self.rng
        checkin = self.at(record.departmentid, record.date, record.starttime, -rng.randrange(16))
        record.status = status
        record.startcheckin = checkin - timedelta(minutes=rng.randrange(1, 5))
        record.stopcheckin = checkin
        record.encounterid = self.next_encounter
        end: datetime | None = None
        if status in {"3", "4"}:
            end = checkin + timedelta(minutes=record.duration + rng.randrange(5, 26))
            record.checkout = end
            record.encounterstatus = "CHECKEDOUT"
        else:
            record.encounterstatus = rng.choice(["READYFORSTAFF", "WITHPROVIDER"])
        record.lastmodified = end or checkin
        record.lastmodifiedby = "frontdesk2"
        klass = {"VR": "VR", "HH": "HH", "unknown": None}.get(
            special, rng.choices([c for c, _ in VISIT_MIX], [w for _, w in VISIT_MIX])[0]
        )
        kind = APPOINTMENT_TYPES[record.appointmenttypeid]
        unknown = special == "unknown"
        if status == "4":
            state, stage = rng.choices([("CLOSED", "SIGNOFF"), ("REVIEW", "SIGNOFF")], [9, 1])[0]
        elif status == "3":
            state, stage = rng.choice([("OPEN", "CHECKOUT"), ("TEMP", "CHECKOUT")])
        else:
            state, stage = rng.choice([("OPEN", "INTAKE"), ("OPEN", "EXAM")])
        if unknown:
            end = None
        encounter = EncounterRecord(
            practiceid=self.practiceid,
            encounterid=self.next_encounter,
            patientid=record.patientid,
            departmentid=record.departmentid,
            providerid=record.providerid,
            appointmentid=record.appointmentid,
            encounterdate=record.date,
            encountertype="VISIT",
            visitname=kind.name,
            status=state,
            stage=stage,
            last_updated=record.lastmodified,
            start=checkin,
            end=end,
            enc_class=klass,
            type_code=None if unknown or rng.random() < 0.03 else kind.visit_code,
            reason=None if unknown or record.reasonid is None else REASONS[record.reasonid].snomed,
            discharge="home" if end is not None and rng.random() < 0.6 else None,
        )
        self.next_encounter += 1
        self.encounters.append(encounter)
        return encounter

    def diagnose(self, encounter: EncounterRecord, codes: list[str]) -> None:
        for rank, code in enumerate(codes, start=1):
            row = DIAGNOSES[code]
            age = (self.today - encounter.encounterdate).days
            encounter.diagnoses.append(
                DiagnosisRecord(
                    practiceid=self.practiceid,
                    diagnosisid=self.next_diagnosis,
                    encounterid=encounter.encounterid,
                    patientid=encounter.patientid,
                    snomed=code,
                    description=row.description,
                    icd10=[(row.icd10, row.icd10_description)],
                    ranking=rank,
                    recorded=encounter.end or encounter.start or encounter.last_updated,
                    clinical_status="active" if row.chronic or age < 14 else "resolved",
                )
            )
            self.next_diagnosis += 1

    def random_codes(self, encounter: EncounterRecord) -> list[str]:
        codes = sorted(DIAGNOSES)
        picked = self.rng.sample(codes, self.rng.choice([1, 1, 2, 2, 3]))
        if encounter.reason is not None and encounter.reason[0] == "185349003":
            picked = ["185349003", *[c for c in picked if c != "185349003"][:1]]
        return picked

    def orders_only(self, patientid: int, department: str, provider: int) -> None:
        day = _weekday_near(self.today - timedelta(days=self.rng.randrange(30, 300)), False)
        stamp = self.at(department, day, "14:00")
        encounter = EncounterRecord(
            practiceid=self.practiceid,
            encounterid=self.next_encounter,
            patientid=patientid,
            departmentid=department,
            providerid=provider,
            appointmentid=None,
            encounterdate=day,
            encountertype="ORDERSONLY",
            visitname="Orders Only",
            status="CLOSED",
            stage="SIGNOFF",
            last_updated=stamp,
            enc_class=None,
            type_code=None,
        )
        self.next_encounter += 1
        self.encounters.append(encounter)
        self.diagnose(encounter, [self.rng.choice(["38341003", "44054006", "55822004"])])


def _seed_practice(
    seed: int,
    practiceid: str,
    today: date,
    tz: dict[str, tzinfo],
    pairs: list[tuple[str, int]],
    patients: list[int],
) -> _Builder:
    rng = random.Random(f"schedule-{seed}-{practiceid}")
    everyone = [p for p in patients if p not in SANDBOX_PLAN]
    pool = sorted(rng.sample(everyone, len(everyone) * 3 // 10)) if everyone else []
    b = _Builder(rng, practiceid, today, tz, pool, everyone)
    reserved: dict[tuple[date, str], tuple[int, str, str]] = {}
    if practiceid == "195900":
        for index, (patientid, visits) in enumerate(sorted(SANDBOX_PLAN.items())):
            for offset, status, special in visits:
                day = _weekday_near(today + timedelta(days=offset), offset > 0)
                reserved.setdefault((day, _hhmm(9 * 60 + 15 * index)), (patientid, status, special))
    days = [
        today + timedelta(days=n)
        for n in range(-PAST_DAYS, FUTURE_DAYS + 1)
        if (today + timedelta(days=n)).weekday() < 5
    ]
    for day in days:
        for index, (department, provider) in enumerate(pairs):
            sandbox = (department, provider) == SANDBOX_PAIR
            if not sandbox and day.weekday() not in {(index + j) % 5 for j in range(3)}:
                continue
            step, typeid = (15, 42) if sandbox else TEMPLATES[index % len(TEMPLATES)]
            for minute in range(9 * 60, 12 * 60, step):
                record = b.slot(department, provider, day, _hhmm(minute), typeid)
                plan = reserved.get((day, record.starttime)) if sandbox else None
                if plan is not None:
                    _sandbox_slot(b, record, plan[0], plan[1], plan[2])
                else:
                    _random_slot(b, record, minute)
    if practiceid == "195900" and pairs:
        for patientid in b.pool[:: max(1, len(b.pool) // 12)][:12]:
            department, provider = pairs[patientid % len(pairs)]
            b.orders_only(patientid, department, provider)
    return b


def _sandbox_slot(
    b: _Builder, record: AppointmentRecord, patientid: int, status: str, special: str
) -> None:
    b.book(record, patientid, 962 if record.date < b.today else 563)
    if status == "x":
        b.cancel(record, special == "noshow")
    elif status in {"2", "3", "4"}:
        encounter = b.visit(record, status, special)
        b.diagnose(encounter, SANDBOX_DIAGNOSES[patientid])


def _random_slot(b: _Builder, record: AppointmentRecord, minute: int) -> None:
    rng, today = b.rng, b.today
    roll = rng.random()
    if record.date < today or (record.date == today and minute < 10 * 60 + 30):
        if roll < 0.55 and b.pool:
            b.book(record, rng.choice(b.pool), b.reason_for(record))
            if record.date == today:
                status = "3" if minute < 10 * 60 else "2"
            else:
                status = rng.choices(["4", "3", "2"], [72, 25, 3])[0]
            encounter = b.visit(record, status)
            b.diagnose(encounter, b.random_codes(encounter))
        elif roll < 0.63 and b.everyone:
            b.book(record, rng.choice(b.everyone), b.reason_for(record))
        elif roll < 0.73 and b.everyone:
            b.book(record, rng.choice(b.everyone), b.reason_for(record))
            b.cancel(record, noshow=rng.random() < 0.4)
        return
    if roll < 0.40 and b.everyone:
        b.book(record, rng.choice(b.everyone), b.reason_for(record))
    elif roll < 0.45 and b.everyone:
        b.book(record, rng.choice(b.everyone), b.reason_for(record))
        b.cancel(record, noshow=False)
    elif roll < 0.50:
        record.frozen = True
    elif roll < 0.55:
        record.api_released = False


def build_schedule(
    seed: int,
    today: date,
    offsets: dict[str, dict[str, int]],
    pairs: dict[str, list[tuple[str, int]]],
    patients: dict[str, list[int]],
) -> SeededSchedule:
    """The whole seeded schedule; ``offsets`` is practice -> department -> UTC offset hours."""
    appointments: list[AppointmentRecord] = []
    encounters: list[EncounterRecord] = []
    for practiceid in sorted(pairs):
        tz: dict[str, tzinfo] = {
            d: timezone(timedelta(hours=h)) for d, h in offsets[practiceid].items()
        }
        built = _seed_practice(
            seed, practiceid, today, tz, pairs[practiceid], patients.get(practiceid, [])
        )
        appointments.extend(built.appointments)
        encounters.extend(built.encounters)
    return SeededSchedule(appointments, encounters)
