"""AthenaClient: the only code that speaks HTTP to athenahealth.

Both surfaces go through ``request``: the proprietary API under
``/v1/{practiceid}`` and athena's FHIR R4 API under ``/fhir/r4``
(API-NOTES §1.1). Transport failures and athena's error statuses become typed
errors here; business answers (200, 400, 404, 409) are returned for the caller
to interpret. Logs carry the path template, status and latency, never bodies
or identifiers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
import orjson

from facade.errors import (
    FacadeError,
    InvalidRequest,
    Throttled,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from facade.upstream.breaker import BreakerConfig, Breakers
from facade.upstream.budget import Bucket, BudgetConfig, RateBudget
from facade.upstream.deadline import add_upstream_time, remaining
from facade.upstream.singleflight import SharedFlight, SingleFlight
from facade.upstream.token import TokenProvider, _retry_after
from facade.upstream.transport import Sent, UpstreamHttpClient

# athena's quota header names are not documented (API-NOTES §4.3); these are the emulator's.
QUOTA_LIMIT_HEADER = "X-RateLimit-Limit"
QUOTA_REMAINING_HEADER = "X-RateLimit-Remaining"

log = logging.getLogger("facade.upstream")


class ResponseMonitor(Protocol):
    """Sees every athena answer (the run-time contract check, facade/drift/monitor.py)."""

    def observe(self, surface: str, method: str, template: str, status: int, body: Any) -> None: ...

    def metric_lines(self) -> list[str]: ...


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (sleep = uniform(0, min(cap, base * 2**n)))."""

    attempts: int = 3
    base: float = 0.1
    cap: float = 2.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap, self.base * (2 ** (attempt - 1))))


@dataclass(frozen=True)
class _Extra:
    """What a call adds to the usual request: headers, and whether the body stays raw."""

    headers: tuple[tuple[str, str], ...] = ()
    raw: bool = False
    answer_5xx: bool = False


_NO_EXTRA = _Extra()


class _Retryable(Exception):
    """An attempt failed in a way that may succeed when repeated."""

    def __init__(self, error: FacadeError, *, breaker_failure: bool, wait: float = 0.0) -> None:
        super().__init__(error.diagnostics)
        self.error = error
        self.breaker_failure = breaker_failure
        self.wait = wait


