"""Create and write operations that are safe to retry (``Idempotency-Key``, ``If-None-Exist``).

A keyed write claims its key in the durable ledger (:mod:`facade.store.ledger`)
before athena is called: one atomic step in the store every worker process
shares, with an owner token (this request) and a lease. Holding the claim, it
records the intent (practice and the athena fields that identify the outcome,
e.g. slot and patient) and counts the attempt just before the upstream call,
then ends the claim. So:

- the same key and body again -> the first answer, replayed; athena is not called;
- the same key with another body -> 422;
- the same key while another request holds it (in any worker process) -> this
  request waits for that one's outcome, polling the store
  (``idempotency_wait_interval``) within its deadline, and answers the same; still
  held when the deadline nears -> 409 with ``Retry-After``;
- only *definitive* answers end the claim as ``done`` (2xx; 400, 404, 409, 422);
  a 429 (athena's or the facade's own budget), 502, 503 (an open circuit too), 504,
  401 and 403 *release* it: the record stays ``pending`` with its intent and
  attempts, and the next request with the key tries again;
- an upstream timeout (or lost connection, or 5xx) on the write -> the write is
  *read back* a few times (``write_readback_attempts`` x ``write_readback_interval``)
  before deciding; unresolved, the client gets the failure and the record stays
  ``pending``;
- a pending record found later (a retry, a waiter taking over a released claim, a
  restart, or a claim whose holder crashed and whose lease ran out) is resolved by
  read-back first; only a write that provably did not happen is attempted again,
  and a 409 on that new attempt is read back too (the first attempt may have won).
  A read-back athena does not answer leaves the outcome unknown: retryable, never
  stored;
- a holder whose lease ran out (another request took the key over) can neither
  count an attempt (it does not call athena) nor finish: its answer is the
  ledger's, once there is one.

athena's booking is atomic per slot, so two different requests for one slot
get one 201 and one 409 whatever the timing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from facade.auth.context import AuthContext
from facade.engine import reads, registry, searches
from facade.engine.services import Services
from facade.engine.writes import (
    WriteContext,
    WriteOutcome,
    body_practice,
    build_fields,
    check_body,
    check_compartment,
    existing,
    finish,
    matched,
    resolve,
    send,
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
from facade.store.ledger import LedgerRecord, is_final
from facade.upstream.deadline import remaining

Json = dict[str, Any]
AMBIGUOUS = (UpstreamTimeout, UpstreamUnavailable, UpstreamError)


def fingerprint(step: str, resource: Json, extra: dict[str, Any]) -> str:
    canonical = json.dumps([step, resource, extra], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def _read_back(ctx: WriteContext, intent: dict[str, Any], attempts: int) -> Json | None:
    """athena's record of the write described by ``intent``, or None: athena says it is not there.

    When no attempt gets an answer from athena, the outcome is unknown: the last failure
    is raised as a retryable error (never a definitive one, which would be stored).
    """
    name = ctx.step.readback
    if not name or not intent:
        return None
    settings = ctx.services.settings
    failure: FacadeError | None = None
    answered = False
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(settings.write_readback_interval)
        try:
            found = await registry.READBACKS[name](ctx, intent)
        except FacadeError as exc:
            failure = exc
            continue
        if found is not None:
            return found
        answered = True
    if answered or failure is None:
        return None
    if is_final(failure.status):
        raise UpstreamError(f"athena could not be read back ({failure.diagnostics})") from failure
    raise failure


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
    ctx.conditional = bool(condition)
    check_compartment(ctx, resource)
    build_fields(ctx)
    if key is None:
        return await _attempt(ctx, None, retried=False)
    claim = Claim(f"{auth.client_id}\n{key}", secrets.token_hex(16))
    held = await _claim(ctx, claim, fingerprint(step.name, resource, extra or {}))
    if isinstance(held, WriteOutcome):
        return held
    try:
        outcome = await _write_held(ctx, claim, held)
    except FacadeError as exc:
        if not is_final(exc.status):  # throttled, unavailable, timed out, not allowed
            await _release(ctx, claim)
            raise
        failed = WriteOutcome(exc.status, outcome_for(exc), dict(exc.headers))
        winner = await _settle(ctx, claim, failed)
        if winner is not None:
            return winner
        raise
    except BaseException:
        await _release(ctx, claim)
        raise
    return await _settle(ctx, claim, outcome) or outcome


@dataclass(frozen=True)
class Claim:
    """A key in the ledger and the owner token of this request's claim on it."""

    key: str
    owner: str


def _now() -> float:
    return time.time()


