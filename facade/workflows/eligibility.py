"""Eligibility workflow: ``CoverageEligibilityRequest/$submit`` and create over athena's
real-time eligibility (API-NOTES §3.8; REVENUE-CYCLE §1.6, §1.7, §4, §8.3).

The CoverageEligibilityRequest table declares the check (``writes.create``: athena's
``POST /patients/{pid}/insurances/{iid}/eligibility``); the engine runs it like every
write (scope ``c``, patient compartment, the Coverage as a ``referenced`` record of the
patient, Idempotency-Key in the ledger), and this module registers its hooks:

- resolver ``eligibility-coverage``: validates the request (status, purpose, patient,
  one coverage, insurer, service types) and picks the insurance: the request's Coverage,
  or the patient's primary; a patient without any (self-pay) settles the check without
  athena: the response is ``error`` with a disposition that says so;
- completer ``eligibility-response``: waits for a slow payer within the request's
  deadline (polling athena's ``GET``, ``eligibility_wait_seconds``), builds the
  CoverageEligibilityResponse from the 271 (``queued`` when it has not arrived;
  ``partial`` from the insurance's last eligibility fields where athena cannot check:
  its preview answers HTTP 200 ``success: false``) and keeps request and response in the
  facade's store (athena keeps only the latest check);
- read-back ``eligibility-result``: after an ambiguous POST, athena's latest check of
  the insurance for the same service type;
- collections ``eligibility-requests`` and ``eligibility-responses`` (the tables'
  ``surface: store`` routes): a queued response read or searched again asks athena once
  more and is settled in the store when the 271 has arrived;
- operation ``$submit`` (R4 core canonical): a bare request, a Parameters with
  ``resource``, or a Bundle whose first entry is the request; answers the response (200).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from facade.auth.context import AuthContext
from facade.cache import render
from facade.engine import idempotency, registry, write_policy
from facade.engine.operations import OperationCall
from facade.engine.services import Services
from facade.engine.writes import WriteContext, WriteOutcome
from facade.errors import FacadeError, InvalidRequest, NotFound, Unprocessable, UpstreamError
from facade.mapping.benefits import X12_SERVICE_TYPES
from facade.mapping.convert import to_fhir
from facade.mapping.table import Table
from facade.store.eligibility import EligibilityRecord
from facade.upstream.client import raise_for_bad_request
from facade.upstream.deadline import remaining
from facade.workflows.coverage import insurances

Json = dict[str, Any]
REQUEST = "CoverageEligibilityRequest"
RESPONSE = "CoverageEligibilityResponse"
PURPOSES = {"auth-requirements", "benefits", "discovery", "validation"}  # R4 required binding
CHECKED = {"benefits", "validation"}  # what a 270/271 answers
SELF_PAY = {"0", "-500"}  # athena's self-pay and payment plan packages: no payer
ALL_BENEFITS = "30"
STATUS_CODES = frozenset(
    "12345678"
)  # EB01 coverage status lines (inforce), kept always  # X12 "Health Benefit Plan Coverage": every benefit of the plan
DEADLINE_MARGIN = 1.0  # seconds of the request's deadline left for building and storing
LOCAL_DIGITS = 12
NO_COVERAGE = (
    "The patient has no insurance on file with a payer (self-pay): there is nothing to check"
    " with a payer. Add a Coverage, then check again."
)
SUPERSEDED = (
    "athena no longer holds this check's answer: a later check of the insurance replaced it."
    " Submit the request again."
)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _local() -> str:
    """A new check's id: 12 random digits (athena-id syntax, never a sequence)."""
    return str(secrets.randbelow(9 * 10 ** (LOCAL_DIGITS - 1)) + 10 ** (LOCAL_DIGITS - 1))


def _table(services: Services, rtype: str) -> Table:
    table = services.mappings.table(rtype)
    assert table is not None, f"the {rtype} table is loaded"
    return table


# -- the request ------------------------------------------------------------------------------


