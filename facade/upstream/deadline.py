"""The per-request deadline that bounds queueing and retries (one FHIR request = one budget).

The API layer opens a :func:`deadline` scope for each FHIR request; everything
below reads :func:`remaining` and never waits past it. Upstream time spent in
the scope is accumulated for the ``Server-Timing`` header.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field


@dataclass
class RequestClock:
    expires_at: float
    upstream_seconds: float = 0.0
    upstream_calls: int = 0
    notes: list[str] = field(default_factory=list)
    client: str = ""  # the authenticated client id (the access log)


_current: ContextVar[RequestClock | None] = ContextVar("facade_request_clock", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[RequestClock]:
    clock, token = start(seconds)
    try:
        yield clock
    finally:
        _current.reset(token)


def start(seconds: float) -> tuple[RequestClock, Token[RequestClock | None]]:
    """:func:`deadline` without the context manager (the HTTP envelope, once per request):
    the clock, and the token that :func:`end` takes."""
    clock = RequestClock(expires_at=time.monotonic() + seconds)
    return clock, _current.set(clock)


def end(token: Token[RequestClock | None]) -> None:
    _current.reset(token)


def current() -> RequestClock | None:
    return _current.get()


def remaining(default: float) -> float:
    """Seconds left for this request; ``default`` outside a deadline scope."""
    clock = _current.get()
    if clock is None:
        return default
    return clock.expires_at - time.monotonic()


def add_upstream_time(seconds: float) -> None:
    clock = _current.get()
    if clock is not None:
        clock.upstream_seconds += seconds
        clock.upstream_calls += 1
