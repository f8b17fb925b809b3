"""AthenaClient: the only code that speaks HTTP to athenahealth.

Both surfaces go through ``request``: the proprietary API under
``/v1/{practiceid}`` and athena's FHIR R4 API under ``/fhir/r4``
(API-NOTES §1.1). Transport failures and athena's error statuses become typed
errors here; business answers (200, 400, 404, 409) are returned for the caller
to interpret. Logs carry the path template, status and latency, never bodies
or identifiers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from facade.errors import (
    InvalidRequest,
    Throttled,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from facade.upstream.token import TokenProvider, _retry_after

log = logging.getLogger("facade.upstream")


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class AthenaClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, tokens: TokenProvider) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self.tokens = tokens
        self.calls = 0  # upstream API calls made (observability, tests, benchmark)

    async def rest(
        self,
        method: str,
        practice: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        form: dict[str, str] | None = None,
    ) -> UpstreamResponse:
        """Proprietary API: ``/v1/{practice}{path}``; bodies are form-encoded (API-NOTES §3.0)."""
        return await self.request(method, f"/v1/{practice}{path}", path, params=params, form=form)

    async def fhir(
        self, method: str, path: str, *, params: list[tuple[str, str]] | None = None
    ) -> UpstreamResponse:
        """athena FHIR R4: ``/fhir/r4{path}``."""
        return await self.request(method, f"/fhir/r4{path}", path, params=params)

    async def request(
        self,
        method: str,
        url_path: str,
        template: str,
        *,
        params: list[tuple[str, str]] | None = None,
        form: dict[str, str] | None = None,
    ) -> UpstreamResponse:
        # A 401 means the token expired or was revoked early: refresh once and replay.
        for attempt in (1, 2):
            token = await self.tokens.get()
            response = await self._send(method, url_path, template, token, params, form)
            if response.status_code == 401 and attempt == 1:
                self.tokens.invalidate(token)
                continue
            return self._interpret(response, template)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        url_path: str,
        template: str,
        token: str,
        params: list[tuple[str, str]] | None,
        form: dict[str, str] | None,
    ) -> httpx.Response:
        self.calls += 1
        started = time.monotonic()
        try:
            response = await self._http.request(
                method,
                self._base + url_path,
                params=tuple(params or ()),
                data=form,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
        except httpx.TimeoutException as exc:
            log.warning("upstream %s %s timeout", method, template)
            raise UpstreamTimeout(f"athena did not answer in time ({method} {template})") from exc
        except httpx.TransportError as exc:
            log.warning("upstream %s %s unreachable", method, template)
            raise UpstreamUnavailable(f"athena is unreachable ({method} {template})") from exc
        log.info(
            "upstream %s %s status=%s latency_ms=%.1f",
            method,
            template,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _interpret(self, response: httpx.Response, template: str) -> UpstreamResponse:
        status = response.status_code
        if status == 429:
            retry = _retry_after(response.headers.get("Retry-After"))
            raise Throttled("athena is throttling requests; retry later", retry_after=retry)
        if status == 401:
            raise UpstreamError("athena rejected the facade's access token after a refresh")
        if status == 403:
            raise UpstreamError(f"athena refused the facade access to {template}")
        if status >= 500:
            raise UpstreamError(f"athena failed with status {status} ({template})")
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"athena returned malformed JSON ({template})") from exc
        if status == 400:
            return UpstreamResponse(status, body, dict(response.headers))
        if status >= 400 and status not in (404, 409, 422):
            raise UpstreamError(f"athena answered {status} ({template})")
        return UpstreamResponse(status, body, dict(response.headers))


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
    if response.status == 400:
        raise InvalidRequest(f"athena rejected the request: {athena_error_message(response.body)}")
