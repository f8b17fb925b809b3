"""Every tool with the demo patient's token (Patient/a-195900.E-60178, a real code flow):
only her own data; another patient's id is a tool error; a booking or a cancellation for
another patient is refused and the emulator's schedule is unchanged."""

from __future__ import annotations

from typing import Any

from tests.mcp.conftest import (
    DONNA,
    ELEANA,
    Stack,
    http_client,
    local,
    patient_token,
    schedule,
    take_slot,
    window,
)


def _error(answer: Any, text: str = "is not known") -> None:
    assert answer.is_error, answer.structured_content
    assert text in answer.content[0].text


async def test_read_tools_see_only_her_record(stack: Stack, donna_token: str) -> None:
    async with http_client(stack, donna_token) as client:
        found = await client.call_tool("search_patients", {"name": "sandbox"})
        assert [p["id"] for p in found.structured_content["patients"]] == [DONNA]
        assert (
            await client.call_tool("search_patients", {"identifier": "60179"})
        ).structured_content["patients"] == []

        summary = await client.call_tool("get_patient_summary", {"patient_id": DONNA})
        assert not summary.is_error and summary.structured_content["patient"]["id"] == DONNA
        _error(await client.call_tool("get_patient_summary", {"patient_id": ELEANA}))

        mine = await client.call_tool("list_encounters", {"patient_id": DONNA, "count": 5})
        assert not mine.is_error and mine.structured_content["encounters"]
        for row in mine.structured_content["encounters"]:
            assert row["patient"] == f"Patient/{DONNA}"
            assert all(d["encounter"] == row["reference"] for d in row.get("diagnoses", []))
        _error(await client.call_tool("list_encounters", {"patient_id": ELEANA}))

        appointments = await client.call_tool("list_appointments", {"patient_id": DONNA})
        assert not appointments.is_error
        assert all(
            a["patient"] == f"Patient/{DONNA}"
            for a in appointments.structured_content["appointments"]
        )
        _error(await client.call_tool("list_appointments", {"patient_id": ELEANA}))
        first, last = window(days=2, length=3)
        ranged = await client.call_tool("list_appointments", {"date_from": first, "date_to": last})
        assert all(
            a["patient"] == f"Patient/{DONNA}" for a in ranged.structured_content["appointments"]
        )

        _error(await client.call_tool("fhir_read", {"resource_type": "Patient", "id": ELEANA}))
        searched = await client.call_tool(
            "fhir_search",
            {"resource_type": "Encounter", "parameters": {"patient": f"Patient/{ELEANA}"}},
        )
        assert searched.structured_content["results"] == []  # pinned to her: nothing else
        shared = await client.call_tool(
            "fhir_search", {"resource_type": "Location", "parameters": {"name": "main"}}
        )
        assert shared.structured_content["results"]  # shared reference data

        slots = await client.call_tool(
            "find_open_slots", {"date_from": first, "date_to": last, "patient_id": DONNA}
        )
        assert not slots.is_error and slots.structured_content["slots"]
        _error(
            await client.call_tool(
                "find_open_slots", {"date_from": first, "date_to": last, "patient_id": ELEANA}
            )
        )


async def test_she_books_and_cancels_only_for_herself(stack: Stack, donna_token: str) -> None:
    async with http_client(stack, donna_token) as client:
        first, last = window(days=4, length=4)
        found = await client.call_tool("find_open_slots", {"date_from": first, "date_to": last})
        other_slot = take_slot(found.structured_content["slots"])
        before = schedule(stack.world)
        refused = await client.call_tool(
            "book_appointment",
            {"appointment_id": other_slot["appointment_id"], "patient_id": ELEANA},
        )
        assert refused.is_error, refused.structured_content
        assert refused.structured_content["error"]["status"] == 403
        assert schedule(stack.world) == before  # nothing booked for anyone

        # someone else's appointment: not hers to cancel (and not visible: 404)
        eleanas = next(a for a in before if a[1] == "f" and a[2] == 60179)
        cancel = await client.call_tool(
            "cancel_appointment", {"appointment_id": f"a-195900.Appointment-{eleanas[0]}"}
        )
        _error(cancel)
        assert schedule(stack.world) == before

        mine = await client.call_tool(
            "book_appointment",
            {"appointment_id": other_slot["appointment_id"], "patient_id": DONNA},
        )
        assert not mine.is_error, mine.content
        booked = mine.structured_content["appointment"]
        assert booked["patient"] == f"Patient/{DONNA}" and booked["status"] == "booked"
        assert stack.world.schedule.appointment("195900", local(booked["id"])).patientid == 60178
        gone = await client.call_tool("cancel_appointment", {"appointment_id": booked["id"]})
        assert not gone.is_error
        assert stack.world.schedule.appointment("195900", local(booked["id"])).status == "x"


async def test_a_read_only_patient_token_cannot_write(stack: Stack) -> None:
    token = patient_token(stack.base, scope="launch/patient openid fhirUser patient/*.rs")
    async with http_client(stack, token) as client:
        first, last = window(days=5, length=3)
        found = await client.call_tool("find_open_slots", {"date_from": first, "date_to": last})
        slot = take_slot(found.structured_content["slots"])
        before = schedule(stack.world)
        refused = await client.call_tool(
            "book_appointment", {"appointment_id": slot["appointment_id"], "patient_id": DONNA}
        )
        _error(refused, "do not allow create")
    assert schedule(stack.world) == before
