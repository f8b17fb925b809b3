"""Fault injection: athena misbehaving on purpose, deterministically under a seed.

The injector is ASGI middleware in front of the whole emulator, where the
network and athena's gateway would be. A :class:`FaultPlan` holds added
latency and a list of :class:`FaultRule` s; it is set at start
(``EmulatorConfig.faults``, env ``EMULATOR_FAULTS`` as JSON, or
``athena-facade emulator --faults-file``) and at run time through the admin
endpoints below, which exist on the emulator only, never on the facade.

Rule kinds:

- ``status``          answer ``status`` (429 with ``Retry-After``, 5xx) without reaching athena;
- ``reset``           start a response and drop the connection mid-body;
- ``timeout``         hold the request for ``delay_seconds`` before answering normally; a
                      client that gave up by then leaves nothing behind (athena never
                      got the request);
- ``slow_body``       answer normally but trickle the body over ``delay_seconds``;
- ``malformed_json``  answer 200 with truncated JSON;
- ``soft_failure``    athena's HTTP-200 failure: ``{"success": false, "errormessage": ...}``
                      (API-NOTES §4.2);
- ``expire_tokens``   expire every access token (early expiry / revocation), then
                      let the request through, so it meets a 401;
- ``drift``           athena changed its API: in every JSON object of the answer, the
                      field ``field`` is dropped (``drift: "drop"``), renamed to
                      ``rename_to`` (``"rename"``) or given another JSON type
                      (``"retype"``: a string becomes a number when it is digits, else a
                      list; anything else becomes a string), so ``athena-facade drift``
                      and the run-time contract check (facade/drift) can be tested.

``reset`` and ``timeout`` take ``"commit": true``: athena did the work but its answer
was lost. The request reaches athena at once, so a write (booking, cancel,
reschedule, check-in, patient create or update, anything) takes effect, and only
its answer is withheld: ``reset`` drops the connection exactly as without commit,
``timeout`` holds the answer for ``delay_seconds`` (a client that gave up never
sees it). Without ``commit`` neither reaches athena. ``commit`` on any other kind
makes the plan invalid (400 from the admin endpoints, refused at start). With
``"count": 1`` the client's retry meets athena's own answer to a repeat: a 409 for
the slot it just booked, the same id for the patient it just created.

The plan also paces athena's Group ``$export`` (``bulk_export_seconds``: how long a job
runs before its manifest is ready) and can make it fail (``bulk_export_failure``: the
message its status poll then answers with a 500 OperationOutcome); every rule kind
applies to its kick-off, status and file URLs like to any other path.

A rule matches by method and path regex, fires with ``probability``, and is
limited by ``count`` (number of firings) and/or ``duration_seconds`` (a storm
window from when the rule was added). All random draws come from one
``random.Random(seed)``, so a given request sequence sees the same faults.

Admin endpoints (JSON):
``GET|PUT|DELETE /_emulator/faults``, ``POST /_emulator/faults/rules``,
``POST /_emulator/tokens/expire``, ``GET|DELETE /_emulator/calls``.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:
    from emulator.world import World

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ADMIN_PREFIX = "/_emulator"
COMMIT_KINDS = ("reset", "timeout")  # the kinds that lose an answer athena may have acted on


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "status",
        "reset",
        "timeout",
        "slow_body",
        "malformed_json",
        "soft_failure",
        "expire_tokens",
        "drift",
    ]
    status: int = 503
    retry_after: int | None = None
    methods: list[str] = Field(default_factory=list)  # empty: any method
    path: str = ""  # regex searched in the request path; empty: any path
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    count: int | None = Field(default=None, ge=0)  # firings left; None: unlimited
    duration_seconds: float | None = Field(default=None, gt=0)  # storm window
    delay_seconds: float = Field(default=5.0, ge=0)
    message: str = "The data provided is invalid."
    commit: bool = Field(default=False, strict=True)  # reset/timeout: applied, answer lost
    # drift: the field athena changed, and how
    field: str | None = None
    drift: Literal["drop", "rename", "retype"] = "drop"
    rename_to: str | None = None

    @model_validator(mode="after")
    def _commit_only_where_an_answer_is_lost(self) -> FaultRule:
        if self.commit and self.kind not in COMMIT_KINDS:
            kinds = " and ".join(COMMIT_KINDS)
            raise ValueError(f"commit is only valid for {kinds} rules, not {self.kind!r}")
        if self.kind == "drift" and not self.field:
            raise ValueError("a drift rule names the field athena changed")
        if self.kind == "drift" and self.drift == "rename" and not self.rename_to:
            raise ValueError("a rename drift rule names the new field (rename_to)")
        return self


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 7
    latency_ms: float = Field(default=0.0, ge=0)
    latency_jitter_ms: float = Field(default=0.0, ge=0)  # uniform +- jitter
    latency_distribution: Literal["fixed", "uniform", "exponential"] = "uniform"
    rules: list[FaultRule] = Field(default_factory=list)
    # athena's Group $export (emulator/bulk_export.py): how long a job runs before its
    # manifest is ready, and a failure its status poll then reports (500 OperationOutcome)
    bulk_export_seconds: float = Field(default=0.5, ge=0)
    bulk_export_failure: str | None = None


class _ActiveRule:
    def __init__(self, rule: FaultRule, now: float) -> None:
        self.rule = rule
        self.pattern = re.compile(rule.path) if rule.path else None
        self.remaining = rule.count
        self.until = now + rule.duration_seconds if rule.duration_seconds else None
        self.fired = 0


class FaultState:
    """The live plan; thread-safe because tests change it from their own thread."""

    def __init__(self, plan: FaultPlan, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.set_plan(plan)

    def set_plan(self, plan: FaultPlan) -> None:
        with self._lock:
            self.plan = plan
            self._rng = random.Random(plan.seed)
            now = self._clock()
            self._rules = [_ActiveRule(r, now) for r in plan.rules]

    def add_rule(self, rule: FaultRule) -> None:
        with self._lock:
            self.plan = self.plan.model_copy(update={"rules": [*self.plan.rules, rule]})
            self._rules.append(_ActiveRule(rule, self._clock()))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            body = self.plan.model_dump()
            body["fired"] = [r.fired for r in self._rules]
            return body

    def latency(self) -> float:
        plan = self.plan
        if not plan.latency_ms and not plan.latency_jitter_ms:
            return 0.0
        with self._lock:
            if plan.latency_distribution == "exponential":
                value = self._rng.expovariate(1.0 / plan.latency_ms) if plan.latency_ms else 0.0
            elif plan.latency_distribution == "uniform":
                value = plan.latency_ms + self._rng.uniform(
                    -plan.latency_jitter_ms, plan.latency_jitter_ms
                )
            else:
                value = plan.latency_ms
        return max(0.0, value) / 1000.0

    def match(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            now = self._clock()
            for active in self._rules:
                rule = active.rule
                if active.remaining == 0 or (active.until is not None and now >= active.until):
                    continue
                if rule.methods and method not in rule.methods:
                    continue
                if active.pattern is not None and not active.pattern.search(path):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                active.fired += 1
                return rule
        return None


class ConnectionDropped(Exception):
    """Raised mid-response so the server aborts the connection (a reset, as seen by the client)."""


class FaultInjector:
    """ASGI middleware applying the live :class:`FaultState` to every non-admin request."""

    def __init__(self, app: ASGIApp, state: FaultState, world: World) -> None:
        self.app = app
        self.state = state
        self.world = world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        delay = self.state.latency()
        if delay:
            await asyncio.sleep(delay)
        rule = self.state.match(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.kind == "status":
            extra = {"Retry-After": str(rule.retry_after)} if rule.retry_after else {}
            fault = {"error": "Injected fault"} if rule.status != 429 else {"fault": "throttled"}
            await _send_json(send, rule.status, fault, extra)
        elif rule.kind == "reset":
            if rule.commit:
                await _capture(self.app, scope, receive)  # athena acted; the answer is lost
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"patients":[', "more_body": True})
            raise ConnectionDropped("injected connection reset")
        elif rule.kind == "timeout":
            request, present = await _read_request(receive)
            if not present:
                return  # the client left before its request was complete
            if rule.commit:  # athena acts now; its answer is held, and lost if the client left
                status, headers, body = await _capture(self.app, scope, _replay(request, receive))
                if not await _left_within(receive, rule.delay_seconds):
                    await _send_raw(send, status, body, headers)
            elif not await _left_within(receive, rule.delay_seconds):
                await self.app(scope, _replay(request, receive), send)
        elif rule.kind == "expire_tokens":
            self.world.expire_tokens()
            await self.app(scope, receive, send)
        else:
            status, headers, body = await _capture(self.app, scope, receive)
            if rule.kind == "malformed_json":
                await _send_raw(send, 200, body[: max(1, len(body) // 2)], headers)
            elif rule.kind == "soft_failure":
                await _send_json(send, 200, {"success": False, "errormessage": rule.message}, {})
            elif rule.kind == "drift":
                await _send_raw(send, status, _drifted(body, rule), headers)
            else:  # slow_body
                await _send_slowly(send, status, headers, body, rule.delay_seconds)


def _drifted(body: bytes, rule: FaultRule) -> bytes:
    """The answer with ``rule.field`` dropped, renamed or retyped in every JSON object."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    name = str(rule.field)

    def retype(value: Any) -> Any:
        if isinstance(value, str):
            return int(value) if value.isdigit() else [value]
        return str(value)

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key != name:
                out[key] = walk(value)
            elif rule.drift == "rename":
                out[str(rule.rename_to)] = walk(value)
            elif rule.drift == "retype":
                out[key] = retype(value)
        return out

    return orjson.dumps(walk(parsed))


