"""Claims and their lifecycle on the emulator's clock (API-NOTES 3.7, 3.9; REVENUE-CYCLE 5.1).

A claim is created by ``POST /claims`` or ``POST /appointments/{id}/claim``
(:mod:`emulator.rest_claims`) and cannot be edited or deleted afterwards. Its status is
kept **per payer** (primary, secondary, patient), as athena reports it, and moves on the
emulator's scheduling clock (``World.schedule_now``, which the admin API advances):

==========  ================================================================  =======
status      when                                                              mark
==========  ================================================================  =======
``PEND``    just created: the rules engine has not scrubbed it yet            [G]
``HOLD``    scrubbed with a problem (``note`` says which rule); released to   C2+/[G]
            DROP when a note is added (``POST /claims/{id}/note``) or after
            ``HOLD_RELEASE_SECONDS`` (the practice's billers work the hold)
``DROP``    clean: queued for the payer                                       C2+
``BILLED``  sent to the payer (the next batch, ``DROP_SECONDS`` later)        [G]
``CLOSED``  the payer's remittance is posted (``ADJUDICATION_SECONDS`` after  C2+
            billing): ``remittance`` on the payer holds the payment (amount,
            date, check or EFT number) and each line's adjudication
==========  ================================================================  =======

The secondary payer is billed once the primary closed, for what the primary left to the
patient except the copay [G]; the patient payer is ``PEND`` until every insurer closed,
then ``BILLED`` when a balance is left to the patient, else ``CLOSED`` [G].

The rules engine's one rule [G, modelled on athena's "missing referring provider"
claim rule]: a procedure in :data:`REFERRAL_REQUIRED` (consultations, imaging) without a
``referringproviderid`` goes to HOLD.

Adjudication is decided, deterministically, from the payer's plan (the same
:data:`emulator.eligibility.PLANS` the 271 reports, and the same share of the deductible
already used that year) [G]:

- the member is unknown to the payer (the eligibility check's unknown members):
  every line denied, CARC 31 (patient cannot be identified as our insured), RARC N382;
- the service date is outside the policy's issue and expiration dates: every line
  denied, CARC 27 (expenses incurred after coverage terminated), RARC N30;
- a procedure the plans do not cover (:data:`NOT_COVERED`): that line denied,
  CARC 96 (non-covered charge), RARC N130;
- otherwise each line is allowed at the fee schedule's allowable (CARC 45 contractual
  adjustment for the rest); the patient owes the visit's copay (CARC 3), what is left of
  the deductible (CARC 1) and the coinsurance (CARC 2); the payer pays the rest.

The remittance's field names are [G]: athena exposes no ERA to partners (API-NOTES 3.9).
Every change is an ``UpdateClaim`` row in the ``claims`` changed-data feed.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

from emulator.catalog import DIAGNOSES
from emulator.eligibility import COPAY_TYPES, PLANS, _used_share
from emulator.insurance import InsuranceRecord
from emulator.records import us_date

if TYPE_CHECKING:
    from emulator.world import World

SCRUB_SECONDS: Final = 600.0  # [G] the rules engine scrubs within minutes
HOLD_RELEASE_SECONDS: Final = 3 * 86400.0  # [G] billers work a hold within days
DROP_SECONDS: Final = 3600.0  # [G] the next batch to the payer
ADJUDICATION_SECONDS: Final = 5 * 86400.0  # [G] the payer's turnaround


@dataclass(frozen=True)
class FeeLine:
    description: str
    charge: float  # the practice's fee per unit
    allowable: float  # what payers allow per unit [G]
    copay: str | None = None  # the copay (service type) the visit owes, if any


# The fee schedule (GET /feeschedules/checkprocedure decides "valid per fee schedule") [G]
FEE_SCHEDULE: Final[dict[str, FeeLine]] = {
    "99202": FeeLine("Office or other outpatient visit, new patient, straightforward", 150, 95, "98"),
    "99203": FeeLine("Office or other outpatient visit, new patient, low", 200, 130, "98"),
    "99212": FeeLine("Office or other outpatient visit, established patient, straightforward", 100, 60, "98"),
    "99213": FeeLine("Office or other outpatient visit, established patient, low", 150, 95, "98"),
    "99214": FeeLine("Office or other outpatient visit, established patient, moderate", 220, 140, "98"),
    "99215": FeeLine("Office or other outpatient visit, established patient, high", 300, 190, "98"),
    "99243": FeeLine("Office consultation, low", 275, 170, "3"),
    "99395": FeeLine("Periodic preventive medicine, established patient, 18-39 years", 250, 160, "BZ"),
    "99396": FeeLine("Periodic preventive medicine, established patient, 40-64 years", 270, 175, "BZ"),
    "G0439": FeeLine("Annual wellness visit, subsequent", 200, 130, "BZ"),
    "36415": FeeLine("Collection of venous blood by venipuncture", 25, 10),
    "80053": FeeLine("Comprehensive metabolic panel", 60, 15),
    "85025": FeeLine("Complete blood count with automated differential", 45, 11),
    "81002": FeeLine("Urinalysis, non-automated, without microscopy", 20, 4),
    "93000": FeeLine("Electrocardiogram, routine, with interpretation and report", 90, 25),
    "71046": FeeLine("Radiologic examination, chest; 2 views", 150, 40),
    "90471": FeeLine("Immunization administration, one vaccine", 40, 25),
    "90686": FeeLine("Influenza virus vaccine, quadrivalent, preservative free", 45, 20),
    "97810": FeeLine("Acupuncture, one or more needles, initial 15 minutes", 120, 0),
}  # fmt: skip
REFERRAL_REQUIRED: Final = frozenset({"99243", "71046"})
NOT_COVERED: Final = frozenset({"97810"})
MAX_DIAGNOSES: Final = 4  # per charge (athena's limit)
ICD10: Final = re.compile(r"^[A-TV-Z][0-9][0-9AB](?:\.?[0-9A-TV-Z]{1,4})?$")
ICD10_NAMES: Final = {d.icd10: d.icd10_description for d in DIAGNOSES.values()}
HOLD_REFERRAL: Final = (
    "Claim rule 1201: procedure {code} requires a referring provider"
    " (REFERRINGPROVIDERID); add a claim note once the referral is on file to release the hold."
)
RELEASED: Final = "Hold released by claim note."
REASONS: Final[dict[str, str]] = {  # CARC (X12 claim adjustment reason codes)
    "1": "Deductible Amount",
    "2": "Coinsurance Amount",
    "3": "Co-payment Amount",
    "27": "Expenses incurred after coverage terminated.",
    "31": "Patient cannot be identified as our insured.",
    "45": "Charge exceeds fee schedule/maximum allowable or contracted/legislated fee arrangement.",
    "96": "Non-covered charge(s).",
    "23": "The impact of prior payer(s) adjudication including payments and/or adjustments.",
}
DENIALS: Final = frozenset({"27", "31", "96"})  # the CARCs that deny a line here
REMARKS: Final[dict[str, str]] = {  # RARC (X12 remittance advice remark codes)
    "N30": "Patient ineligible for this service.",
    "N130": "Consult plan benefit documents/guidelines for information about restrictions for this service.",
    "N382": "Missing/incomplete/invalid patient identifier.",
}  # fmt: skip


def canonical_code(code: str) -> str:
    """An ICD-10-CM code as athena shows it (``E785`` -> ``E78.5``)."""
    text = code.strip().upper().replace(".", "")
    return f"{text[:3]}.{text[3:]}" if len(text) > 3 else text


@dataclass
class Charge:
    transactionid: int
    procedurecode: str
    units: int
    icd10: list[str]
    unitamount: float
    linenote: str = ""

    @property
    def amount(self) -> float:
        return round(self.unitamount * self.units, 2)


@dataclass
class Payer:
    """One payer's state of a claim (``primaryinsurancepayer`` ...)."""

    role: str  # primary | secondary
    insurance: InsuranceRecord
    status: str = "PEND"
    since: float = 0.0  # when it entered the status (emulator clock)
    note: str = ""
    remittance: dict[str, Any] | None = None

    def v1(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            f"{self.role}patientinsuranceid": self.insurance.insuranceid,
            "insurancepackageid": self.insurance.packageid,  # [G]
            "insuranceplanname": self.insurance.package.insuranceplanname,  # [G]
            "status": self.status,
        }
        if self.note:
            out["note"] = self.note
        if self.remittance is not None:
            out["remittance"] = self.remittance  # [G]
        return out


