"""Coverage and eligibility tools: a patient's insurances (US Core Coverage) and a real-time
eligibility check (``CoverageEligibilityRequest/$submit``, facade/workflows/eligibility.py),
both through the engine with the caller's token; the check is keyed per tool call."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Field

from facade.engine import operations
from facade.engine.operations import OperationCall
from facade.errors import NotFound
from facade.mcp.query import Count, Cursor, PatientId, checked, confine, more, page
from facade.mcp.render import compact, label, ref
from facade.mcp.tool import Arguments, Hints, ToolCall, ToolResult, tool

Json = dict[str, Any]
SERVICE_TYPES = "https://x12.org/codes/service-type-codes"


def coverage_row(coverage: Json) -> Json:
    member = next(
        (
            i.get("value")
            for i in coverage.get("identifier", [])
            if any(c.get("code") == "MB" for c in i.get("type", {}).get("coding", []))
        ),
        None,
    )
    plan: Json = next(
        (
            c
            for c in coverage.get("class", [])
            if any(x.get("code") == "plan" for x in c.get("type", {}).get("coding", []))
        ),
        {},
    )
    copays = {
        label(c.get("type")): c.get("valueMoney", {}).get("value")
        for c in coverage.get("costToBeneficiary", [])
        if c.get("valueMoney")
    }
    payor = (coverage.get("payor") or [{}])[0]
    return compact(
        {
            "coverage_id": coverage.get("id"),
            "status": coverage.get("status"),
            "order": coverage.get("order"),
            "payer": ref(payor),
            "payer_name": payor.get("display"),
            "plan": plan.get("name"),
            "member_id": member,
            "relationship": label(coverage.get("relationship")) or None,
            "period": coverage.get("period"),
            "copays": copays or None,
        }
    )


def _coverage_line(row: Json) -> str:
    order = {1: "primary", 2: "secondary", 3: "tertiary"}.get(row.get("order") or 0, "")
    return (
        f"{row.get('payer_name') or row.get('payer')} ({order or 'insurance'}, {row.get('status')})"
        f", member {row.get('member_id', '?')} [{row.get('coverage_id')}]"
    )


class GetCoverage(Arguments):
    patient_id: PatientId
    count: Count = 20
    cursor: Cursor = None


@tool(
    "get_coverage",
    title="Get a patient's insurance coverage",
    arguments=GetCoverage,
    hints=Hints(read_only=True),
)
async def get_coverage(call: ToolCall, args: GetCoverage) -> ToolResult:
    """List a patient's insurance coverages (primary first): coverage_id, payer and plan,
    member id, status (active or cancelled, an expired policy is cancelled), period and the
    copays athena knows. The coverage_id is what check_eligibility takes."""
    pid = confine(call, "Coverage", args.patient_id)
    found = await page(call, "Coverage", [("patient", pid)], count=args.count, cursor=args.cursor)
    rows = sorted((coverage_row(c) for c in found.resources), key=lambda r: r.get("order") or 9)
    text = f"{len(rows)} coverage(s)" + "".join(f"\n- {_coverage_line(r)}" for r in rows)
    return ToolResult(
        text + more(found.next_cursor), {"coverages": rows, "next_cursor": found.next_cursor}
    )


class CheckEligibility(Arguments):
    patient_id: PatientId
    coverage_id: Annotated[
        str | None,
        Field(
            max_length=80,
            pattern=r"^(Coverage/)?a-\d+\.Coverage-\d+$",
            description="The coverage to check (from get_coverage); default: the primary.",
        ),
    ] = None
    service_type: Annotated[
        str,
        Field(
            max_length=3,
            pattern=r"^[A-Z0-9]{1,3}$",
            description="X12 service type: 98 office visit (default), 30 all benefits, "
            "3 specialist consultation, UC urgent care, 86 emergency, BZ preventive.",
        ),
    ] = "98"
    service_date: Annotated[date | None, Field(description="Date of service (default: today).")] = (
        None
    )


def _benefits(response: Json) -> list[Json]:
    rows = []
    for insurance in response.get("insurance", []):
        for item in insurance.get("item", []):
            for benefit in item.get("benefit", []):
                money = benefit.get("allowedMoney") or benefit.get("usedMoney")
                rows.append(
                    compact(
                        {
                            "service_type": label(item.get("category")),
                            "network": label(item.get("network")) or None,
                            "unit": label(item.get("unit")) or None,
                            "term": label(item.get("term")) or None,
                            "benefit": label(benefit.get("type")),
                            "amount": money.get("value") if money else None,
                            "percent": benefit.get("allowedUnsignedInt"),
                            "used": (benefit.get("usedMoney") or {}).get("value"),
                        }
                    )
                )
    return rows


@tool(
    "check_eligibility",
    title="Check insurance eligibility",
    arguments=CheckEligibility,
    # each call records a new check (and asks the payer again): not idempotent
    hints=Hints(read_only=False, destructive=False, idempotent=False),
)
async def check_eligibility(call: ToolCall, args: CheckEligibility) -> ToolResult:
    """Ask the payer, through athena, whether a patient's insurance is in force for a
    service and what the patient will owe: outcome (complete, queued when the payer is
    slow — read the response_id again later with fhir_read — partial, or error with the
    payer's reason), inforce, a disposition sentence and the benefits (copay amounts,
    coinsurance percent, deductible and out-of-pocket totals and remaining, in and out of
    network). Defaults: the primary coverage, an office visit (98), today. A token limited
    to one patient can check only her own coverage."""
    pid = confine(call, "Coverage", args.patient_id)
    coverages = (await page(call, "Coverage", [("patient", pid)], count=10)).resources
    wanted = args.coverage_id.removeprefix("Coverage/") if args.coverage_id else None
    chosen = next(
        (
            c
            for c in sorted(coverages, key=lambda c: c.get("order") or 9)
            if (c["id"] == wanted if wanted else c.get("status") == "active")
        ),
        None,
    )
    if chosen is None:
        raise NotFound(
            f"Coverage/{wanted} is not a coverage of this patient"
            if wanted
            else "The patient has no active coverage (self-pay, or none recorded)"
        )
    request: Json = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["validation", "benefits"],
        "patient": {"reference": f"Patient/{pid}"},
        "created": date.today().isoformat(),
        "insurer": {"reference": ref((chosen.get("payor") or [{}])[0])},
        "insurance": [{"focal": True, "coverage": {"reference": f"Coverage/{chosen['id']}"}}],
        "servicedDate": (args.service_date or date.today()).isoformat(),
        "item": [{"category": {"coding": [{"system": SERVICE_TYPES, "code": args.service_type}]}}],
    }
    outcome = await operations.invoke(
        call.services,
        call.auth,
        OperationCall(
            "CoverageEligibilityRequest",
            "submit",
            "POST",
            body=request,
            key=call.idempotency_key(args),
        ),
    )
    response = checked(outcome)
    insurance = (response.get("insurance") or [{}])[0]
    row = compact(
        {
            "response_id": response.get("id"),
            "outcome": response.get("outcome"),
            "inforce": insurance.get("inforce"),
            "disposition": response.get("disposition"),
            "coverage_id": chosen["id"],
            "benefits": _benefits(response) or None,
            "errors": [label(e.get("code")) for e in response.get("error", [])] or None,
        }
    )
    text = f"Eligibility {row.get('outcome')}: {row.get('disposition', '')}"
    for benefit in (row.get("benefits") or [])[:8]:
        value = f"${benefit['amount']:.2f}" if "amount" in benefit else f"{benefit.get('percent')}%"
        text += (
            f"\n- {benefit.get('benefit')} {value} ({benefit.get('network', '')},"
            f" {benefit.get('service_type', '')})"
        )
    return ToolResult(text, {"eligibility": row})
