"""SMART discovery, OpenID Connect discovery, JWKS and the CapabilityStatement's oauth-uris."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from joserfc import jwt

from facade.auth.keys import KeyRing
from facade.cli import main

REQUIRED_CAPABILITIES = {
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "permission-offline",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
    "context-banner",
    "context-style",
}


def test_smart_configuration_has_every_stu2_field(smart_url: str) -> None:
    response = httpx.get(
        f"{smart_url}/fhir/r4/.well-known/smart-configuration",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body["capabilities"]) >= REQUIRED_CAPABILITIES
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        body["grant_types_supported"]
    )
    assert body["issuer"] == smart_url
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "jwks_uri",
        "registration_endpoint",
    ):
        assert body[key].startswith(smart_url), key
    assert {"private_key_jwt", "client_secret_basic", "none"} <= set(
        body["token_endpoint_auth_methods_supported"]
    )
    assert set(body["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert {"openid", "fhirUser", "launch", "launch/patient", "patient/*.rs", "system/*.rs"} <= set(
        body["scopes_supported"]
    )
    assert body["response_types_supported"] == ["code"]


def test_every_advertised_endpoint_answers(smart_url: str) -> None:
    body = httpx.get(f"{smart_url}/fhir/r4/.well-known/smart-configuration").json()
    assert httpx.get(body["jwks_uri"]).status_code == 200
    # POST endpoints answer RFC 6749 errors (not 404/405) without credentials
    for key in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        response = httpx.post(body[key], data={"token": "x"})
        assert response.status_code == 401, key
        assert response.json()["error"] == "invalid_client"
    assert httpx.get(body["authorization_endpoint"]).status_code == 400  # an error page
    assert httpx.post(body["registration_endpoint"], json={}).status_code == 400


def test_oauth_uris_match_discovery_exactly(smart_url: str) -> None:
    smart = httpx.get(f"{smart_url}/fhir/r4/.well-known/smart-configuration").json()
    statement = httpx.get(f"{smart_url}/fhir/r4/metadata").json()
    (ext,) = [
        e
        for e in statement["rest"][0]["security"]["extension"]
        if e["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    ]
    uris = {e["url"]: e["valueUri"] for e in ext["extension"]}
    assert uris == {
        "authorize": smart["authorization_endpoint"],
        "token": smart["token_endpoint"],
        "introspect": smart["introspection_endpoint"],
        "revoke": smart["revocation_endpoint"],
        "register": smart["registration_endpoint"],
    }


def test_openid_configuration_and_jwks(smart_url: str) -> None:
    smart = httpx.get(f"{smart_url}/fhir/r4/.well-known/smart-configuration").json()
    oidc = httpx.get(f"{smart['issuer']}/.well-known/openid-configuration").json()
    for key in (
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ):
        assert key in oidc, key
    assert oidc["issuer"] == smart["issuer"]
    assert oidc["jwks_uri"] == smart["jwks_uri"]
    assert oidc["id_token_signing_alg_values_supported"] == ["RS256"]
    keys = httpx.get(oidc["jwks_uri"]).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["kid"] and "d" not in k for k in keys)


def test_signing_keys_persist_and_rotate_keeping_old_public_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "jwks.json"
    first = KeyRing.load_or_create(path)
    assert KeyRing.load_or_create(path).active.kid == first.active.kid  # survives a restart
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("FACADE_DATA_DIR", str(tmp_path))
    assert main(["keys", "rotate"]) == 0
    rotated = KeyRing.load_or_create(path)
    assert rotated.active.kid != first.active.kid
    kids = [k["kid"] for k in rotated.jwks()["keys"]]
    assert kids == [rotated.active.kid, first.active.kid]
    token = first.sign({"sub": "x"})
    assert jwt.decode(token, rotated.public_set(), algorithms=["RS256"]).claims["sub"] == "x"