def _categories(resource: Json) -> list[str]:
    """The X12 service types of ``item.category`` (one item may name none: 422 then)."""
    found: list[str] = []
    for index, item in enumerate(resource.get("item") or []):
        where = f"{REQUEST}.item[{index}]"
        if not isinstance(item, dict):
            raise InvalidRequest("An item is an object", expression=(where,))
        codings = (item.get("category") or {}).get("coding") or []
        codes = [
            str(c.get("code"))
            for c in codings
            if isinstance(c, dict) and c.get("system") == X12_SERVICE_TYPES and c.get("code")
        ]
        if not codes:
            raise Unprocessable(
                f"athena checks X12 service types: give item.category with system"
                f" {X12_SERVICE_TYPES} (productOrService is not checked)",
                expression=(f"{where}.category",),
            )
        found += codes
    return list(dict.fromkeys(found))


def _validate(ctx: WriteContext) -> None:
    """What the table cannot say: R4's required elements and what athena can check."""
    res, fields = ctx.resource, ctx.fields
    if res.get("status", "active") != "active":
        raise Unprocessable("Only an active request is checked", expression=(f"{REQUEST}.status",))
    purpose = res.get("purpose")
    if not isinstance(purpose, list) or not purpose or not set(map(str, purpose)) <= PURPOSES:
        raise InvalidRequest(
            "purpose is one or more of auth-requirements, benefits, discovery, validation",
            expression=(f"{REQUEST}.purpose",),
        )
    if not set(purpose) <= CHECKED:
        raise Unprocessable(
            "athena's real-time eligibility answers purposes validation and benefits",
            expression=(f"{REQUEST}.purpose",),
        )
    if not fields.get("patientid"):
        raise InvalidRequest(
            "The request names its patient: Patient/a-{practiceid}.E-{patientid}",
            expression=(f"{REQUEST}.patient",),
        )
    insurance = res.get("insurance") or []
    if not isinstance(insurance, list):
        raise InvalidRequest("insurance is a list", expression=(f"{REQUEST}.insurance",))
    named = [i for i in insurance if isinstance(i, dict) and i.get("coverage")]
    if named and not fields.get("insuranceid"):
        raise InvalidRequest(
            "insurance.coverage references Coverage/a-{practiceid}.Coverage-{id}",
            expression=(f"{REQUEST}.insurance[0].coverage",),
        )
    if not fields.get("insurancepackageid"):  # R4: insurer 1..1
        raise InvalidRequest(
            "The request names its insurer, the Coverage's payor:"
            " Organization/a-{practiceid}.InsurancePackage-{id}",
            expression=(f"{REQUEST}.insurer",),
        )


@registry.resolver("eligibility-coverage")
async def eligibility_coverage(ctx: WriteContext) -> None:
    """Resolver ``eligibility-coverage``: the insurance to check, and what to ask for."""
    _validate(ctx)
    fields, services = ctx.fields, ctx.services
    categories = _categories(ctx.resource)
    fields["servicetypecode"] = categories[0] if len(categories) == 1 else ALL_BENEFITS
    ctx.facts.update(
        purpose=[str(p) for p in ctx.resource["purpose"]],
        categories=categories if len(categories) > 1 else [],
    )
    rows = await insurances(services, ctx.practice, str(fields["patientid"]))
    if rows is None:
        raise NotFound("athena does not know the patient", expression=(f"{REQUEST}.patient",))
    live = [r for r in rows if str(r.get("insurancepackageid")) not in SELF_PAY]
    primary = not fields.get("insuranceid")
    if primary:  # without a Coverage: the patient's primary
        live.sort(key=lambda r: int(r.get("sequencenumber") or 9))
        if not live:  # self-pay: nothing to ask a payer; the response says so
            ctx.settled = {
                "status": "error",
                "eligibilitymessage": NO_COVERAGE,
                "insurancepackageid": fields["insurancepackageid"],
                **(
                    {"dateofservice": fields["dateofservice"]}
                    if fields.get("dateofservice")
                    else {}
                ),
            }
            return
        fields["insuranceid"] = str(live[0]["insuranceid"])
    row = next((r for r in live if str(r.get("insuranceid")) == str(fields["insuranceid"])), None)
    if row is None:
        return  # not this patient's live insurance: the write policy answers 404 or 422
    payer = str(row.get("insurancepackageid"))
    if str(fields["insurancepackageid"]) != payer:
        which = "the patient's primary Coverage" if primary else "the Coverage"
        raise Unprocessable(
            f"insurer is not the payer of {which} (Organization/a-{ctx.practice}"
            f".InsurancePackage-{payer}); name insurance.coverage to check another",
            expression=(f"{REQUEST}.insurer",),
        )


