"""Claims tools: submit a visit's charges as a claim (``Claim/$submit``,
facade/workflows/claims.py) and follow it per payer (its ClaimResponses), through the
engine with the caller's token; a submission is keyed per tool call (a retried call
bills once)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from facade.engine import operations
from facade.engine.operations import OperationCall
from facade.errors import NotFound
from facade.mapping.claims import CARC, CPT, ICD10CM
from facade.mcp.query import PatientId, checked, confine, page
from facade.mcp.render import compact, label, ref
from facade.mcp.tool import Arguments, Hints, ToolCall, ToolResult, tool

Json = dict[str, Any]
ClaimId = Annotated[
    str,
    Field(
        max_length=80,
        pattern=r"^(Claim/)?a-\d+\.Claim-\d+$",
        description="The claim (from submit_claim or list_claims), e.g. a-195900.Claim-90001.",
    ),
]


class Charge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure: Annotated[
        str, Field(pattern=r"^[0-9A-Z]{5}$", description="CPT or HCPCS code, e.g. 99213.")
    ]
    diagnoses: Annotated[
        list[Annotated[str, Field(pattern=r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")]],
        Field(min_length=1, max_length=4, description="ICD-10-CM codes (1 to 4), e.g. I10."),
    ]
    units: Annotated[int, Field(ge=1, le=99, description="Units (default 1).")] = 1


class SubmitClaim(Arguments):
    patient_id: PatientId
    charges: Annotated[list[Charge], Field(min_length=1, max_length=20, description="The charges.")]
    encounter_id: Annotated[
        str | None,
        Field(
            max_length=80,
            pattern=r"^(Encounter/)?a-\d+\.encounter-\d+$",
            description="The visit billed (list_encounters); its department and date are used.",
        ),
    ] = None
    provider_id: Annotated[
        str,
        Field(
            max_length=80,
            pattern=r"^(Practitioner/)?a-\d+\.Provider-\d+$",
            description="The billing (supervising) provider.",
        ),
    ]
    coverage_id: Annotated[
        str | None,
        Field(
            max_length=80,
            pattern=r"^(Coverage/)?a-\d+\.Coverage-\d+$",
            description="Coverage billed first (default: the primary).",
        ),
    ] = None
    service_date: Annotated[
        date | None, Field(description="Date of service (default: the visit's, else today).")
    ] = None


def response_row(response: Json) -> Json:
    """One payer's answer, flattened for an agent."""
    totals = {
        t["category"]["coding"][0]["code"]: t["amount"]["value"] for t in response.get("total", [])
    }
    payment = response.get("payment") or {}
    return compact(
        {
            "claim_response_id": response.get("id"),
            "payer": (response.get("insurer") or {}).get("display")
            or ref(response.get("insurer") or {}),
            "sequence": (response.get("insurance") or [{}])[0].get("sequence"),
            "outcome": response.get("outcome"),
            "disposition": response.get("disposition"),
            "billed": totals.get("submitted"),
            "allowed": totals.get("eligible"),
            "paid": (payment.get("amount") or {}).get("value"),
            "payment_date": payment.get("date"),
            "payment_id": (payment.get("identifier") or {}).get("value"),
            "patient_owes": totals.get("memberliability"),
            "denial_codes": [
                f"CARC {c['code']}: {c.get('display', '')}"
                for e in response.get("error", [])
                for c in e["code"]["coding"]
                if c.get("system") == CARC
            ]
            or None,
            "remarks": [n["text"] for n in response.get("processNote", [])] or None,
        }
    )


def _line(row: Json) -> str:
    paid = f", paid ${row['paid']:.2f}" if "paid" in row else ""
    owes = f", patient owes ${row['patient_owes']:.2f}" if row.get("patient_owes") else ""
    return f"{row.get('payer')}: {row.get('outcome')}{paid}{owes}. {row.get('disposition', '')}"


