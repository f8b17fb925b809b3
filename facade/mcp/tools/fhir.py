"""Generic FHIR tools: read and search over every resource type the mapping tables serve
(the list comes from the tables), through the engine's read and search."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from facade.engine import reads
from facade.errors import InvalidRequest
from facade.mapping.loader import Mappings
from facade.mcp.query import Count, Cursor, more, page
from facade.mcp.render import reference, resource_line, resource_row, without_narrative
from facade.mcp.tool import Arguments, Hints, ToolCall, ToolResult, tool

Json = dict[str, Any]
ResourceType = Annotated[
    str,
    Field(
        pattern=r"^[A-Z][A-Za-z]+$",
        description="FHIR resource type (one this server serves).",
    ),
]
# result parameters the tool's own arguments replace, or that it does not offer
CONTROL = {
    "_count": "use the count argument",
    "_cursor": "use the cursor argument",
    "_include": "read the references with fhir_read instead",
    "_revinclude": "search the other type instead",
    "_summary": "results are summarised already (full=true for whole resources)",
    "_elements": "results are summarised already (full=true for whole resources)",
    "_format": "answers are JSON",
    "_pretty": "answers are JSON",
}


def served_types(schema: Json, mappings: Mappings) -> None:
    """The schema's resource_type names exactly the types the tables serve."""
    schema["properties"]["resource_type"]["enum"] = sorted(mappings.tables)


class FhirRead(Arguments):
    resource_type: ResourceType
    id: Annotated[str, Field(min_length=1, max_length=64, description="The resource's id.")]


@tool(
    "fhir_read",
    title="Read a FHIR resource",
    arguments=FhirRead,
    hints=Hints(read_only=True),
    schema_hook=served_types,
)
async def fhir_read(call: ToolCall, args: FhirRead) -> ToolResult:
    """Read one FHIR R4 resource by type and id, e.g. a Practitioner or Location a
    reference names (Practitioner/a-195900.Provider-1 is resource_type Practitioner, id
    a-195900.Provider-1). Answers the whole resource (US Core where one applies) without
    its meta. Use the specific tools for patients, appointments and encounters first."""
    rid = args.id.removeprefix(f"{args.resource_type}/")
    entry = await reads.read(call.services, call.auth, args.resource_type, rid)
    resource = {k: v for k, v in entry.resource.items() if k != "meta"}
    text = resource_line(resource_row(resource))
    return ToolResult(text, {"reference": reference(resource), "resource": resource})


class FhirSearch(Arguments):
    resource_type: ResourceType
    parameters: Annotated[
        dict[str, str | list[str]],
        Field(
            max_length=20,
            description='FHIR search parameters, e.g. {"name": "smith"} or '
            '{"patient": "Patient/a-195900.E-60178", "date": ["ge2025-01-01", "le2025-12-31"]} '
            "(a list repeats the parameter; a comma inside a value means OR).",
        ),
    ] = Field(default_factory=dict)
    full: Annotated[
        bool,
        Field(description="Whole resources (without narrative) instead of short summaries."),
    ] = False
    count: Count = 20
    cursor: Cursor = None


@tool(
    "fhir_search",
    title="Search FHIR resources",
    arguments=FhirSearch,
    hints=Hints(read_only=True),
    schema_hook=served_types,
)
async def fhir_search(call: ToolCall, args: FhirSearch) -> ToolResult:
    """Search any resource type this server serves with FHIR R4 search parameters (the
    server's CapabilityStatement lists them; an unsupported parameter or combination is
    an error naming the supported ones). Answers a short summary of each match (id,
    reference, status, dates, names, codes, references), or whole resources with
    full=true; at most `count` per page, `cursor` for the next page."""
    items: list[tuple[str, str]] = []
    for name, value in args.parameters.items():
        if name.split(":")[0] in CONTROL:
            raise InvalidRequest(f"{name} is not taken here: {CONTROL[name.split(':')[0]]}")
        for one in [value] if isinstance(value, str) else value:
            items.append((name, one))
    found = await page(call, args.resource_type, items, count=args.count, cursor=args.cursor)
    rows = [resource_row(r) for r in found.resources]
    results = [without_narrative(r) for r in found.resources] if args.full else rows
    text = f"{len(rows)} {args.resource_type} result(s)"
    text += "".join(f"\n- {resource_line(r)}" for r in rows)
    return ToolResult(
        text + more(found.next_cursor),
        {
            "resource_type": args.resource_type,
            "results": results,
            "next_cursor": found.next_cursor,
            "total": found.total,
        },
    )
