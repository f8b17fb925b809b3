"""Simulated real-time eligibility: a 270 to a simulated payer and its 271
(API-NOTES 3.8, 6.2; REVENUE-CYCLE 4, 5.2).

``POST /v1/{pid}/patients/{id}/insurances/{iid}/eligibility`` runs a check;
``GET`` on the same path returns the latest one (athena keeps only the last
271). The 271's field names are unknown [G]: the result is one small object
with athena-style lower-case names, and every benefit also carries its raw X12
``EB`` segment (every rejection its ``AAA`` segment) so nothing is lost.

What the payer answers is decided per package (``InsurancePackage.payer``) and
per member, deterministically:

=========================  =====================================================
case                       answer
=========================  =====================================================
payer ``down``             ``status`` "error", AAA*Y**42*R (unable to respond);
                           the insurance keeps its status, its message becomes
                           athena's "Could not determine eligibility..." text
member unknown to payer    ``status`` "rejected", AAA*N**75*C (subscriber not
                           found), or AAA*N**72*C when there is no member id;
                           the insurance becomes Ineligible
date of service outside    ``status`` "complete", EB*6 (inactive); Ineligible
issuedate..expirationdate
otherwise                  ``status`` "complete", EB*1 (active) plus copays (B),
                           coinsurance (A), deductibles (C) and out-of-pocket (G);
                           Eligible, "Member is eligible.", copays[] refreshed
payer ``slow``             any of the above, but POST and GET answer ``status``
                           "pending" until ``eligibility_delay_seconds`` have
                           passed on the emulator clock; the insurance changes
                           when the result is first read after that
=========================  =====================================================

A member is unknown when (package, member id) is one of the seed's unknown
members (sandbox 60184's 7008; about 2 % of generated members) or the member id
starts with "UNKNOWN" (what practices type when they do not know it, NET data).
Seeded cases per sandbox patient: see :mod:`emulator.insurance_seed`.

With ``EMULATOR_ENVIRONMENT=preview`` both calls answer athena's HTTP-200 soft
failure ``{"success": false, "errormessage": ...}``: eligibility "only works in
Production" (API-NOTES 3.8, C1) [G on the body]; the insurances' eligibility
fields stay readable.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

from emulator.insurance import InsuranceRecord
from emulator.insurance_catalog import InsurancePackage
from emulator.records import parse_us_date, us_date

if TYPE_CHECKING:
    from emulator.world import World

# X12 005010 service type codes (element 1365) in the answer; "3" Consultation stands
# for the specialist visit [G: X12 has no "specialist" code; REVENUE-CYCLE 4.3 lists 3].
SERVICE_TYPES: Final[dict[str, str]] = {
    "30": "Health Benefit Plan Coverage",
    "98": "Professional (Physician) Visit - Office",
    "3": "Consultation",
    "UC": "Urgent Care",
    "86": "Emergency Services",
    "BZ": "Physician Visit - Office: Well",
}
COPAY_TYPES: Final[dict[str, str]] = {  # STC -> athena copaytype ("Office Visit" is C2+)
    "98": "Office Visit",
    "3": "Specialist",
    "UC": "Urgent Care",
    "86": "Emergency Room",
}
BENEFIT_CODES: Final[dict[str, str]] = {  # EB01 (element 1390)
    "1": "Active Coverage",
    "6": "Inactive",
    "A": "Co-Insurance",
    "B": "Co-Payment",
    "C": "Deductible",
    "G": "Out of Pocket (Stop Loss)",
    "I": "Non-Covered",
}
TIME_PERIODS: Final[dict[str, str]] = {"23": "Calendar Year", "27": "Visit", "29": "Remaining"}
REJECTS: Final[dict[str, str]] = {
    "42": "Unable to Respond at Current Time",
    "72": "Invalid/Missing Member ID",
    "75": "Subscriber/Insured Not Found",
}
FOLLOW_UPS: Final[dict[str, str]] = {
    "C": "Please Correct and Resubmit",
    "R": "Resubmission Allowed",
}
ELIGIBLE_MESSAGE: Final = "Member is eligible."
# Recorded on a sandbox insurance (NET GetPatientInsurances.json).
UNDETERMINED_MESSAGE: Final = (
    "Could not determine eligibility. Please call the insurance company to verify "
    "eligibility or try again later."
)
PENDING_MESSAGE: Final = "The eligibility check is in progress. Check again later."  # [G]
NOT_AVAILABLE: Final = "Eligibility checks are not available in the preview environment."  # [G]


@dataclass(frozen=True)
class Plan:
    """The benefit design a payer reports for one kind of plan [G amounts, 2025-like]."""

    copays: dict[str, int]  # STC -> in-network copay per visit
    coinsurance_in: float
    coinsurance_out: float | None  # None: out of network not covered (EB*I)
    deductible: tuple[int, int]  # individual, family (in network); (0, 0) = none
    deductible_out: tuple[int, int] | None
    out_of_pocket: tuple[int, int] | None
    out_of_pocket_out: tuple[int, int] | None


PLANS: Final[dict[str, Plan]] = {
    "PR": Plan({"98": 25, "3": 50, "UC": 75, "86": 250, "BZ": 0}, 0.2, 0.4,
               (1500, 3000), (3000, 6000), (6000, 12000), (12000, 24000)),
    "HM": Plan({"98": 20, "3": 40, "UC": 50, "86": 200, "BZ": 0}, 0.1, None,
               (500, 1000), None, (4000, 8000), None),
    "C1": Plan({"98": 15, "3": 30, "UC": 40, "86": 100, "BZ": 0}, 0.2, 0.4,
               (300, 600), (600, 1200), (3500, 7000), (7000, 14000)),
    "MB": Plan({"BZ": 0}, 0.2, 0.2, (257, 0), None, None, None),
    "HN": Plan({"98": 0, "3": 40, "UC": 50, "86": 110, "BZ": 0}, 0.0, None,
               (0, 0), None, (5000, 0), None),
    "SP": Plan({"BZ": 0}, 0.0, 0.0, (257, 0), None, None, None),
    "MC": Plan({"98": 3, "3": 3, "UC": 3, "86": 8, "BZ": 0}, 0.0, None,
               (0, 0), None, None, None),
}  # fmt: skip


def segment(*elements: str) -> str:
    """An X12 segment with trailing empty elements dropped: ``EB*B*IND*98*PR**27*25``."""
    parts = list(elements)
    while parts and not parts[-1]:
        parts.pop()
    return "*".join(parts)


def _money(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def benefit(
    code: str,
    level: str,
    stc: str,
    ins_type: str,
    *,
    period: str = "",
    amount: float | None = None,
    percent: float | None = None,
    network: str = "",
    description: str = "",
) -> dict[str, Any]:
    """One EB segment as a dict (element meanings: REVENUE-CYCLE 4.1)."""
    amount_text = _money(amount) if amount is not None else ""
    percent_text = _money(percent) if percent is not None else ""
    out: dict[str, Any] = {
        "benefitcode": code,
        "benefit": BENEFIT_CODES[code],
        "coveragelevel": level,
        "servicetypecode": stc,
        "servicetype": SERVICE_TYPES[stc],
        "insurancetypecode": ins_type,
        "plancoveragedescription": description,
        "timeperiodcode": period,
        "timeperiod": TIME_PERIODS.get(period, ""),
        "amount": amount_text,
        "percent": percent_text,
        "innetwork": network,
        "segment": segment(
            "EB",
            code,
            level,
            stc,
            ins_type,
            description,
            period,
            amount_text,
            percent_text,
            "",
            "",
            "",
            network,
        ),
    }
    return {k: v for k, v in out.items() if v != ""}


def rejection(valid: str, reason: str, follow_up: str, level: str) -> dict[str, str]:
    return {
        "level": level,
        "validrequest": valid,
        "rejectreasoncode": reason,
        "rejectreason": REJECTS[reason],
        "followupactioncode": follow_up,
        "followupaction": FOLLOW_UPS[follow_up],
        "segment": segment("AAA", valid, "", reason, follow_up),
    }


def _used_share(seed: int, record: InsuranceRecord, year: int, what: str) -> float:
    digest = hashlib.sha256(f"{seed}:{record.insuranceid}:{year}:{what}".encode()).digest()
    return int.from_bytes(digest[:2], "big") / 65535


def plan_benefits(
    seed: int, record: InsuranceRecord, pkg: InsurancePackage, day: date, stc: str
) -> list[dict[str, Any]]:
    """EB*1 and the benefit lines for an active plan, ``stc`` "30" meaning all of them."""
    ins = pkg.x12_type
    plan = PLANS.get(ins, PLANS["PR"])
    known = {k: int(float(v)) for k, v in record.copays}
    out = [benefit("1", "IND", "30", ins, description=pkg.insuranceplandisplayname)]
    for code, default in plan.copays.items():
        if stc in {"30", code}:
            amount = known.get(COPAY_TYPES.get(code, ""), default)
            out.append(benefit("B", "IND", code, ins, period="27", amount=amount, network="Y"))
    if stc in {"30", "98"}:
        out.append(benefit("A", "IND", stc, ins, percent=plan.coinsurance_in, network="Y"))
        if plan.coinsurance_out is None:
            out.append(benefit("I", "IND", stc, ins, network="N"))
        else:
            out.append(benefit("A", "IND", stc, ins, percent=plan.coinsurance_out, network="N"))
    for code, amounts, network in (
        ("C", plan.deductible, "Y"),
        ("C", plan.deductible_out, "N"),
        ("G", plan.out_of_pocket, "Y"),
        ("G", plan.out_of_pocket_out, "N"),
    ):
        if amounts is None or stc != "30":
            continue
        for level, total in zip(("IND", "FAM"), amounts, strict=True):
            if not total:
                continue
            used = round(total * _used_share(seed, record, day.year, f"{code}{level}{network}"))
            for period, value in (("23", total), ("29", total - used)):
                out.append(
                    benefit(code, level, "30", ins, period=period, amount=value, network=network)
                )
    return out


@dataclass
class Check:
    """One eligibility check; ``result`` is the finished 271 view, shown from ``ready_at``."""

    practiceid: str
    insuranceid: int
    requested: datetime
    ready_at: float  # emulator clock (epoch seconds)
    result: dict[str, Any]
    applied: bool = False


class EligibilityDesk:
    """The latest check per insurance (athena keeps only the last 271)."""

    def __init__(self, lock: threading.RLock) -> None:
        self.lock = lock
        self._checks: dict[tuple[str, int], Check] = {}

    def latest(self, practiceid: str, insuranceid: int) -> Check | None:
        with self.lock:
            return self._checks.get((practiceid, insuranceid))

    def store(self, check: Check) -> None:
        with self.lock:
            self._checks[(check.practiceid, check.insuranceid)] = check


def timestamp(moment: datetime) -> str:
    """athena's ``MM/DD/YYYY HH:MM:SS`` (section 3.0)."""
    return moment.strftime("%m/%d/%Y %H:%M:%S")


