"""FHIR operations (FHIR R4 operations.html): ``[base]/{Type}/${name}`` dispatched to workflows.

A table declares its operations (``writes.operations``: name, methods,
parameters; the OperationDefinition is generated from the same entry) and a
workflow registers the handler under that name (:mod:`facade.engine.registry`).
An operation the table does not declare for the method is 404, whether or not
code exists for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from facade.auth.context import AuthContext
from facade.engine import registry
from facade.engine.services import Services
from facade.engine.writes import WriteOutcome
from facade.errors import InvalidRequest, NotFound

Json = dict[str, Any]


@dataclass(frozen=True)
class OperationCall:
    """One invocation: the query's (name, value) pairs, the body (POST) and the write headers."""

    resource_type: str
    name: str  # without "$"
    method: str  # GET or POST
    params: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    key: str | None = None  # Idempotency-Key
    condition: str | None = None  # If-None-Exist


def handler(services: Services, resource_type: str, name: str, method: str) -> registry.Operation:
    """The handler of a declared operation, or 404."""
    table = services.mappings.table(resource_type)
    ops = table.writes.operations if table is not None and table.writes else []
    fn = registry.OPERATIONS.get((resource_type, name))
    if fn is None or not any(o.name == name and method in o.methods for o in ops):
        raise NotFound(f"Operation {resource_type}/${name} ({method}) is not supported")
    return fn


async def invoke(services: Services, auth: AuthContext, call: OperationCall) -> WriteOutcome:
    fn = handler(services, call.resource_type, call.name, call.method)
    return await fn(services, auth, call)


def parameters(body: Any) -> list[tuple[str, str]]:
    """A Parameters resource of primitive values as (name, value) pairs."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InvalidRequest("The body must be a Parameters resource", expression=("Parameters",))
    items = []
    for parameter in body.get("parameter") or []:
        value = next(
            (v for k, v in parameter.items() if k.startswith("value") and k != "valueCoding"),
            None,
        )
        coding = parameter.get("valueCoding")
        if isinstance(coding, dict):
            value = f"{coding.get('system', '')}|{coding.get('code', '')}"
        if isinstance(value, dict):
            value = value.get("reference")
        if value is not None:
            items.append((str(parameter.get("name")), str(value)))
    return items