@registry.readback("eligibility-result")
async def eligibility_result(ctx: WriteContext, intent: dict[str, Any]) -> Json | None:
    """Read-back ``eligibility-result``: athena's latest check of the insurance, when it is
    for the service type this one asked (athena keeps one check per insurance)."""
    latest = await _latest(
        ctx.services, ctx.practice, str(intent.get("patientid")), str(intent.get("insuranceid"))
    )
    if latest is None or str(latest.get("servicetypecode")) != str(intent.get("servicetypecode")):
        return None
    return {
        "patientid": intent.get("patientid"),
        "insuranceid": intent.get("insuranceid"),
        **latest,
    }


# -- athena's answer ---------------------------------------------------------------------------


async def _latest(
    services: Services, practice: str, patientid: str, insuranceid: str
) -> Json | None:
    """athena's latest check of an insurance (``GET .../eligibility``), or None (no check,
    or athena cannot say: its preview)."""
    path = f"/patients/{patientid}/insurances/{insuranceid}/eligibility"
    response = await services.athena.rest("GET", practice, path)
    if response.status == 404 or (response.status == 422 and isinstance(response.body, dict)):
        return None
    raise_for_bad_request(response)
    body = response.body
    found = body[0] if isinstance(body, list) and body else body
    if not isinstance(found, dict):
        raise UpstreamError("athena answered the eligibility check with an unexpected shape")
    return found


def _same_check(found: Json, asked: Json) -> bool:
    return all(
        str(found.get(k)) == str(asked.get(k))
        for k in ("requestdatetime", "servicetypecode")
        if asked.get(k) not in (None, "")
    )


async def _wait(ctx: WriteContext, pending: Json) -> Json:
    """The 271 of a pending check, polled within the request's deadline; else ``pending``."""
    settings = ctx.services.settings
    budget = min(
        settings.eligibility_wait_seconds,
        remaining(settings.request_deadline_seconds) - DEADLINE_MARGIN,
    )
    until = time.monotonic() + budget
    while time.monotonic() + settings.eligibility_poll_interval <= until:
        await asyncio.sleep(settings.eligibility_poll_interval)
        try:
            found = await _latest(
                ctx.services,
                ctx.practice,
                str(ctx.fields["patientid"]),
                str(ctx.fields["insuranceid"]),
            )
        except FacadeError:
            return pending  # athena did not answer the poll: still queued
        if found is None or not _same_check(found, pending):
            return pending
        if found.get("status") != "pending":
            return found
    return pending


def _facts(ctx: WriteContext, result: Json) -> Json:
    """What a later read needs to ask athena for this check again (no PHI beyond ids)."""
    return {
        "patientid": str(ctx.fields["patientid"]),
        "insuranceid": str(ctx.fields.get("insuranceid") or ""),
        "servicetypecode": str(ctx.fields.get("servicetypecode") or ""),
        "insurancepackageid": str(ctx.fields.get("insurancepackageid") or ""),
        "requestdatetime": str(result.get("requestdatetime") or ""),
        "purpose": ctx.facts.get("purpose", []),
        "categories": ctx.facts.get("categories", []),
    }


def build_response(
    services: Services, practice: str, local: str, created: str, result: Json, facts: Json
) -> Json:
    """The CoverageEligibilityResponse of athena's answer (or of the insurance, ``partial``)."""
    table = _table(services, RESPONSE)
    record = {
        **result,
        "eligibilityid": local,
        "created": created,
        "purpose": facts.get("purpose") or ["validation"],
        "patientid": facts["patientid"],
    }
    if facts.get("insuranceid"):
        record["insuranceid"] = facts["insuranceid"]
    wanted = set(facts.get("categories") or [])
    if wanted and isinstance(record.get("benefits"), list):  # several asked: checked as 30
        record["benefits"] = [
            b
            for b in record["benefits"]
            if isinstance(b, dict)
            and (b.get("servicetypecode") in wanted or str(b.get("benefitcode")) in STATUS_CODES)
        ]
    source = "preview" if result.get("status") == "partial" else "rest"
    response = to_fhir(record, table, source, practice, services.mappings.codes)
    rest = {k: v for k, v in response.items() if k not in ("resourceType", "id", "meta")}
    return {"resourceType": RESPONSE, "id": response["id"], "meta": {"lastUpdated": _now()}, **rest}


