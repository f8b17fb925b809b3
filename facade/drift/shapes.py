"""JSON value types, and where a route's records sit in athena's answer."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

# where the records of an answer are: ``list:{key}`` (a /v1 list, or a bare array),
# ``item`` (a /v1 single read: ``[ {...} ]`` or ``{...}``), ``resource`` (a FHIR read),
# ``bundle`` (a FHIR searchset's entries)
RecordsAt = str


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def records_of(body: Any, where: RecordsAt, limit: int | None = None) -> list[Json]:
    """The records of an answer (dicts only), at most ``limit``."""
    items: Any
    if where.startswith("list:"):
        items = body if isinstance(body, list) else (body or {}).get(where[5:], [])
        if not isinstance(body, (list, dict)):
            items = []
    elif where == "item":
        items = body if isinstance(body, list) else [body]
    elif where == "bundle":
        entries = body.get("entry", []) if isinstance(body, dict) else []
        items = [e.get("resource") for e in entries if isinstance(e, dict)]
    else:  # resource
        items = [body]
    if not isinstance(items, list):
        return []
    found = [r for r in (items if limit is None else items[:limit]) if isinstance(r, dict)]
    return found


def error_shape(body: Any) -> dict[str, str]:
    """The top-level fields and types of an error answer (an OperationOutcome: also its
    first issue's, as ``issue[0].{field}``)."""
    if not isinstance(body, dict):
        return {"(body)": json_type(body) if body not in (None, b"", "") else "empty"}
    shape = {k: json_type(v) for k, v in body.items()}
    issues = body.get("issue")
    if body.get("resourceType") == "OperationOutcome" and isinstance(issues, list) and issues:
        first = issues[0]
        if isinstance(first, dict):
            shape.update({f"issue[0].{k}": json_type(v) for k, v in first.items()})
    return dict(sorted(shape.items()))
