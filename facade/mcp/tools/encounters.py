"""Encounter tools: a patient's encounters with their diagnoses (US Core Encounter and
Condition encounter-diagnosis, through engine searches)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from pydantic import Field

from facade.mcp.query import (
    Count,
    Cursor,
    DateOrTime,
    PatientId,
    bounds,
    confine,
    more,
    page,
)
from facade.mcp.render import condition_row, encounter_line, encounter_row
from facade.mcp.tool import Arguments, Hints, ToolCall, ToolResult, tool

Json = dict[str, Any]
Status = Literal["planned", "arrived", "in-progress", "finished", "cancelled"]
PARALLEL = 4  # diagnosis searches at once (one per encounter)


class ListEncounters(Arguments):
    patient_id: PatientId
    date_from: Annotated[DateOrTime | None, Field(description="Visits on or after.")] = None
    date_to: Annotated[DateOrTime | None, Field(description="Visits on or before.")] = None
    status: Annotated[
        list[Status] | None, Field(max_length=5, description="Only these statuses.")
    ] = None
    diagnoses: Annotated[
        bool, Field(description="Include each encounter's diagnoses (default true).")
    ] = True
    count: Count = 20
    cursor: Cursor = None


@tool(
    "list_encounters",
    title="List encounters and diagnoses",
    arguments=ListEncounters,
    hints=Hints(read_only=True),
)
async def list_encounters(call: ToolCall, args: ListEncounters) -> ToolResult:
    """List a patient's encounters (visits), optionally within a date range or with some
    statuses, each with its id, status, type, start and end, practitioner, location and
    reason, and (unless diagnoses is false) its encounter diagnoses with ICD-10/SNOMED
    codes. At most `count` encounters per page, `cursor` for the next page."""
    pid = confine(call, "Encounter", args.patient_id)
    items = [("patient", f"Patient/{pid}"), *bounds("date", args.date_from, args.date_to)]
    if args.status:
        items.append(("status", ",".join(args.status)))
    found = await page(call, "Encounter", items, count=args.count, cursor=args.cursor)
    rows = [encounter_row(e) for e in found.resources]
    data: Json = {"encounters": rows, "next_cursor": found.next_cursor, "total": found.total}
    if args.diagnoses and rows:
        if call.auth.scopes.allows("Condition", "s"):
            gate = asyncio.Semaphore(PARALLEL)

            async def diagnoses(row: Json) -> None:
                async with gate:
                    listed = await page(
                        call, "Condition", [("encounter", row["reference"])], count=100
                    )
                row["diagnoses"] = [condition_row(c) for c in listed.resources]

            async with asyncio.TaskGroup() as group:
                for row in rows:
                    group.create_task(diagnoses(row))
        else:
            data["diagnoses_error"] = "The access token's scopes do not allow search on Condition"
    text = f"{len(rows)} encounter(s)" + "".join(f"\n- {encounter_line(r)}" for r in rows)
    return ToolResult(text + more(found.next_cursor), data)
