"""Token endpoint: authorization_code + PKCE, refresh rotation, Backend Services, RFC 6749 errors."""

from __future__ import annotations

import secrets

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.auth.conftest import bearer
from tests.auth.smart_support import (
    ASSERTION_TYPE,
    BACKEND_BAD_URL,
    BACKEND_ES,
    BACKEND_RS,
    CONFIDENTIAL,
    CONFIDENTIAL_SECRET,
    DONNA,
    PUBLIC,
    Keys,
    assertion,
    exchange,
    run_flow,
)

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def _no_store(response: httpx.Response) -> None:
    for key, value in NO_STORE.items():
        assert response.headers[key] == value


def test_code_exchange_response(smart_url: str, http: httpx.Client) -> None:
    flow = run_flow(http, smart_url)
    response = exchange(http, smart_url, flow)
    assert response.status_code == 200, response.text
    _no_store(response)
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int)
    assert set(body["scope"].split()) == {
        "launch/patient",
        "openid",
        "fhirUser",
        "offline_access",
        "patient/*.rs",
    }
    assert body["patient"] == DONNA
    assert isinstance(body["need_patient_banner"], bool)
    assert body["smart_style_url"].startswith(smart_url)
    assert body["refresh_token"] and body["id_token"]
    # the patient in context is readable with the token
    read = http.get(f"{smart_url}/fhir/r4/Patient/{DONNA}", headers=bearer(body["access_token"]))
    assert read.status_code == 200 and read.json()["id"] == DONNA


def test_id_token_is_rs256_with_kid_and_resolvable_fhir_user(
    smart_url: str, http: httpx.Client
) -> None:
    flow = run_flow(http, smart_url, extra={"nonce": "n-1"})
    body = exchange(http, smart_url, flow).json()
    id_token = body["id_token"]
    keys = KeySet.import_key_set(http.get(f"{smart_url}/auth/jwks").json())
    decoded = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"]
    claims = decoded.claims
    assert claims["iss"] == smart_url
    assert claims["aud"] == PUBLIC
    assert claims["sub"] == "patient.demo" and len(claims["sub"]) < 256
    assert claims["nonce"] == "n-1"
    assert claims["exp"] > claims["iat"]
    assert claims["fhirUser"] == f"{smart_url}/fhir/r4/Patient/{DONNA}"
    fhir_user = http.get(claims["fhirUser"], headers=bearer(body["access_token"]))
    assert fhir_user.status_code == 200 and fhir_user.json()["resourceType"] == "Patient"


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"code_verifier": None}, 400, "invalid_request"),
        ({"code_verifier": ""}, 400, "invalid_request"),
        ({"code_verifier": "   "}, 400, "invalid_request"),
        ({"code_verifier": "x" * 60}, 400, "invalid_grant"),
        ({"code": "not-a-code"}, 400, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:9/elsewhere"}, 400, "invalid_grant"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"client_id": None}, 401, "invalid_client"),
        ({"grant_type": "not_a_grant_type"}, 400, "unsupported_grant_type"),
    ],
    ids=[
        "verifier-missing",
        "verifier-empty",
        "verifier-blank",
        "verifier-wrong",
        "invalid-code",
        "redirect-uri-mismatch",
        "invalid-client",
        "no-client",
        "bad-grant-type",
    ],
)
def test_code_exchange_errors(
    smart_url: str,
    http: httpx.Client,
    overrides: dict[str, str | None],
    status: int,
    error: str,
) -> None:
    flow = run_flow(http, smart_url)
    response = exchange(http, smart_url, flow, **overrides)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    _no_store(response)


def test_code_is_single_use_and_replay_revokes_the_grant(
    smart_url: str, http: httpx.Client
) -> None:
    flow = run_flow(http, smart_url)
    first = exchange(http, smart_url, flow)
    assert first.status_code == 200
    second = exchange(http, smart_url, flow)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    token = first.json()["access_token"]
    assert (
        http.get(f"{smart_url}/fhir/r4/Patient/{DONNA}", headers=bearer(token)).status_code == 401
    )