REQUEST_ELEMENTS = (
    "extension", "identifier", "status", "priority", "purpose", "patient", "servicedDate",
    "servicedPeriod", "created", "enterer", "provider", "insurer", "facility",
    "supportingInfo", "insurance", "item",
)  # fmt: skip


def _stored_request(ctx: WriteContext, local: str, created: str) -> Json:
    """The request as kept: the client's elements R4 defines, with its id, status, created
    and insurer (the Coverage's payor) when it left them out."""
    body = ctx.resource
    request: Json = {
        "resourceType": REQUEST,
        "id": f"a-{ctx.practice}.{_table(ctx.services, REQUEST).id.prefix}-{local}",
        "meta": {"lastUpdated": created},
        **{k: body[k] for k in REQUEST_ELEMENTS if k in body},
    }
    request.setdefault("status", "active")
    request.setdefault("created", created)
    if "insurer" not in request and ctx.fields.get("insurancepackageid") not in (None, ""):
        package = ctx.fields["insurancepackageid"]
        request["insurer"] = {
            "reference": f"Organization/a-{ctx.practice}.InsurancePackage-{package}"
        }
    return request


@registry.completer("eligibility-response")
async def eligibility_response(ctx: WriteContext, record: Json) -> WriteOutcome:
    """Completer ``eligibility-response``: the response built, both kept; the request answered."""
    services, practice = ctx.services, ctx.practice
    result = dict(record)
    if result.get("soft"):  # athena cannot check here: what it last recorded, partial
        rows = await insurances(services, practice, str(ctx.fields["patientid"])) or []
        row = next(
            (r for r in rows if str(r.get("insuranceid")) == str(ctx.fields["insuranceid"])), {}
        )
        result = {**row, "status": "partial", "errormessage": record.get("errormessage", "")}
        if ctx.fields.get("dateofservice"):
            result["dateofservice"] = ctx.fields["dateofservice"]
    elif result.get("status") == "pending":
        result = await _wait(ctx, result)
    facts = _facts(ctx, result)
    created = _now()
    patient = f"a-{practice}.E-{facts['patientid']}"
    for _ in range(5):
        local = _local()
        response = build_response(services, practice, local, created, result, facts)
        request = _stored_request(ctx, local, created)
        kept = EligibilityRecord(
            practice,
            local,
            patient,
            created,
            str(response.get("outcome")),
            request,
            response,
            facts,
        )
        if await services.eligibility.add(kept, time.time()):
            break
    else:  # pragma: no cover - 12 random digits do not collide five times
        raise FacadeError("Could not store the eligibility check")
    ctx.produced.append(response)  # the event engine reports the response (README "Events")
    write_policy.forget(ctx)  # the check refreshed the insurance's copays: its Coverage too
    base = services.settings.fhir_base
    headers = {"ETag": render(request).etag, "Location": f"{base}/{REQUEST}/{request['id']}"}
    return WriteOutcome(201, request, headers)


# -- reading the kept checks ---------------------------------------------------------------------


async def refresh(services: Services, kept: EligibilityRecord) -> Json:
    """A queued response, settled once athena has the payer's answer (else as it is)."""
    if kept.outcome != "queued" or not kept.facts.get("insuranceid"):
        return kept.response
    facts = kept.facts
    try:
        found = await _latest(services, kept.practice, facts["patientid"], facts["insuranceid"])
    except FacadeError:
        return kept.response  # athena did not answer: still queued
    if found is None or found.get("status") == "pending":
        return kept.response
    if not _same_check(found, facts):
        found = {
            "status": "error",
            "eligibilitymessage": SUPERSEDED,
            "insurancepackageid": facts.get("insurancepackageid"),
        }
    response = build_response(services, kept.practice, kept.local, kept.created, found, facts)
    outcome = str(response.get("outcome"))
    if await services.eligibility.settle(
        kept.practice, kept.local, response, outcome, "queued", time.time()
    ):
        return response
    again = await services.eligibility.get(kept.practice, kept.local)  # another worker settled it
    return again.response if again is not None else response


