"""Named workflow hooks the mapping tables point at, registered by :mod:`facade.workflows`.

A table names what its writes need by name (``resolve: open-slot``,
``readback: booked-slot``, ``operations: [{name: book}]``); the module that owns
the resource's workflow registers the code under that name:

- a *resolver* completes a write's athena fields before the call and may refuse
  with a typed error pointing at the element (``open-slot`` finds the slot a
  booking takes);
- a *read-back* answers, after an ambiguous write, whether it took effect
  (athena's record, or None);
- an *operation* handles ``[base]/{Type}/${name}``.

Entry points import :mod:`facade.workflows` (which registers everything) and call
:func:`check` once at start, so a table naming an unregistered hook fails the
start instead of a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from facade.mapping.loader import Mappings

if TYPE_CHECKING:
    from facade.auth.context import AuthContext
    from facade.engine.operations import OperationCall
    from facade.engine.services import Services
    from facade.engine.writes import WriteContext, WriteOutcome

Json = dict[str, Any]
Resolver = Callable[["WriteContext"], Awaitable[None]]
# (the write, its recorded intent) -> athena's record when the write took effect, else None.
# The write is the request retrying it (same key, same body), its athena fields built.
ReadBack = Callable[["WriteContext", dict[str, Any]], Awaitable[Json | None]]
Operation = Callable[["Services", "AuthContext", "OperationCall"], Awaitable["WriteOutcome"]]

RESOLVERS: dict[str, Resolver] = {}
READBACKS: dict[str, ReadBack] = {}
OPERATIONS: dict[tuple[str, str], Operation] = {}

F = TypeVar("F")


def _register(registry: dict[Any, Any], key: Any) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        if key in registry and registry[key] is not fn:
            raise ValueError(f"{key!r} is registered twice")
        registry[key] = fn
        return fn

    return decorate


def resolver(name: str) -> Callable[[Resolver], Resolver]:
    return _register(RESOLVERS, name)


def readback(name: str) -> Callable[[ReadBack], ReadBack]:
    return _register(READBACKS, name)


def operation(resource_type: str, name: str) -> Callable[[Operation], Operation]:
    """``name`` without the ``$``."""
    return _register(OPERATIONS, (resource_type, name))


def missing(mappings: Mappings) -> list[str]:
    """Every hook a table names that no workflow registered."""
    absent: list[str] = []
    for rtype, table in sorted(mappings.tables.items()):
        if table.writes is None:
            continue
        steps = [table.writes.create, *table.writes.update, *table.writes.steps]
        for step in (s for s in steps if s is not None):
            if step.resolve and step.resolve not in RESOLVERS:
                absent.append(f"{rtype} {step.name}: resolver {step.resolve}")
            if step.readback and step.readback not in READBACKS:
                absent.append(f"{rtype} {step.name}: read-back {step.readback}")
        for op in table.writes.operations:
            if (rtype, op.name) not in OPERATIONS:
                absent.append(f"{rtype}: operation ${op.name}")
    return absent


def check(mappings: Mappings) -> None:
    """Refuse to start when a table names a hook nothing registered."""
    absent = missing(mappings)
    if absent:
        raise RuntimeError(
            "The mapping tables name workflow hooks nothing registered (import"
            " facade.workflows first): " + "; ".join(absent)
        )
