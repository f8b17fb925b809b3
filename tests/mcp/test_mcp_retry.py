"""A retried book tool call books once: the same JSON-RPC request sent again (as a client does
when the answer is lost) gets the same answer from the write ledger, and athena is called
once; the idempotency key comes from the request, so a new request for the slot is refused."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.mcp.conftest import BOOK_CALL, DONNA, Stack, http_client, local, take_slot, window


def _rpc(stack: Stack, token: str, message: dict[str, Any]) -> dict[str, Any]:
    """One raw Streamable HTTP POST (handshake-era protocol, stateless server)."""
    response = httpx.post(
        stack.mcp_url,
        json=message,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("application/json"):
        answer: dict[str, Any] = response.json()
        return answer
    events = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
    found: dict[str, Any] = json.loads(events[-1])
    return found


async def test_the_same_request_sent_twice_books_once(stack: Stack, writer_token: str) -> None:
    first, last = window(days=6, length=4)
    async with http_client(stack, writer_token) as client:
        found = await client.call_tool("find_open_slots", {"date_from": first, "date_to": last})
    slot = take_slot(found.structured_content["slots"])
    call = {
        "jsonrpc": "2.0",
        "id": 4242,
        "method": "tools/call",
        "params": {
            "name": "book_appointment",
            "arguments": {"appointment_id": slot["appointment_id"], "patient_id": DONNA},
        },
    }
    before = stack.world.calls(*BOOK_CALL)
    answer = _rpc(stack, writer_token, call)
    assert answer["result"].get("isError") is not True, answer
    retried = _rpc(stack, writer_token, call)
    assert retried["result"]["structuredContent"] == answer["result"]["structuredContent"]
    assert stack.world.calls(*BOOK_CALL) == before + 1  # athena booked it once
    record = stack.world.schedule.appointment("195900", local(slot["appointment_id"]))
    assert (record.status, record.patientid) == ("f", 60178)

    # another request (a new id) for the same slot is a new booking attempt: taken
    again = _rpc(stack, writer_token, {**call, "id": 4243})
    assert again["result"]["isError"] is True
    assert "already booked" in again["result"]["content"][0]["text"]
    assert stack.world.calls(*BOOK_CALL) == before + 1
