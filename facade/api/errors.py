"""The one error handler: every failure leaves as an OperationOutcome with the right status.

Typed errors, Starlette's HTTP errors and request validation errors are rendered by the
handlers :func:`install` registers. Anything else is an unexpected error: the request
envelope (:mod:`facade.api.timing`) catches it around the whole app, middleware included,
and answers :func:`unexpected_response`. It is not registered as Starlette's ``Exception``
handler, because Starlette re-raises after calling that one and the server then logs its
own traceback, exception text included.
"""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from facade.api.response import FhirResponse
from facade.errors import FacadeError
from facade.fhir.outcome import outcome, outcome_for

log = logging.getLogger("facade.api")

_HTTP_CODES = {404: "not-found", 405: "not-supported", 400: "invalid", 415: "not-supported"}


def _pretty(request: Request) -> bool:
    return request.query_params.get("_pretty", "").lower() == "true"


def error_response(exc: FacadeError, *, pretty: bool = False) -> FhirResponse:
    if exc.status >= 500:
        log.warning("request failed status=%s type=%s", exc.status, type(exc).__name__)
    return FhirResponse(outcome_for(exc), exc.status, exc.headers, pretty=pretty)


async def facade_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FacadeError)
    return error_response(exc, pretty=_pretty(request))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        message = f"No such endpoint: {request.method} {request.url.path}"
    elif status == 405:
        message = f"{request.method} is not supported on {request.url.path}"
    else:
        message = str(exc.detail)
    body = outcome(_HTTP_CODES.get(status, "exception"), message)
    return FhirResponse(body, status, dict(exc.headers or {}), pretty=_pretty(request))


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    body = outcome("invalid", f"Invalid request: {where} {first.get('msg', '')}".strip())
    return FhirResponse(body, 400, pretty=_pretty(request))


def unexpected_response(exc: BaseException, *, route: str, request_id: str) -> FhirResponse:
    """Log an unexpected error once, on one line, and answer a 500 OperationOutcome.

    The line says what and where (exception type, route template, request id, the
    innermost frame); never the exception text, which may carry PHI from a payload.
    """
    where = "-"
    for frame, line in traceback.walk_tb(exc.__traceback__):
        where = f"{frame.f_globals.get('__name__', '?')}:{line}"
    log.error(
        "unexpected error id=%s type=%s route=%s at=%s",
        request_id,
        type(exc).__name__,
        route,
        where,
    )
    return FhirResponse(outcome("exception", "Internal server error"), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(FacadeError, facade_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
