"""OAuth token endpoint (API-NOTES 2.1-2.4, 4.3)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from emu_support import CLIENT_ID, CLIENT_SECRET, MDP, FakeClock, Running

from emulator.config import EmulatorConfig


def test_basic_auth_issues_bearer_token_with_default_scope(http: httpx.Client) -> None:
    response = http.post(
        "/oauth2/v1/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600 and isinstance(body["expires_in"], int)
    assert body["scope"] == MDP
    assert response.headers["X-RateLimit-Limit"] and response.headers["X-RateLimit-Remaining"]


def test_client_secret_post_echoes_requested_scope(http: httpx.Client) -> None:
    response = http.post(
        "/oauth2/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "system/Patient.rs  athena/service/Athenanet.MDP.*",
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "system/Patient.rs athena/service/Athenanet.MDP.*"
    assert "refresh_token" not in response.json()


def test_unknown_client_and_bad_secret_are_invalid_client(http: httpx.Client) -> None:
    for auth in (("nobody", "x"), (CLIENT_ID, "wrong")):
        response = http.post(
            "/oauth2/v1/token", data={"grant_type": "client_credentials"}, auth=auth
        )
        assert response.status_code == 401
        assert response.json() == {"error": "invalid_client"}
    response = http.post("/oauth2/v1/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 401


def test_other_grant_types_are_unsupported(http: httpx.Client) -> None:
    for grant in ("authorization_code", "password", "refresh_token"):
        response = http.post(
            "/oauth2/v1/token", data={"grant_type": grant}, auth=(CLIENT_ID, CLIENT_SECRET)
        )
        assert response.status_code == 400
        assert response.json() == {"error": "unsupported_grant_type"}


def test_token_request_limit_until_top_of_next_minute(
    start_emulator: Callable[..., Running],
) -> None:
    clock = FakeClock(1_700_000_020.0)  # 40 s into a minute
    running = start_emulator(
        EmulatorConfig(generated_patients=0, token_requests_per_minute=2), clock
    )
    with httpx.Client(base_url=running.base_url) as client:

        def ask() -> httpx.Response:
            return client.post(
                "/oauth2/v1/token",
                data={"grant_type": "client_credentials"},
                auth=(CLIENT_ID, CLIENT_SECRET),
            )

        first, second, third = ask(), ask(), ask()
        assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in (first, second, third)] == [
            "1",
            "0",
            "0",
        ]
        assert third.headers["X-RateLimit-Limit"] == "2"
        assert third.headers["Retry-After"] == "20"
        clock.now += 19
        assert ask().status_code == 429
        clock.now += 1  # the next minute starts
        assert ask().status_code == 200


def test_token_expiry_follows_ttl(start_emulator: Callable[..., Running]) -> None:
    clock = FakeClock(1_700_000_000.0)
    running = start_emulator(EmulatorConfig(generated_patients=0, token_ttl_seconds=300), clock)
    with httpx.Client(base_url=running.base_url) as client:
        body = client.post(
            "/oauth2/v1/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, CLIENT_SECRET),
        ).json()
        assert body["expires_in"] == 300
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert client.get("/v1/195900/practiceinfo", headers=headers).status_code == 200
        clock.now += 300
        response = client.get("/v1/195900/practiceinfo", headers=headers)
        assert response.status_code == 401
        assert response.text == "Invalid Access Token"
