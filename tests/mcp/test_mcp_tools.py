"""Every tool over Streamable HTTP with system tokens: listing and schemas, bounded answers,
paging, tool errors, and the front-desk story (find patient -> slots -> book -> list)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from mcp import MCPError

from facade.mapping.loader import load_mappings
from tests.mcp.conftest import (
    BOOK_CALL,
    DONNA,
    Stack,
    http_client,
    local,
    schedule,
    take_slot,
    window,
)

ANNOTATIONS = {  # name: (readOnly, destructive, idempotent)
    "search_patients": (True, False, True),
    "get_patient_summary": (True, False, True),
    "list_appointments": (True, False, True),
    "find_open_slots": (True, False, True),
    "book_appointment": (False, False, False),
    "cancel_appointment": (False, True, True),
    "list_encounters": (True, False, True),
    "get_coverage": (True, False, True),
    "check_eligibility": (False, False, False),
    "submit_claim": (False, False, False),
    "get_claim_status": (True, False, True),
    "list_claims": (True, False, True),
    "fhir_read": (True, False, True),
    "fhir_search": (True, False, True),
}


async def test_tools_are_listed_with_schemas_descriptions_and_annotations(
    stack: Stack, system_token: str
) -> None:
    async with http_client(stack, system_token) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == set(ANNOTATIONS)
    for name, tool in tools.items():
        hints = tool.annotations
        assert hints is not None
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (
            ANNOTATIONS[name]
        ), name
        assert hints.open_world_hint is False
        description = tool.description or ""
        assert 150 < len(description) < 900 and "\n\n" not in description, name  # one paragraph
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False, name
        for prop in schema["properties"].values():
            assert prop.get("description") or "$ref" in prop or "anyOf" in prop, (name, prop)
        if "count" in schema["properties"]:
            count = schema["properties"]["count"]
            assert (count["default"], count["maximum"], count["minimum"]) == (20, 100, 1)
    served = sorted(load_mappings().tables)  # from the tables, never a hard-coded list
    for name in ("fhir_read", "fhir_search"):
        assert tools[name].input_schema["properties"]["resource_type"]["enum"] == served
    assert tools["search_patients"].input_schema["properties"]["birth_date"]["anyOf"]


async def _all_pages(client: Any, tool: str, arguments: dict[str, Any], key: str) -> list[Any]:
    pages, cursor = [], None
    for _ in range(50):
        answer = await client.call_tool(
            tool, {**arguments, **({"cursor": cursor} if cursor else {})}
        )
        assert not answer.is_error, answer.content
        data = answer.structured_content
        pages.append(data[key])
        cursor = data["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("paging did not end")


async def test_long_results_come_in_bounded_pages(stack: Stack, system_token: str) -> None:
    async with http_client(stack, system_token) as client:
        pages = await _all_pages(
            client, "search_patients", {"name": "sandbox", "count": 2}, "patients"
        )
        assert len(pages) >= 4 and all(len(p) <= 2 for p in pages)
        ids = [p["id"] for page in pages for p in page]
        assert len(ids) == len(set(ids)) == 7  # the sandbox patients, no gap, no repeat
        assert all(i.startswith("a-195900.E-") for i in ids)

        first, last = window(days=2, length=6)
        params = {"date_from": first, "date_to": last, "count": 25}
        appointments = await _all_pages(client, "list_appointments", params, "appointments")
        assert len(appointments) >= 2 and all(len(p) <= 25 for p in appointments)
        found = [a["id"] for page in appointments for a in page]
        assert len(found) == len(set(found))
        assert all(first <= a["start"][:10] <= last for page in appointments for a in page)

        slots = await _all_pages(
            client, "find_open_slots", {"date_from": first, "date_to": last, "count": 30}, "slots"
        )
        assert len(slots) >= 2 and all(len(p) <= 30 for p in slots)
        offered = [s["appointment_id"] for page in slots for s in page]
        assert len(offered) == len(set(offered)) <= 100

        # default page size 20; at most 100
        default = await client.call_tool("search_patients", {"name": "s"})
        assert len(default.structured_content["patients"]) == 20
        too_many = await client.call_tool("search_patients", {"name": "s", "count": 101})
        assert too_many.is_error and "count" in too_many.content[0].text

        stale = await client.call_tool(
            "search_patients", {"name": "other", "cursor": "not-a-cursor"}
        )
        assert stale.is_error


async def test_read_tools_answer_the_few_fields_a_model_needs(
    stack: Stack, system_token: str
) -> None:
    async with http_client(stack, system_token) as client:
        found = await client.call_tool(
            "search_patients", {"name": "Sandboxtest", "birth_date": "1972-10-24"}
        )
        assert not found.is_error
        (donna,) = found.structured_content["patients"]
        assert donna["id"] == DONNA and donna["reference"] == f"Patient/{DONNA}"
        assert donna["name"] == "Donna Marie Sandboxtest" and donna["birthDate"] == "1972-10-24"
        assert "Donna Marie Sandboxtest" in found.content[0].text
        by_id = await client.call_tool("search_patients", {"identifier": "60178"})
        assert [p["id"] for p in by_id.structured_content["patients"]] == [DONNA]

        summary = await client.call_tool("get_patient_summary", {"patient_id": DONNA})
        assert not summary.is_error, summary.content
        data = summary.structured_content
        assert data["patient"]["id"] == DONNA
        assert len(data["recent_encounters"]) <= 5 and len(data["upcoming_appointments"]) <= 5
        starts = [e["start"] for e in data["recent_encounters"]]
        assert starts == sorted(starts, reverse=True)

        encounters = await client.call_tool(
            "list_encounters", {"patient_id": f"Patient/{DONNA}", "count": 3}
        )
        assert not encounters.is_error
        rows = encounters.structured_content["encounters"]
        assert 0 < len(rows) <= 3 and all(r["patient"] == f"Patient/{DONNA}" for r in rows)
        diagnosed = [r for r in rows if r.get("diagnoses")]
        assert diagnosed, rows
        for row in diagnosed:
            for dx in row["diagnoses"]:
                assert dx["encounter"] == row["reference"] and dx["code"]["code"]

        practitioner = rows[0]["practitioner"]
        kind, _, rid = practitioner.partition("/")
        read = await client.call_tool("fhir_read", {"resource_type": kind, "id": rid})
        assert not read.is_error
        assert read.structured_content["resource"]["id"] == rid
        assert "meta" not in read.structured_content["resource"]

        locations = await client.call_tool(
            "fhir_search", {"resource_type": "Location", "parameters": {"name": "main"}}
        )
        assert not locations.is_error
        assert all(
            r["reference"].startswith("Location/") for r in locations.structured_content["results"]
        )
        full = await client.call_tool(
            "fhir_search",
            {
                "resource_type": "Encounter",
                "parameters": {"patient": DONNA},
                "full": True,
                "count": 2,
            },
        )
        assert all(r["resourceType"] == "Encounter" for r in full.structured_content["results"])


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("fhir_read", {"resource_type": "Patient", "id": "a-195900.E-99999999"}, "is not known"),
        ("fhir_read", {"resource_type": "ImagingStudy", "id": "x"}, "not supported"),
        ("fhir_search", {"resource_type": "Patient", "parameters": {"colour": "red"}}, "colour"),
        ("fhir_search", {"resource_type": "Patient", "parameters": {"_count": "5"}}, "count"),
        ("list_appointments", {"status": ["booked"]}, ""),  # needs patient or both dates
        ("search_patients", {}, "Give a name"),
        ("search_patients", {"nmae": "x"}, "nmae"),
        ("get_patient_summary", {"patient_id": "a-195900.E-99999999"}, "is not known"),
        ("book_appointment", {"appointment_id": "nonsense", "patient_id": DONNA}, "appointment_id"),
    ],
)
async def test_failures_are_tool_errors_with_the_outcome_message(
    stack: Stack, system_token: str, tool: str, arguments: dict[str, Any], message: str
) -> None:
    async with http_client(stack, system_token) as client:
        answer = await client.call_tool(tool, arguments)
    assert answer.is_error
    text = answer.content[0].text
    assert message in text
    assert "Traceback" not in text and "File " not in text
    assert answer.structured_content["error"]["message"]


async def test_an_unknown_tool_is_a_protocol_error(stack: Stack, system_token: str) -> None:
    async with http_client(stack, system_token) as client:
        with pytest.raises(MCPError):
            await client.call_tool("drop_tables", {})


async def test_write_tools_with_a_read_only_token_change_nothing(
    stack: Stack, system_token: str
) -> None:
    before = schedule(stack.world)
    async with http_client(stack, system_token) as client:
        first, last = window(days=3, length=3)
        slots = await client.call_tool("find_open_slots", {"date_from": first, "date_to": last})
        slot = take_slot(slots.structured_content["slots"])
        booked = await client.call_tool(
            "book_appointment", {"appointment_id": slot["appointment_id"], "patient_id": DONNA}
        )
        assert booked.is_error and "do not allow create on Appointment" in booked.content[0].text
        assert booked.structured_content["error"]["status"] == 403
        some = next(a for a in before if a[1] == "f")
        cancel = await client.call_tool(
            "cancel_appointment", {"appointment_id": f"a-195900.Appointment-{some[0]}"}
        )
        assert cancel.is_error and "do not allow update" in cancel.content[0].text
    assert schedule(stack.world) == before


async def test_front_desk_story(stack: Stack, writer_token: str) -> None:
    """find patient -> find slots -> book -> list appointments -> cancel, as an agent would."""
    async with http_client(stack, writer_token) as client:
        patient = (
            await client.call_tool("search_patients", {"name": "Donna", "birth_date": "1972-10-24"})
        ).structured_content["patients"][0]
        first, last = window(days=2, length=5)
        found = await client.call_tool(
            "find_open_slots",
            {"date_from": first, "date_to": last, "patient_id": patient["id"], "count": 50},
        )
        assert not found.is_error, found.content
        slot = take_slot(found.structured_content["slots"])
        assert slot.get("practitioner_name") and slot.get("location_name")
        calls = stack.world.calls(*BOOK_CALL)
        booked = await client.call_tool(
            "book_appointment",
            {"appointment_id": slot["appointment_id"], "patient_id": patient["id"]},
        )
        assert not booked.is_error, booked.content
        appointment = booked.structured_content["appointment"]
        assert appointment["id"] == slot["appointment_id"] and appointment["status"] == "booked"
        assert appointment["patient"] == f"Patient/{DONNA}"
        assert stack.world.calls(*BOOK_CALL) == calls + 1
        record = stack.world.schedule.appointment("195900", local(appointment["id"]))
        assert (record.status, record.patientid) == ("f", 60178)

        listed = await client.call_tool(
            "list_appointments",
            {"patient_id": patient["id"], "date_from": first, "date_to": last, "count": 100},
        )
        assert appointment["id"] in [a["id"] for a in listed.structured_content["appointments"]]

        cancelled = await client.call_tool(
            "cancel_appointment", {"appointment_id": appointment["id"], "reason": "test"}
        )
        assert not cancelled.is_error, cancelled.content
        assert cancelled.structured_content["appointment"]["status"] == "cancelled"
        assert stack.world.schedule.appointment("195900", local(appointment["id"])).status == "x"
        again = await client.call_tool("cancel_appointment", {"appointment_id": appointment["id"]})
        assert not again.is_error  # idempotent: nothing changes


async def test_logs_name_the_tool_and_outcome_never_the_data(
    stack: Stack, system_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with http_client(stack, system_token) as client:
        await client.call_tool(
            "search_patients", {"name": "Sandboxtest", "birth_date": "1972-10-24"}
        )
        await client.call_tool("get_patient_summary", {"patient_id": DONNA})
        await client.call_tool("get_patient_summary", {"patient_id": "a-195900.E-99999999"})
    text = caplog.text
    assert "mcp tool=search_patients outcome=ok" in text
    assert "mcp tool=get_patient_summary outcome=404" in text
    for phi in ("Sandboxtest", "Donna", "1972-10-24", "60178", "99999999"):
        assert phi not in text, phi
