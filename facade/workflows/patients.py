"""Patient registration: the resolver and read-back the Patient table's create names.

athena registers a patient with ``POST /v1/{practiceid}/patients`` (API-NOTES §3.3:
``firstname``, ``lastname``, ``dob`` and ``departmentid`` required, and, per the
scheduling workflow, one phone number). With patient matching on, a duplicate does not
create a record: athena answers the existing ``patientid``. That answer looks like any
other, so the resolver first notes which patients with the same date of birth exist;
the engine treats an answer naming one of them as athena's duplicate check finding a
match (409, or 200 with ``If-None-Exist``; :func:`facade.engine.writes.matched`).

- resolver ``new-patient``: the department (``managingOrganization`` when it names one
  of the practice's departments, else the practice's first department), a phone number,
  no patient id of the client's own, and the patients athena could match (``existing``);
- read-back ``registered-patient``: after a lost answer, the patient this request
  registered is the one with its name and date of birth that did not exist before
  (the ids noted in the ledger's intent; names and dates never go into the ledger:
  the retry carries the same body, so they come from the request itself).

Registered by name with the engine (:mod:`facade.engine.registry`).
"""

from __future__ import annotations

import re
from typing import Any

from facade.engine import registry
from facade.engine.writes import WriteContext, expression
from facade.errors import InvalidRequest, Unprocessable
from facade.upstream.client import raise_for_bad_request

Json = dict[str, Any]
PHONES = ("homephone", "mobilephone", "workphone")
_DEPARTMENT = re.compile(r"^Organization/a-(\d+)\.Department-(\d+)$")
_PAGE = 1000
_MAX_PAGES = 10


async def same_birth_date(ctx: WriteContext, dob: str) -> list[Json]:
    """athena's patients with this date of birth (``GET /patients?dob=``), every page."""
    rows: list[Json] = []
    for page in range(_MAX_PAGES):
        response = await ctx.services.athena.rest(
            "GET",
            ctx.practice,
            "/patients",
            params=[("dob", dob), ("limit", str(_PAGE)), ("offset", str(page * _PAGE))],
        )
        raise_for_bad_request(response)
        body = response.body if isinstance(response.body, dict) else {}
        found = [r for r in body.get("patients") or [] if isinstance(r, dict)]
        rows += found
        if not body.get("next") or not found:
            break
    return rows


async def _department(ctx: WriteContext) -> str:
    departments = await ctx.services.directory.ids(ctx.practice)
    reference = (ctx.resource.get("managingOrganization") or {}).get("reference")
    if reference is None:
        if not departments:
            raise Unprocessable("The practice has no department to register a patient in")
        return departments[0]
    m = _DEPARTMENT.match(str(reference))
    if not m or m.group(1) != ctx.practice or m.group(2) not in departments:
        raise Unprocessable(
            "managingOrganization must be a department of the practice"
            f" (Organization/a-{ctx.practice}.Department-{{id}})",
            expression=("Patient.managingOrganization",),
        )
    return m.group(2)


@registry.resolver("new-patient")
async def new_patient(ctx: WriteContext) -> None:
    """Resolver ``new-patient``: complete a registration's athena fields."""
    fields = ctx.fields
    if fields.get("patientid"):
        claim = ctx.named.get("patientid")
        raise InvalidRequest(
            "athena assigns a new patient's id: a create may not name a patient",
            expression=(claim.expression,) if claim else ("Patient.identifier",),
        )
    fields["departmentid"] = await _department(ctx)
    if not any(fields.get(phone) for phone in PHONES):
        raise Unprocessable(
            "athena registers a patient with at least one phone number (home, mobile or work)",
            expression=(expression(ctx.table, ctx.step.source, "homephone"),),
        )
    if fields.get("dob"):
        ids = sorted(str(r.get("patientid")) for r in await same_birth_date(ctx, fields["dob"]))
        ctx.facts["existing"] = ids
        ctx.facts["intent"] = {"existing": ",".join(ids)}


def _same_person(row: Json, fields: dict[str, Any]) -> bool:
    return all(
        str(row.get(name, "")).strip().lower() == str(fields.get(name, "")).strip().lower()
        for name in ("firstname", "lastname")
    )


@registry.readback("registered-patient")
async def registered_patient(ctx: WriteContext, intent: dict[str, Any]) -> Json | None:
    """Read-back ``registered-patient``: the patient this registration created, or None."""
    dob = ctx.fields.get("dob")
    if not dob or "existing" not in intent:
        return None
    before = set(str(intent["existing"]).split(","))
    for row in await same_birth_date(ctx, str(dob)):
        if str(row.get("patientid")) not in before and _same_person(row, ctx.fields):
            return row
    return None