@dataclass
class ClaimRecord:
    practiceid: str
    claimid: int
    patientid: int
    departmentid: int
    supervisingproviderid: int
    servicedate: date
    created: float  # emulator clock
    charges: list[Charge]
    payers: list[Payer]
    renderingproviderid: int | None = None
    referringproviderid: int | None = None
    orderingproviderid: int | None = None
    appointmentid: int | None = None
    encounterid: int | None = None
    patientstatus: str = "PEND"
    notes: list[dict[str, str]] = field(default_factory=list)
    last_modified: float = 0.0

    def payer(self, role: str) -> Payer | None:
        return next((p for p in self.payers if p.role == role), None)

    def diagnoses(self) -> list[str]:
        return list(dict.fromkeys(code for c in self.charges for code in c.icd10))

    def v1(self) -> dict[str, Any]:
        codes = self.diagnoses()
        out: dict[str, Any] = {
            "claimid": str(self.claimid),
            "claimcreateddate": us_date(_day(self.created)),
            "billedservicedate": us_date(self.servicedate),
            "billedproviderid": self.supervisingproviderid,
            "supervisingproviderid": self.supervisingproviderid,  # [G] also shown
            "departmentid": self.departmentid,
            "patientid": self.patientid,
            "chargeamount": _amount(sum(c.amount for c in self.charges)),
            "procedures": [
                {
                    "procedurecode": c.procedurecode,
                    "proceduredescription": FEE_SCHEDULE[c.procedurecode].description,
                    "chargeamount": _amount(c.amount),
                    "units": c.units,  # [G]
                    "transactionid": str(c.transactionid),
                    "diagnosisrawcodes": list(c.icd10),  # [G] the charge's diagnosis pointers
                    **({"linenote": c.linenote} if c.linenote else {}),
                }
                for c in self.charges
            ],
            "transactiondetails": {str(c.transactionid): _amount(c.amount) for c in self.charges},
            "diagnoses": [
                {
                    "diagnosisid": str(self.claimid * 10 + index),
                    "diagnosisrawcode": code,
                    "diagnosiscodeset": "ICD10",
                    "diagnosisdescription": ICD10_NAMES.get(code, ""),
                    "deleteddiagnosis": "false",
                }
                for index, code in enumerate(codes, start=1)
            ],
            "patientpayer": {"status": self.patientstatus},
            "lastmodified": _stamp(self.last_modified),  # [G]
        }
        for name, value in (
            ("renderingproviderid", self.renderingproviderid),
            ("referringproviderid", self.referringproviderid),
            ("orderingproviderid", self.orderingproviderid),
            ("appointmentid", self.appointmentid),
            ("encounterid", self.encounterid),  # [G]
        ):
            if value is not None:
                out[name] = str(value) if name in ("appointmentid", "encounterid") else value
        for payer in self.payers:
            out[f"{payer.role}insurancepayer"] = payer.v1()
        if self.notes:
            out["notes"] = list(self.notes)  # [G]
        return out


