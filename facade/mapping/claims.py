"""Named conversions for the Claim and ClaimResponse tables (registered in
``transforms.TRANSFORMS``; API-NOTES §3.7, §3.9; REVENUE-CYCLE §1.1, §1.2, §5.1).

athena reports a claim's status per payer (``primaryinsurancepayer``,
``secondaryinsurancepayer``, ``patientpayer``) and, once a payer's remittance is
posted, its payment and per-line adjudication (the emulator's ``remittance`` [G]:
athena exposes no ERA to partners). A ClaimResponse is one payer's view:

======================  =========================================================
athena status           ClaimResponse
======================  =========================================================
PEND, HOLD, DROP,       ``outcome: queued``; ``disposition`` says where the claim
BILLED (and other       is (the HOLD reason athena's rules engine gave)
holds)
CLOSED, paid in full    ``complete``; ``payment``, ``item.adjudication``
CLOSED, patient owes    ``partial``: the patient's share (copay, deductible,
or a line denied        coinsurance) in ``item.adjudication`` and ``total``
CLOSED, every line      ``error``: ``error.code`` the CARC
denied                  (https://x12.org/codes/claim-adjustment-reason-codes),
                        ``processNote`` the RARCs
======================  =========================================================
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
C4BB_ADJUDICATION = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
RARC = "https://x12.org/codes/remittance-advice-remark-codes"
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
PAYMENT_ID = "urn:athenahealth:athenanet:remittance"  # + ":check" / ":eft" [G]
DENIALS = frozenset({"27", "31", "96"})
CARC_TEXT = {
    "1": "Deductible Amount",
    "2": "Coinsurance Amount",
    "3": "Co-payment Amount",
    "23": "The impact of prior payer(s) adjudication including payments and/or adjustments.",
    "27": "Expenses incurred after coverage terminated.",
    "31": "Patient cannot be identified as our insured.",
    "45": "Charge exceeds fee schedule/maximum allowable or contracted/legislated fee arrangement.",
    "96": "Non-covered charge(s).",
}
RARC_TEXT = {
    "N30": "Patient ineligible for this service.",
    "N130": "Consult plan benefit documents/guidelines for information about restrictions"
    " for this service.",
    "N382": "Missing/incomplete/invalid patient identifier.",
}
QUEUED = {
    "PEND": "Queued: athena's rules engine has not scrubbed the claim yet.",
    "DROP": "Scrubbed and clean (DROP): queued for the payer.",
    "BILLED": "Sent to the payer (BILLED): awaiting its adjudication.",
}
# what the patient owes, by CARC (group PR), as adjudication categories
PATIENT_SHARE = {
    "3": (ADJUDICATION, "copay", "CoPay"),
    "1": (ADJUDICATION, "deductible", "Deductible"),
    "2": (C4BB_ADJUDICATION, "coinsurance", "Co-insurance"),
}

Json = dict[str, Any]


def _number(value: Any) -> float:
    try:
        return round(float(str(value)), 2)
    except ValueError:
        return 0.0


def money(value: Any) -> Json | None:
    """athena's money string as R4 Money (USD)."""
    if value in (None, ""):
        return None
    return {"value": _number(value), "currency": "USD"}


def _coding(system: str, code: str, display: str | None = None) -> Json:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _category(system: str, code: str, display: str) -> Json:
    return {"coding": [_coding(system, code, display)]}


def professional(value: Any) -> Json:
    return _coding(CLAIM_TYPE, "professional", "Professional")


def normal_priority(value: Any) -> Json:
    return _coding(PRIORITY, "normal", "Normal")


def narrative(value: Any) -> Json | None:
    """[primary, secondary, patient payer] -> ``Claim.text``: where athena has the claim for
    each payer (a claim's only changing content: the claim-change topic reports it)."""
    parts = []
    for label, payer in zip(("Primary payer", "Secondary payer", "Patient"), value, strict=False):
        if isinstance(payer, dict) and payer.get("status"):
            note = f": {payer['note']}" if payer.get("note") else ""
            parts.append(f"<li>{label}: {escape(str(payer['status']))}{escape(str(note))}</li>")
    if not parts:
        return None
    div = f'<div xmlns="http://www.w3.org/1999/xhtml"><p>athena claim status</p><ul>{"".join(parts)}</ul></div>'
    return {"status": "generated", "div": div}


def payer_insuranceid(value: Any) -> str | None:
    """``primaryinsurancepayer`` / ``secondaryinsurancepayer`` -> the patient insurance id."""
    if not isinstance(value, dict):
        return None
    found = value.get("primarypatientinsuranceid") or value.get("secondarypatientinsuranceid")
    return None if found in (None, "") else str(found)


