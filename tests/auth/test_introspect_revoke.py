"""RFC 7662 introspection and RFC 7009 revocation, effective at once on the FHIR API."""

from __future__ import annotations

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.auth.conftest import bearer
from tests.auth.smart_support import (
    CONFIDENTIAL,
    CONFIDENTIAL_SECRET,
    DONNA,
    PUBLIC,
    exchange,
    run_flow,
)


def _login(http: httpx.Client, base: str) -> dict[str, str]:
    body: dict[str, str] = exchange(http, base, run_flow(http, base)).json()
    return body


def _introspect(http: httpx.Client, base: str, token: str) -> httpx.Response:
    return http.post(
        f"{base}/auth/introspect", data={"token": token}, auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET)
    )


def test_introspection_of_an_active_token(smart_url: str, http: httpx.Client) -> None:
    body = _login(http, smart_url)
    response = _introspect(http, smart_url, body["access_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    info = response.json()
    assert info["active"] is True
    assert info["client_id"] == PUBLIC
    assert set(info["scope"].split()) == set(body["scope"].split())
    assert info["patient"] == DONNA
    id_claims = jwt.decode(
        body["id_token"],
        KeySet.import_key_set(http.get(f"{smart_url}/auth/jwks").json()),
        algorithms=["RS256"],
    ).claims
    assert info["iss"] == id_claims["iss"] and info["sub"] == id_claims["sub"]
    assert info["fhirUser"] == id_claims["fhirUser"]
    assert isinstance(info["exp"], int)
    refresh = _introspect(http, smart_url, body["refresh_token"]).json()
    assert refresh["active"] is True and refresh["client_id"] == PUBLIC


def test_introspection_with_a_bearer_token(smart_url: str, http: httpx.Client) -> None:
    body = _login(http, smart_url)
    response = http.post(
        f"{smart_url}/auth/introspect",
        data={"token": body["access_token"]},
        headers=bearer(body["access_token"]),
    )
    assert response.json()["active"] is True


def test_introspection_of_anything_else_is_inactive(smart_url: str, http: httpx.Client) -> None:
    for token in ("garbage", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", ""):
        assert _introspect(http, smart_url, token).json() == {"active": False}


def test_introspection_needs_client_authentication(smart_url: str, http: httpx.Client) -> None:
    body = _login(http, smart_url)
    response = http.post(f"{smart_url}/auth/introspect", data={"token": body["access_token"]})
    assert response.status_code == 401
    wrong = http.post(
        f"{smart_url}/auth/introspect",
        data={"token": body["access_token"]},
        auth=(CONFIDENTIAL, "wrong"),
    )
    assert wrong.status_code == 401


def test_revoking_the_access_token_takes_effect_at_once(smart_url: str, http: httpx.Client) -> None:
    body = _login(http, smart_url)
    url = f"{smart_url}/fhir/r4/Patient/{DONNA}"
    assert http.get(url, headers=bearer(body["access_token"])).status_code == 200
    revoked = http.post(
        f"{smart_url}/auth/revoke", data={"token": body["access_token"], "client_id": PUBLIC}
    )
    assert revoked.status_code == 200
    after = http.get(url, headers=bearer(body["access_token"]))
    assert after.status_code == 401
    assert after.headers["www-authenticate"].startswith("Bearer")
    assert _introspect(http, smart_url, body["access_token"]).json() == {"active": False}
    # the grant is gone: its refresh token cannot be used either
    refresh = http.post(
        f"{smart_url}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": PUBLIC,
        },
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"


def test_revoking_the_refresh_token_ends_the_grant(smart_url: str, http: httpx.Client) -> None:
    body = _login(http, smart_url)
    http.post(
        f"{smart_url}/auth/revoke", data={"token": body["refresh_token"], "client_id": PUBLIC}
    )
    url = f"{smart_url}/fhir/r4/Patient/{DONNA}"
    assert http.get(url, headers=bearer(body["access_token"])).status_code == 401
    refresh = http.post(
        f"{smart_url}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": PUBLIC,
        },
    )
    assert refresh.status_code == 400


def test_revocation_by_another_client_is_ignored(smart_url: str, http: httpx.Client) -> None:
    body = _login(http, smart_url)
    response = http.post(
        f"{smart_url}/auth/revoke",
        data={"token": body["access_token"]},
        auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET),
    )
    assert response.status_code == 200  # RFC 7009 §2.2: no information leak
    url = f"{smart_url}/fhir/r4/Patient/{DONNA}"
    assert http.get(url, headers=bearer(body["access_token"])).status_code == 200


def test_revoke_needs_a_token_parameter(smart_url: str, http: httpx.Client) -> None:
    response = http.post(f"{smart_url}/auth/revoke", data={"client_id": PUBLIC})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