def answer(
    seed: int,
    record: InsuranceRecord,
    unknown_member: bool,
    day: date,
    stc: str,
    requested: datetime,
) -> dict[str, Any]:
    """The payer's 271 for a 270 on ``day`` (decided, not yet applied to the insurance)."""
    pkg = record.package
    member = record.text("insuranceidnumber")
    result: dict[str, Any] = {
        "insuranceid": str(record.insuranceid),
        "patientid": str(record.patientid),
        "insurancepackageid": pkg.insurancepackageid,
        "dateofservice": us_date(day),
        "servicetypecode": stc,
        "requestdatetime": timestamp(requested),
        "payername": pkg.ircname,
        "planname": pkg.insuranceplanname,
        "memberid": member,
        "insurancetypecode": pkg.x12_type,
        "eligibilityreason": "Athena",
    }
    if record.text("policynumber"):
        result["groupnumber"] = record.text("policynumber")
    if pkg.payer == "down":
        result.update(
            status="error",
            eligibilitystatus=record.eligibilitystatus,
            eligibilitymessage=UNDETERMINED_MESSAGE,
            rejections=[rejection("Y", "42", "R", "source")],
        )
        return result
    if unknown_member or not member:
        code = "75" if member else "72"
        result.update(
            status="rejected",
            eligibilitystatus="Ineligible",
            eligibilitymessage=f"{REJECTS[code]}. Verify the member ID and the policy holder.",
            rejections=[rejection("N", code, "C", "subscriber")],
        )
        return result
    start = parse_us_date(record.text("issuedate"))
    end = parse_us_date(record.text("expirationdate"))
    result["planbegindate"] = us_date(date(day.year, 1, 1))
    result["planenddate"] = us_date(date(day.year, 12, 31))
    if start:
        result["coveragestartdate"] = us_date(start)
    if end:
        result["coverageenddate"] = us_date(end)
    if (start and day < start) or (end and day > end):
        when = f" on {us_date(end)}" if end and day > end else ""
        result.update(
            status="complete",
            eligibilitystatus="Ineligible",
            eligibilitymessage=f"Coverage is not active for the date of service; it ended{when}."
            if when
            else "Coverage is not active for the date of service.",
            benefits=[benefit("6", "IND", "30", pkg.x12_type)],
        )
        return result
    result.update(
        status="complete",
        eligibilitystatus="Eligible",
        eligibilitymessage=ELIGIBLE_MESSAGE,
        benefits=plan_benefits(seed, record, pkg, day, stc),
    )
    return result


