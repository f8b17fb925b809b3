"""Coverage workflow: the write hooks ``mappings/coverage.yaml`` names.

athena's patient insurances (API-NOTES §3.4), written through /v1:

- resolver ``coverage-fields`` (create and edit): one member id from ``subscriberId``
  and the ``memberid`` identifier; the order a new insurance takes when the body gives
  none (the lowest sequence number the patient has free); a changed order sent as
  ``newsequencenumber`` (athena swaps it with the insurance holding that number); and,
  when the patient holds the policy herself (relationship self), the policy holder
  fields athena requires, from her own record (``GET /patients/{id}``);
- read-back ``added-insurance``: after an ambiguous create, is the insurance there?
- completer ``edited-coverage``: the edited insurance re-read; a new order also moved
  the insurance that held it, so every Coverage of the patient leaves the cache;
- completer ``cancelled-coverage``: the cancelled insurance as athena now lists it
  (``showcancelled``), answered with status cancelled.

athena's own rules (a secondary needs a primary, one insurance per sequence number, a
package never changes, self-pay only as the primary) stay athena's: its refusals come
back as 422 at the element (the table's ``errors``).
"""

from __future__ import annotations

from typing import Any

from facade.engine import registry
from facade.engine.services import Services
from facade.engine.writes import (
    WriteContext,
    WriteOutcome,
    answer,
    expression,
    reread,
    to_resource,
)
from facade.errors import InvalidRequest, Unprocessable
from facade.mapping.paths import get_values, parse_path
from facade.upstream.client import raise_for_bad_request

Json = dict[str, Any]
SELF = 1
SEQUENCES = (1, 2, 3)  # primary, secondary, tertiary (API-NOTES §3.4)
# The patient's own record -> the policy holder fields athena requires of an insurance.
HOLDER_FROM_PATIENT = {
    "insurancepolicyholderfirstname": "firstname",
    "insurancepolicyholdermiddlename": "middlename",
    "insurancepolicyholderlastname": "lastname",
    "insurancepolicyholdersuffix": "suffix",
    "insurancepolicyholderdob": "dob",
    "insurancepolicyholdersex": "sex",
    "insurancepolicyholderaddress1": "address1",
    "insurancepolicyholderaddress2": "address2",
    "insurancepolicyholdercity": "city",
    "insurancepolicyholderstate": "state",
    "insurancepolicyholderzip": "zip",
}
_MB = parse_path("identifier[type.coding.code=MB].value")


