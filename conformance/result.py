"""Check results, and the ``@check`` decorator that turns a check body into a Result.

A check body returns a message on success, or raises ``Fail``/``Skip``. Any other
exception (an HTTP error, a malformed response) is a failure too: a conformance run
reports, it never crashes.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    message: str = ""

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "message": self.message}


class Fail(Exception):
    """The server does not conform."""


class Skip(Exception):
    """The check cannot run (no data to derive its inputs from, an optional tool missing)."""


def require(condition: object, message: str) -> None:
    if not condition:
        raise Fail(message)


def check(name: str) -> Callable[[Callable[[T], str]], Callable[[T], Result]]:
    """Wrap ``body(ctx) -> message`` into ``check(ctx) -> Result`` named ``name``."""

    def wrap(body: Callable[[T], str]) -> Callable[[T], Result]:
        @functools.wraps(body)
        def run(ctx: T) -> Result:
            try:
                return Result(name, Status.PASSED, body(ctx))
            except Skip as exc:
                return Result(name, Status.SKIPPED, str(exc))
            except Fail as exc:
                return Result(name, Status.FAILED, str(exc))
            except Exception as exc:  # a crash is a failure of the server's answer
                return Result(name, Status.FAILED, f"{type(exc).__name__}: {exc}")

        run.__dict__["check_name"] = name  # listed without running (tests, reports)
        return run

    return wrap