def apply(record: InsuranceRecord, result: dict[str, Any], checked: str) -> None:
    """What a finished check writes back on the patient insurance."""
    record.eligibilitystatus = result["eligibilitystatus"]
    record.eligibilitymessage = result["eligibilitymessage"]
    record.eligibilitylastchecked = checked
    if result["eligibilitystatus"] == "Eligible" and result.get("servicetypecode") == "30":
        copays = [
            (COPAY_TYPES[b["servicetypecode"]], b["amount"])
            for b in result.get("benefits", [])
            if b["benefitcode"] == "B" and b["servicetypecode"] in COPAY_TYPES
        ]
        if copays:
            record.copays = copays


def pending_view(check: Check, record: InsuranceRecord) -> dict[str, Any]:
    keep = ("insuranceid", "patientid", "insurancepackageid", "dateofservice",
            "servicetypecode", "requestdatetime", "payername", "planname", "memberid")  # fmt: skip
    out = {k: check.result[k] for k in keep if k in check.result}
    out.update(
        status="pending",
        eligibilitystatus=record.eligibilitystatus,
        eligibilitymessage=PENDING_MESSAGE,
    )
    return out


def settle(world: World, check: Check, record: InsuranceRecord) -> dict[str, Any]:
    """The check as seen now: pending until ready, then applied once to the insurance."""
    if world.clock() < check.ready_at:
        return pending_view(check, record)
    with world.lock:
        if not check.applied:
            apply(record, check.result, us_date(check.requested.date()))
            record.last_updated = world.now_instant()
            check.applied = True
    return dict(check.result)


def settle_patient(world: World, practiceid: str, rows: list[InsuranceRecord]) -> None:
    """Let finished slow checks reach the insurances before they are listed."""
    for record in rows:
        check = world.eligibility.latest(practiceid, record.insuranceid)
        if check is not None and not check.applied:
            settle(world, check, record)
