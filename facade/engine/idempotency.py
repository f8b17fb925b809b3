"""Create and write operations that are safe to retry (``Idempotency-Key``, ``If-None-Exist``).

A keyed write claims its key in the durable ledger (:mod:`facade.store.ledger`)
before athena is called, records the intent (practice and the athena fields
that identify the outcome, e.g. slot and patient) and then the answer. So:

- the same key and body again -> the first answer, replayed; athena is not called;
- the same key with another body -> 422;
- the same key while the first request is still running here -> 409;
- an upstream timeout (or lost connection) -> the write is *read back* a few
  times (``write_readback_attempts`` x ``write_readback_interval``) before deciding;
  unresolved, the record stays ``pending`` and the client gets 504;
- a pending record found later (a retry, or after a restart) is resolved by
  read-back first; only a write that provably did not happen is attempted again,
  and a 409 on that new attempt is read back too (the first attempt may have won).

athena's booking is atomic per slot, so two different requests for one slot
get one 201 and one 409 whatever the timing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qsl

from facade.auth.context import AuthContext
from facade.engine import reads, registry, searches
from facade.engine.services import Services
from facade.engine.writes import (
    WriteContext,
    WriteOutcome,
    answer,
    body_practice,
    build_fields,
    check_body,
    check_compartment,
    resolve,
    send,
    to_resource,
    writable_table,
)
from facade.errors import (
    Conflict,
    FacadeError,
    InvalidRequest,
    Unprocessable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from facade.fhir.outcome import outcome_for
from facade.mapping.table import WriteStep
from facade.search import parse_query

Json = dict[str, Any]
AMBIGUOUS = (UpstreamTimeout, UpstreamUnavailable, UpstreamError)
_IN_FLIGHT: set[str] = set()


def fingerprint(step: str, resource: Json, extra: dict[str, Any]) -> str:
    canonical = json.dumps([step, resource, extra], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def _read_back(ctx: WriteContext, intent: dict[str, Any], attempts: int) -> Json | None:
    name = ctx.step.readback
    if not name or not intent:
        return None
    settings = ctx.services.settings
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(settings.write_readback_interval)
        try:
            found = await registry.READBACKS[name](ctx.services, ctx.practice, intent)
        except AMBIGUOUS:
            continue
        if found is not None:
            return found
    return None


async def existing_match(
    services: Services, auth: AuthContext, resource_type: str, condition: str
) -> WriteOutcome | None:
    """Conditional create (http.html#ccreate): the one match of ``If-None-Exist`` (200), or None.

    Several matches are an error; none means the write goes ahead (keyed by the condition).
    """
    req = parse_query(resource_type, parse_qsl(condition, keep_blank_values=True))
    found = await searches.search(services, auth, resource_type, req, strict=True)
    matches = [e["resource"] for e in found.get("entry", [])]
    if len(matches) > 1:
        raise InvalidRequest(f"If-None-Exist matches {len(matches)} resources")
    if not matches:
        return None
    existing = await reads.read(services, auth, resource_type, matches[0]["id"])
    return WriteOutcome(200, existing.resource, {"ETag": existing.etag})


def condition_key(resource_type: str, operation: str, condition: str) -> str:
    """The idempotency key a conditional write without its own key is recorded under."""
    return f"if-none-exist:{resource_type}{operation}?{condition}"


async def create(
    services: Services,
    auth: AuthContext,
    resource_type: str,
    body: Any,
    *,
    key: str | None,
    condition: str | None = None,
    step: WriteStep | None = None,
    extra: dict[str, Any] | None = None,
) -> WriteOutcome:
    """create (http.html#create) or a writing operation, through the table's write step.

    ``condition`` (``If-None-Exist``) makes it conditional: a match is the answer and
    nothing is written (callers that already checked pass None and their own key).
    """
    table = writable_table(services, resource_type)
    auth.require(resource_type, "c")
    if condition:
        match = await existing_match(services, auth, resource_type, condition)
        if match is not None:
            return match
        key = key or condition_key(resource_type, "", condition)
    resource = check_body(table, body)
    assert table.writes is not None
    step = step or table.writes.create
    if step is None:
        raise InvalidRequest(f"{resource_type} does not support create")
    practice = body_practice(auth, resource, services.settings.default_practice)
    ctx = WriteContext(services, auth, table, step, practice, resource, dict(extra or {}))
    check_compartment(ctx, resource)
    build_fields(ctx)
    if key is None:
        return await _attempt(ctx, None, retried=False)
    scoped = f"{auth.client_id}\n{key}"
    ledger = services.ledger
    existing = ledger.begin(scoped, fingerprint(step.name, resource, extra or {}), {}, _now())
    retried = False
    if existing is not None:
        if existing.fingerprint != fingerprint(step.name, resource, extra or {}):
            raise Unprocessable(
                "This Idempotency-Key was already used with a different request",
                expression=("Idempotency-Key",),
            )
        if existing.state == "done":
            return WriteOutcome(
                existing.status or 200, json.loads(existing.body or b"{}"), existing.headers
            )
        if scoped in _IN_FLIGHT:
            raise Conflict("A request with this Idempotency-Key is still in progress")
        record = await _read_back(ctx, existing.intent, 1)
        if record is not None:
            outcome = answer(ctx, await to_resource(ctx, record), 201)
            _finish(ctx, scoped, outcome)
            return outcome
        retried = existing.attempts > 0
    _IN_FLIGHT.add(scoped)
    try:
        outcome = await _attempt(ctx, scoped, retried=retried)
    except FacadeError as exc:
        if exc.status < 500:  # a definite answer: replay it to retries
            _finish(ctx, scoped, WriteOutcome(exc.status, outcome_for(exc), dict(exc.headers)))
        raise
    finally:
        _IN_FLIGHT.discard(scoped)
    _finish(ctx, scoped, outcome)
    return outcome


def _now() -> int:
    return int(time.time())


def _finish(ctx: WriteContext, scoped: str, outcome: WriteOutcome) -> None:
    body = json.dumps(outcome.body, separators=(",", ":")).encode("utf-8")
    ctx.services.ledger.finish(scoped, outcome.status, outcome.headers, body, _now())


async def _attempt(ctx: WriteContext, scoped: str | None, *, retried: bool) -> WriteOutcome:
    ledger = ctx.services.ledger
    try:
        await resolve(ctx)
    except Conflict:
        if not retried:
            raise
        record = await _read_back(ctx, _intent(ctx), 1)  # taken: maybe by our first attempt
        if record is None:
            raise
        return answer(ctx, await to_resource(ctx, record), 201)
    intent = _intent(ctx)
    if scoped is not None:
        ledger.update_intent(scoped, intent, _now())
        ledger.attempted(scoped, _now())
    try:
        record = await send(ctx)
    except AMBIGUOUS:
        found = await _read_back(ctx, intent, ctx.services.settings.write_readback_attempts)
        if found is None:
            raise
        record = found
    except Conflict:
        found = await _read_back(ctx, intent, 1) if retried else None
        if found is None:
            raise
        record = found
    if record is None:
        raise UpstreamError(f"athena answered the {ctx.step.name} without the record")
    return answer(ctx, await to_resource(ctx, record), 201)


def _intent(ctx: WriteContext) -> dict[str, Any]:
    """What identifies the outcome: the step's required athena fields (no names, no dates)."""
    return {
        "practice": ctx.practice,
        **{n: str(ctx.fields[n]) for n in ctx.step.required if ctx.fields.get(n) is not None},
    }