@tool(
    "submit_claim",
    title="Submit a claim for a visit",
    arguments=SubmitClaim,
    hints=Hints(read_only=False, destructive=False, idempotent=False),
)
async def submit_claim(call: ToolCall, args: SubmitClaim) -> ToolResult:
    """Bill a patient's visit: each charge is a CPT/HCPCS procedure with up to four ICD-10-CM
    diagnoses; the claim goes to athena (the visit's appointment claim when an encounter is
    given) and is billed to the patient's primary coverage (and secondary, if any). Answers
    the claim_id and the primary payer's status: queued while athena's rules engine scrubs
    it; follow it with get_claim_status. athena's refusals (an unknown procedure code, no
    insurance, a fifth diagnosis) are tool errors and nothing is billed."""
    pid = confine(call, "Coverage", args.patient_id)
    coverages = sorted(
        (
            c
            for c in (await page(call, "Coverage", [("patient", pid)], count=10)).resources
            if c.get("status") == "active"
        ),
        key=lambda c: c.get("order") or 9,
    )
    wanted = args.coverage_id.removeprefix("Coverage/") if args.coverage_id else None
    chosen = [c for c in coverages if c["id"] == wanted] if wanted else coverages[:2]
    if not chosen:
        raise NotFound(
            "The patient has no active coverage to bill"
            if not wanted
            else f"Coverage/{wanted} is not a coverage of this patient"
        )
    codes = list(dict.fromkeys(code for charge in args.charges for code in charge.diagnoses))
    items = []
    for number, charge in enumerate(args.charges, start=1):
        item: Json = {
            "sequence": number,
            "productOrService": {"coding": [{"system": CPT, "code": charge.procedure}]},
            "diagnosisSequence": [codes.index(c) + 1 for c in charge.diagnoses],
            "quantity": {"value": charge.units},
        }
        if args.service_date:
            item["servicedDate"] = args.service_date.isoformat()
        if args.encounter_id:
            item["encounter"] = [
                {"reference": f"Encounter/{args.encounter_id.removeprefix('Encounter/')}"}
            ]
        items.append(item)
    claim: Json = {
        "resourceType": "Claim",
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": "claim",
        "patient": {"reference": f"Patient/{pid}"},
        "created": date.today().isoformat(),
        "provider": {"reference": f"Practitioner/{args.provider_id.removeprefix('Practitioner/')}"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [
            {"sequence": n, "focal": n == 1, "coverage": {"reference": f"Coverage/{c['id']}"}}
            for n, c in enumerate(chosen, start=1)
        ],
        "diagnosis": [
            {
                "sequence": n,
                "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": c}]},
            }
            for n, c in enumerate(codes, start=1)
        ],
        "item": items,
    }
    outcome = await operations.invoke(
        call.services,
        call.auth,
        OperationCall("Claim", "submit", "POST", body=claim, key=call.idempotency_key(args)),
    )
    response = checked(outcome)
    row = {
        "claim_id": str(ref(response.get("request")) or "").removeprefix("Claim/"),
        **response_row(response),
    }
    return ToolResult(f"Claim {row['claim_id']} submitted. {_line(row)}", {"claim": row})


class GetClaimStatus(Arguments):
    claim_id: ClaimId


@tool(
    "get_claim_status",
    title="Get a claim's status, payment and denials",
    arguments=GetClaimStatus,
    hints=Hints(read_only=True),
)
async def get_claim_status(call: ToolCall, args: GetClaimStatus) -> ToolResult:
    """Where a claim is, per payer (primary, then secondary): outcome queued (athena's rules
    engine is scrubbing it, it is on hold with the reason in the disposition, or the payer
    has not answered), complete (paid in full), partial (paid, the patient owes a share:
    copay, deductible, coinsurance) or error (denied, with the CARC denial codes and
    remark codes); the amount billed, allowed and paid, the payment date and check or EFT
    number, and what the patient owes."""
    rid = args.claim_id.removeprefix("Claim/")
    found = await page(call, "ClaimResponse", [("request", f"Claim/{rid}")], count=10)
    if not found.resources:
        raise NotFound(f"Claim/{rid} is not known")
    rows = [response_row(r) for r in found.resources]
    text = f"Claim {rid}:" + "".join(f"\n- {_line(r)}" for r in rows)
    return ToolResult(text, {"claim_id": rid, "payers": rows})


class ListClaims(Arguments):
    patient_id: PatientId


@tool(
    "list_claims",
    title="List a patient's claims",
    arguments=ListClaims,
    hints=Hints(read_only=True),
)
async def list_claims(call: ToolCall, args: ListClaims) -> ToolResult:
    """List a patient's claims, newest first: claim_id, service date, the procedures billed
    and the total charge, with each payer's outcome (queued, complete, partial, error) from
    its ClaimResponse. Use get_claim_status for one claim's payments, patient share and
    denial codes."""
    pid = confine(call, "Claim", args.patient_id)
    claims = (await page(call, "Claim", [("patient", pid)], count=100)).resources
    responses = (await page(call, "ClaimResponse", [("patient", pid)], count=100)).resources
    outcomes: dict[str, list[str]] = {}
    for response in responses:
        outcomes.setdefault(str(ref(response.get("request"))), []).append(
            str(response.get("outcome"))
        )
    rows = [
        compact(
            {
                "claim_id": c["id"],
                "service_date": (c.get("billablePeriod") or {}).get("start"),
                "procedures": [
                    label(i.get("productOrService")) or i["productOrService"]["coding"][0]["code"]
                    for i in c.get("item", [])
                ],
                "total": (c.get("total") or {}).get("value"),
                "outcomes": outcomes.get(f"Claim/{c['id']}"),
            }
        )
        for c in sorted(claims, key=lambda c: int(c["id"].rsplit("-", 1)[1]), reverse=True)
    ]
    text = f"{len(rows)} claim(s)" + "".join(
        f"\n- {r['claim_id']} {r.get('service_date', '')}: ${r.get('total', 0):.2f}, {', '.join(r.get('outcomes') or [])}"
        for r in rows[:20]
    )
    return ToolResult(text, {"claims": rows})
