"""Password guessing on ``/auth/login`` is throttled per user and per client address, and
recovers after the window (a facade of its own per test, with a short window)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.auth.smart_support import (
    PUBLIC,
    REDIRECT,
    exchange,
    run_flow,
    session_of,
    verifier_pair,
    write_clients,
)
from tests.conftest import facade_settings, start_facade

WINDOW = 2  # seconds
USER_LIMIT, ADDRESS_LIMIT = 3, 6


@pytest.fixture()
def base(emulator_url: str, tmp_path: Path, client_keys: object) -> Iterator[str]:
    write_clients(tmp_path, client_keys, "http://127.0.0.1:9/jwks.json")  # type: ignore[arg-type]
    settings = facade_settings(
        emulator_url,
        tmp_path,
        login_throttle_window_seconds=WINDOW,
        login_throttle_user_failures=USER_LIMIT,
        login_throttle_address_failures=ADDRESS_LIMIT,
    )
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


def _login_session(http: httpx.Client, base: str) -> str:
    _, challenge = verifier_pair()
    page = http.get(
        f"{base}/auth/authorize",
        params={
            "response_type": "code",
            "client_id": PUBLIC,
            "redirect_uri": REDIRECT,
            "scope": "launch/patient openid patient/*.rs",
            "aud": f"{base}/fhir/r4",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200
    return session_of(page.text)


def _login(
    http: httpx.Client, base: str, user: str, password: str, address: str = "198.51.100.1"
) -> httpx.Response:
    # uvicorn trusts X-Forwarded-For from loopback (a reverse proxy): the client address
    return http.post(
        f"{base}/auth/login",
        data={"session": _login_session(http, base), "username": user, "password": password},
        headers={"X-Forwarded-For": address},
    )


def _throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text[:300]
    assert "location" not in response.headers
    assert 1 <= int(response.headers["retry-after"]) <= WINDOW
    assert 'role="alert"' in response.text and "Wait" in response.text
    assert 'action="/auth/login"' in response.text  # the form stays, to try again later
    assert 'action="/auth/consent"' not in response.text


def test_guessing_a_password_is_throttled_then_recovers(base: str, http: httpx.Client) -> None:
    for _ in range(USER_LIMIT):
        assert _login(http, base, "dr.demo", "guess").status_code == 401
    # the right password does not get through while throttled, from any address
    _throttled(_login(http, base, "dr.demo", "demo-password"))
    _throttled(_login(http, base, "dr.demo", "demo-password", address="203.0.113.9"))
    # another user from another address is not affected
    other = _login(http, base, "patient.demo", "demo-password", address="203.0.113.9")
    assert other.status_code == 200 and 'action="/auth/consent"' in other.text
    time.sleep(WINDOW + 1)
    flow = run_flow(http, base, user="dr.demo", extra={})
    assert flow.response.status_code == 303, flow.response.text[:300]
    assert exchange(http, base, flow).status_code == 200


def test_hammering_gets_no_more_than_the_limit_per_window(base: str, http: httpx.Client) -> None:
    """Refused attempts are not counted: the user recovers even while an attacker keeps
    trying, and the attacker gets at most the limit of guesses checked per window."""
    checked = 0
    started = time.monotonic()
    while time.monotonic() - started < WINDOW + 1.5:
        status = _login(http, base, "dr.demo", "guess").status_code
        assert status in (401, 429)
        checked += status == 401
        time.sleep(0.05)
    assert USER_LIMIT < checked <= 3 * USER_LIMIT


def test_many_users_from_one_address_are_throttled(base: str, http: httpx.Client) -> None:
    for i in range(ADDRESS_LIMIT):
        user = ("dr.demo", "patient.demo", f"nobody-{i}")[i % 3]
        assert _login(http, base, user, f"guess-{i}", address="192.0.2.7").status_code == 401
    _throttled(_login(http, base, "patient.demo", "demo-password", address="192.0.2.7"))
    fine = _login(http, base, "nobody-else", "x", address="192.0.2.8")
    assert fine.status_code == 401  # another address: checked (and wrong)
    time.sleep(WINDOW + 1)
    ok = _login(http, base, "patient.demo", "demo-password", address="192.0.2.7")
    assert ok.status_code == 200 and 'action="/auth/consent"' in ok.text


def test_success_forgives_the_users_failures_not_the_addresses(
    base: str, http: httpx.Client
) -> None:
    for _ in range(USER_LIMIT - 1):
        assert _login(http, base, "dr.demo", "typo").status_code == 401
    assert _login(http, base, "dr.demo", "demo-password").status_code == 200
    for _ in range(USER_LIMIT - 1):  # a fresh allowance for the user
        assert _login(http, base, "dr.demo", "typo").status_code == 401
    assert _login(http, base, "dr.demo", "demo-password").status_code == 200
    # an attacker's own successful sign-ins do not wash out guesses at someone else
    for i in range(ADDRESS_LIMIT):
        assert _login(http, base, f"victim-{i % 2}", "guess", address="192.0.2.99").status_code in (
            401,
            429,
        )
        _login(http, base, "patient.demo", "demo-password", address="192.0.2.99")
    _throttled(_login(http, base, "victim-0", "guess", address="192.0.2.99"))


def test_bad_login_input_is_a_clear_error_never_a_500(base: str, http: httpx.Client) -> None:
    session = _login_session(http, base)
    for data in (
        {"session": session},
        {"session": session, "username": "x" * 10_000, "password": "y" * 10_000},
        {"session": session, "username": "\x00 ", "password": ""},
        {"username": "dr.demo", "password": "demo-password"},
        {"session": "x" * 5000, "username": "dr.demo", "password": "demo-password"},
    ):
        response = http.post(f"{base}/auth/login", data=data)
        assert response.status_code in (400, 401), (data.keys(), response.status_code)
    for body, content_type in (
        (b"session=%FF%FE&username=%FF&password=%FE", "application/x-www-form-urlencoded"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b'{"username": "dr.demo"}', "application/json"),
    ):
        response = http.post(
            f"{base}/auth/login", content=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == 400, (body, response.status_code)
        assert response.headers["content-type"].startswith("text/html")
