"""Authorize endpoint and pages: aud, PKCE, state, login, picker, consent, EHR launch."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.auth.smart_support import (
    DONNA,
    ELEANA,
    LAUNCH_URL,
    PUBLIC,
    REDIRECT,
    exchange,
    run_flow,
    session_of,
    verifier_pair,
)


def _params(base: str, **overrides: str) -> dict[str, str]:
    _, challenge = verifier_pair()
    params = {
        "response_type": "code",
        "client_id": PUBLIC,
        "redirect_uri": REDIRECT,
        "scope": "launch/patient openid patient/*.rs",
        "state": "s-123",
        "aud": f"{base}/fhir/r4",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v != ""}


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://evil.example/fhir"},
        {"aud": ""},
        {"client_id": "nobody"},
        {"redirect_uri": "http://127.0.0.1:9/other"},
    ],
    ids=["wrong-aud", "missing-aud", "unknown-client", "redirect-uri-mismatch"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_errors_that_must_not_redirect_show_a_page(
    smart_url: str, http: httpx.Client, overrides: dict[str, str], method: str
) -> None:
    params = _params(smart_url, **overrides)
    if method == "GET":
        response = http.get(f"{smart_url}/auth/authorize", params=params)
    else:
        response = http.post(f"{smart_url}/auth/authorize", data=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text


def test_wrong_aud_never_yields_a_code_even_after_login(smart_url: str, http: httpx.Client) -> None:
    flow = run_flow(http, smart_url, extra={"aud": f"{smart_url}/fhir/r5"})
    assert flow.response.status_code == 400
    assert "code=" not in flow.response.headers.get("location", "")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "system/*.rs"}, "invalid_scope"),
        ({"launch": "not-a-launch"}, "invalid_request"),
    ],
    ids=["pkce-plain", "pkce-missing", "pkce-method-missing", "response-type", "scope", "launch"],
)
def test_errors_redirect_with_error_and_state(
    smart_url: str, http: httpx.Client, overrides: dict[str, str], error: str
) -> None:
    response = http.get(f"{smart_url}/auth/authorize", params=_params(smart_url, **overrides))
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == [error]
    assert query["state"] == ["s-123"]
    assert "code" not in query


def test_login_page_is_accessible_html(smart_url: str, http: httpx.Client) -> None:
    page = http.get(f"{smart_url}/auth/authorize", params=_params(smart_url))
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    text = page.text
    assert '<label for="username">' in text and '<label for="password">' in text
    assert "autofocus" in text and "<script" not in text
    assert 'lang="en"' in text


def test_wrong_password_shows_an_error_and_no_code(smart_url: str, http: httpx.Client) -> None:
    flow = run_flow(http, smart_url, password="wrong")
    assert flow.response.status_code == 401
    assert 'role="alert"' in flow.response.text
    assert 'aria-invalid="true"' in flow.response.text
    assert "location" not in flow.response.headers


def test_tampered_session_is_refused(smart_url: str, http: httpx.Client) -> None:
    page = http.get(f"{smart_url}/auth/authorize", params=_params(smart_url))
    session = session_of(page.text)
    response = http.post(
        f"{smart_url}/auth/login",
        data={
            "session": session[:-4] + "AAAA",
            "username": "patient.demo",
            "password": "demo-password",
        },
    )
    assert response.status_code == 400


def test_standalone_patient_user_gets_own_record_and_state_echoed(
    smart_url: str, http: httpx.Client
) -> None:
    flow = run_flow(http, smart_url, user="patient.demo")
    assert flow.response.status_code == 303
    assert flow.params["state"] == flow.state
    assert "error" not in flow.params
    token = exchange(http, smart_url, flow).json()
    assert token["patient"] == DONNA


def test_post_authorize_works_like_get(smart_url: str, http: httpx.Client) -> None:
    flow = run_flow(http, smart_url, method="POST")
    assert flow.response.status_code == 303 and flow.params["code"]


def test_clinician_standalone_launch_uses_the_patient_picker(
    smart_url: str, http: httpx.Client
) -> None:
    flow = run_flow(http, smart_url, user="dr.demo", patient=ELEANA)
    assert any('action="/auth/patient"' in p for p in flow.pages)
    picker = next(p for p in flow.pages if 'action="/auth/patient"' in p)
    assert "Sandboxtest" in picker and 'type="radio"' in picker
    token = exchange(http, smart_url, flow).json()
    assert token["patient"] == ELEANA


def test_consent_lists_scopes_in_plain_words_and_optional_ones_can_be_unticked(
    smart_url: str, http: httpx.Client
) -> None:
    scope = (
        "launch/patient openid fhirUser offline_access patient/Patient.rs patient/Observation.rs"
    )
    flow = run_flow(
        http,
        smart_url,
        scope=scope,
        untick=("patient/Observation.rs", "offline_access"),
    )
    consent = flow.pages[-1]
    assert "Read and search Patient records of the selected patient only" in consent
    token = exchange(http, smart_url, flow).json()
    granted = token["scope"].split()
    assert "patient/Patient.rs" in granted
    assert "patient/Observation.rs" not in granted and "offline_access" not in granted
    assert "refresh_token" not in token
    assert {"openid", "fhirUser", "launch/patient"} <= set(granted)  # required ones stay


def test_deny_redirects_with_access_denied(smart_url: str, http: httpx.Client) -> None:
    page = http.get(f"{smart_url}/auth/authorize", params=_params(smart_url))
    login = http.post(
        f"{smart_url}/auth/login",
        data={
            "session": session_of(page.text),
            "username": "patient.demo",
            "password": "demo-password",
        },
    )
    denied = http.post(
        f"{smart_url}/auth/consent", data={"session": session_of(login.text), "decision": "deny"}
    )
    assert denied.status_code == 303
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["s-123"]


def _launch(http: httpx.Client, base: str, **body: object) -> str:
    response = http.post(f"{base}/auth/launch", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["iss"] == f"{base}/fhir/r4"
    value: str = response.json()["launch"]
    return value


def test_ehr_launch_resolves_patient_encounter_and_fhir_context(
    smart_url: str, http: httpx.Client
) -> None:
    launch = _launch(
        http,
        smart_url,
        patient=ELEANA,
        encounter="a-195900.Encounter-42",
        fhirContext=["DiagnosticReport/a-195900.DR-1"],
    )
    flow = run_flow(
        http,
        smart_url,
        user="dr.demo",
        scope="launch openid fhirUser offline_access patient/*.rs",
        launch=launch,
    )
    assert not any('action="/auth/patient"' in p for p in flow.pages)  # no picker
    body = exchange(http, smart_url, flow).json()
    assert body["patient"] == ELEANA
    assert body["encounter"] == "a-195900.Encounter-42"
    assert body["fhirContext"] == ["DiagnosticReport/a-195900.DR-1"]
    assert body["need_patient_banner"] is True
    assert httpx.get(body["smart_style_url"]).status_code == 200


def test_ehr_launch_form_redirects_to_the_app(smart_url: str, http: httpx.Client) -> None:
    assert 'name="launch_url"' in http.get(f"{smart_url}/auth/launch").text
    response = http.post(
        f"{smart_url}/auth/launch",
        data={"launch_url": LAUNCH_URL, "patient": ELEANA},
    )
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["iss"] == [f"{smart_url}/fhir/r4"] and query["launch"][0]


def test_ehr_launch_rejects_malformed_context(smart_url: str, http: httpx.Client) -> None:
    assert http.post(f"{smart_url}/auth/launch", json={"patient": "x"}).status_code == 400
    assert (
        http.post(
            f"{smart_url}/auth/launch", json={"patient": ELEANA, "fhirContext": ["http://x/y"]}
        ).status_code
        == 400
    )


def test_patient_user_cannot_open_another_patients_launch(
    smart_url: str, http: httpx.Client
) -> None:
    launch = _launch(http, smart_url, patient=ELEANA)
    flow = run_flow(
        http, smart_url, user="patient.demo", scope="launch openid patient/*.rs", launch=launch
    )
    assert flow.response.status_code == 400
    assert "location" not in flow.response.headers


def test_ehr_launcher_is_off_unless_enabled(
    emulator_url: str, tmp_path_factory: pytest.TempPathFactory, http: httpx.Client
) -> None:
    """The launcher mints context for any patient: a test EHR, on by default only when embedded."""
    from tests.conftest import facade_settings, start_facade

    settings = facade_settings(
        emulator_url, tmp_path_factory.mktemp("nolaunch"), ehr_launcher=False
    )
    server = start_facade(settings)
    try:
        base = settings.base_url
        assert http.get(f"{base}/auth/launch").status_code == 404
        assert http.post(f"{base}/auth/launch", json={"patient": ELEANA}).status_code == 404
    finally:
        server.stop()