def test_code_of_another_client_is_refused(smart_url: str, http: httpx.Client) -> None:
    flow = run_flow(http, smart_url)
    response = http.post(
        f"{smart_url}/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": flow.code,
            "redirect_uri": "http://127.0.0.1:9/callback",
            "code_verifier": flow.verifier,
        },
        auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_confidential_symmetric_client_uses_basic(smart_url: str, http: httpx.Client) -> None:
    flow = run_flow(http, smart_url, client_id=CONFIDENTIAL)
    data = {
        "grant_type": "authorization_code",
        "code": flow.code,
        "redirect_uri": "http://127.0.0.1:9/callback",
        "code_verifier": flow.verifier,
    }
    wrong = http.post(f"{smart_url}/auth/token", data=data, auth=(CONFIDENTIAL, "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    # a confidential client may not pose as public (client_id in the body only)
    public = http.post(f"{smart_url}/auth/token", data={**data, "client_id": CONFIDENTIAL})
    assert public.status_code == 401
    ok = http.post(f"{smart_url}/auth/token", data=data, auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET))
    assert ok.status_code == 200, ok.text


def _refresh(http: httpx.Client, base: str, token: str, **extra: str) -> httpx.Response:
    return http.post(
        f"{base}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": PUBLIC, **extra},
    )


