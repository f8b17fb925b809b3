"""RFC 8707 resource indicators: a client may ask for a token for the MCP endpoint.

The FHIR base and the MCP endpoint (and the server's base URL) are one resource
server: a token for any of them is accepted by both, a token for anything else
by neither. SMART's ``aud`` keeps working as before (the FHIR base).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.auth.conftest import bearer
from tests.auth.smart_support import DONNA, exchange, run_flow


def _unverified(token: str) -> dict[str, Any]:
    """The token's claims without checking the signature (tests only look at ``aud``)."""
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def test_authorize_and_token_with_the_mcp_resource(smart_url: str, http: httpx.Client) -> None:
    mcp = f"{smart_url}/mcp"
    flow = run_flow(http, smart_url, user="patient.demo", extra={"aud": "", "resource": mcp})
    assert "code=" in flow.response.headers["location"], flow.response.text[:300]
    token = exchange(http, smart_url, flow, resource=mcp)
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    assert _unverified(access)["aud"] == mcp
    # one resource server: the same token reads FHIR (and, in tests/mcp, calls tools)
    read = http.get(f"{smart_url}/fhir/r4/Patient/{DONNA}", headers=bearer(access))
    assert read.status_code == 200
    introspected = http.post(
        f"{smart_url}/auth/introspect", data={"token": access}, headers=bearer(access)
    )
    assert introspected.json()["aud"] == mcp


def test_a_grant_keeps_its_resource(smart_url: str, http: httpx.Client) -> None:
    mcp = f"{smart_url}/mcp"
    flow = run_flow(http, smart_url, user="patient.demo", extra={"aud": "", "resource": mcp})
    other = exchange(http, smart_url, flow, resource=f"{smart_url}/fhir/r4")
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_target"


def test_smart_aud_without_resource_is_the_fhir_base(smart_url: str, http: httpx.Client) -> None:
    flow = run_flow(http, smart_url, user="patient.demo")
    token = exchange(http, smart_url, flow)
    assert token.status_code == 200
    assert _unverified(token.json()["access_token"])["aud"] == f"{smart_url}/fhir/r4"


@pytest.mark.parametrize(
    "extra",
    [
        {"aud": "", "resource": "https://evil.example/mcp"},
        {"aud": "https://evil.example/fhir", "resource": "MCP"},
    ],
    ids=["foreign-resource", "foreign-aud-with-resource"],
)
def test_a_foreign_resource_never_yields_a_code(
    smart_url: str, http: httpx.Client, extra: dict[str, str]
) -> None:
    extra = {k: (f"{smart_url}/mcp" if v == "MCP" else v) for k, v in extra.items()}
    flow = run_flow(http, smart_url, extra=extra)
    assert flow.response.status_code == 400
    assert "code=" not in flow.response.headers.get("location", "")


def test_client_credentials_with_a_resource(smart_url: str, http: httpx.Client) -> None:
    mcp = f"{smart_url}/mcp"
    form = {"grant_type": "client_credentials", "scope": "system/*.rs", "resource": mcp}
    token = http.post(f"{smart_url}/auth/token", data=form, auth=("local-dev", "local-dev-secret"))
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    assert _unverified(access)["aud"] == mcp
    assert http.get(f"{smart_url}/fhir/r4/Patient/{DONNA}", headers=bearer(access)).is_success

    form["resource"] = "https://evil.example/fhir/r4"
    refused = http.post(
        f"{smart_url}/auth/token", data=form, auth=("local-dev", "local-dev-secret")
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_target"
