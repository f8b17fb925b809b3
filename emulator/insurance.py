"""Patient insurances: the stored records and athena's rules for them
(API-NOTES 3.4, 6.2; REVENUE-CYCLE 5.2).

An :class:`InsuranceRecord` holds the patient-specific /v1 fields (member id,
group number, dates, policy holder, copays, the eligibility summary); the
package-derived fields (plan name, type, ircname, package address, phone) are
joined in from :mod:`emulator.insurance_catalog` when rendered. The same
records back ``/v1/{pid}/patients/{id}/insurances`` and FHIR ``Coverage``.

Rules (:class:`InsuranceBook`), each raising athena's 400 body:

- a secondary (2) needs an active primary (1), a tertiary (3) an active
  secondary: "Secondary insurance without primary" (DOCS) / [G] tertiary text;
- a self-pay primary (package 0 or -500) counts as no primary for that rule
  (DOCS: "the primary must not be self-pay"; [G] reading: self-pay is stored as
  a primary, as the sandbox recordings and the 72 % ``*SELF PAY*`` share in
  ``topinsurancepackages`` show, but it cannot carry a secondary);
- self-pay only as the primary [G]; one active insurance per sequence number [G];
- the package of an existing insurance never changes (DOCS: delete and post).

DELETE cancels (``cancelled`` = today); cancelled insurances are listed only
with ``showcancelled`` and are not served as FHIR Coverage [G].
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Final

from emulator.errors import AthenaError, invalid
from emulator.insurance_catalog import PACKAGES, InsurancePackage

SECONDARY_WITHOUT_PRIMARY: Final = "Secondary insurance without primary"
# relationshiptoinsuredid -> relationshiptoinsured (NET data: 1 Self, 2 Spouse; C1 NET
# guarantor table: 3 Child, 4 Other; 25 Life Partner [G]).
RELATIONSHIPS: Final[dict[int, str]] = {
    1: "Self",
    2: "Spouse",
    3: "Child",
    4: "Other",
    25: "Life Partner",
}
HOLDER_FIELDS: Final[tuple[str, ...]] = (
    "insurancepolicyholderfirstname",
    "insurancepolicyholdermiddlename",
    "insurancepolicyholderlastname",
    "insurancepolicyholdersuffix",
    "insurancepolicyholderdob",
    "insurancepolicyholdersex",
    "insurancepolicyholderaddress1",
    "insurancepolicyholderaddress2",
    "insurancepolicyholdercity",
    "insurancepolicyholderstate",
    "insurancepolicyholderzip",
    "insurancepolicyholdercountrycode",
    "insurancepolicyholdercountryiso3166",
)
# Patient-specific fields a client may set (POST/PUT), besides sequence and relationship.
WRITABLE: Final[tuple[str, ...]] = (
    "insuranceidnumber",
    "policynumber",
    "issuedate",
    "expirationdate",
    *HOLDER_FIELDS,
)


@dataclass
class InsuranceRecord:
    """One patient insurance (athena's "patient insurance", ``insuranceid``)."""

    practiceid: str
    patientid: int
    insuranceid: int
    packageid: int
    sequencenumber: int
    fields: dict[str, str]  # WRITABLE fields, MM/DD/YYYY dates, empty ones absent
    relationshiptoinsuredid: int = 1
    copays: list[tuple[str, str]] = field(default_factory=list)  # (copaytype, copayamount)
    eligibilitystatus: str = "Unverified"
    eligibilitymessage: str = ""
    eligibilitylastchecked: str = ""  # MM/DD/YYYY
    cancelled: str = ""  # MM/DD/YYYY when cancelled (DELETE)
    cancellationnote: str = ""
    last_updated: str = "2025-01-15T14:30:00Z"  # ISO instant (FHIR meta.lastUpdated)

    @property
    def package(self) -> InsurancePackage:
        return PACKAGES[self.packageid]

    @property
    def active(self) -> bool:
        return not self.cancelled

    @property
    def is_coverage(self) -> bool:
        """Served as FHIR Coverage: a live insurance that is not self-pay [G]."""
        return self.active and self.package.is_insurance

    def text(self, name: str) -> str:
        return self.fields.get(name, "")

    def holder_name(self) -> str:
        first, last = (
            self.text("insurancepolicyholderfirstname"),
            self.text("insurancepolicyholderlastname"),
        )
        return " ".join(p for p in (first, last) if p).upper()

    def v1(self) -> dict[str, Any]:
        """The /v1 insurance object (NET ``GetPatientInsurances.json`` field names and types)."""
        pkg = self.package
        out: dict[str, Any] = {
            "insuranceid": str(self.insuranceid),
            "insurancepackageid": pkg.insurancepackageid,
            "insuranceplanname": pkg.insuranceplanname,
            "insuranceplandisplayname": pkg.insuranceplandisplayname,
            "insurancetype": pkg.insurancetype,
            "ircname": pkg.ircname,
            "ircid": pkg.ircid,
            "sequencenumber": self.sequencenumber,
            "relationshiptoinsuredid": self.relationshiptoinsuredid,
            "relationshiptoinsured": RELATIONSHIPS.get(self.relationshiptoinsuredid, "Other"),
            "insuredentitytypeid": 1,
            "eligibilitystatus": self.eligibilitystatus,
            "eligibilityreason": "Athena",
        }
        for name, value in (
            ("insurancephone", pkg.phone),
            ("insurancepackageaddress1", pkg.address1),
            ("insurancepackagecity", pkg.city),
            ("insurancepackagestate", pkg.state),
            ("insurancepackagezip", pkg.zip),
        ):
            if value:
                out[name] = value
        out.update(self.fields)
        if self.holder_name():
            out["insurancepolicyholder"] = self.holder_name()
        if self.eligibilitymessage:
            out["eligibilitymessage"] = self.eligibilitymessage
        if self.eligibilitylastchecked:
            out["eligibilitylastchecked"] = self.eligibilitylastchecked
        if self.copays:
            out["copays"] = [{"copaytype": t, "copayamount": a} for t, a in self.copays]
        if self.cancelled:
            out["cancelled"] = self.cancelled
        return out


class InsuranceBook:
    """Every practice's patient insurances; ids grow per practice. Thread-safe."""

    def __init__(self, lock: threading.RLock, records: list[InsuranceRecord]) -> None:
        self.lock = lock
        self._rows: dict[str, dict[int, InsuranceRecord]] = {}
        for record in records:
            self._rows.setdefault(record.practiceid, {})[record.insuranceid] = record

    def for_patient(
        self, practiceid: str, patientid: int, *, cancelled: bool = False
    ) -> list[InsuranceRecord]:
        """A patient's insurances by sequence number then id; cancelled ones only if asked."""
        with self.lock:
            rows = [r for r in self._rows.get(practiceid, {}).values() if r.patientid == patientid]
        rows = [r for r in rows if cancelled or r.active]
        return sorted(rows, key=lambda r: (not r.active, r.sequencenumber, r.insuranceid))

    def get(self, practiceid: str, insuranceid: int) -> InsuranceRecord | None:
        with self.lock:
            return self._rows.get(practiceid, {}).get(insuranceid)

    def all(self, practiceid: str) -> list[InsuranceRecord]:
        with self.lock:
            return sorted(self._rows.get(practiceid, {}).values(), key=lambda r: r.insuranceid)

    def _occupant(self, practiceid: str, patientid: int, sequence: int) -> InsuranceRecord | None:
        for row in self.for_patient(practiceid, patientid):
            if row.sequencenumber == sequence:
                return row
        return None

    def _check_order(
        self, practiceid: str, patientid: int, sequence: int, pkg: InsurancePackage
    ) -> None:
        if not pkg.is_insurance and sequence != 1:
            raise AthenaError(
                400,
                "The data provided is invalid.",
                detailedmessage="Self-pay can only be the primary (sequence number 1) insurance.",
                invalidfields=["insurancepackageid"],
            )
        if sequence >= 2:
            below = self._occupant(practiceid, patientid, sequence - 1)
            if below is None or not below.package.is_insurance:
                if sequence == 2:
                    detail = (
                        "The patient has no primary insurance."
                        if below is None
                        else "The primary insurance is self-pay."
                    )
                    raise AthenaError(400, SECONDARY_WITHOUT_PRIMARY, detailedmessage=detail)
                raise AthenaError(400, "Tertiary insurance without secondary")  # [G] text
        if self._occupant(practiceid, patientid, sequence) is not None:
            raise invalid(
                f"The patient already has an active insurance with sequence number {sequence}."
            )

    def add(
        self,
        practiceid: str,
        patientid: int,
        pkg: InsurancePackage,
        sequence: int,
        relationship: int,
        fields: dict[str, str],
        stamp: str,
    ) -> InsuranceRecord:
        """Create after checking athena's ordering rules; the new id follows the maximum."""
        with self.lock:
            self._check_order(practiceid, patientid, sequence, pkg)
            rows = self._rows.setdefault(practiceid, {})
            record = InsuranceRecord(
                practiceid,
                patientid,
                max(rows, default=0) + 1,
                pkg.insurancepackageid,
                sequence,
                {k: v for k, v in fields.items() if v},
                relationship,
                last_updated=stamp,
            )
            rows[record.insuranceid] = record
            return record

    def update(
        self,
        record: InsuranceRecord,
        changes: dict[str, str],
        relationship: int | None,
        new_sequence: int | None,
        stamp: str,
    ) -> None:
        """Apply edits; ``new_sequence`` swaps with the insurance holding that number [G]."""
        with self.lock:
            if new_sequence is not None and new_sequence != record.sequencenumber:
                self._resequence(record, new_sequence)
            for name, value in changes.items():
                if value:
                    record.fields[name] = value
                else:
                    record.fields.pop(name, None)
            if relationship is not None:
                record.relationshiptoinsuredid = relationship
            record.last_updated = stamp

    def _resequence(self, record: InsuranceRecord, target: int) -> None:
        rows = self.for_patient(record.practiceid, record.patientid)
        other = next((r for r in rows if r.sequencenumber == target), None)
        planned = {r.sequencenumber: r for r in rows if r is not record and r is not other}
        planned[target] = record
        if other is not None:
            planned[record.sequencenumber] = other
        for seq, row in planned.items():
            if seq != 1 and not row.package.is_insurance:
                raise invalid("Self-pay can only be the primary (sequence number 1) insurance.")
            below = planned.get(seq - 1)
            if seq >= 2 and (below is None or not below.package.is_insurance):
                raise AthenaError(
                    400,
                    SECONDARY_WITHOUT_PRIMARY,
                    detailedmessage="The patient would have no primary insurance.",
                )
        if other is not None:
            other.sequencenumber = record.sequencenumber
        record.sequencenumber = target

    def cancel(self, record: InsuranceRecord, day: str, note: str, stamp: str) -> None:
        with self.lock:
            record.cancelled = day
            record.cancellationnote = note
            record.last_updated = stamp