def test_refresh_rotates_and_keeps_context(smart_url: str, http: httpx.Client) -> None:
    body = exchange(http, smart_url, run_flow(http, smart_url)).json()
    refreshed = _refresh(http, smart_url, body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    _no_store(refreshed)
    new = refreshed.json()
    assert new["refresh_token"] != body["refresh_token"]
    assert set(new["scope"].split()) <= set(body["scope"].split())
    assert new["patient"] == body["patient"]
    read = http.get(
        f"{smart_url}/fhir/r4/Patient/{new['patient']}", headers=bearer(new["access_token"])
    )
    assert read.status_code == 200
    # the rotated-out token is dead, and presenting it again revokes the whole grant
    replay = _refresh(http, smart_url, body["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _refresh(http, smart_url, new["refresh_token"]).status_code == 400


def test_refresh_scope_can_only_narrow(smart_url: str, http: httpx.Client) -> None:
    body = exchange(http, smart_url, run_flow(http, smart_url)).json()
    wider = _refresh(http, smart_url, body["refresh_token"], scope="patient/*.cruds")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    other = _refresh(http, smart_url, body["refresh_token"], scope="user/Patient.rs")
    assert other.status_code == 400 and other.json()["error"] == "invalid_scope"
    narrower = _refresh(http, smart_url, body["refresh_token"], scope="patient/Patient.rs")
    assert narrower.status_code == 200, narrower.text
    assert narrower.json()["scope"] == "patient/Patient.rs"
    # the rotated refresh token keeps the original grant: it can go back to the full set
    again = _refresh(http, smart_url, narrower.json()["refresh_token"])
    assert set(again.json()["scope"].split()) == set(body["scope"].split())


def test_refused_refresh_consumes_nothing(smart_url: str, http: httpx.Client) -> None:
    """RFC 9700 §4.14.2: a refresh refused for its scope is not a use of the token, so the
    client's retry is not mistaken for a replay that would end the grant."""
    body = exchange(http, smart_url, run_flow(http, smart_url)).json()
    for scope in ("patient/*.cruds", "system/*.rs", "openid nonsense/*.x"):
        refused = _refresh(http, smart_url, body["refresh_token"], scope=scope)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope", scope
    retry = _refresh(http, smart_url, body["refresh_token"])
    assert retry.status_code == 200, retry.text
    assert set(retry.json()["scope"].split()) == set(body["scope"].split())
    read = http.get(
        f"{smart_url}/fhir/r4/Patient/{DONNA}", headers=bearer(retry.json()["access_token"])
    )
    assert read.status_code == 200
    # a wrong client does not consume it either, and the token still rotates only once
    stolen = http.post(
        f"{smart_url}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": retry.json()["refresh_token"]},
        auth=(CONFIDENTIAL, CONFIDENTIAL_SECRET),
    )
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert _refresh(http, smart_url, retry.json()["refresh_token"]).status_code == 200


def test_random_refresh_token_is_refused(smart_url: str, http: httpx.Client) -> None:
    response = _refresh(http, smart_url, secrets.token_urlsafe(32))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


# ------------------------------------------------------------------ Backend Services
def _backend(http: httpx.Client, base: str, client_assertion: str, **extra: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "scope": "system/*.rs",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
        **extra,
    }
    return http.post(f"{base}/auth/token", data=data)


@pytest.mark.parametrize("which", ["rs384-inline-jwks", "es384-jwks-url"])
def test_backend_services_token(
    smart_url: str, http: httpx.Client, client_keys: Keys, which: str
) -> None:
    client, key = (
        (BACKEND_RS, client_keys.rsa) if which.startswith("rs") else (BACKEND_ES, client_keys.ec)
    )
    response = _backend(http, smart_url, assertion(client, key, f"{smart_url}/auth/token"))
    assert response.status_code == 200, response.text
    _no_store(response)
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["scope"] == "system/*.rs"
    search = http.get(
        f"{smart_url}/fhir/r4/Patient?name=sandbox", headers=bearer(body["access_token"])
    )
    assert search.status_code == 200


def test_backend_assertion_negative_cases(
    smart_url: str, http: httpx.Client, client_keys: Keys
) -> None:
    token_url = f"{smart_url}/auth/token"
    rsa = client_keys.rsa
    stranger = RSAKey.generate_key(2048, private=True, auto_kid=True)
    cases = {
        "jti-replay": None,
        "exp-too-far": assertion(BACKEND_RS, rsa, token_url, exp_in=600),
        "expired": assertion(BACKEND_RS, rsa, token_url, exp_in=-120),
        "wrong-aud": assertion(BACKEND_RS, rsa, f"{smart_url}/fhir/r4"),
        "wrong-alg": assertion(BACKEND_RS, rsa, token_url, alg="RS256"),
        "unknown-key": assertion(BACKEND_RS, stranger, token_url, kid=False),
        "unknown-client": assertion("nobody", rsa, token_url),
        "jwks-url-not-allowed": assertion(BACKEND_BAD_URL, rsa, token_url),
        "not-a-jwt": "not.a.jwt",
    }
    replayed = assertion(BACKEND_RS, rsa, token_url, jti="fixed-jti-" + secrets.token_hex(4))
    assert _backend(http, smart_url, replayed).status_code == 200
    cases["jti-replay"] = replayed
    for name, value in cases.items():
        assert value is not None
        response = _backend(http, smart_url, value)
        assert response.status_code == 401, (name, response.text)
        assert response.json()["error"] == "invalid_client", name
    bad_type = _backend(
        http,
        smart_url,
        assertion(BACKEND_RS, rsa, token_url),
        client_assertion_type="urn:example:bogus",
    )
    assert bad_type.status_code == 401


def test_backend_bad_grant_type_and_scope(
    smart_url: str, http: httpx.Client, client_keys: Keys
) -> None:
    token_url = f"{smart_url}/auth/token"
    bad_grant = _backend(
        http,
        smart_url,
        assertion(BACKEND_RS, client_keys.rsa, token_url),
        grant_type="not_a_grant_type",
    )
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "unsupported_grant_type"
    bad_scope = _backend(
        http, smart_url, assertion(BACKEND_RS, client_keys.rsa, token_url), scope="patient/*.rs"
    )
    assert bad_scope.status_code == 400 and bad_scope.json()["error"] == "invalid_scope"
    # a backend client cannot run the user flow
    code = _backend(
        http,
        smart_url,
        assertion(BACKEND_RS, client_keys.rsa, token_url),
        grant_type="authorization_code",
        code="x",
    )
    assert code.status_code == 400 and code.json()["error"] == "unauthorized_client"


def test_local_dev_client_still_works_as_documented(smart_url: str, http: httpx.Client) -> None:
    response = http.post(
        f"{smart_url}/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.rs"},
        auth=("local-dev", "local-dev-secret"),
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "system/*.rs"
