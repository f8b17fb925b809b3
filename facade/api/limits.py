"""Bounded work per request: the body, the parameters and JSON nesting, checked at the door.

A pure ASGI middleware in front of every route (FHIR, ``/auth``, ``/metrics``), so a
route that reads a body or a query itself is covered without knowing about it:

- **body**: a ``Content-Length`` over ``FACADE_MAX_BODY_BYTES`` is refused before anything
  is read; otherwise the body is read here, counted as it arrives and refused as soon as it
  passes the limit (413), within the request deadline (408). Routes then read it from memory.
- **parameters**: the query string, a form body (``application/x-www-form-urlencoded``,
  together with the query: ``POST _search`` and the ``/auth`` forms) and, on FHIR routes,
  ``If-None-Exist`` (a query the route parses): at most ``FACADE_MAX_PARAMETERS``
  ``name=value`` pairs, at most ``FACADE_MAX_PARAMETER_VALUES`` values of one parameter
  (its repeats and, on FHIR routes, its comma-separated values: FHIR R4 search
  §3.1.1.4.6 "OR"), names and values at most ``FACADE_MAX_PARAMETER_LENGTH`` characters.
  The check stops at the first pair over a limit, so a huge query costs no more than a small one.
- **JSON**: a body nested deeper than ``FACADE_MAX_JSON_DEPTH`` (400), measured without
  recursion and without parsing (so a body the route would reject anyway costs nothing
  extra). Every body is measured whatever its declared type: some routes parse JSON
  regardless of ``Content-Type``.

Each refusal is a typed error (:class:`~facade.errors.TooCostly` 400,
:class:`~facade.errors.PayloadTooLarge` 413, :class:`~facade.errors.RequestTimeout` 408)
whose ``expression`` names the parameter; FHIR routes answer it as an OperationOutcome,
``/auth`` routes as an OAuth error (RFC 6749 §5.2).
"""

from __future__ import annotations

import asyncio
import json
import re
from array import array
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any
from urllib.parse import unquote_plus

from starlette.responses import JSONResponse

from facade.api.errors import error_response
from facade.errors import FacadeError, PayloadTooLarge, RequestTimeout, TooCostly
from facade.search import split_unescaped
from facade.settings import Settings
from facade.upstream.deadline import remaining

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FORM = b"application/x-www-form-urlencoded"
_FIELD = re.compile(rb"[^&]+")  # one query field; runs of '&' are skipped inside the regex engine
# A JSON string, closed or not (an unclosed one runs to the end: linear, never backtracking).
_STRING = re.compile(rb'"[^"\\]*(?:\\[\s\S][^"\\]*)*"?')
# Brackets as signed steps (+1 opens, -1 closes); everything else is deleted.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


@dataclass(frozen=True)
class Limits:
    body_bytes: int
    parameters: int
    values: int
    length: int
    json_depth: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            body_bytes=settings.max_body_bytes,
            parameters=settings.max_parameters,
            values=settings.max_parameter_values,
            length=settings.max_parameter_length,
            json_depth=settings.max_json_depth,
        )


def _decode(raw: bytes) -> str:
    """As ``parse_qsl`` decodes a form field (``+`` is a space, percent-escapes are UTF-8)."""
    return unquote_plus(raw.decode("utf-8", "replace"))


# ``_type`` (Bulk Data, ``_include`` lists aside) names resource types: bounded by the
# resource types FHIR R4 has (about 150), not by what an OR search costs upstream, and a
# warehouse sync legitimately names every type the server exports (40 with US Core).
TYPE_LIST_VALUES = 160


def _or_values(value: str) -> int:
    """Comma-separated values in one FHIR search value (escaped commas do not separate)."""
    if "," not in value:
        return 1
    parts = value.split(",") if "\\" not in value else split_unescaped(value, ",")
    return max(1, sum(1 for part in parts if part))


