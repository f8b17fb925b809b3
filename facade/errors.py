"""Typed errors of the facade, rendered once as an OperationOutcome.

Every failure that reaches a client is one of these. Handlers and the pure core
raise them; ``facade.api.errors`` turns them into an OperationOutcome with the
status and issue code declared here (FHIR R4 §3.1.0.4 "Http status codes",
OperationOutcome issue-type codes from http://hl7.org/fhir/issue-type).

    FacadeError                     500 exception
    ├── InvalidRequest              400 invalid           (bad parameter, body, id)
    │   ├── UnsupportedParameter    400 not-supported     (strict handling)
    │   ├── InvalidCursor           400 invalid           (tampered or stale paging link)
    │   └── TooCostly               400 too-costly        (over a request limit; a count beyond the read budget)
    ├── Unauthorized                401 login             (no/expired/revoked token)
    ├── Forbidden                   403 forbidden         (scope does not allow it)
    ├── NotFound                    404 not-found
    ├── MethodNotAllowed            405 not-supported     (DELETE: athena deletes nothing; carries Allow)
    ├── NotAcceptable               406 not-supported     (Accept / _format)
    ├── RequestTimeout              408 timeout           (the body did not arrive within the deadline)
    ├── Conflict                    409 conflict
    ├── PayloadTooLarge             413 too-long          (a body over the size limit)
    ├── UnsupportedMediaType        415 not-supported
    ├── Unprocessable               422 processing
    ├── Throttled                   429 throttled         (carries Retry-After)
    ├── UpstreamError               502 transient         (athena 5xx, malformed answer)
    ├── UpstreamUnavailable         503 transient         (circuit open, cannot connect)
    ├── StoreUnavailable            503 transient         (the shared database does not answer)
    └── UpstreamTimeout             504 timeout
"""

from __future__ import annotations


class FacadeError(Exception):
    """Base class; ``status`` and ``code`` drive the rendered OperationOutcome."""

    status: int = 500
    code: str = "exception"

    def __init__(
        self,
        diagnostics: str,
        *,
        expression: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.expression = expression
        self.headers: dict[str, str] = dict(headers or {})


class InvalidRequest(FacadeError):
    status = 400
    code = "invalid"


class UnsupportedParameter(InvalidRequest):
    code = "not-supported"


class InvalidCursor(InvalidRequest):
    pass


class TooCostly(InvalidRequest):
    """A request over one of the limits that bound the work one request may cause, or a
    count that would read more of athena than a request may."""

    code = "too-costly"


class Unauthorized(FacadeError):
    status = 401
    code = "login"

    def __init__(self, diagnostics: str, *, error: str = "invalid_token") -> None:
        challenge = f'Bearer realm="fhir", error="{error}"'
        super().__init__(diagnostics, headers={"WWW-Authenticate": challenge})


class Forbidden(FacadeError):
    status = 403
    code = "forbidden"


class NotFound(FacadeError):
    status = 404
    code = "not-found"


class MethodNotAllowed(FacadeError):
    status = 405
    code = "not-supported"


class NotAcceptable(FacadeError):
    status = 406
    code = "not-supported"


class RequestTimeout(FacadeError):
    status = 408
    code = "timeout"


class Conflict(FacadeError):
    status = 409
    code = "conflict"


class PayloadTooLarge(FacadeError):
    status = 413
    code = "too-long"


class UnsupportedMediaType(FacadeError):
    status = 415
    code = "not-supported"


class Unprocessable(FacadeError):
    status = 422
    code = "processing"


class Throttled(FacadeError):
    status = 429
    code = "throttled"

    def __init__(self, diagnostics: str, *, retry_after: int) -> None:
        super().__init__(diagnostics, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class UpstreamError(FacadeError):
    status = 502
    code = "transient"


class UpstreamUnavailable(FacadeError):
    status = 503
    code = "transient"


class UpstreamTimeout(FacadeError):
    status = 504
    code = "timeout"


class StoreUnavailable(FacadeError):
    """The shared database (``FACADE_DATABASE_URL``) does not answer: writes and sign-ins
    that need it are refused with ``Retry-After`` until it is back (README "Scale-out")."""

    status = 503
    code = "transient"

    def __init__(self, diagnostics: str, *, retry_after: int = 2) -> None:
        super().__init__(diagnostics, headers={"Retry-After": str(max(1, retry_after))})