class _Checks:
    """The kept requests (``part`` = "request") or responses, as a store collection."""

    def __init__(self, part: str) -> None:
        self.part = part

    async def _view(self, services: Services, kept: EligibilityRecord) -> Json:
        return kept.request if self.part == "request" else await refresh(services, kept)

    async def get(self, services: Services, practice: str, local: str) -> Json | None:
        kept = await services.eligibility.get(practice, local)
        return None if kept is None else await self._view(services, kept)

    async def page(
        self,
        services: Services,
        practice: str,
        params: list[tuple[str, str]],
        offset: int,
        limit: int,
    ) -> tuple[list[Json], bool]:
        given = dict(params)
        local = given.get("id") or given.get("request")
        if "id" in given and "request" in given and given["id"] != given["request"]:
            return [], False
        rows = await services.eligibility.page(
            practice, patient=given.get("patient"), local=local, offset=offset, limit=limit + 1
        )
        found = [await self._view(services, kept) for kept in rows[:limit]]
        return found, len(rows) > limit


registry.collection("eligibility-requests", _Checks("request"))
registry.collection("eligibility-responses", _Checks("response"))


# -- $submit ---------------------------------------------------------------------------------------


def _rewrite(node: Any, targets: dict[str, str]) -> Any:
    """References to a Bundle's own entries (their ``fullUrl``) as ``Type/id``."""
    if isinstance(node, dict):
        out = {k: _rewrite(v, targets) for k, v in node.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in targets:
            out["reference"] = targets[ref]
        return out
    if isinstance(node, list):
        return [_rewrite(v, targets) for v in node]
    return node


def submitted(body: Any, kind_wanted: str = REQUEST) -> Json:
    """The CoverageEligibilityRequest (or ``kind_wanted``: the Claim of ``Claim/$submit``) of
    a ``$submit`` body (R4: ``resource`` 1..1: the request, or a Bundle whose first entry
    is the request plus the resources it references; a Parameters wraps either)."""
    if not isinstance(body, dict):
        raise InvalidRequest("$submit takes a FHIR resource", expression=("resourceType",))
    kind = body.get("resourceType")
    if kind == kind_wanted:
        return body
    if kind == "Parameters":
        for index, parameter in enumerate(body.get("parameter") or []):
            if isinstance(parameter, dict) and parameter.get("name") == "resource":
                inner = parameter.get("resource")
                if isinstance(inner, dict) and inner.get("resourceType") in (kind_wanted, "Bundle"):
                    return submitted(inner, kind_wanted)
                raise InvalidRequest(
                    f"The resource parameter holds a {kind_wanted}",
                    expression=(f"Parameters.parameter[{index}].resource",),
                )
        raise InvalidRequest(
            "$submit needs the resource parameter", expression=("Parameters.parameter",)
        )
    if kind == "Bundle":
        entries = [e for e in body.get("entry") or [] if isinstance(e, dict)]
        first = entries[0].get("resource") if entries else None
        if not isinstance(first, dict) or first.get("resourceType") != kind_wanted:
            raise InvalidRequest(
                f"The Bundle's first entry is the {kind_wanted}",
                expression=("Bundle.entry[0].resource",),
            )
        targets = {
            str(e["fullUrl"]): f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in entries[1:]
            if e.get("fullUrl") and isinstance(e.get("resource"), dict) and e["resource"].get("id")
        }
        rewritten: Json = _rewrite(first, targets)
        return rewritten
    raise InvalidRequest(
        f"$submit takes a {kind_wanted}, a Parameters with resource, or a Bundle",
        expression=("resourceType",),
    )


@registry.operation(REQUEST, "submit")
async def submit(services: Services, auth: AuthContext, call: OperationCall) -> WriteOutcome:
    """``CoverageEligibilityRequest/$submit``: check, then answer the response (200).

    A keyed retry replays the first check (athena is not asked again) and answers its
    response as it is now (a queued one may have completed since).
    """
    request = submitted(call.body)
    outcome = await idempotency.create(
        services, auth, REQUEST, request, key=call.key, extra={"operation": "submit"}
    )
    if outcome.status >= 400:
        return outcome
    table = _table(services, REQUEST)
    rid = str(outcome.body.get("id", ""))
    parts = rid.removeprefix("a-").split(f".{table.id.prefix}-")
    kept = await services.eligibility.get(parts[0], parts[-1]) if len(parts) == 2 else None
    if kept is None:
        raise UpstreamError("The eligibility check was not kept")
    response = await refresh(services, kept)
    return WriteOutcome(200, response, {"ETag": render(response).etag})