def check_parameters(sources: Sequence[bytes], limits: Limits, *, or_lists: bool) -> None:
    """Raise :class:`TooCostly` naming the first parameter over a limit.

    ``sources`` are raw ``application/x-www-form-urlencoded`` strings read as one request
    (a query string and a form body). ``or_lists``: count a FHIR value's comma-separated
    values. Stops at the first field over a limit: at most ``parameters + 1`` fields are
    decoded whatever the size of ``sources``.

    >>> limits = Limits(body_bytes=1, parameters=3, values=2, length=8, json_depth=1)
    >>> check_parameters([b"name=a&name=b,c"], limits, or_lists=True)
    Traceback (most recent call last):
    facade.errors.TooCostly: Parameter name has more than 2 values
    """
    pairs = 0
    counts: dict[str, int] = {}
    for source in sources:
        for field in _FIELD.finditer(source):
            raw_name, _, raw_value = field.group().partition(b"=")
            name = _decode(raw_name[: limits.length * 3 + 1])
            if len(name) > limits.length:
                raise TooCostly(
                    f"A parameter name is longer than {limits.length} characters",
                    expression=(name[:64],),
                )
            pairs += 1
            if pairs > limits.parameters:
                raise TooCostly(
                    f"More than {limits.parameters} parameters in one request",
                    expression=(name,),
                )
            value = _decode(raw_value)
            if len(value) > limits.length:
                raise TooCostly(
                    f"Parameter {name} has a value longer than {limits.length} characters",
                    expression=(name,),
                )
            counts[name] = counts.get(name, 0) + (_or_values(value) if or_lists else 1)
            if counts[name] > (TYPE_LIST_VALUES if name == "_type" else limits.values):
                raise TooCostly(
                    f"Parameter {name} has more than {limits.values} values", expression=(name,)
                )


def json_depth(body: bytes) -> int:
    """How deep ``body``'s brackets nest outside strings, as a JSON parser would descend.

    Lexical, linear and without recursion; meaningful for invalid JSON too (a parser
    descends into every bracket before it finds the error), so it bounds what any
    parser of this body would do.

    >>> json_depth(b'{"a": [1, {"b": "]]]"}], "c": []}')
    3
    """
    if body[:4].count(0):  # UTF-16 or UTF-32, which json.loads accepts too
        body = body.decode(json.detect_encoding(body), "replace").encode()
    steps = _STRING.sub(b"", body).translate(_STEPS, _NOT_BRACKETS)
    # signed bytes: +1 / -1 per bracket; the running sum is the depth at each bracket
    return max(accumulate(array("b", steps)), default=0)


def check_json_depth(body: bytes, limit: int) -> None:
    """Raise :class:`TooCostly` when ``body`` nests deeper than ``limit``.

    Fewer brackets than the limit cannot nest deeper: the usual body costs two counts.
    """
    if body.count(b"[") + body.count(b"{") > limit and json_depth(body) > limit:
        raise TooCostly(f"The body is nested deeper than {limit} levels")


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, refused as soon as it passes ``limit`` bytes; None if the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def parameter_names(query: bytes, limit: int) -> list[str]:
    """The distinct names among the first ``limit`` fields of ``query`` (for logs), sorted."""
    names = set()
    for index, field in enumerate(_FIELD.finditer(query)):
        if index == limit:
            names.add("...")
            break
        names.add(_decode(field.group().partition(b"=")[0][:64]))
    return sorted(names)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then defers to the server."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _refusal(scope: Scope, error: FacadeError) -> ASGIApp:
    if scope["path"].startswith("/auth/"):  # OAuth endpoints answer OAuth errors
        return JSONResponse(
            {"error": "invalid_request", "error_description": error.diagnostics},
            error.status,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )
    return error_response(error)


class RequestLimits:
    """Refuses requests over :class:`Limits` before any route runs (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, limits: Limits, deadline_seconds: float) -> None:
        self.app = app
        self.limits = limits
        self.deadline_seconds = deadline_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            checked = await self._check(scope, receive)
        except FacadeError as error:
            await _refusal(scope, error)(scope, receive, send)
            return
        if checked is not None:
            await self.app(scope, checked, send)

    async def _check(self, scope: Scope, receive: Receive) -> Receive | None:
        """The ``receive`` to run the app with, or None when the client has gone."""
        limits = self.limits
        fhir = scope["path"].startswith("/fhir/")
        length: int | None = None
        chunked = False
        form = False
        condition = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                form = value.split(b";", 1)[0].strip().lower() == FORM
            elif name == b"if-none-exist" and fhir:
                condition = value
        if length is not None and length > limits.body_bytes:
            raise PayloadTooLarge(f"The request body is larger than {limits.body_bytes} bytes")
        query = scope.get("query_string", b"")
        if condition:
            check_parameters([condition], limits, or_lists=True)
        if not chunked and not length:
            check_parameters([query], limits, or_lists=fhir)
            return receive
        try:
            async with asyncio.timeout(max(0.0, remaining(self.deadline_seconds))):
                body = await read_body(receive, limits.body_bytes)
        except TimeoutError:
            raise RequestTimeout("The request body did not arrive within the deadline") from None
        if body is None:
            return None
        check_parameters([query, body] if form else [query], limits, or_lists=fhir)
        check_json_depth(body, limits.json_depth)
        return _replay(body, receive)