def diagnoses(value: Any) -> list[Json] | None:
    """athena's claim diagnoses -> ``Claim.diagnosis`` (sequence in athena's order)."""
    if not isinstance(value, list):
        return None
    out: list[Json] = []
    for row in (r for r in value if isinstance(r, dict)):
        if str(row.get("deleteddiagnosis", "false")).lower() == "true":
            continue
        code = str(row.get("diagnosisrawcode") or "")
        if not code:
            continue
        concept: Json = {"coding": [_coding(ICD10CM, code, row.get("diagnosisdescription"))]}
        out.append({"sequence": len(out) + 1, "diagnosisCodeableConcept": concept})
    return out or None


def _procedure(code: str, display: str | None) -> Json:
    system = HCPCS if code[:1].isalpha() else CPT
    return {"coding": [_coding(system, code, display)]}


def items(value: Any) -> list[Json] | None:
    """[procedures, diagnoses, billedservicedate] -> ``Claim.item``: each charge with its
    diagnosis pointers (``diagnosisSequence``), quantity, unit price and net."""
    procedures, rows, served = ([*list(value), None, None, None])[:3]
    if not isinstance(procedures, list):
        return None
    order = [
        str(r.get("diagnosisrawcode"))
        for r in rows or []
        if isinstance(r, dict) and str(r.get("deleteddiagnosis", "false")).lower() != "true"
    ]
    day = _iso(served)
    out = []
    for index, row in enumerate((p for p in procedures if isinstance(p, dict)), start=1):
        units = int(_number(row.get("units") or 1)) or 1
        net = _number(row.get("chargeamount"))
        item: Json = {"sequence": index}
        pointers = [order.index(c) + 1 for c in row.get("diagnosisrawcodes") or [] if c in order]
        if pointers:
            item["diagnosisSequence"] = pointers
        item["productOrService"] = _procedure(
            str(row.get("procedurecode")), row.get("proceduredescription")
        )
        if day:
            item["servicedDate"] = day
        item["quantity"] = {"value": units}
        item["unitPrice"] = {"value": round(net / units, 2), "currency": "USD"}
        item["net"] = {"value": net, "currency": "USD"}
        out.append(item)
    return out or None


def _iso(value: Any) -> str | None:
    try:
        return datetime.strptime(str(value), "%m/%d/%Y").date().isoformat()
    except ValueError:
        return None


# -- ClaimResponse -----------------------------------------------------------------------------


def _lines(remittance: Any) -> list[Json]:
    if not isinstance(remittance, dict):
        return []
    return [r for r in remittance.get("lines") or [] if isinstance(r, dict)]


def _denied(line: Json) -> str | None:
    for adjustment in line.get("adjustments") or []:
        if adjustment.get("group") == "CO" and str(adjustment.get("reason")) in DENIALS:
            return str(adjustment.get("reason"))
    return None


def outcome(value: Any) -> str:
    """[status, remittance] -> ``ClaimResponse.outcome``."""
    status, remittance = ([*list(value), None, None])[:2]
    lines = _lines(remittance)
    if status != "CLOSED" or not lines:
        return "queued"
    if all(_denied(line) for line in lines):
        return "error"
    owed = _number((remittance or {}).get("patientresponsibility"))
    return "partial" if owed > 0 or any(_denied(line) for line in lines) else "complete"


def disposition(value: Any) -> str:
    """[status, note, remittance] -> ``ClaimResponse.disposition``."""
    status, note, remittance = ([*list(value), None, None, None])[:3]
    status = str(status or "")
    if status == "CLOSED" and isinstance(remittance, dict):
        if note:
            return str(note)
        paid, owed = remittance.get("paymentamount"), remittance.get("patientresponsibility")
        if _number(owed) > 0:
            return f"Paid {paid} USD; the patient owes {owed} USD."
        return f"Paid in full: {paid} USD."
    if status.endswith("HOLD"):
        return f"On hold ({status}): {note}" if note else f"On hold ({status})."
    return QUEUED.get(status, f"athena status {status}.")


