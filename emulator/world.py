"""The emulator's in-memory world: reference data, patients, tokens, quotas, call log.

One :class:`World` backs both the proprietary /v1 API and the FHIR API, so a
write through one surface is visible at once through the other (API-NOTES 7.24).
Tests reach it as ``app.state.emulator``; it is safe to inspect and modify
from the test thread while the server thread serves requests.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any

from emulator.changed_feeds import ChangeLog
from emulator.claims import ClaimBook, seed_claims
from emulator.clinical_seed import build_clinical
from emulator.config import EmulatorConfig
from emulator.eligibility import EligibilityDesk
from emulator.insurance import InsuranceBook
from emulator.insurance_seed import build_insurances
from emulator.oauth import AccessToken, MinuteLimiter, TokenStore
from emulator.quota import ApiBudget
from emulator.records import PatientRecord, us_date
from emulator.schedule import Schedule
from emulator.schedule_seed import build_schedule
from emulator.seed import build_seed, provider_departments

EASTERN = timezone(timedelta(hours=-5))


class World:
    """All emulator state. ``clock`` (epoch seconds) may be replaced by tests."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._base_clock = clock
        self._clock_offset = 0.0  # the admin API's clock advance (POST /_emulator/clock)
        self.lock = threading.RLock()
        seed = build_seed(config.seed, config.generated_patients)
        self.practices: dict[str, dict[str, Any]] = seed.practices
        self.departments: dict[str, list[dict[str, Any]]] = seed.departments
        self.providers: dict[str, list[dict[str, Any]]] = seed.providers
        self.provider_departments = {p: provider_departments(p) for p in self.practices}
        # practice -> patientid -> record, kept in ascending id order (new ids only grow).
        self.patients: dict[str, dict[int, PatientRecord]] = {
            p: {r.patientid: r for r in rows} for p, rows in seed.patients.items()
        }
        # Insurances come from their own seed stream: patients and schedule are unchanged.
        insured = build_insurances(config.seed, self.patients)
        self.insurances = InsuranceBook(self.lock, insured.records)
        self.unknown_members: set[tuple[int, str]] = insured.unknown_members
        self.eligibility = EligibilityDesk(self.lock)
        self.tokens = TokenStore(config.token_ttl_seconds, self._now)
        self.token_limiter = MinuteLimiter(config.token_requests_per_minute, self._now)
        self.budget = ApiBudget(
            config.api_requests_per_second, config.api_requests_per_day, self._now
        )
        self.call_counts: Counter[tuple[str, str]] = Counter()
        real_today = datetime.fromtimestamp(clock(), EASTERN).date()
        self.today: date = config.today or real_today
        self._day_shift = timedelta(days=(self.today - real_today).days)
        self.schedule = Schedule(self.lock, self.schedule_now, self.department_tz)
        seeded = build_schedule(
            config.seed,
            self.today,
            {
                p: {d["departmentid"]: int(d["timezone"]) for d in rows}
                for p, rows in self.departments.items()
            },
            {
                p: [(d, provider) for provider, depts in sorted(pairs.items()) for d in depts]
                for p, pairs in self.provider_departments.items()
            },
            {p: [r.patientid for r in self.live_patients(p)] for p in self.practices},
        )
        self.schedule.load(seeded.appointments, seeded.encounters)
        # athena's FHIR clinical records (emulator/fhir_clinical.py), from patients and encounters
        self.clinical = build_clinical(self)
        # athena's changed-data feeds (emulator/changed_feeds.py) hear every change from here on
        self.changes = ChangeLog(self.lock, self.clock)
        self.schedule.on_change = lambda p, name, record: self.changes.record(
            p, "appointments", name, record.v1()
        )
        # claims (emulator/claims.py) move on the scheduling clock; every change is fed
        self.claims = ClaimBook(
            self.lock,
            config.seed,
            self.schedule_clock,
            self.unknown_members,
            lambda claim: self.changes.record(
                claim.practiceid, "claims", "UpdateClaim", claim.v1()
            ),
        )
        seed_claims(self, self.claims)
        self.changes.tickers["claims"] = self.claims.tick

    def clock(self) -> float:
        """The emulator's clock (epoch seconds): the given clock plus the admin advance."""
        return self._base_clock() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the clock forward (the admin API); claims move to their new states."""
        with self.lock:
            self._clock_offset += max(0.0, seconds)
        self.claims.tick()

    def schedule_clock(self) -> float:
        """The scheduling "now" as epoch seconds (claims live on it)."""
        return self.schedule_now().timestamp()

    def _now(self) -> float:
        return self.clock()

    # -- scheduling time ------------------------------------------------------------

    def schedule_now(self) -> datetime:
        """The scheduling "now" (aware UTC): the clock shifted so it read ``today`` at creation."""
        return datetime.fromtimestamp(self.clock(), UTC) + self._day_shift

    def department_tz(self, practiceid: str, departmentid: str) -> tzinfo:
        """The department's fixed UTC offset ([G] DST ignored); Eastern when unknown."""
        for row in self.departments.get(practiceid, []):
            if row["departmentid"] == departmentid:
                return timezone(timedelta(hours=int(row["timezone"])))
        return EASTERN

    def department(self, practiceid: str, departmentid: str) -> dict[str, Any] | None:
        for row in self.departments.get(practiceid, []):
            if row["departmentid"] == departmentid:
                return row
        return None

    def provider(self, practiceid: str, providerid: int) -> dict[str, Any] | None:
        for row in self.providers.get(practiceid, []):
            if row["providerid"] == providerid:
                return row
        return None

    # -- call log (for facade tests) ------------------------------------------------

    def record_call(self, method: str, template: str) -> None:
        with self.lock:
            self.call_counts[(method, template)] += 1

    def calls(self, method: str, template: str) -> int:
        """How many times ``method template`` was called, e.g. ("GET", "/v1/{practiceid}/patients")."""
        with self.lock:
            return self.call_counts[(method, template)]

    def reset_call_counts(self) -> None:
        with self.lock:
            self.call_counts.clear()

    # -- tokens (fault injection hooks) -------------------------------------------

    def issue_token(self, client_id: str, scope: str) -> AccessToken:
        """Mint a token directly (bypasses the token endpoint and its rate limit)."""
        return self.tokens.issue(client_id, scope)

    def revoke_token(self, value: str) -> bool:
        return self.tokens.revoke(value)

    def expire_tokens(self, value: str | None = None) -> int:
        """Expire one token, or all of them when ``value`` is None."""
        return self.tokens.expire(value)

    # -- practices and patients ---------------------------------------------------

    def has_practice(self, practiceid: str) -> bool:
        return practiceid in self.practices

    def patient(self, practiceid: str, patientid: int) -> PatientRecord | None:
        """A live (not deleted) patient, or None."""
        with self.lock:
            record = self.patients.get(practiceid, {}).get(patientid)
        if record is None or record.deleted:
            return None
        return record

    def live_patients(self, practiceid: str) -> list[PatientRecord]:
        """Every non-deleted patient of a practice, ordered by patientid."""
        with self.lock:
            rows: Iterable[PatientRecord] = list(self.patients.get(practiceid, {}).values())
        return [r for r in rows if not r.deleted]

    def now_instant(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def now_us_date(self) -> str:
        return us_date(datetime.fromtimestamp(self.clock(), UTC).date())

    def add_patient(self, practiceid: str, fields: dict[str, str | list[str]]) -> PatientRecord:
        """Create a patient with the next id after the practice's maximum."""
        with self.lock:
            rows = self.patients.setdefault(practiceid, {})
            patientid = max(rows, default=0) + 1
            stamp = self.now_instant()
            fields = {
                **fields,
                "registrationdate": self.now_us_date(),
                "lastupdated": self.now_us_date(),
            }
            record = PatientRecord(practiceid, patientid, fields, last_updated=stamp)
            if fields.get("address1"):
                record.address_since = stamp[:10]
            rows[patientid] = record
            self.changes.record(practiceid, "patients", "AddPatient", record.v1())
            return record

    def update_patient(self, record: PatientRecord, changes: dict[str, str | list[str]]) -> None:
        """Apply field changes; empty strings clear a field."""
        with self.lock:
            for name, value in changes.items():
                if value in ("", []):
                    record.fields.pop(name, None)
                else:
                    record.fields[name] = value
            if changes.get("email"):
                record.fields["emailexists"] = "true"
            if "address1" in changes:
                record.address_since = self.now_instant()[:10]
            record.fields["lastupdated"] = self.now_us_date()
            record.last_updated = self.now_instant()
            name = "DeletePatient" if record.deleted else "UpdatePatient"
            self.changes.record(record.practiceid, "patients", name, record.v1())
