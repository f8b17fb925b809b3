"""No open redirectors (RFC 9700 §4.11): authorize errors go to a redirect URI only for
clients an operator registered, and the EHR launcher only to a registered launch URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from facade.cli import main
from tests.auth.smart_support import ELEANA, LAUNCH_URL, PUBLIC, REDIRECT, verifier_pair

EVIL = "https://evil.example/cb"

ERRORS = [
    {"code_challenge_method": "plain"},
    {"code_challenge": "", "code_challenge_method": ""},
    {"response_type": "token"},
    {"scope": "system/*.rs"},
    {"launch": "not-a-launch"},
]


def _register(base: str, **metadata: object) -> str:
    body = {
        "client_name": "Someone's app",
        "redirect_uris": [EVIL],
        "token_endpoint_auth_method": "none",
        "scope": "launch launch/patient openid patient/*.rs",
        **metadata,
    }
    response = httpx.post(f"{base}/auth/register", json=body)
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


def _params(base: str, client_id: str, redirect_uri: str, **overrides: str) -> dict[str, str]:
    _, challenge = verifier_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "launch/patient openid patient/*.rs",
        "state": "s-1",
        "aud": f"{base}/fhir/r4",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {k: v for k, v in params.items() if v}


def _error_page(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text[:300]
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text
    assert "evil.example" not in response.text  # no link to follow either


@pytest.mark.parametrize("overrides", ERRORS, ids=lambda o: next(iter(o)))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_dynamic_clients_errors_are_a_page_not_a_redirect(
    smart_url: str, http: httpx.Client, overrides: dict[str, str], method: str
) -> None:
    client_id = _register(smart_url)
    params = _params(smart_url, client_id, EVIL, **overrides)
    if method == "GET":
        response = http.get(f"{smart_url}/auth/authorize", params=params)
    else:
        response = http.post(f"{smart_url}/auth/authorize", data=params)
    _error_page(response)


def test_dynamic_clients_valid_request_still_gets_the_login_page(
    smart_url: str, http: httpx.Client
) -> None:
    client_id = _register(smart_url)
    page = http.get(f"{smart_url}/auth/authorize", params=_params(smart_url, client_id, EVIL))
    assert page.status_code == 200 and 'action="/auth/login"' in page.text


def test_trusted_clients_errors_still_redirect(smart_url: str, http: httpx.Client) -> None:
    params = _params(smart_url, PUBLIC, REDIRECT, code_challenge_method="plain")
    response = http.get(f"{smart_url}/auth/authorize", params=params)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    assert parse_qs(urlsplit(location).query)["error"] == ["invalid_request"]


def _launch(http: httpx.Client, base: str, url: str, *, json: bool) -> httpx.Response:
    body = {"launch_url": url, "patient": ELEANA}
    if json:
        return http.post(f"{base}/auth/launch", json=body)
    return http.post(f"{base}/auth/launch", data=body)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/launch",
        EVIL,  # a dynamic client's redirect URI is not a launch URL
        f"{LAUNCH_URL}?next=https://evil.example/",
        f"{LAUNCH_URL}/../../evil",
        f"{LAUNCH_URL}#https://evil.example/",
        "http://127.0.0.1:9@evil.example/launch",
        LAUNCH_URL.upper(),
        LAUNCH_URL + "/",
        "//evil.example/launch",
        "javascript:alert(1)",
        " " + LAUNCH_URL,
    ],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_launcher_redirects_only_to_a_registered_launch_url(
    smart_url: str, http: httpx.Client, url: str, as_json: bool
) -> None:
    response = _launch(http, smart_url, url, json=as_json)
    assert response.status_code == 400, (url, response.text[:200])
    assert "location" not in response.headers
    if as_json:
        assert response.json()["error"] == "invalid_request"
    else:
        assert 'role="alert"' in response.text


def test_dynamic_registration_cannot_make_a_launch_target(
    smart_url: str, http: httpx.Client
) -> None:
    target = "https://evil.example/launch"
    _register(smart_url, launch_uris=[target], initiate_login_uri=target)
    _register(smart_url, redirect_uris=[target])
    response = _launch(http, smart_url, target, json=False)
    assert response.status_code == 400 and "location" not in response.headers


def test_launcher_sends_the_browser_to_the_registered_launch_url(
    smart_url: str, http: httpx.Client
) -> None:
    response = _launch(http, smart_url, LAUNCH_URL, json=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(LAUNCH_URL + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["iss"] == [f"{smart_url}/fhir/r4"] and query["launch"][0]


def test_clients_add_launch_url_makes_a_launch_target(
    smart_url: str,
    smart_data_dir: object,
    http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = "https://ehr-app.example/launch"
    assert _launch(http, smart_url, target, json=True).status_code == 400
    monkeypatch.setenv("FACADE_DATA_DIR", str(smart_data_dir))
    added = main(
        [
            "clients",
            "add",
            "ehr-app",
            "--kind",
            "public",
            "--redirect-uri",
            "https://ehr-app.example/cb",
            "--launch-url",
            target,
            "--scope",
            "launch openid patient/*.rs",
        ]
    )
    assert added == 0
    response = _launch(http, smart_url, target, json=True)  # no restart needed
    assert response.status_code == 303
    assert response.headers["location"].startswith(target + "?")


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://app.example/launch",
        "/launch",
        "https://app.example/launch#x",
        "https://user:pw@app.example/launch",
    ],
)
def test_clients_add_refuses_a_bad_launch_url(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("FACADE_DATA_DIR", str(tmp_path))
    args = ["clients", "add", "x", "--kind", "public", "--launch-url", bad, "--scope", "openid"]
    assert main(args) == 2
