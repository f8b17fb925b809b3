"""FHIR writes on top of the mapping tables: create, update, patch (FHIR R4 http.html).

A table declares its writes (``writes:`` in the YAML, :class:`facade.mapping.table.Writes`):
each upstream write is a :class:`WriteStep` (method, path with ``{field}``
placeholders, the athena form fields). The engine here is the same for every
resource type:

1. check the body (resource type, id) and the scope letter (``c`` create, ``u`` update);
2. the patient compartment and the ids the body names are checked on the resource as
   it will be written (:func:`facade.engine.write_policy.check_body`);
3. ``to_athena`` over the step's source turns the FHIR body into athena fields (an
   update takes its target record and patient from the URL and the current record,
   never from the body);
4. the step's named *resolver* completes them (e.g. ``open-slot`` finds the slot
   a booking takes) and may refuse with a typed error pointing at the element;
5. the athena request is authorized as it will be sent
   (:func:`facade.engine.write_policy.authorize`: every patient id and record id in
   it, per the table's declaration) and frozen: :func:`send` sends only that request;
6. the upstream call goes out once (never retried blindly; see
   :mod:`facade.engine.idempotency` for keys, ledger and read-back);
7. athena's answer is mapped back with ``to_fhir`` (or, when athena answers only an
   id, read back through the table's read; or handed to the step's named *completer*,
   e.g. the eligibility check's); the entity cache forgets every record the request
   named.

An update step either sets a state (``mode: set``, the Appointment cancel) or makes the
body the new record (``mode: replace``, a Patient's demographics: only what changes is
sent, and what the body leaves out is cleared). Patches (:mod:`facade.engine.patches`)
become updates. DELETE is refused (405): athena deletes none of these records.

A resolver that finds that athena need not be called (an eligibility request for a
patient without insurance) *settles* the write: it sets ``ctx.settled`` to the record
the completer builds the answer from, and nothing is sent.

Resolvers and read-backs are registered by name (:mod:`facade.engine.registry`)
by the modules that own the resource's workflow (:mod:`facade.workflows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from facade.auth import policy
from facade.auth.context import AuthContext
from facade.cache import render
from facade.engine import reads, registry, write_policy
from facade.engine.patches import apply_merge_patch, apply_patch
from facade.engine.records import add_context
from facade.engine.services import Services
from facade.errors import (
    Conflict,
    FacadeError,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    Unprocessable,
    UpstreamError,
)
from facade.mapping.convert import element_of, to_athena, to_fhir
from facade.mapping.ids import format_id
from facade.mapping.table import Table, WriteStep
from facade.upstream.client import UpstreamResponse, athena_error_message

Json = dict[str, Any]
Request = tuple[str, str, str, tuple[tuple[str, str], ...]]  # method, practice, path, form


@dataclass
class WriteContext:
    """One write in progress: what the client sent and the athena fields built from it."""

    services: Services
    auth: AuthContext
    table: Table
    step: WriteStep
    practice: str
    resource: Json
    fields: dict[str, Any]
    current: Json | None = None  # the resource before an update
    facts: dict[str, Any] = field(default_factory=dict)  # resolver results (e.g. the slot)
    target: str | None = None  # an update: the local id of the record in the URL
    # what the body names for each declared athena field (write_policy.check_body)
    named: dict[str, write_policy.Claim] = field(default_factory=dict)
    authorized: Request | None = None  # the athena request write_policy.authorize passed
    settled: Json | None = None  # set by a resolver: the answer is known, nothing is sent
    conditional: bool = False  # If-None-Exist: an existing match is the answer (200)
    # a replace-mode update: the athena fields of the current record (what changes is sent)
    baseline: dict[str, Any] | None = None
    # resources a completer created besides its answer (e.g. an eligibility response): the
    # write listeners hear of them with the answer (facade/events)
    produced: list[Json] = field(default_factory=list)


@dataclass(frozen=True)
class WriteOutcome:
    status: int
    body: Json
    headers: dict[str, str]


def writable_table(services: Services, resource_type: str) -> Table:
    table = services.mappings.table(resource_type)
    if table is None:
        raise NotFound(f"Resource type {resource_type} is not supported by this server")
    if table.writes is None:
        raise InvalidRequest(f"{resource_type} does not support writes")
    return table


def updatable_table(services: Services, resource_type: str) -> Table:
    """A table with update steps; one whose records athena never changes (a claim) is 405."""
    table = writable_table(services, resource_type)
    if table.writes is not None and not table.writes.update:
        hint = f" {table.delete_instead}" if table.delete_instead else ""
        raise MethodNotAllowed(
            f"{resource_type} cannot be updated: athena changes no {resource_type} once"
            f" created.{hint}",
            headers={"Allow": "GET, HEAD"},
        )
    return table


def expression(table: Table, source: str, athena_field: str) -> str:
    """The FHIR element an athena field is written from, for OperationOutcome.expression."""
    for f in table.sources[source].fields:
        names = [f.athena] if isinstance(f.athena, str) else f.athena
        if athena_field in names and f.direction != "read":
            return element_of(table, f)
    return table.resource


def check_body(table: Table, body: Any, rid: str | None = None) -> Json:
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a FHIR resource (a JSON object)")
    if body.get("resourceType") != table.resource:
        raise InvalidRequest(
            f"The body must be a {table.resource} resource", expression=("resourceType",)
        )
    if rid is not None and body.get("id") != rid:
        raise InvalidRequest(
            "The resource id must equal the id in the URL", expression=(f"{table.resource}.id",)
        )
    return body


def body_practice(auth: AuthContext, resource: Json, fallback: str) -> str:
    """The practice the references of a body name (``a-{practice}.``); one, and reachable.

    Two practices are 400 at the first reference naming the second one.
    """
    found: dict[str, str] = {}  # practice -> the first element naming it

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and "/a-" in ref and "." in ref:
                practice = ref.split("/a-", 1)[1].split(".", 1)[0]
                if practice.isdigit() and practice != "1":
                    found.setdefault(practice, f"{where}.reference")
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    rtype = str(resource.get("resourceType") or "Resource")
    walk(resource, rtype)
    for practice, where in _practices_named(resource, rtype).items():
        found.setdefault(practice, where)
    if len(found) > 1:
        raise InvalidRequest(
            "The references of one write must all be in one practice",
            expression=(list(found.values())[1],),
        )
    practice = next(iter(found), fallback)
    if practice not in auth.practices:
        raise Forbidden(f"The access token does not grant practice {practice}")
    return practice


def _practices_named(resource: Json, rtype: str) -> dict[str, str]:
    """Practices named by practice Organization references (``a-1.Practice-{id}``, e.g. the
    ``ah-practice`` extension a Patient carries), each with the element naming it."""
    found: dict[str, str] = {}
    for index, extension in enumerate(resource.get("extension") or []):
        ref = (extension.get("valueReference") or {}) if isinstance(extension, dict) else {}
        text = str(ref.get("reference", "")) if isinstance(ref, dict) else ""
        head, sep, practice = text.rpartition(".Practice-")
        if sep and head.endswith("a-1") and practice.isdigit():
            found.setdefault(practice, f"{rtype}.extension[{index}].valueReference.reference")
    return found


def check_compartment(ctx: WriteContext, resource: Json) -> None:
    """The resource as it will be written: a patient-limited token writes only its own
    patient's resources, and every patient and record id the body names is checked
    (:func:`facade.engine.write_policy.check_body`, first: its errors name the element).

    A resource whose compartment is keyed by its own id (Patient) cannot be created by a
    patient-limited token: a new record is nobody's compartment yet.
    """
    patient = policy.compartment_patient(ctx.auth, ctx.table.resource, write_policy.permission(ctx))
    compartment = ctx.table.compartment
    if patient is not None and ctx.current is None and compartment and compartment.path == "id":
        raise Forbidden(f"A patient-limited token cannot create a {ctx.table.resource}")
    write_policy.check_body(ctx, resource)
    if patient is not None and (
        ctx.table.compartment is None or not policy.in_compartment(ctx.table, resource, patient)
    ):
        raise Forbidden(f"This {ctx.table.resource} is outside the patient compartment")


def build_fields(ctx: WriteContext) -> None:
    """athena fields from the body; an update starts from the current record, and its
    target record and patient never come from the body.

    A ``replace`` step: the body is the new record, so a form field it leaves out is
    cleared ("") unless the step ``keep``s it; :func:`form_of` then sends only changes.
    """
    codes, step = ctx.services.mappings.codes, ctx.step
    replace = step.mode == "replace" and ctx.current is not None
    fields = to_athena(
        ctx.resource, ctx.table, step.source, ctx.practice, codes, strict=True, current=ctx.current
    )
    if ctx.current is not None:
        kept = write_policy.protected(ctx)
        current = to_athena(ctx.current, ctx.table, step.source, ctx.practice, codes)
        ctx.fields.update(current)
        fields = {k: v for k, v in fields.items() if k not in kept}
        if replace:
            ctx.baseline = dict(current)
            for name in step.form:
                if name not in kept and name not in step.keep:
                    ctx.fields[name] = ""
    ctx.fields.update(fields)
    for name, record in step.records.items():
        if record.role == "target":
            ctx.fields[name] = ctx.target


async def resolve(ctx: WriteContext) -> None:
    """Complete the athena fields, then authorize the request they make (the last step
    before :func:`send`, in every write flow)."""
    if ctx.step.resolve:
        await registry.RESOLVERS[ctx.step.resolve](ctx)
    if ctx.settled is not None:
        return  # the resolver settled it: nothing will be sent
    missing = [name for name in ctx.step.required if ctx.fields.get(name) in (None, "")]
    if missing:
        raise Unprocessable(
            f"Missing required element(s) for {ctx.table.resource} {ctx.step.name}",
            expression=tuple(expression(ctx.table, ctx.step.source, m) for m in missing),
        )
    await write_policy.authorize(ctx)
    ctx.authorized = request_of(ctx)


def upstream_path(step: WriteStep, fields: dict[str, Any]) -> str:
    path = step.path
    for name, value in fields.items():
        path = path.replace("{" + name + "}", str(value))
    if "{" in path:
        raise Unprocessable(f"Missing element for {step.name}: {path}")
    return path


def form_value(value: Any) -> str:
    """One athena form value. athena quirk: a list (a patient's ``race``) is one
    tab-separated value.

    >>> form_value(["2106-3", "2054-5"]), form_value(None), form_value("M")
    ('2106-3\\t2054-5', '', 'M')
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\t".join(str(v) for v in value)
    return str(value)


def form_of(
    step: WriteStep, fields: dict[str, Any], baseline: dict[str, Any] | None = None
) -> dict[str, str]:
    """The form body: every form field with a value; for a ``replace`` update (with
    the current record's fields as ``baseline``) only the fields that change, a cleared
    one sent empty."""
    if baseline is None:
        return {n: form_value(fields[n]) for n in step.form if fields.get(n) not in (None, "")}
    return {
        n: form_value(fields.get(n))
        for n in step.form
        if form_value(fields.get(n)) != form_value(baseline.get(n))
    }


def changed_fields(ctx: WriteContext) -> dict[str, str]:
    """What a ``replace`` update would change (empty: nothing to send)."""
    return form_of(ctx.step, ctx.fields, ctx.baseline)


def request_of(ctx: WriteContext) -> Request:
    """The athena request the step's fields make (what is authorized, and sent)."""
    form = form_of(ctx.step, ctx.fields, ctx.baseline)
    path = upstream_path(ctx.step, ctx.fields)
    return ctx.step.method, ctx.practice, path, tuple(form.items())


def refused_elements(ctx: WriteContext, body: Any, message: str) -> tuple[str, ...]:
    """The FHIR elements athena's refusal is about: its ``invalidfields`` and
    ``missingfields``, or the step's ``errors`` whose text the message contains."""
    named: list[str] = []
    if isinstance(body, dict):
        for key in ("invalidfields", "missingfields"):
            items = body.get(key)
            named += [str(f) for f in items] if isinstance(items, list) else []
    lowered = message.lower()
    named += [f for text, f in ctx.step.errors.items() if text.lower() in lowered]
    found = [expression(ctx.table, ctx.step.source, f) for f in dict.fromkeys(named)]
    return tuple(dict.fromkeys(e for e in found if e != ctx.table.resource))


def raise_for_write(ctx: WriteContext, response: UpstreamResponse) -> None:
    """athena's answer to a write as a typed error (404 unknown, 409 taken, 400/422 refused),
    pointing at the elements athena's refusal names."""
    status = response.status
    if status < 400:
        return
    message = (
        str(response.body.get("error"))
        if isinstance(response.body, dict) and response.body.get("soft")
        else athena_error_message(response.body)
    )
    where = refused_elements(ctx, response.body, message)
    if status == 404:
        raise NotFound(f"athena does not know the record: {message}", expression=where)
    if status == 409:
        raise Conflict(f"athena refused the {ctx.step.name}: {message}", expression=where)
    raise Unprocessable(f"athena refused the {ctx.step.name}: {message}", expression=where)


async def send(ctx: WriteContext) -> Json | None:
    """The one upstream call of a step; athena's record when it answers one.

    Only the request :func:`resolve` authorized goes out; afterwards, whatever the
    outcome, the cache forgets every record it names. A settled write sends nothing.
    athena's record carries the fields the step's path named (athena leaves them out:
    a created insurance does not say whose it is).
    """
    if ctx.settled is not None:
        return ctx.settled
    request = request_of(ctx)
    if ctx.authorized != request:
        raise FacadeError(f"The {ctx.step.name} is not the request that was authorized")
    method, practice, path, form = request
    try:
        response = await ctx.services.athena.rest(method, practice, path, form=dict(form))
    finally:
        write_policy.forget(ctx)
    body = response.body
    if ctx.step.soft and response.status == 422 and isinstance(body, dict) and body.get("soft"):
        return {"soft": True, "errormessage": str(body.get("error") or "")}
    raise_for_write(ctx, response)
    record = body[0] if isinstance(body, list) and len(body) == 1 else body
    if isinstance(record, dict):
        named = {n: str(ctx.fields[n]) for n in ctx.step.placeholders() if n in ctx.fields}
        record = {**named, **record}
    if ctx.step.result == "answer":  # the completer reads athena's answer (e.g. claimids)
        return record if isinstance(record, dict) else None
    if ctx.step.result in ("record", "id"):
        if not isinstance(record, dict) or not record.get(
            ctx.table.sources[ctx.step.source].record_id or "id"
        ):
            raise UpstreamError(f"athena answered the {ctx.step.name} with an unexpected shape")
        return record
    return None


async def finish(ctx: WriteContext, record: Json | None, status: int) -> WriteOutcome:
    """The write's outcome from athena's record: the step's completer, or ``to_fhir``
    (re-read from athena when the step says athena answers no record)."""
    if ctx.step.complete:
        outcome = await registry.COMPLETERS[ctx.step.complete](ctx, record or {})
        if outcome.status in (200, 201):
            tell(
                ctx, [outcome.body, *ctx.produced], "create" if outcome.status == 201 else "update"
            )
        return outcome
    if record is None:
        if ctx.target is None:
            raise UpstreamError(f"athena answered the {ctx.step.name} without the record")
        rid = format_id(ctx.practice, ctx.table.id.prefix, ctx.target)
        return answer(ctx, await reread(ctx, rid), status)
    return answer(ctx, await to_resource(ctx, record), status)


async def to_resource(ctx: WriteContext, record: Json) -> Json:
    """athena's record of the write as the resource; athena answered an id only
    (``result: id``): the resource read back through the table's read."""
    if ctx.step.result == "id":
        return await reread(ctx, new_id(ctx, record))
    (record,) = await add_context(ctx.services, ctx.table, ctx.step.source, ctx.practice, [record])
    return to_fhir(record, ctx.table, ctx.step.source, ctx.practice, ctx.services.mappings.codes)


def existing(ctx: WriteContext, record: Json) -> bool:
    """Whether athena answered a create with a record that was there before (its
    duplicate check found a match: the resolver listed them in ``facts["existing"]``)."""
    key = ctx.table.sources[ctx.step.source].record_id or "id"
    return str(record.get(key)) in set(ctx.facts.get("existing") or ())


async def matched(ctx: WriteContext, record: Json) -> WriteOutcome:
    """athena's duplicate check answered an existing record: with ``If-None-Exist`` that
    match is the answer (200, http.html#ccreate); otherwise the create is a 409 naming it."""
    resource = await to_resource(ctx, record)
    if ctx.conditional:
        return answer(ctx, resource, 200, changed=False)
    reference = f"{ctx.table.resource}/{resource['id']}"
    raise Conflict(
        f"athena found a matching {ctx.table.resource} and created none: {reference}"
        " (send If-None-Exist to get the match instead)"
    )


def answer(ctx: WriteContext, resource: Json, status: int, *, changed: bool = True) -> WriteOutcome:
    """201/200 with Location and ETag; the entity cache forgets the old copy, and the
    write listeners (the event engine) learn of every record the write touched
    (``changed=False``: athena wrote nothing, e.g. a conditional create's existing match)."""
    rid = str(resource["id"])
    ctx.services.cache.invalidate(ctx.table.resource, ctx.practice, rid)
    write_policy.forget(ctx)
    touched = {(ctx.table.resource, rid): "create" if status == 201 else "update"}
    for rtype, other in write_policy.touched(ctx):
        touched.setdefault((rtype, other), "update")
    for listener in ctx.services.write_listeners if changed else ():
        for (rtype, other), action in touched.items():
            produced = resource if (rtype, other) == (ctx.table.resource, rid) else None
            listener(rtype, ctx.practice, other, action, produced)
    base = ctx.services.settings.fhir_base
    headers = {"ETag": render(resource).etag}
    if status == 201:
        headers["Location"] = f"{base}/{ctx.table.resource}/{rid}"
    return WriteOutcome(status, resource, headers)


def tell(ctx: WriteContext, resources: list[Json], action: str) -> None:
    """The write listeners hear of resources a completer made (``answer`` tells its own)."""
    for listener in ctx.services.write_listeners:
        for resource in resources:
            if isinstance(resource, dict) and resource.get("resourceType") and resource.get("id"):
                rtype, rid = str(resource["resourceType"]), str(resource["id"])
                listener(rtype, ctx.practice, rid, action, resource)


async def reread(ctx: WriteContext, rid: str) -> Json:
    ctx.services.cache.invalidate(ctx.table.resource, ctx.practice, rid)
    entry = await reads.read(ctx.services, ctx.auth, ctx.table.resource, rid)
    return entry.resource


async def update(
    services: Services, auth: AuthContext, resource_type: str, rid: str, body: Any
) -> WriteOutcome:
    """update (http.html#update): a declared state change (e.g. status=cancelled)."""
    table = updatable_table(services, resource_type)
    auth.require(resource_type, "u")
    resource = check_body(table, body, rid)
    table, fid = reads.authorize_read(services, auth, resource_type, rid)
    services.cache.invalidate(resource_type, fid.practice, rid)
    current = (await reads.read(services, auth, resource_type, rid)).resource
    assert table.writes is not None
    step = next(
        (
            s
            for s in table.writes.update
            if all(str(resource.get(k)) == v for k, v in s.when.items())
        ),
        None,
    )
    if step is None:
        unchanged = _same(resource, current)
        if unchanged:
            return WriteOutcome(200, current, {"ETag": render(current).etag})
        changes = sorted({k for s in table.writes.update for k in s.when})
        raise Unprocessable(
            f"Only these {resource_type} changes are supported: "
            + "; ".join(f"{k}={v}" for s in table.writes.update for k, v in s.when.items()),
            expression=tuple(f"{resource_type}.{c}" for c in changes),
        )
    ctx = WriteContext(
        services, auth, table, step, fid.practice, resource, {}, current=current, target=fid.local
    )
    # the URL decides the record; the body may only repeat it (and the current patient)
    check_compartment(ctx, {**current, **resource})
    if step.changes:
        changed = changed_elements(current, resource)
        fixed = sorted(changed - set(step.changes))
        if fixed:
            raise Unprocessable(
                f"athena cannot change {', '.join(fixed)} of a {resource_type} this way"
                f" ({step.name} changes {', '.join(step.changes)})",
                expression=tuple(f"{resource_type}.{e}" for e in fixed),
            )
        if not changed and step.skip_if_current:
            return WriteOutcome(200, current, {"ETag": render(current).etag})  # nothing to do
    elif (
        step.skip_if_current
        and step.when
        and all(current.get(k) == v for k, v in step.when.items())
    ):
        return WriteOutcome(200, current, {"ETag": render(current).etag})  # nothing to do
    build_fields(ctx)
    if ctx.baseline is not None and step.skip_if_current and not changed_fields(ctx):
        return WriteOutcome(200, current, {"ETag": render(current).etag})  # nothing to do
    await resolve(ctx)
    return await finish(ctx, await send(ctx), 200)


UNCOMPARED = frozenset({"resourceType", "id", "meta", "text"})


def changed_elements(current: Json, body: Json) -> set[str]:
    """The top-level elements the body gives with another value than the current record
    (elements left out are kept, not removed: athena cannot clear most fields).

    >>> sorted(changed_elements({"a": 1, "b": [2]}, {"a": 1, "b": [3], "meta": {}}))
    ['b']
    """
    return {k for k, v in body.items() if k not in UNCOMPARED and current.get(k) != v}


async def patch(
    services: Services,
    auth: AuthContext,
    resource_type: str,
    rid: str,
    document: Any,
    *,
    merge: bool = False,
) -> WriteOutcome:
    """patch (http.html#patch) with JSON Patch, or JSON Merge Patch when ``merge``,
    through :func:`update`."""
    table = updatable_table(services, resource_type)
    auth.require(resource_type, "u")
    _, fid = reads.authorize_read(services, auth, resource_type, rid)
    services.cache.invalidate(resource_type, fid.practice, rid)
    current = (await reads.read(services, auth, resource_type, rid)).resource
    apply = apply_merge_patch if merge else apply_patch
    return await update(services, auth, resource_type, rid, apply(table, current, document))


def new_id(ctx: WriteContext, record: Json) -> str:
    key = ctx.table.sources[ctx.step.source].record_id or "id"
    return format_id(ctx.practice, ctx.table.id.prefix, str(record[key]))


def _same(resource: Json, current: Json) -> bool:
    return {k: v for k, v in resource.items() if k != "meta"} == {
        k: v for k, v in current.items() if k != "meta"
    }


def delete(services: Services, auth: AuthContext, resource_type: str) -> None:
    """delete (http.html#delete) is not offered: athena deletes none of these records
    (a patient is deactivated, an appointment cancelled). 405 with what to do instead."""
    table = services.mappings.table(resource_type)
    if table is None:
        raise NotFound(f"Resource type {resource_type} is not supported by this server")
    allowed = ["GET", "HEAD"]
    if table.writes and table.writes.update:
        allowed.append("PUT")
    if table.writes and table.writes.patch_paths:
        allowed.append("PATCH")
    hint = f" {table.delete_instead}" if table.delete_instead else ""
    raise MethodNotAllowed(
        f"DELETE is not supported: athena does not delete {resource_type} records.{hint}",
        headers={"Allow": ", ".join(allowed)},
    )


__all__ = ["FacadeError", "WriteContext", "WriteOutcome", "apply_merge_patch", "apply_patch"]
