"""Writes are authorized on what is sent upstream, not on what the body claims (DESIGN.md "Writes").

Each table declares which athena fields of its writes carry a patient id
(``writes.patients``) and which name a record the call acts on (each step's
``records``, with the roles ``target``, ``writable`` and ``taken``; see
:mod:`facade.mapping.table`, "Write authorization"). The engine enforces the
declaration here, for every step alike — create, update, patch and the named
steps operations use — so a table's new writes inherit it:

- :func:`check_body`, on the FHIR resource as it will be written, before anything is
  resolved: the elements the table writes a declared field from. They may name one
  patient per patient field (athena takes one: 422 at the element), each the caller's
  when the token is limited to a patient compartment (403); an update's body may not
  name another patient than the current record's, nor another record than the URL's
  (400 at the element); the elements naming one record agree and name one of the
  write's practice (400).
- :func:`authorize`, on the athena request itself, after the resolver and just before
  :func:`facade.engine.writes.send` (which refuses anything other than what was
  authorized): the practice is the token's; every patient field sent is a well-formed
  id and the caller's patient (compartment tokens); a ``target`` is the URL's record;
  a ``writable`` record is re-read from athena with the caller's token (404 unknown,
  in another practice or outside the compartment; 403 without the ``u`` letter) and
  belongs to the patient the request sends (422); a ``referenced`` record likewise, in
  the caller's compartment whatever its scope letters for that type (the Coverage an
  eligibility check is for: 404, or 422 when it is another patient's); a value the body
  named is the value sent (400).
- :func:`check_changes`, with :func:`authorize`: an update by a patient-limited token
  changes only what the table lets a patient change (``writes.patient_may_change``, the
  athena fields; any other field the request would send is 422 at its element).
- :func:`forget`: every record the request names leaves the entity cache once the call
  went out, whatever its outcome, and again with the answer.

Tokens without a patient compartment (system, clinician ``user/``) write for any patient
of their practices; everything else above applies to them too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from facade.auth import policy
from facade.auth.scopes import ScopeSet
from facade.engine import reads
from facade.errors import Forbidden, InvalidRequest, NotFound, Unprocessable
from facade.mapping.convert import match_template
from facade.mapping.ids import format_id, parse_id
from facade.mapping.paths import Segment, matches, parse_path
from facade.mapping.table import Table, WriteRecord
from facade.mapping.transforms import TRANSFORMS

if TYPE_CHECKING:
    from facade.engine.writes import WriteContext

Json = dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """What one element of a FHIR body names for an athena field."""

    value: str | None  # the athena value; None: names that kind of thing in another shape
    raw: str  # the element's value as sent
    expression: str  # FHIRPath of the element, e.g. Appointment.identifier[0].value


def permission(ctx: WriteContext) -> str:
    return "c" if ctx.current is None else "u"


def locate(node: Any, segments: tuple[Segment, ...], prefix: str) -> list[tuple[str, Any]]:
    """The values at a mapping path (as :func:`facade.mapping.paths.get_values`), each
    with its FHIRPath, list positions included.

    >>> locate({"slot": [{"reference": "Slot/1"}]}, parse_path("slot[0].reference"), "Appointment")
    [('Appointment.slot[0].reference', 'Slot/1')]
    """
    if not segments:
        return [] if node is None else [(prefix, node)]
    seg, rest = segments[0], segments[1:]
    if not isinstance(node, dict) or seg.name not in node:
        return []
    value = node[seg.name]
    if not isinstance(value, list):
        if seg.index not in (None, 0) or (seg.keys and not matches(value, seg.keys)):
            return []
        return locate(value, rest, f"{prefix}.{seg.name}")
    found: list[tuple[str, Any]] = []
    for position, item in enumerate(value):
        if seg.index is not None and position != seg.index:
            continue
        if seg.keys and not matches(item, seg.keys):
            continue
        found += locate(item, rest, f"{prefix}.{seg.name}[{position}]")
    return found


def _kind(template: str) -> str | None:
    """The resource type a reference template names: ``Patient/a-{practice}.E-{value}``."""
    head, sep, _ = template.partition("/")
    return head if sep and head.isalpha() else None


def claims(ctx: WriteContext, resource: Json, name: str) -> list[Claim]:
    """Every element of ``resource`` the table writes the athena field ``name`` from.

    A reference of the field's type in another shape (another practice, an absolute URL)
    is a claim without a value; the resource's own ``id`` names the record the table's
    ``record_id`` holds.
    """
    table, practice = ctx.table, ctx.practice
    source = table.sources[ctx.step.source]
    found: list[Claim] = []
    for field in source.fields:
        names = [field.athena] if isinstance(field.athena, str) else field.athena
        if field.direction == "read" or names[0] != name:
            continue
        write = TRANSFORMS[field.transform].write
        path = parse_path(field.fhir.replace("{practice}", practice))
        for where, value in locate(resource, path, table.resource):
            raw = str(value)
            if field.template:
                local = match_template(field.template, practice, value)
                if local is None:
                    kind = _kind(field.template)
                    if kind and (raw.startswith(f"{kind}/") or f"/{kind}/" in raw):
                        found.append(Claim(None, raw, where))
                    continue
                value = local
            if write is not None and not field.codes:
                value = write(value)
            found.append(Claim(None if value is None else str(value), raw, where))
    rid = resource.get("id")
    if name == source.record_id and isinstance(rid, str):
        try:
            fid = parse_id(rid, table.id.prefix, table.id.local_pattern)
        except InvalidRequest:
            fid = None  # not an id of ours: a create ignores it (http.html#create)
        if fid is not None:
            local_id = fid.local if fid.practice == practice else None
            found.append(Claim(local_id, rid, f"{table.resource}.id"))
    return found


def _element(expression: str) -> str:
    """``Appointment.participant[1].actor.reference`` -> ``Appointment.participant``."""
    resource, _, rest = expression.partition(".")
    return f"{resource}.{rest.split('.', 1)[0].split('[', 1)[0]}" if rest else resource


def record_table(ctx: WriteContext, record: WriteRecord) -> Table:
    if record.type is None or record.type == ctx.table.resource:
        return ctx.table
    table = ctx.services.mappings.table(record.type)
    assert table is not None, "the loader checks record types"
    return table


def check_body(ctx: WriteContext, resource: Json) -> None:
    """The ids the FHIR resource names for the declared athena fields (before resolving).

    ``resource`` is the resource as it will be written (an update: the current record
    with the body's elements over it); ``ctx.current`` and ``ctx.target`` tell an update.
    """
    table, step = ctx.table, ctx.step
    assert table.writes is not None
    patient = policy.compartment_patient(ctx.auth, table.resource, permission(ctx))
    for name in table.writes.patients:
        named = claims(ctx, resource, name)
        distinct = list(dict.fromkeys(c.value if c.value is not None else c.raw for c in named))
        # An update of the patient record itself (Patient): each element must name the
        # URL's patient (below), so the one naming another is the one pointed at.
        own = ctx.current is not None and name == table.sources[step.source].record_id
        if len(distinct) > 1 and not own:
            raise Unprocessable(
                f"This {table.resource} names {len(distinct)} patients; athena's {step.name}"
                " takes one",
                expression=(_element(named[-1].expression),),
            )
        current = {c.value for c in claims(ctx, ctx.current, name)} if ctx.current else set()
        for claim in named:
            if patient is not None and not _names_patient(ctx, claim, patient):
                raise Forbidden(
                    f"{claim.expression} names a patient outside the patient compartment",
                    expression=(claim.expression,),
                )
            if ctx.current is not None and claim.value not in current:
                raise InvalidRequest(
                    f"An update cannot change the patient of a {table.resource}",
                    expression=(claim.expression,),
                )
        if named:
            ctx.named[name] = named[0]
    for name, record in step.records.items():
        named = claims(ctx, resource, name)
        if not named:
            continue
        kind = record_table(ctx, record)
        expected = ctx.target if record.role == "target" else named[0].value
        for claim in named:
            if claim.value is None or not _well_formed(kind, claim.value):
                raise InvalidRequest(
                    f"{claim.expression} does not name a {kind.resource} of practice"
                    f" {ctx.practice}",
                    expression=(claim.expression,),
                )
            if claim.value != expected:
                other = "the URL" if record.role == "target" else named[0].expression
                raise InvalidRequest(
                    f"{claim.expression} names another {kind.resource} than {other}",
                    expression=(claim.expression,),
                )
        ctx.named[name] = named[0]


def _names_patient(ctx: WriteContext, claim: Claim, patient: str) -> bool:
    """Whether an element naming a patient names exactly ``patient``: a reference by
    itself; in the patient record itself (a table whose compartment is its own ``id``:
    its id, identifier), by the athena id it gives, in the write's practice."""
    compartment = ctx.table.compartment
    if claim.value is not None and compartment is not None and compartment.path == "id":
        return format_id(ctx.practice, ctx.table.id.prefix, claim.value) == patient
    return policy.is_patient(claim.raw, patient)


def _well_formed(table: Table, value: str) -> bool:
    return re.fullmatch(table.id.local_pattern, value) is not None


def _sent(ctx: WriteContext) -> dict[str, str]:
    """The athena fields the request carries (path and form), as sent; a ``replace``
    update's form holds only what changes (a cleared field as "")."""
    from facade.engine.writes import form_of

    sent = {
        n: str(ctx.fields[n])
        for n in ctx.step.placeholders()
        if ctx.fields.get(n) not in (None, "")
    }
    return {**form_of(ctx.step, ctx.fields, ctx.baseline), **sent}


async def authorize(ctx: WriteContext) -> None:
    """The athena request the step is about to send, checked against the declaration."""
    auth, table, step, practice = ctx.auth, ctx.table, ctx.step, ctx.practice
    assert table.writes is not None
    if practice not in auth.practices:
        raise Forbidden(f"The access token does not grant practice {practice}")
    sent = _sent(ctx)
    patient = policy.compartment_patient(auth, table.resource, permission(ctx))
    patients = ctx.services.mappings.table("Patient")
    assert patients is not None, "writes.patients needs the Patient table"
    sent_patients = []
    for name in table.writes.patients:
        if sent.get(name) in (None, ""):
            continue
        claim = ctx.named.get(name)
        where = (claim.expression,) if claim else ()
        if not _well_formed(patients, sent[name]):
            raise InvalidRequest(f"{name} is not an athena patient id", expression=where)
        fhir_id = format_id(practice, patients.id.prefix, sent[name])
        if patient is not None and fhir_id != patient:
            raise Forbidden(
                f"This {step.name} would be sent for a patient outside the patient compartment",
                expression=where,
            )
        sent_patients.append(fhir_id)
    for name, record in step.records.items():
        value = "" if ctx.fields.get(name) is None else str(ctx.fields[name])
        if not value:
            continue
        kind = record_table(ctx, record)
        claim = ctx.named.get(name)
        where = (claim.expression,) if claim else ()
        if not _well_formed(kind, value):
            raise InvalidRequest(f"{name} is not a {kind.resource} id", expression=where)
        if claim is not None and claim.value != value:
            raise InvalidRequest(
                f"{claim.expression} names {kind.resource} {claim.raw}, but the {step.name}"
                f" would act on {format_id(practice, kind.id.prefix, value)}",
                expression=where,
            )
        if record.role == "target" and value != ctx.target:
            raise Forbidden(f"The {step.name} may only act on the {table.resource} in the URL")
        if record.role == "writable":
            await _check_writable(ctx, kind, value, sent_patients, where)
        if record.role == "referenced":
            await _check_referenced(ctx, kind, value, sent_patients, where)
    if patient is not None and ctx.current is not None:
        check_changes(ctx, sent)


def check_changes(ctx: WriteContext, sent: dict[str, str]) -> None:
    """An update by a patient-limited token changes only what a patient may change: the
    table's ``writes.patient_may_change`` (athena fields). The record in the path is the
    patient's own (its ``target``), so only the form counts."""
    from facade.engine.writes import expression

    allowed = ctx.table.writes.patient_may_change if ctx.table.writes else None
    if allowed is None:
        return
    path = set(ctx.step.placeholders())
    refused = [n for n in sent if n not in path and n not in allowed]
    if refused:
        where = tuple(dict.fromkeys(expression(ctx.table, ctx.step.source, n) for n in refused))
        raise Unprocessable(
            f"A patient-limited token may not change {', '.join(where)}; of its own record it"
            f" may change (parts of) {', '.join(_changeable(ctx, allowed))}",
            expression=where,
        )


def _changeable(ctx: WriteContext, allowed: list[str]) -> list[str]:
    """The top-level elements the allowed fields are written from (``Patient.telecom``)."""
    from facade.engine.writes import expression

    return list(
        dict.fromkeys(
            ".".join(expression(ctx.table, ctx.step.source, n).split(".")[:2]) for n in allowed
        )
    )


async def _check_writable(
    ctx: WriteContext,
    table: Table,
    local: str,
    sent_patients: list[str],
    where: tuple[str, ...],
) -> None:
    """An existing record the call changes: the caller may update it, and it is the
    patient's the request sends. Read from athena, not the cache (a stale copy may name
    a patient it no longer has)."""
    rtype = table.resource
    rid = format_id(ctx.practice, table.id.prefix, local)
    ctx.auth.require(rtype, "u")
    ctx.services.cache.invalidate(rtype, ctx.practice, rid)
    resource = (await reads.read(ctx.services, ctx.auth, rtype, rid)).resource
    policy.check_resource(table, ctx.auth, resource, "u")  # another patient's: 404
    if table.compartment is None:
        return
    for patient in sent_patients:
        if not policy.in_compartment(table, resource, patient):
            raise Unprocessable(
                f"{rtype}/{rid} is not an {rtype} of the patient this {ctx.step.name} is for",
                expression=where,
            )


async def _check_referenced(
    ctx: WriteContext,
    table: Table,
    local: str,
    sent_patients: list[str],
    where: tuple[str, ...],
) -> None:
    """An existing record the call is about: readable in the caller's compartment (read
    from athena, not the cache), and the patient's the request sends.

    Read as the caller with only the ``r`` letter on its type: the caller's scope for the
    write (``c`` on CoverageEligibilityRequest) is what lets it name the record; its
    patient compartment and practices still decide which records it may name.
    """
    rtype = table.resource
    rid = format_id(ctx.practice, table.id.prefix, local)
    patient = policy.compartment_patient(ctx.auth, ctx.table.resource, permission(ctx))
    scope = f"patient/{rtype}.r" if patient else f"system/{rtype}.r"
    reader = replace(ctx.auth, scopes=ScopeSet.parse(scope), patient=patient or ctx.auth.patient)
    ctx.services.cache.invalidate(rtype, ctx.practice, rid)
    try:
        resource = (await reads.read(ctx.services, reader, rtype, rid)).resource
        policy.check_resource(table, reader, resource, "r")  # another patient's: 404
    except NotFound as exc:
        raise NotFound(exc.diagnostics, expression=where) from exc
    if table.compartment is None:
        return
    for patient_id in sent_patients:
        if not policy.in_compartment(table, resource, patient_id):
            raise Unprocessable(
                f"{rtype}/{rid} is not a {rtype} of the patient this {ctx.step.name} is for",
                expression=where,
            )


async def check_referenced(
    ctx: WriteContext, table: Table, local: str, patients: list[str], where: tuple[str, ...]
) -> None:
    """A record a workflow's resolver relies on without sending it (a claim's Encounter),
    checked as a ``referenced`` record: readable by the caller, the patients'."""
    await _check_referenced(ctx, table, local, patients, where)


def touched(ctx: WriteContext) -> list[tuple[str, str]]:
    """(resource type, id) of every record the request names (besides the answer)."""
    practice, found = ctx.practice, []
    for name, record in ctx.step.records.items():
        value = ctx.target if record.role == "target" else ctx.fields.get(name)
        if value in (None, ""):
            continue
        kinds = {record_table(ctx, record).resource: record_table(ctx, record)}
        if record.role == "taken":  # a taken slot becomes this table's resource
            kinds[ctx.table.resource] = ctx.table
        for kind in kinds.values():
            found.append((kind.resource, format_id(practice, kind.id.prefix, str(value))))
    return found


def forget(ctx: WriteContext) -> None:
    """Drop the cached copies of every record the request names (the entity cache)."""
    for rtype, rid in touched(ctx):
        ctx.services.cache.invalidate(rtype, ctx.practice, rid)


def protected(ctx: WriteContext) -> set[str]:
    """The athena fields an update never takes from the body: patients and records."""
    assert ctx.table.writes is not None
    return {*ctx.table.writes.patients, *ctx.step.records}