def _day(moment: float) -> date:
    return datetime.fromtimestamp(moment, UTC).date()


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%m/%d/%Y %H:%M:%S")


def _amount(value: float) -> str:
    """athena's money: a string, no trailing zeros ("225", "95.5")."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:6], "big")


class ClaimBook:
    """Every practice's claims; moved along the clock by :meth:`tick` (thread-safe)."""

    def __init__(
        self,
        lock: threading.RLock,
        seed: int,
        now: Callable[[], float],
        unknown_members: set[tuple[int, str]],
        on_change: Callable[[ClaimRecord], None],
    ) -> None:
        self.lock = lock
        self.seed = seed
        self.now = now
        self.unknown_members = unknown_members
        self.on_change = on_change
        self.claims: dict[str, dict[int, ClaimRecord]] = {}
        self.next_claim = 90_001
        self.next_transaction = 700_001
        self.deductible_used: dict[tuple[int, int], float] = {}  # (insuranceid, year) -> $

    # -- creation ----------------------------------------------------------------

    def add(self, claim: ClaimRecord, *, quiet: bool = False) -> ClaimRecord:
        with self.lock:
            claim.claimid = self.next_claim
            self.next_claim += 1
            for charge in claim.charges:
                charge.transactionid = self.next_transaction
                self.next_transaction += 1
            for payer in claim.payers:
                payer.since = claim.created
            claim.last_modified = claim.created
            self.claims.setdefault(claim.practiceid, {})[claim.claimid] = claim
        if not quiet:
            self.on_change(claim)
        return claim

    def get(self, practiceid: str, claimid: int) -> ClaimRecord | None:
        self.tick()
        with self.lock:
            return self.claims.get(practiceid, {}).get(claimid)

    def all(self, practiceid: str) -> list[ClaimRecord]:
        self.tick()
        with self.lock:
            return list(self.claims.get(practiceid, {}).values())

    def for_appointment(self, practiceid: str, appointmentid: int) -> ClaimRecord | None:
        with self.lock:
            return next(
                (
                    c
                    for c in self.claims.get(practiceid, {}).values()
                    if c.appointmentid == appointmentid
                ),
                None,
            )

    def add_note(self, claim: ClaimRecord, text: str, by: str) -> None:
        """A claim note; a HOLD it answers is released to DROP [G]."""
        self.tick()
        now = self.now()
        with self.lock:
            claim.notes.append({"note": text, "created": _stamp(now), "createdby": by})
            for payer in claim.payers:
                if payer.status == "HOLD":
                    payer.status, payer.since, payer.note = "DROP", now, RELEASED
            claim.last_modified = now
        self.on_change(claim)

    # -- the clock ---------------------------------------------------------------

    def tick(self) -> None:
        """Move every claim to its state at the clock's now (each change reported once)."""
        now = self.now()
        changed: list[ClaimRecord] = []
        with self.lock:
            for claims in self.claims.values():
                for claim in claims.values():
                    if claim.patientstatus != "CLOSED" and self._advance(claim, now):
                        changed.append(claim)
        for claim in changed:
            self.on_change(claim)

    def _advance(self, claim: ClaimRecord, now: float) -> bool:
        moved = False
        while True:
            step = self._step(claim, now)
            if step is None:
                return moved
            moved = True
            claim.last_modified = step

    def _step(self, claim: ClaimRecord, now: float) -> float | None:
        """Take the next due transition; its time, or None when nothing is due."""
        primary = claim.payers[0] if claim.payers else None
        for payer in claim.payers:
            due = self._due(claim, payer, primary)
            if due is not None and due <= now:
                self._enter(claim, payer, due)
                return due
        if claim.patientstatus == "PEND" and all(p.status == "CLOSED" for p in claim.payers):
            last = max((p.since for p in claim.payers), default=claim.created)
            if last <= now:
                owed = self.patient_balance(claim)
                claim.patientstatus = "BILLED" if owed > 0 else "CLOSED"
                return last
        return None

    def _due(self, claim: ClaimRecord, payer: Payer, primary: Payer | None) -> float | None:
        if payer.role == "secondary":
            if payer.status == "PEND":
                return primary.since if primary and primary.status == "CLOSED" else None
        elif payer.status == "PEND":
            return claim.created + SCRUB_SECONDS
        if payer.status == "HOLD":
            return payer.since + HOLD_RELEASE_SECONDS
        if payer.status == "DROP":
            return payer.since + DROP_SECONDS
        if payer.status == "BILLED":
            return payer.since + ADJUDICATION_SECONDS
        return None

    def _enter(self, claim: ClaimRecord, payer: Payer, at: float) -> None:
        if payer.status == "PEND" and payer.role == "primary":
            reason = scrub(claim)
            payer.status, payer.note = ("HOLD", reason) if reason else ("DROP", "")
        elif payer.status == "PEND":  # the secondary, once the primary closed
            payer.status = "DROP"
        elif payer.status == "HOLD":
            payer.status, payer.note = "DROP", "Hold released by the billing office."  # [G]
        elif payer.status == "DROP":
            payer.status = "BILLED"
        elif payer.status == "BILLED":
            payer.status = "CLOSED"
            payer.remittance = self.adjudicate(claim, payer, at)
            payer.note = payer.remittance.pop("note", "")
        payer.since = at

    # -- adjudication --------------------------------------------------------------

    def patient_balance(self, claim: ClaimRecord) -> float:
        last = next((p for p in reversed(claim.payers) if p.remittance), None)
        return float(last.remittance["patientresponsibility"]) if last and last.remittance else 0.0

    def adjudicate(self, claim: ClaimRecord, payer: Payer, at: float) -> dict[str, Any]:
        """The payer's remittance for the claim [G amounts and field names]."""
        if payer.role == "secondary":
            return self._crossover(claim, payer, at)
        record = payer.insurance
        member = record.text("insuranceidnumber")
        start, end = record.text("issuedate"), record.text("expirationdate")
        denial: tuple[str, str] | None = None
        if (record.packageid, member) in self.unknown_members or member.upper().startswith(
            "UNKNOWN"
        ):
            denial = ("31", "N382")
        elif (start and claim.servicedate < _parse(start)) or (
            end and claim.servicedate > _parse(end)
        ):
            denial = ("27", "N30")
        plan = PLANS.get(record.package.x12_type, PLANS["PR"])
        year = claim.servicedate.year
        key = (record.insuranceid, year)
        total = float(plan.deductible[0])
        if key not in self.deductible_used:
            self.deductible_used[key] = round(
                total * _used_share(self.seed, record, year, "CINDY"), 2
            )
        copays = {k: float(v) for k, v in record.copays}
        copay_due = True
        lines = []
        for number, charge in enumerate(claim.charges, start=1):
            fee = FEE_SCHEDULE[charge.procedurecode]
            billed = charge.amount
            line: dict[str, Any] = {
                "linenumber": number,
                "transactionid": str(charge.transactionid),
                "procedurecode": charge.procedurecode,
                "chargeamount": _amount(billed),
            }
            reason = denial or (("96", "N130") if charge.procedurecode in NOT_COVERED else None)
            if reason is not None:
                line.update(
                    allowedamount="0",
                    paidamount="0",
                    patientresponsibility="0",
                    adjustments=[{"group": "CO", "reason": reason[0], "amount": _amount(billed)}],
                    remarkcodes=[reason[1]],
                )
                lines.append(line)
                continue
            allowed = min(billed, round(fee.allowable * charge.units, 2))
            left, adjustments = allowed, []
            if billed > allowed:
                adjustments.append(
                    {"group": "CO", "reason": "45", "amount": _amount(billed - allowed)}
                )
            copay = 0.0
            if fee.copay and copay_due:
                default = plan.copays.get(fee.copay, 0)
                copay = min(left, copays.get(COPAY_TYPES.get(fee.copay, ""), float(default)))
                copay_due = False
            deductible = 0.0
            if fee.copay != "BZ":  # preventive care: no cost share [G]
                deductible = min(left - copay, max(0.0, total - self.deductible_used[key]))
                self.deductible_used[key] += deductible
            coinsurance = (
                0.0
                if fee.copay == "BZ"
                else round((left - copay - deductible) * plan.coinsurance_in, 2)
            )
            for reason_code, value in (("3", copay), ("1", deductible), ("2", coinsurance)):
                if value > 0:
                    adjustments.append(
                        {"group": "PR", "reason": reason_code, "amount": _amount(value)}
                    )
            owed = round(copay + deductible + coinsurance, 2)
            line.update(
                allowedamount=_amount(allowed),
                paidamount=_amount(allowed - owed),
                patientresponsibility=_amount(owed),
                adjustments=adjustments,
                remarkcodes=[],
            )
            lines.append(line)  # fmt: skip
        return self._remit(claim, payer, at, lines, denial)

    def _crossover(self, claim: ClaimRecord, payer: Payer, at: float) -> dict[str, Any]:
        """The secondary pays the primary's coinsurance and deductible, not its copay [G]."""
        primary = claim.payers[0].remittance or {"lines": []}
        lines = []
        for prior in primary["lines"]:
            pr = {
                a["reason"]: float(a["amount"]) for a in prior["adjustments"] if a["group"] == "PR"
            }
            pays = round(pr.get("1", 0.0) + pr.get("2", 0.0), 2)
            owed = pr.get("3", 0.0)
            adjustments = [
                {
                    "group": "OA",
                    "reason": "23",
                    "amount": _amount(float(prior["chargeamount"]) - pays - owed),
                }
            ]
            if owed:
                adjustments.append({"group": "PR", "reason": "3", "amount": _amount(owed)})
            lines.append({**{k: prior[k] for k in ("linenumber", "transactionid", "procedurecode", "chargeamount")},
                          "allowedamount": _amount(pays + owed), "paidamount": _amount(pays),
                          "patientresponsibility": _amount(owed), "adjustments": adjustments,
                          "remarkcodes": []})  # fmt: skip
        return self._remit(claim, payer, at, lines, None)

    def _remit(
        self,
        claim: ClaimRecord,
        payer: Payer,
        at: float,
        lines: list[dict[str, Any]],
        denial: tuple[str, str] | None,
    ) -> dict[str, Any]:
        paid = round(sum(float(line["paidamount"]) for line in lines), 2)
        owed = round(sum(float(line["patientresponsibility"]) for line in lines), 2)
        number = _digest(self.seed, claim.practiceid, claim.claimid, payer.role)
        eft = number % 3 != 0
        remittance: dict[str, Any] = {
            "paymentamount": _amount(paid),
            "paymentdate": us_date(_day(at)),
            "paymentmethod": "EFT" if eft else "CHECK",
            ("eftnumber" if eft else "checknumber"): f"{'EFT' if eft else ''}{number % 10**9:09d}",
            "patientresponsibility": _amount(owed),
            "lines": lines,
        }
        denied = [
            line
            for line in lines
            if any(a["reason"] in DENIALS for a in line["adjustments"] if a["group"] == "CO")
        ]
        if denial is not None or (denied and len(denied) == len(lines)):
            reason = denial[0] if denial else denied[0]["adjustments"][0]["reason"]
            remittance["note"] = f"Denied: {REASONS[reason]}"
        elif denied:
            numbers = ", ".join(str(line["linenumber"]) for line in denied)
            reason = denied[0]["adjustments"][0]["reason"]
            remittance["note"] = f"Paid; line {numbers} denied: {REASONS[reason]}"
        return remittance


