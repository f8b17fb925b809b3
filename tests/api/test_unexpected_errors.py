"""An unexpected error is one log line of ours and a 500 OperationOutcome, nothing else.

The line names the exception type, the route template, the request id and the innermost
frame, never the exception text (which can carry PHI from a payload); the server never
logs its own "Exception in ASGI application" traceback. Forced here by monkeypatching a
route's parser and the fast-path middleware of the in-process facade (no production hook).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from facade.api import fastpath, routes_fhir
from facade.api.fastpath import PlainFastPath

PHI = "Sandboxtest 1970-01-01 555-0100"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_log() -> Iterator[list[logging.LogRecord]]:
    """What uvicorn logs itself (its loggers do not propagate to pytest's handler)."""
    handler = _Records()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise ValueError(PHI)


def _assert_logged_once(
    caplog: pytest.LogCaptureFixture,
    server_log: list[logging.LogRecord],
    response: httpx.Response,
    route: str,
) -> None:
    assert response.status_code == 500
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "exception", "diagnostics": "Internal server error"}
        ],
    }
    lines = [r.getMessage() for r in caplog.records if "unexpected error" in r.getMessage()]
    assert len(lines) == 1
    (line,) = lines
    assert "\n" not in line
    assert f"id={response.headers['x-request-id']}" in line
    assert "type=ValueError" in line and f"route={route}" in line
    everything = [r.getMessage() for r in [*caplog.records, *server_log]]
    everything += [str(r.exc_info) for r in [*caplog.records, *server_log] if r.exc_info]
    assert not any(PHI in text for text in everything)
    assert server_log == []


@pytest.mark.parametrize(
    ("where", "extra", "route"),
    [
        # _format makes it the router's (facade/api/fastpath.py answers plain searches)
        (routes_fhir, {"_format": "json"}, "/fhir/r4/{resource_type}"),
        (fastpath, {}, "/fhir/r4/Patient"),
    ],
    ids=["router", "fast-path"],
)
def test_an_error_in_a_search_is_logged_once_without_its_text(
    fhir: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    server_log: list[logging.LogRecord],
    where: object,
    extra: dict[str, str],
    route: str,
) -> None:
    monkeypatch.setattr(where, "parse_query", _boom)
    response = fhir.get("Patient", params={"name": "sandboxtest", **extra})
    _assert_logged_once(caplog, server_log, response, route)


def test_an_error_escaping_a_middleware_is_logged_once_and_a_500_outcome(
    fhir: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    server_log: list[logging.LogRecord],
) -> None:
    monkeypatch.setattr(PlainFastPath, "_answer", _boom)
    response = fhir.get("Patient/a-195900.E-60178")
    _assert_logged_once(caplog, server_log, response, "/fhir/r4/Patient/{id}")
