"""Named workflow hooks the mapping tables point at, registered by :mod:`facade.workflows`.

A table names what its writes need by name (``resolve: open-slot``,
``readback: booked-slot``, ``operations: [{name: book}]``); the module that owns
the resource's workflow registers the code under that name:

- a *resolver* completes a write's athena fields before the call and may refuse
  with a typed error pointing at the element (``open-slot`` finds the slot a
  booking takes);
- a *read-back* answers, after an ambiguous write, whether it took effect
  (athena's record, or None);
- an *operation* handles ``[base]/{Type}/${name}``;
- a *completer* turns athena's answer to a write step into the write's outcome
  (``complete: eligibility-response`` stores the request and the response it builds);
- a *collection* holds records the facade keeps itself (``surface: store`` routes name
  it as their ``path``): ``get`` one by local id, ``page`` through a practice's.

Entry points import :mod:`facade.workflows` (which registers everything) and call
:func:`check` once at start, so a table naming an unregistered hook fails the
start instead of a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

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
# (the write, athena's record) -> the outcome
Completer = Callable[["WriteContext", Json], Awaitable["WriteOutcome"]]


class Collection(Protocol):
    """Records the facade keeps (facade/store/), as a ``surface: store`` route reads them.

    Both return stored FHIR resources (dicts with ``id``); ``params`` are the route's
    pushed upstream parameters (e.g. ``("patient", "a-195900.E-60178")``). ``page`` answers
    up to ``limit`` records from ``offset`` in a stable order, and whether more follow.
    """

    async def get(self, services: Services, practice: str, local: str) -> Json | None: ...

    async def page(
        self,
        services: Services,
        practice: str,
        params: list[tuple[str, str]],
        offset: int,
        limit: int,
    ) -> tuple[list[Json], bool]: ...


RESOLVERS: dict[str, Resolver] = {}
READBACKS: dict[str, ReadBack] = {}
OPERATIONS: dict[tuple[str, str], Operation] = {}
COMPLETERS: dict[str, Completer] = {}
COLLECTIONS: dict[str, Collection] = {}

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


def completer(name: str) -> Callable[[Completer], Completer]:
    return _register(COMPLETERS, name)


def collection(name: str, store: Collection) -> None:
    """Register the collection a ``surface: store`` route names as its ``path``."""
    _register(COLLECTIONS, name)(store)


def missing(mappings: Mappings) -> list[str]:
    """Every hook a table names that no workflow registered."""
    absent: list[str] = []
    for rtype, table in sorted(mappings.tables.items()):
        for route in [table.routes.read, *table.routes.search]:
            if route.surface == "store" and route.path not in COLLECTIONS:
                absent.append(f"{rtype} {route.name}: collection {route.path}")
        if table.writes is None:
            continue
        steps = [table.writes.create, *table.writes.update, *table.writes.steps]
        for step in (s for s in steps if s is not None):
            if step.resolve and step.resolve not in RESOLVERS:
                absent.append(f"{rtype} {step.name}: resolver {step.resolve}")
            if step.readback and step.readback not in READBACKS:
                absent.append(f"{rtype} {step.name}: read-back {step.readback}")
            if step.complete and step.complete not in COMPLETERS:
                absent.append(f"{rtype} {step.name}: completer {step.complete}")
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
