"""Errors the emulator raises and how each one is rendered (API-NOTES 4.2, 4.3, 5.5).

Exception tree::

    EmulatorError                 status + extra headers
    ├── AthenaError               proprietary /v1 JSON body {"error", "detailedmessage"?, ...}
    ├── FhirError                 athena-style OperationOutcome (``details`` is a string)
    ├── GatewayError              short non-JSON text body (401 / 403 from the gateway)
    └── ThrottledError            429 with Retry-After (gateway quota)

Handlers raise; :func:`render` is the one place that turns an error into a response.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class EmulatorError(Exception):
    """Base class: an HTTP status plus optional extra headers."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.headers: dict[str, str] = dict(headers or {})


class AthenaError(EmulatorError):
    """A proprietary-API error body (section 4.2)."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        detailedmessage: str | None = None,
        missingfields: list[str] | None = None,
        invalidfields: list[str] | None = None,
    ) -> None:
        super().__init__(status)
        body: dict[str, Any] = {}
        if invalidfields is not None:
            body["invalidfields"] = invalidfields
        if missingfields is not None:
            body["missingfields"] = missingfields
        if detailedmessage is not None:
            body["detailedmessage"] = detailedmessage
        body["error"] = error
        self.body = body


def invalid(detail: str) -> AthenaError:
    """400 "The data provided is invalid." with a developer detail (section 4.2)."""
    return AthenaError(400, "The data provided is invalid.", detailedmessage=detail)


def not_found(message: str = "The requested ID does not exist.") -> AthenaError:
    """404 with one of athena's unknown-id messages (section 4.2)."""
    return AthenaError(404, message)


class FhirError(EmulatorError):
    """An athena FHIR OperationOutcome (section 5.5).

    # athena quirk: ``issue[].details`` is a plain string, not a CodeableConcept.
    """

    def __init__(self, status: int, code: str, details: str) -> None:
        super().__init__(status)
        self.code = code
        self.details = details

    def outcome(self) -> dict[str, Any]:
        return {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": self.code, "details": self.details}],
        }


def invalid_fhir_request() -> FhirError:
    """The 400 athena returns for any bad or unsupported FHIR query (ISS #378)."""
    return FhirError(400, "business-rule", "Invalid FHIR request")


class GatewayError(EmulatorError):
    """A gateway refusal with a short text body (section 4.2, "Developer Inactive")."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(status)
        self.text = text


class ThrottledError(EmulatorError):
    """429 from a quota (sections 2.3, 4.3); ``body`` is JSON."""

    def __init__(self, retry_after: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        super().__init__(429, {**headers, "Retry-After": str(retry_after)})
        self.body = body


def json_response(body: Any, status: int = 200, media_type: str = "application/json") -> Response:
    """Serialise with orjson (athena sends compact JSON)."""
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


def render(error: EmulatorError) -> Response:
    """Turn any emulator error into its HTTP response."""
    response: Response
    if isinstance(error, AthenaError):
        response = json_response(error.body, error.status)
    elif isinstance(error, FhirError):
        response = json_response(error.outcome(), error.status, "application/fhir+json")
    elif isinstance(error, GatewayError):
        response = Response(error.text, status_code=error.status, media_type="text/plain")
    elif isinstance(error, ThrottledError):
        response = json_response(error.body, error.status)
    else:
        response = Response(status_code=error.status)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response
