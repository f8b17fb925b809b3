"""MCP over Streamable HTTP as an OAuth 2.1 resource server of the facade's own authorization
server: 401 -> RFC 9728 metadata -> token (the official SDK's OAuth client, a real code flow
as the demo patient), audience checks, revocation, client credentials."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from facade.auth.scopes import ScopeSet
from facade.auth.tokens import TokenIssuer
from facade.engine.runtime import derive, signing_key
from facade.settings import Settings
from tests.auth.smart_support import _SCOPE_BOX, PUBLIC, REDIRECT, session_of
from tests.mcp.conftest import DONNA, Stack, http_client

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def _challenge(response: httpx.Response) -> dict[str, str]:
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    parts = [p.strip() for p in header.removeprefix("Bearer ").split('", ')]
    return {p.split("=", 1)[0]: p.split("=", 1)[1].strip('"') for p in parts}


def test_no_token_is_401_naming_the_protected_resource_metadata(stack: Stack) -> None:
    for method in ("GET", "POST", "DELETE"):
        response = httpx.request(method, stack.mcp_url, json=INITIALIZE, headers=MCP_HEADERS)
        assert response.status_code == 401, method
        challenge = _challenge(response)
        assert "error" not in challenge  # RFC 6750 §3.1: no token, no error code
        assert challenge["resource_metadata"] == (
            f"{stack.base}/.well-known/oauth-protected-resource/mcp"
        )
        assert "patient/*.rs" in challenge["scope"].split()

    document = httpx.get(challenge["resource_metadata"]).json()
    assert document["resource"] == stack.mcp_url
    assert document["authorization_servers"] == [stack.base]
    assert document["bearer_methods_supported"] == ["header"]
    assert {"patient/*.rs", "system/*.rs", "openid"} <= set(document["scopes_supported"])
    root = httpx.get(f"{stack.base}/.well-known/oauth-protected-resource").json()
    assert root["resource"] == stack.base  # RFC 9728 §3.1: the server as a whole
    assert root["authorization_servers"] == [stack.base]

    issuer = document["authorization_servers"][0]
    discovery = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == issuer
    assert "S256" in discovery["code_challenge_methods_supported"]


def _token_for(stack: Stack, audience: str) -> str:
    settings = Settings(data_dir=stack.data_dir, public_base_url=stack.base)
    issuer = TokenIssuer(
        derive(signing_key(settings), "access-token"),
        issuer=stack.base,
        audience=audience,
        ttl_seconds=300,
    )
    return issuer.issue("local-dev", ScopeSet.parse("system/*.rs"), ("195900",))


@pytest.mark.parametrize(
    ("audience", "accepted"),
    [
        ("MCP", True),
        ("FHIR", True),
        ("BASE", True),
        ("https://other.example/mcp", False),
        ("https://other.example/fhir/r4", False),
    ],
)
def test_tokens_are_checked_for_audience(stack: Stack, audience: str, accepted: bool) -> None:
    audience = {
        "MCP": stack.mcp_url,
        "FHIR": f"{stack.base}/fhir/r4",
        "BASE": stack.base,
    }.get(audience, audience)
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {_token_for(stack, audience)}"}
    response = httpx.post(stack.mcp_url, json=INITIALIZE, headers=headers)
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 401
        challenge = _challenge(response)
        assert challenge["error"] == "invalid_token"
        assert "not issued for this server" in challenge["error_description"]


def test_a_revoked_token_is_refused_at_once(stack: Stack) -> None:
    token = httpx.post(
        f"{stack.base}/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.rs"},
        auth=("local-dev", "local-dev-secret"),
    ).json()["access_token"]
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    assert httpx.post(stack.mcp_url, json=INITIALIZE, headers=headers).status_code == 200
    httpx.post(
        f"{stack.base}/auth/revoke", data={"token": token}, auth=("local-dev", "local-dev-secret")
    )
    refused = httpx.post(stack.mcp_url, json=INITIALIZE, headers=headers)
    assert refused.status_code == 401
    assert "revoked" in _challenge(refused)["error_description"]


class MemoryStorage(TokenStorage):
    def __init__(self, client: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client = client

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


async def test_the_sdk_oauth_client_signs_in_and_calls_tools(stack: Stack) -> None:
    """401 -> resource metadata -> OpenID discovery -> authorize (PKCE, resource) -> the
    patient signs in and consents -> token for the MCP endpoint -> tools as that patient."""
    answer: dict[str, str | None] = {}
    seen: list[str] = []

    async def sign_in(url: str) -> None:
        seen.append(url)
        async with httpx.AsyncClient(timeout=30, follow_redirects=False) as http:
            page = await http.get(url)
            assert page.status_code == 200, page.text[:300]
            login = await http.post(
                f"{stack.base}/auth/login",
                data={
                    "session": session_of(page.text),
                    "username": "patient.demo",
                    "password": "demo-password",
                },
            )
            boxes = _SCOPE_BOX.findall(login.text)
            done = await http.post(
                f"{stack.base}/auth/consent",
                content=urlencode(
                    [
                        ("session", session_of(login.text)),
                        ("decision", "allow"),
                        *(("scope", b) for b in boxes),
                    ]
                ),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        query = parse_qs(urlsplit(done.headers["location"]).query)
        answer["code"] = query["code"][0]
        answer["state"] = query.get("state", [None])[0]

    async def callback() -> AuthorizationCodeResult:
        code = answer["code"]
        assert code is not None
        return AuthorizationCodeResult(code=code, state=answer["state"])

    storage = MemoryStorage(
        OAuthClientInformationFull(
            client_id=PUBLIC,
            redirect_uris=[REDIRECT],  # type: ignore[list-item]
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        )
    )
    provider = OAuthClientProvider(
        server_url=stack.mcp_url,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[REDIRECT],  # type: ignore[list-item]
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
        ),
        storage=storage,
        redirect_handler=sign_in,
        callback_handler=callback,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=60) as http,
        Client(streamable_http_client(stack.mcp_url, http_client=http)) as client,
    ):
        found = await client.call_tool("search_patients", {"name": "sandbox"})
        assert not found.is_error, found.content
        assert [p["id"] for p in found.structured_content["patients"]] == [DONNA]

    authorize = parse_qs(urlsplit(seen[0]).query)
    assert authorize["resource"] == [stack.mcp_url]  # RFC 8707
    assert authorize["code_challenge_method"] == ["S256"]
    assert storage.tokens is not None
    claims = _claims(storage.tokens.access_token)
    assert claims["aud"] == stack.mcp_url
    assert claims["fhirUser"] == f"Patient/{DONNA}"


async def test_client_credentials_for_machines(stack: Stack) -> None:
    """The SDK's client_credentials provider (a backend agent): discovery, then a system token."""
    provider = ClientCredentialsOAuthProvider(
        server_url=stack.mcp_url,
        storage=MemoryStorage(),
        client_id="local-dev",
        client_secret="local-dev-secret",
        scope="system/*.rs",
        issuer=stack.base,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=60) as http,
        Client(streamable_http_client(stack.mcp_url, http_client=http)) as client,
    ):
        found = await client.call_tool("search_patients", {"name": "sandbox", "count": 100})
        assert not found.is_error, found.content
        assert len(found.structured_content["patients"]) > 1  # not confined to one patient
        written = await client.call_tool(
            "cancel_appointment", {"appointment_id": "a-195900.Appointment-1"}
        )
        assert written.is_error  # system/*.rs: no update letter
        assert "do not allow update" in written.content[0].text


async def test_a_plain_bearer_token_works_too(stack: Stack, system_token: str) -> None:
    async with http_client(stack, system_token) as client:
        tools = await client.list_tools()
        assert len(tools.tools) >= 9
