"""What the tools share: engine searches in bounded pages, cursors, and patient arguments.

A search-backed tool asks the engine (:func:`facade.engine.searches.search`, strict
handling: an unknown parameter is an error a model can correct) for one page of at
most ``count`` results. Its ``next_cursor`` is the engine's own signed paging cursor
(bound to the query and the caller's compartment); the tool is called again with the
same arguments and that cursor for the next page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import Field

from facade.auth import policy
from facade.engine import reads, searches
from facade.engine.writes import WriteOutcome
from facade.errors import FacadeError, InvalidRequest, NotFound
from facade.mcp.tool import ToolCall
from facade.search import parse_query

Json = dict[str, Any]
DEFAULT_COUNT = 20
MAX_COUNT = 100

Count = Annotated[
    int,
    Field(ge=1, le=MAX_COUNT, description="Results per page (default 20, at most 100)."),
]
Cursor = Annotated[
    str | None,
    Field(
        max_length=4096,
        description="next_cursor from the previous answer, to get the next page "
        "(call again with the same other arguments).",
    ),
]
PatientId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=80,
        description="FHIR Patient id, e.g. a-195900.E-60178 (or Patient/a-195900.E-60178).",
    ),
]
DateOrTime = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:\d{2}))?$",
        description="A date (YYYY-MM-DD, the whole local day) or a dateTime with a time zone.",
    ),
]


@dataclass(frozen=True)
class Page:
    resources: list[Json]
    next_cursor: str | None
    total: int | None


def next_cursor(bundle: Json) -> str | None:
    """The ``_cursor`` of the Bundle's ``next`` link (the engine signs it), or None."""
    for link in bundle.get("link", []):
        if link.get("relation") == "next":
            values = parse_qs(urlsplit(str(link.get("url"))).query).get("_cursor")
            return values[0] if values else None
    return None


async def page(
    call: ToolCall,
    resource_type: str,
    items: list[tuple[str, str]],
    *,
    count: int,
    cursor: str | None = None,
) -> Page:
    """One page of an engine search, matches only (no includes)."""
    query = [*items, ("_count", str(count))]
    if cursor:
        query.append(("_cursor", cursor))
    req = parse_query(resource_type, query)
    bundle = await searches.search(call.services, call.auth, resource_type, req, strict=True)
    found = [
        e["resource"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode", "match") == "match"
    ]
    return Page(found, next_cursor(bundle), bundle.get("total"))


def checked(outcome: WriteOutcome) -> Json:
    """A write's or operation's body; an answer with an error status (a replayed refusal
    from the ledger) is raised as the error it records."""
    if outcome.status < 400:
        return outcome.body
    issue = (outcome.body.get("issue") or [{}])[0]
    error = FacadeError(str(issue.get("diagnostics") or f"The request failed ({outcome.status})"))
    error.status = outcome.status
    error.code = str(issue.get("code") or "exception")
    raise error


def typed_reference(kind: str, value: str) -> str:
    """``a-1.Provider-2`` or ``Practitioner/a-1.Provider-2`` -> ``Practitioner/a-1.Provider-2``."""
    value = value.strip()
    return value if value.startswith(f"{kind}/") else f"{kind}/{value}"


def patient_id(value: str) -> str:
    """``Patient/x`` or ``x`` -> ``x``."""
    return value.strip().removeprefix("Patient/")


def confine(call: ToolCall, resource_type: str, patient: str) -> str:
    """A patient argument checked against the token's patient compartment for ``resource_type``.

    The engine would pin a compartment-limited search to the token's own patient and
    quietly find nothing for another; a tool says so instead, as a read of that
    patient would (404, no existence leak). Returns the bare id.
    """
    pid = patient_id(patient)
    table = reads.table_of(call.services, resource_type)
    call.auth.require(resource_type, "s")  # the scope first (as the engine's search would)
    confined = None if table.shared else policy.compartment_patient(call.auth, resource_type, "s")
    if confined is not None and pid != confined:
        raise NotFound(f"Patient/{pid} is not known")
    return pid


async def displays(call: ToolCall, references: set[str]) -> dict[str, str]:
    """Names of shared reference data (Practitioner, Location) through engine reads (cached);
    a reference the token cannot read keeps no name."""
    names: dict[str, str] = {}
    for value in sorted(references)[:20]:
        kind, _, rid = value.partition("/")
        try:
            entry = await reads.read(call.services, call.auth, kind, rid)
        except FacadeError:
            continue
        name = entry.resource.get("name")
        if isinstance(name, list) and name and isinstance(name[0], dict):
            first = name[0]
            text = first.get("text") or " ".join(
                [*first.get("prefix", []), *first.get("given", []), first.get("family", "")]
            )
            name = text.strip()
        if isinstance(name, str) and name:
            names[value] = name
    return names


def bounds(
    name: str, lower: str | None, upper: str | None, *, required: bool = False
) -> list[tuple[str, str]]:
    """``date=ge{lower}&date=le{upper}`` (either may be absent unless ``required``)."""
    if required and not (lower and upper):
        raise InvalidRequest("Give both ends of the date range")
    items = []
    if lower:
        items.append((name, f"ge{lower}"))
    if upper:
        items.append((name, f"le{upper}"))
    return items


def more(next_page: str | None) -> str:
    return " More results: call again with cursor=next_cursor." if next_page else ""
