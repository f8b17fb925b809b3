"""Authorize sessions are single use: the ``session`` value that carries a signed-in user
through picker and consent issues at most one code (a replayed one gets an error page),
and every page of that sign-in is dead once it has."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.auth.smart_support import (
    ELEANA,
    FRANKIE,
    consent,
    exchange,
    run_flow,
    session_of,
    to_consent,
)


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text[:300]
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text


def test_second_consent_with_the_same_session_gets_no_code(
    smart_url: str, http: httpx.Client
) -> None:
    steps = to_consent(http, smart_url)
    first = consent(http, smart_url, steps)
    assert first.status_code == 303 and "code=" in first.headers["location"]
    for _ in range(2):
        _refused(consent(http, smart_url, steps))


def test_every_page_of_a_finished_sign_in_is_dead(smart_url: str, http: httpx.Client) -> None:
    steps = to_consent(http, smart_url, user="dr.demo", patient=ELEANA)
    assert set(steps.sessions) == {"login", "patient", "consent"}
    assert consent(http, smart_url, steps).status_code == 303
    # the picker page's session cannot choose another patient for a second consent
    _refused(
        http.post(
            f"{smart_url}/auth/patient",
            data={"session": steps.sessions["patient"], "patient": FRANKIE, "action": "select"},
        )
    )
    # nor can the login page's session sign in again
    _refused(
        http.post(
            f"{smart_url}/auth/login",
            data={
                "session": steps.sessions["login"],
                "username": "dr.demo",
                "password": "demo-password",
            },
        )
    )


def test_deny_ends_the_session_too(smart_url: str, http: httpx.Client) -> None:
    steps = to_consent(http, smart_url)
    denied = http.post(
        f"{smart_url}/auth/consent",
        data={"session": steps.sessions["consent"], "decision": "deny"},
    )
    assert denied.status_code == 303
    assert parse_qs(urlsplit(denied.headers["location"]).query)["error"] == ["access_denied"]
    _refused(consent(http, smart_url, steps))


def test_two_pickers_from_one_sign_in_yield_one_code(smart_url: str, http: httpx.Client) -> None:
    """Choosing twice from the same picker page forks the session; only one branch completes."""
    steps = to_consent(http, smart_url, user="dr.demo", patient=ELEANA)
    other = http.post(
        f"{smart_url}/auth/patient",
        data={"session": steps.sessions["patient"], "patient": FRANKIE, "action": "select"},
    )
    assert other.status_code == 200 and 'action="/auth/consent"' in other.text
    assert consent(http, smart_url, steps).status_code == 303
    forked = http.post(
        f"{smart_url}/auth/consent",
        data={"session": session_of(other.text), "decision": "allow", "scope": "patient/*.rs"},
    )
    _refused(forked)


def test_a_fresh_sign_in_still_works_after_one_was_used(smart_url: str, http: httpx.Client) -> None:
    for _ in range(2):
        flow = run_flow(http, smart_url)
        assert exchange(http, smart_url, flow).status_code == 200
