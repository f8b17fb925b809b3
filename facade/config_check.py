"""Configuration checked before anything starts: every problem at once, in plain words.

:func:`problems` builds :class:`~facade.settings.Settings` from the environment; each
invalid setting is noted and left out (its default is tried instead), and building
again finds the next, so one run lists every bad value and then the cross-setting
problems (``FACADE_ENVIRONMENT=preview`` without athena credentials, a default practice
outside the practices). Values of secrets are never repeated.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from facade.settings import Settings

_SECRET = ("secret", "password", "token")


def _env(field: str) -> str:
    return f"FACADE_{field.upper()}"


def _plain(error: Any) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "int_parsing" or kind == "int_from_float":
        return "must be a whole number"
    if kind == "float_parsing":
        return "must be a number"
    if kind == "bool_parsing":
        return "must be true or false"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}".replace("'", "")
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "greater_than":
        return f"must be more than {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind in ("list_type", "json_invalid", "json_type"):
        return 'must be a JSON list, e.g. ["195900"]'
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


def _given(field: str, value: Any) -> str:
    if any(s in field for s in _SECRET) or not isinstance(value, (str, int, float)):
        return ""
    text = str(value)
    return f" (got {text!r})" if len(text) <= 60 else ""


def problems() -> list[str]:
    """Every configuration problem, as sentences; [] when the settings are valid."""
    found: list[str] = []
    removed: dict[str, str] = {}
    try:
        for _ in range(100):
            try:
                Settings()
                break
            except SettingsError as exc:  # a list or dict setting that is not JSON
                match = re.search(r'field "(\w+)"', str(exc))
                name = _env(match.group(1)) if match else "a FACADE_ setting"
                found.append(f'{name} must be JSON, e.g. ["195900"] for a list')
                if name not in os.environ:
                    break
                removed[name] = os.environ.pop(name)
            except ValidationError as exc:
                progressed = False
                for error in exc.errors():
                    loc = error.get("loc") or ()
                    if not loc:  # a check across settings: one problem per line
                        found += _plain(error).splitlines()
                        continue
                    name = _env(str(loc[0]))
                    found.append(
                        f"{name} {_plain(error)}{_given(name.lower(), error.get('input'))}"
                    )
                    if name in os.environ:
                        removed[name] = os.environ.pop(name)
                        progressed = True
                if not progressed:
                    break
    finally:
        os.environ.update(removed)
    return list(dict.fromkeys(found))


def report(found: list[str]) -> str:
    count = len(found)
    head = f"athena-facade: the configuration has {count} problem{'s' if count != 1 else ''}:"
    return "\n".join([head, *(f"  - {p}" for p in found), '(README "Configuration")'])
