"""Named conversions for the eligibility tables (registered in ``transforms.TRANSFORMS``).

athena's real-time eligibility answer (``POST|GET /patients/{id}/insurances/{iid}/
eligibility``, API-NOTES §3.8) carries the payer's 271 as X12 segments: ``EB`` lines
(``benefits[]``) and ``AAA`` rejections (``rejections[]``). They become a
CoverageEligibilityResponse (R4; REVENUE-CYCLE §1.4, §4):

- EB01 1-5 (active) / 6-8 (inactive) -> ``insurance.inforce``;
- every other EB line is a benefit of the item for its service type (EB03,
  ``item.category`` in ``https://x12.org/codes/service-type-codes``), network (EB12:
  ``benefit-network`` in/out), coverage level (EB02: ``benefit-unit`` individual/family)
  and term (EB06 23 calendar year / 29 remaining: ``benefit-term`` annual): EB01 B
  copay (``allowedMoney``), A coinsurance (``copay-percent``, ``allowedUnsignedInt`` in
  percent), C deductible and G out-of-pocket (``allowedMoney`` the calendar-year total,
  ``usedMoney`` total minus remaining), I non-covered (``excluded``). The X12 EB01 code
  is kept as the second coding of ``benefit.type``
  (``https://codesystem.x12.org/005010/1390``, the X12 code-list naming Da Vinci PAS
  and CRD use); ces-1 holds: items have a category and never a ``productOrService``;
- each AAA -> ``error[].code`` (AAA03, ``https://codesystem.x12.org/005010/901``).

Pure functions, no I/O, no clock.

>>> benefit_items([{"benefitcode": "B", "coveragelevel": "IND", "servicetypecode": "98",
...     "servicetype": "Professional (Physician) Visit - Office", "amount": "25",
...     "innetwork": "Y", "timeperiodcode": "27"}])[0]["benefit"][0]["allowedMoney"]
{'value': 25.0, 'currency': 'USD'}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

X12_SERVICE_TYPES = "https://x12.org/codes/service-type-codes"
X12_BENEFIT_CODES = "https://codesystem.x12.org/005010/1390"
X12_REJECT_REASONS = "https://codesystem.x12.org/005010/901"
BENEFIT_TYPE = "http://terminology.hl7.org/CodeSystem/benefit-type"
COPAY_TYPE = "http://terminology.hl7.org/CodeSystem/coverage-copay-type"
NETWORK = "http://terminology.hl7.org/CodeSystem/benefit-network"
UNIT = "http://terminology.hl7.org/CodeSystem/benefit-unit"
TERM = "http://terminology.hl7.org/CodeSystem/benefit-term"
EASTERN = ZoneInfo("America/New_York")  # athena's timestamps (API-NOTES §3.0)

ACTIVE_CODES = frozenset("12345")  # EB01 active coverage (1) and its capitated variants
INACTIVE_CODES = frozenset("678")
# EB01 -> benefit.type's first coding: R4 benefit-type, except out-of-pocket, which R4's
# benefit-type lacks (coverage-copay-type has it); the X12 code is always the second.
BENEFIT_TYPES: dict[str, tuple[str, str, str]] = {
    "B": (BENEFIT_TYPE, "copay", "Copayment per service"),
    "A": (BENEFIT_TYPE, "copay-percent", "Copayment Percent per service"),
    "C": (BENEFIT_TYPE, "deductible", "Deductible"),
    "G": (COPAY_TYPE, "maxoutofpocket", "Maximum out of pocket"),
}
X12_NAMES = {
    "A": "Co-Insurance",
    "B": "Co-Payment",
    "C": "Deductible",
    "G": "Out of Pocket (Stop Loss)",
    "I": "Non-Covered",
}
NETWORKS = {"Y": ("in", "In Network"), "N": ("out", "Out of Network")}
UNITS = {"IND": ("individual", "Individual"), "FAM": ("family", "Family")}
YEARLY = {"23", "29"}  # calendar year (the total), remaining (what is left of it)
# athena copaytype -> the X12 service type its copay is for (preview: no 271, only copays)
COPAY_SERVICE_TYPES = {
    "Office Visit": ("98", "Professional (Physician) Visit - Office"),
    "Specialist": ("3", "Consultation"),
    "Urgent Care": ("UC", "Urgent Care"),
    "Emergency Room": ("86", "Emergency Services"),
}


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _number(value: Any) -> float | None:
    try:
        return float(_text(value))
    except ValueError:
        return None


def _money(value: float) -> dict[str, Any]:
    return {"value": round(value, 2), "currency": "USD"}


def _coding(system: str, code: str, display: str | None) -> dict[str, str]:
    found = {"system": system, "code": code}
    if display:
        found["display"] = display
    return found


def category(code: str, display: str | None) -> dict[str, Any]:
    """An X12 service type as ``item.category``."""
    return {"coding": [_coding(X12_SERVICE_TYPES, code, display)]}


def inforce(value: Any) -> bool | None:
    """``(status, benefits)`` -> ``insurance.inforce``: a finished 271 says active (EB01
    1-5) or inactive (6-8); an unfinished or failed check says nothing.

    >>> inforce(("complete", [{"benefitcode": "6"}])), inforce(("error", []))
    (False, None)
    """
    status, benefits = value
    if _text(status) != "complete" or not isinstance(benefits, list):
        return None
    codes = {_text(b.get("benefitcode")) for b in benefits if isinstance(b, dict)}
    if codes & ACTIVE_CODES:
        return True
    if codes & INACTIVE_CODES:
        return False
    return None


def _benefit_type(code: str, name: str) -> dict[str, Any]:
    codings = []
    if code in BENEFIT_TYPES:
        codings.append(_coding(*BENEFIT_TYPES[code]))
    codings.append(_coding(X12_BENEFIT_CODES, code, X12_NAMES.get(code) or name or None))
    return {"coding": codings, "text": X12_NAMES.get(code) or name or code}


def benefit_items(value: Any) -> list[dict[str, Any]] | None:
    """athena's ``benefits[]`` (EB segments) -> ``insurance.item[]``, one per service type,
    network, coverage level and term, in the order the 271 gives them."""
    if not isinstance(value, list):
        return None
    items: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    yearly: dict[tuple[tuple[str, str, str, str], str], dict[str, float]] = {}
    for line in value:
        if not isinstance(line, dict):
            continue
        code = _text(line.get("benefitcode"))
        stc = _text(line.get("servicetypecode"))
        if not code or not stc or code in ACTIVE_CODES or code in INACTIVE_CODES:
            continue
        network = NETWORKS.get(_text(line.get("innetwork")).upper())
        unit = UNITS.get(_text(line.get("coveragelevel")).upper())
        period = _text(line.get("timeperiodcode"))
        term = "annual" if period in YEARLY else ""
        key = (stc, network[0] if network else "", unit[0] if unit else "", term)
        item = items.get(key)
        if item is None:
            item = {"category": category(stc, _text(line.get("servicetype")) or None)}
            if network:
                item["network"] = {"coding": [_coding(NETWORK, *network)]}
            if unit:
                item["unit"] = {"coding": [_coding(UNIT, *unit)]}
            if key[3]:
                item["term"] = {"coding": [_coding(TERM, "annual", "Annual")]}
            items[key] = item
        if code == "I":
            item["excluded"] = True
            continue
        amount, percent = _number(line.get("amount")), _number(line.get("percent"))
        if period in YEARLY and amount is not None:  # total (23) and remaining (29) pair up
            yearly.setdefault((key, code), {})[period] = amount
            continue
        benefit: dict[str, Any] = {"type": _benefit_type(code, _text(line.get("benefit")))}
        if percent is not None:
            benefit["allowedUnsignedInt"] = round(percent * 100)
        elif amount is not None:
            benefit["allowedMoney"] = _money(amount)
        item.setdefault("benefit", []).append(benefit)
    for (key, code), amounts in yearly.items():
        benefit = {"type": _benefit_type(code, "")}
        if "23" in amounts:
            benefit["allowedMoney"] = _money(amounts["23"])
            if "29" in amounts:
                benefit["usedMoney"] = _money(max(0.0, amounts["23"] - amounts["29"]))
        elif "29" in amounts:  # only what remains: the allowance still open
            benefit["allowedMoney"] = _money(amounts["29"])
        items[key].setdefault("benefit", []).append(benefit)
    return list(items.values()) or None


def rejection_errors(value: Any) -> list[dict[str, Any]] | None:
    """athena's ``rejections[]`` (AAA segments) -> ``error[]``: AAA03, the reject reason.

    >>> rejection_errors([{"rejectreasoncode": "75", "rejectreason": "Subscriber/Insured Not Found",
    ...     "followupaction": "Please Correct and Resubmit"}])[0]["code"]["coding"][0]["code"]
    '75'
    """
    if not isinstance(value, list):
        return None
    found = []
    for aaa in value:
        if not isinstance(aaa, dict) or not _text(aaa.get("rejectreasoncode")):
            continue
        reason, follow = _text(aaa.get("rejectreason")), _text(aaa.get("followupaction"))
        code = _coding(X12_REJECT_REASONS, _text(aaa.get("rejectreasoncode")), reason or None)
        text = "; ".join(t for t in (reason, follow) if t)
        found.append({"code": {"coding": [code], **({"text": text} if text else {})}})
    return found or None


def disposition(value: Any) -> str | None:
    """``(status, eligibilitymessage)`` -> ``disposition``; a check the payer has not
    answered yet says so, and that the same response is updated later."""
    status, message = value
    text = _text(message)
    if _text(status) == "pending":
        return (
            f"The payer has not answered yet ({text or 'check in progress'}). This response"
            " is updated once athena has the payer's answer: read it again later."
        )
    return text or None


def preview_disposition(value: Any) -> str:
    """``(errormessage, eligibilitystatus, eligibilitylastchecked, eligibilitymessage)`` ->
    the disposition of an answer built without a check: never a fake "active"."""
    athena, status, checked, message = (_text(v) for v in value)
    said = f" (athena: {athena})" if athena else ""
    head = f"athena cannot check eligibility with the payer in this environment{said}."
    if not status or status.lower() == "unverified":
        return f"{head} athena has not verified this insurance with the payer."
    when = f" on {checked}" if checked else ""
    detail = f": {message}" if message else ""
    return (
        f"{head} This is athena's last recorded eligibility for the insurance, {status}"
        f"{when}{detail}; it was not re-verified with the payer."
    )


def last_inforce(value: Any) -> bool:
    """athena's recorded ``eligibilitystatus`` -> ``inforce`` of a partial answer: true only
    when athena last found the member eligible."""
    return _text(value).lower() == "eligible"


def copay_items(value: Any) -> list[dict[str, Any]] | None:
    """athena's recorded ``copays[]`` -> items with one copay each (a partial answer)."""
    if not isinstance(value, list):
        return None
    found = []
    for copay in value:
        if not isinstance(copay, dict):
            continue
        kind = COPAY_SERVICE_TYPES.get(_text(copay.get("copaytype")))
        amount = _number(copay.get("copayamount"))
        if kind is None or amount is None:
            continue
        benefit = {"type": _benefit_type("B", ""), "allowedMoney": _money(amount)}
        found.append({"category": category(*kind), "benefit": [benefit]})
    return found or None


def eastern_instant(value: Any) -> str | None:
    """athena's ``MM/DD/YYYY HH:MM:SS`` (US Eastern) -> a dateTime with its offset.

    >>> eastern_instant("06/30/2025 10:00:00")
    '2025-06-30T10:00:00-04:00'
    """
    try:
        moment = datetime.strptime(_text(value), "%m/%d/%Y %H:%M:%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=EASTERN).isoformat()


def athena_purposes(value: Any) -> list[str]:
    """An athena check asks the payer whether the member is covered and for what (a 270
    with service type codes): purposes validation and benefits."""
    return ["validation", "benefits"]


def service_type(value: Any) -> dict[str, str] | None:
    """An X12 service type code as a Coding."""
    code = _text(value)
    return _coding(X12_SERVICE_TYPES, code, None) if code else None