def _replay(record: LedgerRecord) -> WriteOutcome:
    return WriteOutcome(record.status or 200, json.loads(record.body or b"{}"), record.headers)


async def _claim(ctx: WriteContext, claim: Claim, fp: str) -> LedgerRecord | WriteOutcome:
    """Hold the key (the record as claimed), or the first request's answer (a replay).

    While another request holds the key, in this worker process or another, wait for
    its outcome, polling the store, within this request's deadline; then 409.
    """
    ledger, settings = ctx.services.ledger, ctx.services.settings
    lease = settings.idempotency_lease_seconds
    record: LedgerRecord | None = await ledger.claim(claim.key, fp, claim.owner, _now(), lease)
    while True:
        if record is not None and record.fingerprint != fp:
            raise Unprocessable(
                "This Idempotency-Key was already used with a different request",
                expression=("Idempotency-Key",),
            )
        if record is not None and record.state == "done":
            return _replay(record)
        if record is not None and record.held_by(claim.owner):
            return record
        now = _now()
        if record is None or record.claimable(now):
            record = await ledger.claim(claim.key, fp, claim.owner, now, lease)
            continue
        pause = settings.idempotency_wait_interval
        if remaining(settings.request_deadline_seconds) <= pause:
            wait = math.ceil((record.lease_until or now) - now)
            raise Conflict(
                "A request with this Idempotency-Key is still in progress",
                headers={"Retry-After": str(max(1, wait))},
            )
        await asyncio.sleep(pause)
        record = await ledger.get(claim.key)


async def _write_held(ctx: WriteContext, claim: Claim, record: LedgerRecord) -> WriteOutcome:
    """The write under a held claim; a pending record is read back before anything is sent."""
    found = await _read_back(ctx, record.intent, 1)
    if found is not None:
        return await finish(ctx, found, 201)
    return await _attempt(ctx, claim, retried=record.attempts > 0)


async def _settle(ctx: WriteContext, claim: Claim, outcome: WriteOutcome) -> WriteOutcome | None:
    """Finish the claim with a definitive answer: None once stored.

    A stale owner (its lease ran out and another request took the key over) stores
    nothing; if the key is done by now, that answer is everybody's (returned here).
    """
    ledger = ctx.services.ledger
    body = json.dumps(outcome.body, separators=(",", ":")).encode("utf-8")
    if await ledger.finish(claim.key, claim.owner, outcome.status, outcome.headers, body, _now()):
        return None
    record = await ledger.get(claim.key)
    return _replay(record) if record is not None and record.state == "done" else None


async def _release(ctx: WriteContext, claim: Claim) -> None:
    """No definitive answer: the record stays pending (intent, attempts) for the next try."""
    await ctx.services.ledger.release(claim.key, claim.owner, _now())


async def _attempt(ctx: WriteContext, claim: Claim | None, *, retried: bool) -> WriteOutcome:
    settings = ctx.services.settings
    try:
        await resolve(ctx)
    except Conflict:
        if not retried:
            raise
        record = await _read_back(ctx, _intent(ctx), 1)  # taken: maybe by our first attempt
        if record is None:
            raise
        return await finish(ctx, record, 201)
    intent = _intent(ctx)
    if claim is not None and not await ctx.services.ledger.attempted(
        claim.key, claim.owner, intent, _now(), settings.idempotency_lease_seconds
    ):
        # Our lease ran out and another request holds the key now: it decides.
        raise Conflict("A request with this Idempotency-Key is still in progress")
    try:
        record = await send(ctx)
    except AMBIGUOUS as failure:
        try:
            found = await _read_back(ctx, intent, settings.write_readback_attempts)
        except FacadeError:
            found = None  # still unknown: the first failure says what happened
        if found is None:
            raise failure
        record = found
    except Conflict:
        found = await _read_back(ctx, intent, 1) if retried else None
        if found is None:
            raise
        record = found
    if record is None and not ctx.step.complete:
        raise UpstreamError(f"athena answered the {ctx.step.name} without the record")
    if record is not None and existing(ctx, record):
        return await matched(ctx, record)  # athena's duplicate check answered one it had
    return await finish(ctx, record, 201)


def _intent(ctx: WriteContext) -> dict[str, Any]:
    """What identifies the outcome: the step's ``intent`` athena fields (default its
    required ones) and the ids its resolver noted (``facts["intent"]``); no names, no dates."""
    names = ctx.step.required if ctx.step.intent is None else ctx.step.intent
    return {
        "practice": ctx.practice,
        **{n: str(ctx.fields[n]) for n in names if ctx.fields.get(n) is not None},
        **{k: str(v) for k, v in (ctx.facts.get("intent") or {}).items()},
    }
