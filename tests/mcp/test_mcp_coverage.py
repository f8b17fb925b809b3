"""Coverage and eligibility tools: the front-desk question "is she covered, and what will the
office visit cost?", with a system token and with the demo patient's own token; another
patient's coverage is a tool error and reaches no payer; each check asks athena once."""

from __future__ import annotations

from typing import Any

from tests.mcp.conftest import DONNA, ELEANA, Stack, http_client

ELIGIBILITY = "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}/eligibility"


def _checks(world: Any) -> int:
    return int(world.calls("POST", ELIGIBILITY))


async def test_coverage_then_eligibility_for_an_office_visit(
    stack: Stack, writer_token: str
) -> None:
    async with http_client(stack, writer_token) as client:
        listed = await client.call_tool("get_coverage", {"patient_id": DONNA})
        assert not listed.is_error, listed.content
        coverages = listed.structured_content["coverages"]
        primary = coverages[0]
        assert primary["order"] == 1 and primary["status"] == "active"
        assert primary["member_id"] and primary["payer"].startswith("Organization/")
        assert "BCBS" in listed.content[0].text

        checked = await client.call_tool("check_eligibility", {"patient_id": DONNA})
        assert not checked.is_error, checked.content
        result = checked.structured_content["eligibility"]
        assert result["outcome"] == "complete" and result["inforce"] is True
        assert result["coverage_id"] == primary["coverage_id"]
        copays = [b for b in result["benefits"] if "amount" in b and b.get("network")]
        assert copays, result["benefits"]
        assert "Eligibility complete" in checked.content[0].text

        # The response the tool created is a FHIR resource like any other.
        read = await client.call_tool(
            "fhir_read",
            {"resource_type": "CoverageEligibilityResponse", "id": result["response_id"]},
        )
        assert not read.is_error, read.content


async def test_each_check_asks_athena_once_and_is_its_own_response(
    stack: Stack, writer_token: str
) -> None:
    async with http_client(stack, writer_token) as client:
        arguments = {"patient_id": ELEANA, "service_type": "30"}
        before = _checks(stack.world)
        first = await client.call_tool("check_eligibility", arguments)
        assert not first.is_error, first.content
        assert _checks(stack.world) == before + 1
        # A new tools/call is a new check (a new JSON-RPC id); the ledger keys per call,
        # which test_mcp_retry exercises for bookings. Here: the answer is a fresh response.
        second = await client.call_tool("check_eligibility", arguments)
        assert not second.is_error
        assert _checks(stack.world) == before + 2
        assert (
            second.structured_content["eligibility"]["response_id"]
            != first.structured_content["eligibility"]["response_id"]
        )


async def test_her_own_token_checks_only_her_coverage(stack: Stack, donna_token: str) -> None:
    async with http_client(stack, donna_token) as client:
        mine = await client.call_tool("get_coverage", {"patient_id": DONNA})
        assert not mine.is_error, mine.content
        before = _checks(stack.world)
        for tool in ("get_coverage", "check_eligibility"):
            refused = await client.call_tool(tool, {"patient_id": ELEANA})
            assert refused.is_error, refused.structured_content
            assert "is not known" in refused.content[0].text
        assert _checks(stack.world) == before  # no payer was asked about Eleana