def _adjudication(line: Json) -> list[Json]:
    out = [
        {
            "category": _category(ADJUDICATION, "submitted", "Submitted Amount"),
            "amount": money(line.get("chargeamount")),
        },
        {
            "category": _category(ADJUDICATION, "eligible", "Eligible Amount"),
            "amount": money(line.get("allowedamount") or "0"),
        },
    ]
    for adjustment in line.get("adjustments") or []:
        reason = str(adjustment.get("reason"))
        share = PATIENT_SHARE.get(reason) if adjustment.get("group") == "PR" else None
        if share is not None:
            out.append(
                {
                    "category": _category(*share),
                    "reason": {"coding": [_coding(CARC, reason, CARC_TEXT.get(reason))]},
                    "amount": money(adjustment.get("amount")),
                }
            )
        elif reason in DENIALS:
            out.append(
                {
                    "category": _category(C4BB_ADJUDICATION, "noncovered", "Noncovered"),
                    "reason": {"coding": [_coding(CARC, reason, CARC_TEXT.get(reason))]},
                    "amount": money(adjustment.get("amount")),
                }
            )
    out.append(
        {
            "category": _category(C4BB_ADJUDICATION, "memberliability", "Member liability"),
            "amount": money(line.get("patientresponsibility") or "0"),
        }
    )
    out.append(
        {
            "category": _category(ADJUDICATION, "benefit", "Benefit Amount"),
            "amount": money(line.get("paidamount") or "0"),
        }
    )
    return out


def adjudicated_items(value: Any) -> list[Json] | None:
    """The remittance's lines -> ``ClaimResponse.item`` (one per claim item)."""
    out: list[Json] = []
    for line in _lines(value):
        item: Json = {"itemSequence": int(line.get("linenumber") or len(out) + 1)}
        remarks = [str(r) for r in line.get("remarkcodes") or []]
        if remarks:
            item["noteNumber"] = list(range(1, len(remarks) + 1))
        item["adjudication"] = _adjudication(line)
        out.append(item)
    return _renumber_notes(out) or None


def _renumber_notes(found: list[Json]) -> list[Json]:
    """noteNumber points at the processNote numbers (RARCs in line order)."""
    number = 0
    for item in found:
        if "noteNumber" in item:
            count = len(item["noteNumber"])
            item["noteNumber"] = list(range(number + 1, number + count + 1))
            number += count
    return found


def totals(value: Any) -> list[Json] | None:
    """The remittance -> ``ClaimResponse.total`` (submitted, eligible, member, benefit)."""
    lines = _lines(value)
    if not lines:
        return None
    sums = {
        key: round(sum(_number(line.get(key) or 0) for line in lines), 2)
        for key in ("chargeamount", "allowedamount", "patientresponsibility", "paidamount")
    }
    rows = [
        (ADJUDICATION, "submitted", "Submitted Amount", "chargeamount"),
        (ADJUDICATION, "eligible", "Eligible Amount", "allowedamount"),
        (C4BB_ADJUDICATION, "memberliability", "Member liability", "patientresponsibility"),
        (ADJUDICATION, "benefit", "Benefit Amount", "paidamount"),
    ]
    return [
        {
            "category": _category(system, code, display),
            "amount": {"value": sums[key], "currency": "USD"},
        }
        for system, code, display, key in rows
    ]


def payment(value: Any) -> Json | None:
    """The remittance -> ``ClaimResponse.payment`` (amount, date, check or EFT number)."""
    if not isinstance(value, dict) or value.get("paymentamount") in (None, ""):
        return None
    owed = _number(value.get("patientresponsibility"))
    kind = "partial" if owed > 0 else "complete"
    out: Json = {
        "type": {"coding": [_coding(PAYMENT_TYPE, kind, kind.capitalize())]},
    }
    day = _iso(value.get("paymentdate"))
    if day:
        out["date"] = day
    out["amount"] = money(value.get("paymentamount"))
    number = value.get("eftnumber") or value.get("checknumber")
    if number:
        method = "eft" if value.get("eftnumber") else "check"
        out["identifier"] = {"system": f"{PAYMENT_ID}:{method}", "value": str(number)}
    return out


def errors(value: Any) -> list[Json] | None:
    """Denied lines of the remittance -> ``ClaimResponse.error`` (the CARC)."""
    out = []
    for line in _lines(value):
        reason = _denied(line)
        if reason is not None:
            out.append(
                {
                    "itemSequence": int(line.get("linenumber") or 1),
                    "code": {"coding": [_coding(CARC, reason, CARC_TEXT.get(reason))]},
                }
            )
    return out or None


def process_notes(value: Any) -> list[Json] | None:
    """The RARCs of the remittance -> ``ClaimResponse.processNote``."""
    out: list[Json] = []
    for line in _lines(value):
        for code in line.get("remarkcodes") or []:
            text = RARC_TEXT.get(str(code), "")
            out.append(
                {
                    "number": len(out) + 1,
                    "type": "display",
                    "text": f"{code}: {text}".strip().rstrip(":"),
                }
            )
    return out or None


def one(value: Any) -> int:
    return 1


def two(value: Any) -> int:
    return 2


def false(value: Any) -> bool:
    return False


def sequence(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def focal(value: Any) -> bool:
    return str(value) == "1"