async def insurances(
    services: Services, practice: str, patientid: str, *, cancelled: bool = False
) -> list[Json] | None:
    """The patient's insurances as athena lists them (``GET /patients/{id}/insurances``);
    None when athena does not know the patient."""
    params = [("limit", "100"), *([("showcancelled", "true")] if cancelled else [])]
    response = await services.athena.rest(
        "GET", practice, f"/patients/{patientid}/insurances", params=params
    )
    if response.status == 404:
        return None
    raise_for_bad_request(response)
    rows = response.body.get("insurances") if isinstance(response.body, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _member_id(ctx: WriteContext) -> str | None:
    """The one member id the body gives: ``subscriberId`` and the memberid identifier must
    agree, except that an update may change one of them and leave the other as it was."""
    body = ctx.resource
    given = [str(v) for v in get_values(body, _MB) if v not in (None, "")]
    if body.get("subscriberId") not in (None, ""):
        given.append(str(body["subscriberId"]))
    before = str(ctx.current.get("subscriberId", "")) if ctx.current else None
    changed = list(dict.fromkeys(v for v in given if v != before))
    if len(changed) > 1:
        raise InvalidRequest(
            "subscriberId and the memberid identifier name different member ids",
            expression=("Coverage.subscriberId",),
        )
    return changed[0] if changed else before


async def _holder_from_patient(ctx: WriteContext) -> None:
    """relationship self: the patient is the policy holder athena records."""
    response = await ctx.services.athena.rest(
        "GET", ctx.practice, f"/patients/{ctx.fields['patientid']}"
    )
    if response.status == 404:
        return  # athena refuses the write for an unknown patient
    raise_for_bad_request(response)
    body = response.body
    record = body[0] if isinstance(body, list) and body else body
    if not isinstance(record, dict):
        return
    for field, name in HOLDER_FROM_PATIENT.items():
        value = record.get(name)
        if value not in (None, ""):
            ctx.fields[field] = str(value)


@registry.resolver("coverage-fields")
async def coverage_fields(ctx: WriteContext) -> None:
    """Resolver ``coverage-fields``: complete a create's or an edit's athena fields."""
    fields = ctx.fields
    member = _member_id(ctx)
    if member:
        fields["insuranceidnumber"] = member
    if not fields.get("patientid"):
        raise Unprocessable(
            "A Coverage names its beneficiary: Patient/a-{practiceid}.E-{patientid}",
            expression=(expression(ctx.table, ctx.step.source, "patientid"),),
        )
    if fields.get("relationshiptoinsuredid") in (None, ""):
        fields["relationshiptoinsuredid"] = SELF
    relationship = int(fields["relationshiptoinsuredid"])
    if ctx.current is None:  # create
        if fields.get("sequencenumber") in (None, ""):
            rows = await insurances(ctx.services, ctx.practice, str(fields["patientid"])) or []
            taken = {int(r.get("sequencenumber") or 0) for r in rows}
            fields["sequencenumber"] = next((s for s in SEQUENCES if s not in taken), 1)
        if relationship == SELF:
            await _holder_from_patient(ctx)
        return
    before = ctx.current.get("order")
    if before is not None and str(fields.get("sequencenumber")) != str(before):
        fields["newsequencenumber"] = fields["sequencenumber"]
    was_self = ctx.current.get("relationship", {}).get("coding", [{}])[0].get("code") == "self"
    if relationship == SELF and not was_self:
        await _holder_from_patient(ctx)


@registry.readback("added-insurance")
async def added_insurance(ctx: WriteContext, intent: dict[str, Any]) -> Json | None:
    """Read-back ``added-insurance``: the patient's live insurance with the package, member id
    and sequence number the create sent, when athena holds it."""
    patientid = str(intent.get("patientid", ""))
    if not patientid:
        return None
    for row in await insurances(ctx.services, ctx.practice, patientid) or []:
        if (
            str(row.get("insurancepackageid")) == str(intent.get("insurancepackageid"))
            and str(row.get("insuranceidnumber")) == str(intent.get("insuranceidnumber"))
            and str(row.get("sequencenumber")) == str(intent.get("sequencenumber"))
        ):
            return {"patientid": patientid, **row}
    return None


def _forget_patients_coverages(ctx: WriteContext, rows: list[Json]) -> None:
    for row in rows:
        rid = f"a-{ctx.practice}.{ctx.table.id.prefix}-{row.get('insuranceid')}"
        ctx.services.cache.invalidate(ctx.table.resource, ctx.practice, rid)


@registry.completer("edited-coverage")
async def edited_coverage(ctx: WriteContext, record: Json) -> WriteOutcome:
    """Completer ``edited-coverage``: athena answers a PUT with ``success`` only; re-read it.
    A new ``newsequencenumber`` swapped it with the patient's insurance holding that number."""
    if ctx.fields.get("newsequencenumber") not in (None, ""):
        rows = await insurances(ctx.services, ctx.practice, str(ctx.fields["patientid"]))
        _forget_patients_coverages(ctx, rows or [])
    rid = f"a-{ctx.practice}.{ctx.table.id.prefix}-{ctx.target}"
    return answer(ctx, await reread(ctx, rid), 200)


@registry.completer("cancelled-coverage")
async def cancelled_coverage(ctx: WriteContext, record: Json) -> WriteOutcome:
    """Completer ``cancelled-coverage``: athena answers a DELETE with ``success`` only, and
    a cancelled insurance is listed only with ``showcancelled``: map that row."""
    patientid = str(ctx.fields["patientid"])
    rows = await insurances(ctx.services, ctx.practice, patientid, cancelled=True) or []
    row = next((r for r in rows if str(r.get("insuranceid")) == str(ctx.target)), None)
    if row is None:  # not listed at all: what we know, cancelled
        assert ctx.current is not None
        return answer(ctx, {**ctx.current, "status": "cancelled"}, 200)
    return answer(ctx, await to_resource(ctx, {"patientid": patientid, **row}), 200)