class AthenaClient:
    """One client per athena environment; shared by every request of the process.

    Per call: circuit breaker (per practice and surface) -> single-flight for
    reads -> attempts, each taking a rate-budget token, bounded by the FHIR
    request's deadline. Reads and token requests are retried with full jitter;
    writes only when the caller says an idempotency record protects them.
    """

    def __init__(
        self,
        http: UpstreamHttpClient,
        base_url: str,
        tokens: TokenProvider,
        *,
        budget: RateBudget | None = None,
        breakers: Breakers | None = None,
        retry: RetryPolicy | None = None,
        default_deadline: float = 30.0,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        seed: int | None = None,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self.tokens = tokens
        self.budget = budget or RateBudget(
            BudgetConfig(rate=1e9, burst=1 << 30, max_wait=0, max_waiters=0)
        )
        self.breakers = breakers or Breakers(BreakerConfig(threshold=1 << 30, open_seconds=1))
        self.retry = retry or RetryPolicy(attempts=1)
        self._default_deadline = default_deadline
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._rng = random.Random(seed)
        self._flights: SingleFlight[UpstreamResponse] = SingleFlight()
        self.across_hosts: SharedFlight | None = None  # with Redis: single-flight across hosts
        self.calls = 0  # upstream HTTP requests sent (observability, tests, benchmark)
        self.monitor: ResponseMonitor | None = None
        self.bytes_received = 0  # upstream response body bytes (the benchmark's bytes per result)

    def lane(self, budget: RateBudget) -> AthenaClient:
        """A sibling on its own rate budget (bulk exports): same connection pool, token,
        circuit breakers and retry policy, so athena being down is seen by both, while
        neither queues behind the other's calls."""
        sibling = AthenaClient(
            self._http,
            self._base,
            self.tokens,
            budget=budget,
            breakers=self.breakers,
            retry=self.retry,
            default_deadline=self._default_deadline,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
        )
        sibling.monitor = self.monitor
        return sibling

    def path_of(self, url: str) -> str:
        """The path (and query) of an absolute athena URL, e.g. a bulk status or file URL.

        Only URLs on athena's own host are followed: the access token never goes elsewhere.
        """
        if not url.startswith(self._base + "/"):
            raise UpstreamError("athena pointed at a URL outside its own host")
        return url[len(self._base) :]

    @property
    def shared_reads(self) -> int:
        """Reads answered by another caller's identical in-flight call."""
        return self._flights.shared

    async def rest(
        self,
        method: str,
        practice: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        form: dict[str, str] | None = None,
        idempotent: bool = False,
        once: bool = False,
    ) -> UpstreamResponse:
        """Proprietary API: ``/v1/{practice}{path}``; bodies are form-encoded (API-NOTES §3.0).

        ``once``: a GET that changes athena's state (a changed-data feed marks what it
        returns as processed, API-NOTES §3.11) is sent once and never shared or retried.
        """
        return await self.request(
            method,
            f"/v1/{practice}{path}",
            path,
            (practice, "rest"),
            params=params,
            form=form,
            idempotent=idempotent,
            once=once,
        )

    async def fhir(
        self,
        method: str,
        path: str,
        *,
        practice: str,
        params: list[tuple[str, str]] | None = None,
    ) -> UpstreamResponse:
        """athena FHIR R4: ``/fhir/r4{path}``."""
        return await self.request(
            method, f"/fhir/r4{path}", path, (practice, "fhir"), params=params
        )

    async def request(
        self,
        method: str,
        url_path: str,
        template: str,
        key: tuple[str, str],
        *,
        params: list[tuple[str, str]] | None = None,
        form: dict[str, str] | None = None,
        idempotent: bool = False,
        once: bool = False,
        headers: dict[str, str] | None = None,
        raw: bool = False,
        answer_5xx: bool = False,
    ) -> UpstreamResponse:
        """One athena call. ``headers`` are sent as well (e.g. ``Prefer: respond-async``);
        ``raw`` returns the body as bytes instead of parsing JSON (NDJSON files);
        ``answer_5xx``: a 5xx is the call's answer, neither retried nor counted by the
        circuit breaker (athena's bulk status reports a failed export job so)."""
        started = time.monotonic()
        template = path_template(template)  # ids never reach logs or diagnostics
        extra = _Extra(tuple(sorted((headers or {}).items())), raw, answer_5xx)
        try:
            breaker = self.breakers.get(key)
            breaker.before()
            if method == "GET" and not once:
                flight = (url_path, tuple(params or ()), extra)

                def attempts() -> Awaitable[UpstreamResponse]:
                    return self._attempts(
                        method, url_path, template, key, params, form, True, extra
                    )

                across = self.across_hosts
                if across is not None and not raw:  # README "Scale-out"
                    name = hashlib.sha256(repr((self._base, flight)).encode()).hexdigest()
                    return await self._flights.run(flight, lambda: across.run(name, attempts))
                return await self._flights.run(flight, attempts)
            retryable = idempotent and not once
            return await self._attempts(
                method, url_path, template, key, params, form, retryable, extra
            )
        finally:
            add_upstream_time(time.monotonic() - started)

    async def _attempts(
        self,
        method: str,
        url_path: str,
        template: str,
        key: tuple[str, str],
        params: list[tuple[str, str]] | None,
        form: dict[str, str] | None,
        retryable: bool,
        extra: _Extra = _NO_EXTRA,
    ) -> UpstreamResponse:
        breaker = self.breakers.get(key)
        bucket = self.budget.bucket(key)
        attempts = self.retry.attempts if retryable else 1
        for attempt in range(1, attempts + 1):
            left = remaining(self._default_deadline)
            if left <= 0:
                raise UpstreamTimeout(
                    f"The request deadline passed before athena answered ({template})"
                )
            await bucket.acquire(left)
            try:
                response = await self._once(method, url_path, template, params, form, extra)
            except _Retryable as failure:
                if failure.breaker_failure:
                    breaker.failure()
                else:
                    breaker.release_probe()
                if isinstance(failure.error, Throttled):
                    bucket.on_throttled(failure.wait)
                pause = max(failure.wait, self.retry.delay(attempt, self._rng))
                too_long = failure.wait > bucket.config.max_wait  # athena asks for a long pause
                if attempt == attempts or too_long or pause >= remaining(self._default_deadline):
                    raise failure.error from failure
                await asyncio.sleep(pause)
                continue
            except FacadeError:  # not sent (too long), or refused (401, 403): no verdict
                breaker.release_probe()
                raise
            if response.status < 400:
                breaker.success()
                bucket.on_success()
            else:
                breaker.release_probe()
            _observe_quota(bucket, response.headers)
            if self.monitor is not None:
                self.monitor.observe(key[1], method, template, response.status, response.body)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        method: str,
        url_path: str,
        template: str,
        params: list[tuple[str, str]] | None,
        form: dict[str, str] | None,
        extra: _Extra = _NO_EXTRA,
    ) -> UpstreamResponse:
        # A 401 means the token expired or was revoked early: refresh once and replay.
        for attempt in (1, 2):
            token = await self.tokens.get()
            response = await self._send(method, url_path, template, token, params, form, extra)
            if response.status_code == 401 and attempt == 1:
                self.tokens.invalidate(token)
                continue
            return self._interpret(response, template, extra)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        url_path: str,
        template: str,
        token: str,
        params: list[tuple[str, str]] | None,
        form: dict[str, str] | None,
        extra: _Extra = _NO_EXTRA,
    ) -> Sent:
        self.calls += 1
        started = time.monotonic()
        left = remaining(self._default_deadline)
        # Only a deadline shorter than the configured timeouts needs a per-request
        # Timeout object; the common case uses the client's own (cheaper per call).
        timeout: httpx.Timeout | None = None
        if left < self._read_timeout:
            left = max(0.05, left)
            timeout = httpx.Timeout(left, connect=min(self._connect_timeout, left))
        url = self._base + url_path
        if params:
            url += "?" + urlencode(params)
        headers = {"Accept": "application/json", **dict(extra.headers)}
        headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self._http.send_direct(
                method, url, headers=headers, form=form, limits=timeout
            )
        except httpx.InvalidURL as exc:
            # Each value is bounded (facade/api/limits.py), but several long non-ASCII values
            # together can still pass httpx's URL length limit: the caller's request, not athena.
            raise InvalidRequest(
                "The request is too long to forward to athena: send fewer or shorter values"
            ) from exc
        except httpx.TimeoutException as exc:
            log.warning("upstream %s %s timeout", method, template)
            error = UpstreamTimeout(f"athena did not answer in time ({method} {template})")
            raise _Retryable(error, breaker_failure=True) from exc
        except httpx.TransportError as exc:
            log.warning("upstream %s %s transport error %s", method, template, type(exc).__name__)
            unavailable = UpstreamUnavailable(f"athena is unreachable ({method} {template})")
            raise _Retryable(unavailable, breaker_failure=True) from exc
        log.info(
            "upstream %s %s status=%s latency_ms=%.1f",
            method,
            template,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _interpret(
        self, response: Sent, template: str, extra: _Extra = _NO_EXTRA
    ) -> UpstreamResponse:
        status = response.status_code
        self.bytes_received += len(response.content)
        if status == 429:
            retry = _retry_after(response.headers.get("retry-after"))
            throttled = Throttled("athena is throttling requests; retry later", retry_after=retry)
            raise _Retryable(throttled, breaker_failure=False, wait=float(retry))
        if status == 401:
            raise UpstreamError("athena rejected the facade's access token after a refresh")
        if status == 403:
            raise UpstreamError(f"athena refused the facade access to {template}")
        if status >= 500 and extra.answer_5xx:
            try:
                answer = orjson.loads(response.content) if response.content else None
            except orjson.JSONDecodeError:
                answer = None
            return UpstreamResponse(status, answer, response.headers)
        if status >= 500:
            failed = UpstreamError(f"athena failed with status {status} ({template})")
            raise _Retryable(failed, breaker_failure=True)
        if extra.raw and status < 400:
            return UpstreamResponse(status, response.content, response.headers)
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError as exc:
            malformed = UpstreamError(f"athena returned malformed JSON ({template})")
            raise _Retryable(malformed, breaker_failure=True) from exc
        if isinstance(body, dict) and _soft_failure(body):
            # athena quirk: some business failures arrive as HTTP 200 with success=false.
            message = str(body.get("errormessage") or "athena reported a failure")
            return UpstreamResponse(422, {"error": message, "soft": True}, response.headers)
        if status >= 400 and status not in (400, 404, 409, 422):
            raise UpstreamError(f"athena answered {status} ({template})")
        return UpstreamResponse(status, body, response.headers)


_ID_SEGMENT = re.compile(r"/[^/]*\d[^/]*")


def path_template(path: str) -> str:
    """An athena path with its id segments masked, for logs and error messages.

    >>> path_template("/Patient/a-195900.E-60178")
    '/Patient/{id}'
    >>> path_template("/appointments/1205967/cancel")
    '/appointments/{id}/cancel'
    """
    return _ID_SEGMENT.sub("/{id}", path)


def _soft_failure(body: Any) -> bool:
    return isinstance(body, dict) and str(body.get("success", "")).lower() == "false"


def _observe_quota(bucket: Bucket, headers: dict[str, str]) -> None:
    limit = headers.get(QUOTA_LIMIT_HEADER) or headers.get(QUOTA_LIMIT_HEADER.lower())
    left = headers.get(QUOTA_REMAINING_HEADER) or headers.get(QUOTA_REMAINING_HEADER.lower())
    if limit and left and limit.isdigit() and left.isdigit():
        bucket.on_quota(int(limit), int(left))


def athena_error_message(body: Any) -> str:
    """The public message of an athena error body, or of an athena OperationOutcome."""
    if isinstance(body, dict):
        if body.get("resourceType") == "OperationOutcome":
            issues = body.get("issue") or [{}]
            detail = issues[0].get("diagnostics") or issues[0].get("details")
            return str(detail if isinstance(detail, str) else "Invalid FHIR request")
        parts = [str(body.get("error") or "")]
        if body.get("detailedmessage"):
            parts.append(str(body["detailedmessage"]))
        if body.get("missingfields"):
            parts.append("missing: " + ", ".join(map(str, body["missingfields"])))
        return " ".join(p for p in parts if p) or "athena rejected the request"
    return "athena rejected the request"


def raise_for_bad_request(response: UpstreamResponse) -> None:
    """For reads: athena's 400 is the client's problem; a soft failure is athena's."""
    if response.status == 422 and isinstance(response.body, dict) and response.body.get("soft"):
        raise UpstreamError(f"athena reported a failure: {response.body.get('error')}")
    if response.status == 400:
        raise InvalidRequest(f"athena rejected the request: {athena_error_message(response.body)}")


def encode_response(response: UpstreamResponse) -> bytes | None:
    """An answer as another host's caller takes it (:class:`SharedFlight`)."""
    return orjson.dumps({"s": response.status, "b": response.body, "h": response.headers})


def decode_response(value: bytes) -> UpstreamResponse:
    data = orjson.loads(value)
    return UpstreamResponse(int(data["s"]), data["b"], dict(data["h"]))
