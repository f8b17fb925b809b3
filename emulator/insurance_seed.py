"""Seeded patient insurances (API-NOTES 1.4, 3.4): the sandbox patients' fixed
situations and a realistic mix for the generated population.

Deterministic under the seed and drawn from its own stream
(``random.Random(f"insurance-{seed}-{practiceid}")``), so adding insurances
changes no patient, appointment or encounter. Dates are fixed (the population's
2025-06-30 anchor), never the clock.

Sandbox patients (practice 195900; ids fixed whatever the seed):

======  =========  ==============================================  ============================
patient insurance  situation                                       eligibility (POST .../eligibility)
======  =========  ==============================================  ============================
60178   7001       BCBS-MA PPO (8477) primary, self, active        complete: Eligible, benefits
60179   7002       Humana PPO (31724) primary, self                complete: Eligible
60179   7003       BCBS-MA PPO (8477) secondary, spouse's plan     complete: Eligible
60180   7004       ``*SELF PAY*`` (0) only: no Coverage             400 (self-pay has no payer)
60181   7005       Aetna PPO, expired 12/31/2024                   complete: Ineligible (EB*6)
60182   7006       Medicare-MA (slow payer)                        pending, ready after the delay
60183   7007       Harvard Pilgrim HMO (payer down)                error: AAA*Y**42*R
60184   7008       Tufts HMO, member id unknown to the payer       rejected: AAA*N**75*C
======  =========  ==============================================  ============================

Generated patients (ids from 10001 per practice), by age on the anchor date:
65+ mostly Medicare (a third with a Medigap or Medicaid secondary) or Medicare
Advantage; under 19 Medicaid or a parent's commercial plan (relationship
Child); adults commercial (some on a spouse's plan, some with a secondary),
Medicaid or self-pay; about 4 % have no insurance record at all, about 7 % of
insured primaries are expired, and about 2 % of members are unknown to their
payer (their check gets AAA 75). Which patients land on the slow
(Medicare-MA) and down (Harvard Pilgrim) payers follows from the mix.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from emulator.insurance import InsuranceRecord
from emulator.insurance_catalog import (
    PACKAGES,
    InsurancePackage,
    commercial_for,
    medicaid_for,
    medicare_for,
)
from emulator.population import ANCHOR, FEMALE, MALE
from emulator.records import PatientRecord, parse_us_date, us_date

SANDBOX_PRACTICE = "195900"
FIRST_GENERATED_ID = 10001
STAMP = "2025-01-15T14:30:00Z"
COMMERCIAL_COPAYS = ("Office Visit", "Specialist", "Urgent Care", "Emergency Room")  # [G] types


@dataclass
class InsuranceSeed:
    records: list[InsuranceRecord]
    # (insurancepackageid, member id) pairs the simulated payers have no subscriber for.
    unknown_members: set[tuple[int, str]] = field(default_factory=set)


def _holder_self(patient: PatientRecord) -> dict[str, str]:
    out = {
        "insurancepolicyholderfirstname": patient.text("firstname").upper(),
        "insurancepolicyholderlastname": patient.text("lastname").upper(),
        "insurancepolicyholderdob": patient.text("dob"),
        "insurancepolicyholdersex": patient.text("sex") if patient.text("sex") in "MF" else "",
    }
    return {**out, **_holder_address(patient)}


def _holder_address(patient: PatientRecord) -> dict[str, str]:
    if not patient.text("address1"):
        return {}
    return {
        "insurancepolicyholderaddress1": patient.text("address1").upper(),
        "insurancepolicyholdercity": patient.text("city").upper(),
        "insurancepolicyholderstate": patient.text("state"),
        "insurancepolicyholderzip": patient.text("zip"),
        "insurancepolicyholdercountrycode": "USA",
        "insurancepolicyholdercountryiso3166": "US",
    }


def _copays(office: int) -> list[tuple[str, str]]:
    amounts = (office, office * 2, office * 3, office * 10)
    return [(kind, str(amount)) for kind, amount in zip(COMMERCIAL_COPAYS, amounts, strict=True)]


# (patientid, insuranceid, package, sequence, relationship, member id, group, issue, expiration,
#  office-visit copay, eligibility status, last checked)
# fmt: off
_SANDBOX: list[tuple[int, int, int, int, int, str, str, str, str, int, str, str]] = [
    (60178, 7001, 8477, 1, 1, "XKB884412078", "004871200", "01/01/2024", "", 25, "Eligible", "01/15/2025"),
    (60179, 7002, 31724, 1, 1, "H72204918", "HUM550021", "03/01/2023", "", 30, "Eligible", "01/15/2025"),
    (60179, 7003, 8477, 2, 2, "XKB771203344", "007712000", "01/01/2022", "", 25, "Eligible", "01/15/2025"),
    (60180, 7004, 0, 1, 1, "", "", "", "", 0, "Unverified", ""),
    (60181, 7005, 900101, 1, 1, "W223344556", "088421301", "01/01/2020", "12/31/2024", 20, "Eligible", "06/03/2024"),
    (60182, 7006, 900201, 1, 1, "1EG4TE5MK73", "", "11/01/2014", "", 0, "Eligible", "01/15/2025"),
    (60183, 7007, 900104, 1, 1, "HP0048812301", "112040", "07/01/2021", "", 20, "Eligible", "12/02/2024"),
    (60184, 7008, 900105, 1, 1, "TH1029384756", "778100", "09/01/2023", "", 25, "Unverified", ""),
]
# fmt: on
_SPOUSE_60179 = {
    "insurancepolicyholderfirstname": "MARCO",
    "insurancepolicyholderlastname": "SANDBOXTEST",
    "insurancepolicyholderdob": "02/11/1986",
    "insurancepolicyholdersex": "M",
}


def sandbox_insurances(patients: dict[int, PatientRecord]) -> InsuranceSeed:
    records = []
    for pid, iid, pkg, seq, rel, member, group, issue, expires, copay, status, checked in _SANDBOX:
        patient = patients.get(pid)
        if patient is None:
            continue
        holder = (
            _holder_self(patient) if rel == 1 else {**_SPOUSE_60179, **_holder_address(patient)}
        )
        fields = {
            "insuranceidnumber": member,
            "policynumber": group,
            "issuedate": issue,
            "expirationdate": expires,
            **holder,
        }
        package = PACKAGES[pkg]
        record = InsuranceRecord(
            SANDBOX_PRACTICE, pid, iid, pkg, seq, {k: v for k, v in fields.items() if v}, rel
        )
        if package.kind == "commercial":
            record.copays = _copays(copay)
        record.eligibilitystatus, record.eligibilitylastchecked = status, checked
        if status == "Eligible":
            record.eligibilitymessage = "Member is eligible."
        record.last_updated = STAMP
        records.append(record)
    return InsuranceSeed(records, {(900105, "TH1029384756")})


def _member_id(rng: random.Random, package: InsurancePackage) -> str:
    if package.kind == "medicare":  # an MBI-shaped id: 11 characters
        letters = "ACDEFGHJKMNPQRTUVWXY"
        pick = [
            rng.choice("123456789"), rng.choice(letters), rng.choice(letters + "0123456789"),
            str(rng.randrange(10)), rng.choice(letters), rng.choice(letters + "0123456789"),
            str(rng.randrange(10)), rng.choice(letters), rng.choice(letters),
            str(rng.randrange(10)), str(rng.randrange(10)),
        ]  # fmt: skip
        return "".join(pick)
    digits = 12 - len(package.member_prefix) if package.kind == "medicaid" else 9
    return package.member_prefix + "".join(str(rng.randrange(10)) for _ in range(digits))


class _Generator:
    def __init__(self, seed: int, practiceid: str) -> None:
        self.rng = random.Random(f"insurance-{seed}-{practiceid}")
        self.practiceid = practiceid
        self.next_id = FIRST_GENERATED_ID
        self.records: list[InsuranceRecord] = []
        self.unknown: set[tuple[int, str]] = set()

    def add(
        self,
        patient: PatientRecord,
        package: InsurancePackage,
        sequence: int,
        relationship: int,
        holder: dict[str, str],
        start: date,
    ) -> InsuranceRecord:
        rng = self.rng
        fields = dict(holder)
        if package.is_insurance:
            fields["insuranceidnumber"] = _member_id(rng, package)
            fields["issuedate"] = us_date(start)
            if package.kind in {"commercial", "supplement", "advantage"}:
                fields["policynumber"] = str(rng.randrange(100000, 999999999))
        record = InsuranceRecord(
            self.practiceid, patient.patientid, self.next_id, package.insurancepackageid,
            sequence, {k: v for k, v in fields.items() if v}, relationship,
        )  # fmt: skip
        self.next_id += 1
        if package.kind == "commercial":
            record.copays = _copays(rng.choice([10, 15, 20, 25, 30, 35, 40]))
        elif package.kind == "medicaid":
            record.copays = [("Office Visit", rng.choice(["0", "1", "3"]))]
        if package.is_insurance and rng.random() < 0.8:
            record.eligibilitystatus = "Eligible"
            record.eligibilitymessage = "Member is eligible."
            checked = start + timedelta(days=rng.randrange(max(1, (ANCHOR - start).days)))
            record.eligibilitylastchecked = us_date(checked)
        if package.is_insurance and rng.random() < 0.02:
            self.unknown.add((package.insurancepackageid, fields["insuranceidnumber"]))
        record.last_updated = f"{(start + timedelta(days=1)).isoformat()}T15:00:00Z"
        self.records.append(record)
        return record

    def patient(self, patient: PatientRecord, state: str) -> None:
        rng = self.rng
        born = parse_us_date(patient.text("dob")) or date(1980, 1, 1)
        age = (ANCHOR - born).days // 365
        registered = parse_us_date(patient.text("registrationdate")) or date(2019, 1, 1)
        start = max(registered - timedelta(days=rng.randrange(0, 900)), born)
        if rng.random() < 0.04:
            return  # [G] never registered any insurance
        me = _holder_self(patient)
        roll = rng.random()
        if age >= 65:
            if roll < 0.05:
                self.add(patient, PACKAGES[0], 1, 1, me, start)
                return
            turned = date(born.year + 65, born.month, 1)
            primary = PACKAGES[900110] if roll < 0.15 else medicare_for(state)
            self.add(patient, primary, 1, 1, me, max(turned, start))
            second = rng.random()
            if primary.kind == "medicare" and second < 0.45:
                extra = PACKAGES[900111] if second < 0.35 else medicaid_for(state)
                self.add(patient, extra, 2, 1, me, max(turned, start))
            return
        if age < 19:
            if roll < 0.10:
                self.add(patient, PACKAGES[0], 1, 1, me, start)
            elif roll < 0.48:
                self.add(patient, medicaid_for(state), 1, 1, me, start)
            else:
                parent = self._parent(patient, born)
                self.add(patient, rng.choice(commercial_for(state)), 1, 3, parent, start)
            return
        if roll < 0.12:
            self.add(patient, PACKAGES[0], 1, 1, me, start)
            return
        if roll < 0.27:
            self.add(patient, medicaid_for(state), 1, 1, me, start)
            return
        plans = commercial_for(state)
        spouse = rng.random() < 0.15
        holder = self._spouse(patient, born) if spouse else me
        first = self.add(patient, rng.choice(plans), 1, 2 if spouse else 1, holder, start)
        if rng.random() < 0.07:
            others = [p for p in plans if p.insurancepackageid != first.packageid]
            self.add(
                patient,
                rng.choice(others),
                2,
                1 if spouse else 2,
                me if spouse else self._spouse(patient, born),
                start,
            )
        if rng.random() < 0.075:
            ends = date(rng.choice([2023, 2024, 2024, 2025]), rng.choice([1, 3, 6, 12]), 28)
            ends = min(ends, ANCHOR - timedelta(days=30))
            if ends > start:
                first.fields["expirationdate"] = us_date(ends)

    def _relative(self, patient: PatientRecord, born: date, years: int, sex: str) -> dict[str, str]:
        rng = self.rng
        first = rng.choice(FEMALE if sex == "F" else MALE)
        dob = born - timedelta(days=365 * years + rng.randrange(0, 365))
        return {
            "insurancepolicyholderfirstname": first.upper(),
            "insurancepolicyholderlastname": patient.text("lastname").upper(),
            "insurancepolicyholderdob": us_date(dob),
            "insurancepolicyholdersex": sex,
            **_holder_address(patient),
        }

    def _parent(self, patient: PatientRecord, born: date) -> dict[str, str]:
        return self._relative(patient, born, self.rng.randrange(22, 42), self.rng.choice("MF"))

    def _spouse(self, patient: PatientRecord, born: date) -> dict[str, str]:
        sex = "M" if patient.text("sex") == "F" else "F"
        return self._relative(patient, born, self.rng.randrange(-4, 5), sex)


def build_insurances(seed: int, patients: dict[str, dict[int, PatientRecord]]) -> InsuranceSeed:
    """Every practice's seeded insurances; sandbox fixed, the rest from the seed."""
    result = sandbox_insurances(patients.get(SANDBOX_PRACTICE, {}))
    for practiceid in sorted(patients):
        generator = _Generator(seed, practiceid)
        default_state = "MA" if practiceid == SANDBOX_PRACTICE else "VT"
        for pid, patient in sorted(patients[practiceid].items()):
            if practiceid == SANDBOX_PRACTICE and 60178 <= pid <= 60184:
                continue
            generator.patient(patient, patient.text("state") or default_state)
        result.records += generator.records
        result.unknown_members |= generator.unknown
    return result
