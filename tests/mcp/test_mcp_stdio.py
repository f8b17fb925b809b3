"""``athena-facade mcp`` over stdio (the official client spawning the command): the same tools
and the same answers as Streamable HTTP for the same token; client_credentials in-process or
at a running facade's token endpoint; a token that does not verify stops it at start."""

from __future__ import annotations

import subprocess
from typing import Any

from tests.mcp.conftest import (
    ATHENA_FACADE,
    DONNA,
    ELEANA,
    Stack,
    http_client,
    stdio_client,
    stdio_env,
    window,
)


def _calls() -> list[tuple[str, dict[str, Any]]]:
    first, last = window(days=8, length=4)
    return [
        ("search_patients", {"name": "sandbox", "count": 3}),
        ("get_patient_summary", {"patient_id": DONNA, "appointments": 3, "encounters": 3}),
        ("get_patient_summary", {"patient_id": ELEANA}),
        ("list_appointments", {"patient_id": DONNA, "count": 5}),
        ("list_encounters", {"patient_id": DONNA, "count": 3}),
        ("find_open_slots", {"date_from": first, "date_to": last, "count": 5}),
        ("fhir_read", {"resource_type": "Practitioner", "id": "a-195900.Provider-1"}),
        ("fhir_search", {"resource_type": "Encounter", "parameters": {"patient": DONNA}}),
        ("cancel_appointment", {"appointment_id": "a-195900.Appointment-1"}),
        ("search_patients", {"name": "x", "count": 500}),
    ]


async def _answers(client: Any) -> list[tuple[bool, Any, str]]:
    found = []
    for name, arguments in _calls():
        answer = await client.call_tool(name, arguments)
        data = dict(answer.structured_content or {})
        if data.get("next_cursor"):  # signed with its time: equal pages, distinct tokens
            data["next_cursor"] = "present"
        found.append((bool(answer.is_error), data, answer.content[0].text))
    return found


async def test_stdio_and_http_give_the_same_answers(
    stack: Stack, donna_token: str, system_token: str
) -> None:
    for token in (donna_token, system_token):
        async with http_client(stack, token) as client:
            http_tools = (await client.list_tools()).tools
            over_http = await _answers(client)
        async with stdio_client(stack, FACADE_MCP_TOKEN=token) as client:
            stdio_tools = (await client.list_tools()).tools
            over_stdio = await _answers(client)
        assert [t.model_dump() for t in stdio_tools] == [t.model_dump() for t in http_tools]
        assert over_stdio == over_http
        assert any(error for error, _, _ in over_http)  # some calls are refused ...
        assert not all(error for error, _, _ in over_http)  # ... and others answered
    # the patient token: Eleana's summary is refused; the system token reads it
    assert over_http[2][0] is False


async def test_client_credentials_in_process_and_at_a_token_endpoint(stack: Stack) -> None:
    for args in (
        ("--scope", "system/Patient.rs"),  # local-dev in this process (embedded mode)
        (
            "--client-id",
            "local-dev",
            "--client-secret",
            "local-dev-secret",
            "--token-url",
            f"{stack.base}/auth/token",
            "--scope",
            "system/Patient.rs",
        ),
    ):
        async with stdio_client(stack, *args) as client:
            found = await client.call_tool("search_patients", {"name": "sandbox"})
            assert not found.is_error, found.content
            assert len(found.structured_content["patients"]) == 7
            refused = await client.call_tool("list_encounters", {"patient_id": DONNA})
            assert refused.is_error and "do not allow search on Encounter" in (
                refused.content[0].text
            )


def test_a_token_that_does_not_verify_stops_it_at_start(stack: Stack) -> None:
    done = subprocess.run(
        [ATHENA_FACADE, "mcp"],
        env=stdio_env(stack, FACADE_MCP_TOKEN="not-a-token"),
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert b"not authorized: The access token is invalid" in done.stderr
    assert done.stdout == b""  # stdout is MCP's alone