async def _read_request(receive: Receive) -> tuple[list[Message], bool]:
    """The request's body messages, read now; False when the client left first."""
    messages: list[Message] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return messages, False
        messages.append(message)
        if not message.get("more_body", False):
            return messages, True


async def _left_within(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds``; True as soon as the client disconnects (once its body was read).

    Held here, a request whose client gave up never reaches athena, whether or not its
    handler would have read a body and noticed the disconnect.
    """
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            message = await asyncio.wait_for(receive(), left)
        except TimeoutError:
            return False
        if message["type"] == "http.disconnect":
            return True
        await asyncio.sleep(left)  # not a server that reports a disconnect: just wait
    return False


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that first hands the app the body already read."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, list[Any], bytes]:
    status = 500
    headers: list[Any] = []
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = [
                (k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"
            ]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    return status, headers, b"".join(chunks)


async def _send_raw(send: Send, status: int, body: bytes, headers: list[Any]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    raw = orjson.dumps(body)
    pairs = [(b"content-type", b"application/json")]
    pairs += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await _send_raw(send, status, raw, pairs)


async def _send_slowly(
    send: Send, status: int, headers: list[Any], body: bytes, seconds: float
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    pieces = 10
    step = max(1, len(body) // pieces + 1)
    for start in range(0, len(body), step):
        await asyncio.sleep(seconds / pieces)
        more = start + step < len(body)
        await send(
            {"type": "http.response.body", "body": body[start : start + step], "more_body": more}
        )


# -- admin endpoints (emulator only) ------------------------------------------------------


def _state(request: Request) -> FaultState:
    state: FaultState = request.app.state.faults
    return state


async def _json(request: Request) -> Any:
    try:
        return orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        return None


def _ok(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


async def get_faults(request: Request) -> Response:
    return _ok(_state(request).snapshot())


async def put_faults(request: Request) -> Response:
    body = await _json(request)
    try:
        plan = FaultPlan.model_validate(body)
    except ValueError as exc:
        return _ok({"error": str(exc)}, 400)
    _state(request).set_plan(plan)
    return _ok(_state(request).snapshot())


async def delete_faults(request: Request) -> Response:
    seed = _state(request).plan.seed
    _state(request).set_plan(FaultPlan(seed=seed))
    return _ok(_state(request).snapshot())


async def add_rule(request: Request) -> Response:
    try:
        rule = FaultRule.model_validate(await _json(request))
    except ValueError as exc:
        return _ok({"error": str(exc)}, 400)
    _state(request).add_rule(rule)
    return _ok(_state(request).snapshot(), 201)


async def expire_tokens(request: Request) -> Response:
    world: World = request.app.state.emulator
    return _ok({"expired": world.expire_tokens()})


async def get_calls(request: Request) -> Response:
    world: World = request.app.state.emulator
    with world.lock:
        calls = [
            {"method": m, "path": p, "count": n} for (m, p), n in sorted(world.call_counts.items())
        ]
    return _ok({"calls": calls, "total": sum(c["count"] for c in calls)})


async def reset_calls(request: Request) -> Response:
    world: World = request.app.state.emulator
    world.reset_call_counts()
    return _ok({"calls": [], "total": 0})


ADMIN_ROUTES = [
    Route(f"{ADMIN_PREFIX}/faults", get_faults, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/faults", put_faults, methods=["PUT"]),
    Route(f"{ADMIN_PREFIX}/faults", delete_faults, methods=["DELETE"]),
    Route(f"{ADMIN_PREFIX}/faults/rules", add_rule, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/tokens/expire", expire_tokens, methods=["POST"]),
    Route(f"{ADMIN_PREFIX}/calls", get_calls, methods=["GET"]),
    Route(f"{ADMIN_PREFIX}/calls", reset_calls, methods=["DELETE"]),
]
