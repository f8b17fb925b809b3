"""Claims tools: "bill Eleana's visit and tell me where the claim is", with a system token;
a retried call bills once (keyed per call); the demo patient cannot bill another patient,
and athena holds no new claim after the refusal."""

from __future__ import annotations

from typing import Any

from tests.mcp.conftest import DONNA, ELEANA, PID, Stack, http_client

PROVIDER = f"a-{PID}.Provider-23"


def _claims(world: Any, patientid: int) -> int:
    return len([c for c in world.claims.all(PID) if c.patientid == patientid])


async def test_submit_a_claim_then_follow_it(stack: Stack, writer_token: str) -> None:
    arguments = {
        "patient_id": ELEANA,
        "provider_id": PROVIDER,
        "service_date": "2025-06-27",
        "charges": [
            {"procedure": "99213", "diagnoses": ["J06.9"]},
            {"procedure": "36415", "diagnoses": ["J06.9", "I10"]},
        ],
    }
    before = _claims(stack.world, 60179)
    async with http_client(stack, writer_token) as client:
        submitted = await client.call_tool("submit_claim", arguments)
        assert not submitted.is_error, submitted.content
        claim = submitted.structured_content["claim"]
        assert claim["outcome"] == "queued" and claim["claim_id"].startswith(f"a-{PID}.Claim-")
        assert "submitted" in submitted.content[0].text
        assert _claims(stack.world, 60179) == before + 1

        status = await client.call_tool("get_claim_status", {"claim_id": claim["claim_id"]})
        assert not status.is_error, status.content
        payers = status.structured_content["payers"]
        assert [p["sequence"] for p in payers] == [1, 2]  # her primary and secondary
        assert all(p["outcome"] == "queued" for p in payers)

        listed = await client.call_tool("list_claims", {"patient_id": ELEANA})
        assert claim["claim_id"] in [c["claim_id"] for c in listed.structured_content["claims"]]

        denied = await client.call_tool("list_claims", {"patient_id": f"a-{PID}.E-60181"})
        gary = [
            c for c in denied.structured_content["claims"] if "error" in (c.get("outcomes") or [])
        ]
        assert gary, denied.structured_content
        why = await client.call_tool("get_claim_status", {"claim_id": gary[0]["claim_id"]})
        assert why.structured_content["payers"][0]["denial_codes"][0].startswith("CARC 27")


async def test_a_refusal_is_a_tool_error_and_bills_nothing(
    stack: Stack, writer_token: str, donna_token: str
) -> None:
    five = {"procedure": "99213", "diagnoses": ["I10", "E78.5", "E11.9", "J06.9"]}
    before = len(stack.world.claims.all(PID))
    async with http_client(stack, writer_token) as client:
        unknown = await client.call_tool(
            "submit_claim",
            {
                "patient_id": DONNA,
                "provider_id": PROVIDER,
                "charges": [{**five, "procedure": "99999"}],
            },
        )
        assert unknown.is_error and "fee schedule" in unknown.content[0].text
    async with http_client(stack, donna_token) as client:
        hostile = await client.call_tool(
            "submit_claim", {"patient_id": ELEANA, "provider_id": PROVIDER, "charges": [five]}
        )
        assert hostile.is_error
    assert len(stack.world.claims.all(PID)) == before