def _parse(text: str) -> date:
    return datetime.strptime(text, "%m/%d/%Y").date()


def scrub(claim: ClaimRecord) -> str:
    """The rules engine: the HOLD reason of a claim, or "" when it is clean."""
    if claim.referringproviderid is None:
        for charge in claim.charges:
            if charge.procedurecode in REFERRAL_REQUIRED:
                return HOLD_REFERRAL.format(code=charge.procedurecode)
    return ""


UNBILLED: Final = frozenset({60178, 60179})  # Donna's and Eleana's visits (sandbox)

# -- the seed ------------------------------------------------------------------------

# (offset before now in seconds, procedure codes, referring provider given) per state the
# seed shows besides the closed ones [G]
_RECENT: Final[list[tuple[str, float, tuple[str, ...], bool]]] = [
    ("PEND", 120.0, ("99213",), True),
    ("HOLD", 86400.0, ("99243", "36415"), False),
    ("DROP", SCRUB_SECONDS + 600.0, ("99214", "80053"), True),
    ("BILLED", 2 * 86400.0, ("99213", "85025"), True),
]


def seed_claims(world: World, book: ClaimBook) -> None:
    """Claims for past finished visits: the sandbox patients' older visits (closed: paid,
    partially paid, denied) and generated patients' visits in every state."""
    now = world.schedule_clock()
    today = world.today
    for practiceid in world.practices:
        encounters = sorted(
            (
                e
                for e in world.schedule.all_encounters(practiceid)
                if e.encountertype == "VISIT" and e.appointmentid and e.encounterdate < today
                and e.stage in ("CHECKOUT", "SIGNOFF") and not e.cancelled
            ),
            key=lambda e: (e.encounterdate, e.encounterid),
        )  # fmt: skip
        recent = list(_RECENT)
        for encounter in reversed(encounters):
            if encounter.patientid in UNBILLED and practiceid == "195900":
                continue  # their visits stay unbilled: the tests (and the README) bill them
            rows = [
                r
                for r in world.insurances.for_patient(practiceid, encounter.patientid)
                if r.is_coverage
            ]
            rows.sort(key=lambda r: r.sequencenumber)
            if not rows:
                continue
            roll = _digest(world.config.seed, practiceid, encounter.encounterid) % 100
            sandbox = 60178 <= encounter.patientid <= 60184 and practiceid == "195900"
            if not sandbox and roll >= 35:
                continue
            codes: tuple[str, ...] = ("99214",) if roll % 2 else ("99213", "36415", "80053")
            referring = True
            age = (today - encounter.encounterdate).days * 86400.0
            created = now - age + 86400.0
            if recent and not sandbox and age < 25 * 86400:
                _, offset, codes, referring = recent.pop(0)
                created = now - offset
            elif roll % 11 == 0:
                codes = ("99213", "97810")  # a line the plan does not cover
            if created > now:
                continue
            diagnoses = [d.icd10[0][0] for d in encounter.diagnoses if d.icd10][:MAX_DIAGNOSES]
            diagnoses = diagnoses or ["Z00.00"]
            claim = ClaimRecord(
                practiceid=practiceid,
                claimid=0,
                patientid=encounter.patientid,
                departmentid=int(encounter.departmentid),
                supervisingproviderid=encounter.providerid,
                servicedate=encounter.encounterdate,
                created=created,
                charges=[
                    Charge(0, code, 1, diagnoses, FEE_SCHEDULE[code].charge) for code in codes
                ],
                payers=[Payer(role, r) for role, r in zip(("primary", "secondary"), rows, strict=False)],
                referringproviderid=encounter.providerid if referring and codes[0] in REFERRAL_REQUIRED else None,
                appointmentid=encounter.appointmentid,
                encounterid=encounter.encounterid,
            )  # fmt: skip
            book.add(claim, quiet=True)
    with book.lock:
        claims = [c for rows in book.claims.values() for c in rows.values()]
        for claim in sorted(claims, key=lambda c: c.created):
            book._advance(claim, now)
