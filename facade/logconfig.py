"""One logging configuration for every process: the CLI, ``serve``'s workers, the emulator.

Every line is one JSON object on stderr (``FACADE_LOG_FORMAT=json``, the default) or one
plain line with a timestamp and level (``text``): ``time``, ``level``, ``logger``,
``message``, plus the fields a record carries in ``extra={"fields": {...}}`` (the access
log, facade/api/accesslog.py). A logged exception adds its type and the innermost frame,
never its text (an exception message may carry PHI from a payload).

uvicorn and granian apply the same dictionary in each worker process (``log_config`` /
``log_dictconfig``), so a worker's warnings look like the rest.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from typing import Any

import orjson

FORMATS = ("json", "text")


_second: list[Any] = [None, ""]  # the last second formatted (one strftime per second)


def _iso(created: float) -> str:
    seconds = int(created)
    if _second[0] != seconds:
        _second[:] = [seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))]
    return f"{_second[1]}.{int((created - seconds) * 1000):03d}Z"


def _error_fields(record: logging.LogRecord) -> dict[str, str]:
    if not record.exc_info or record.exc_info[1] is None:
        return {}
    exc = record.exc_info[1]
    where = "-"
    for frame, line in traceback.walk_tb(exc.__traceback__):
        where = f"{frame.f_globals.get('__name__', '?')}:{line}"
    return {"error": type(exc).__name__, "at": where}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (orjson; a few microseconds)."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            body.update(fields)
        body.update(_error_fields(record))
        return orjson.dumps(body, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_iso(record.created), record.levelname, record.name, record.getMessage()]
        fields = getattr(record, "fields", None) or {}
        parts += [f"{k}={v}" for k, v in fields.items() if k != "message"]
        parts += [f"{k}={v}" for k, v in _error_fields(record).items()]
        return " ".join(str(p) for p in parts)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (as logging's last resort does),
    so a replaced or captured stderr never leaves a handler writing to a closed file."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def logging_config(
    level: str = "info", fmt: str = "json", *, access: bool = True
) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` dictionary for every process (``access``: the
    per-request lines of ``facade.access``)."""
    level = level.upper()
    kind = "TextFormatter" if fmt == "text" else "JsonFormatter"  # anything else: json
    formatter = f"facade.logconfig.{kind}"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"facade": {"()": formatter}},
        "handlers": {"stderr": {"()": "facade.logconfig.StderrHandler", "formatter": "facade"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # the servers' own loggers go through the root handler (one format)
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
            "_granian": {"handlers": [], "level": level, "propagate": True},
            "granian.access": {"handlers": [], "level": "WARNING", "propagate": True},
            "facade.access": {"level": level if access else "WARNING"},  # INFO lines
            # one line per athena call is for debugging: the access line already counts
            # them and their time (a warning, e.g. a timeout, is still logged)
            "facade.upstream": {"level": "DEBUG" if level == "DEBUG" else "WARNING"},
            # request URLs carry patient ids and names (facade/api/app.py _quiet_libraries)
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def configure(level: str = "info", fmt: str = "json", *, access: bool = True) -> None:
    import logging.config

    logging.config.dictConfig(logging_config(level, fmt, access=access))
