"""Clients' JWKS URLs as an SSRF attacker uses them: registration parses and vets the URL
(no prefix tricks), loopback only in embedded mode, and every fetch failure looks the same
(one message, one delay) whatever listens at the target."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from emulator.server import ServerThread
from facade.auth.remote_jwks import UNAVAILABLE, JwksUrlRefused, check_jwks_url
from facade.settings import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET
from tests.auth.smart_support import ASSERTION_TYPE, Keys, assertion
from tests.conftest import facade_settings, free_port, start_facade

FETCH_TIMEOUT = 0.4
ALLOW = ["https://", "http://127.0.0.1:", "http://localhost:", "http://[::1]:"]


# ------------------------------------------------------------------ the URL check (pure)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9@attacker.example/jwks.json",  # the finding: userinfo
        "https://127.0.0.1:9@attacker.example/jwks.json",
        "https://user@keys.example.org/jwks.json",
        "https://keys.example.org/jwks.json#frag",
        "https://keys.example.org#@127.0.0.1:9/",
        "http://keys.example.org/jwks.json",  # http only to loopback
        "ftp://keys.example.org/jwks.json",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "javascript:alert(1)",
        "//keys.example.org/jwks.json",
        "/jwks.json",
        "https://",
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://10.0.0.5/jwks.json",
        "https://192.168.1.1/jwks.json",
        "https://[fd00::1]/jwks.json",
        "https://[fe80::1%25eth0]/jwks.json",
        "https://0.0.0.0/jwks.json",
        "https://2130706433/jwks.json",  # 127.0.0.1 as a number
        "https://0x7f.1/jwks.json",
        "https://127.1/jwks.json",
        "https://keys.example.org:99999/jwks.json",
        "https://keys.example.org:port/jwks.json",
        "https://keys.exa mple.org/jwks.json",
        "https://keys.example.org\\@127.0.0.1/",
        "https://keys.example.org/\njwks.json",
        "https://" + "a" * 3000 + ".example/",
        "https://under_score.example/jwks.json",
    ],
)
def test_refused_jwks_urls(url: str) -> None:
    with pytest.raises(JwksUrlRefused):
        check_jwks_url(url, allow_loopback=True, prefixes=ALLOW)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/jwks.json",
        "http://127.0.0.2:8080/jwks.json",
        "http://[::1]:8080/jwks.json",
        "http://localhost:8080/jwks.json",
        "https://[::ffff:127.0.0.1]/jwks.json",
        "https://api.localhost/jwks.json",
    ],
)
def test_loopback_urls_only_when_allowed(url: str) -> None:
    with pytest.raises(JwksUrlRefused, match="loopback"):
        check_jwks_url(url, allow_loopback=False, prefixes=["https://", "http://"])
    check_jwks_url(url, allow_loopback=True, prefixes=["https://", "http://"])


def test_accepted_urls_and_prefix_narrowing() -> None:
    for url in (
        "https://keys.example.org/jwks.json",
        "https://KEYS.Example.org:8443/.well-known/jwks.json?v=1",
        "https://93.184.215.14/jwks.json",
        "https://[2606:4700::1111]/jwks.json",
    ):
        check_jwks_url(url, allow_loopback=False, prefixes=ALLOW)
    with pytest.raises(JwksUrlRefused, match="FACADE_JWKS_URL_ALLOW"):
        check_jwks_url(
            "https://keys.example.org/jwks.json",
            allow_loopback=False,
            prefixes=["https://partner.example/"],
        )
    for bad in (None, 42, ["https://keys.example.org/"], {"url": "x"}, ""):
        with pytest.raises(JwksUrlRefused):
            check_jwks_url(bad, allow_loopback=True, prefixes=ALLOW)


# ------------------------------------------------------------------ registration over HTTP
def _register(base: str, jwks_uri: object) -> httpx.Response:
    body = {
        "client_name": "jwks app",
        "redirect_uris": ["https://app.example/cb"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": jwks_uri,
        "scope": "launch openid patient/*.rs",
    }
    return httpx.post(f"{base}/auth/register", json=body, timeout=30)


def _refused_at_registration(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"


def test_registration_refuses_the_userinfo_trick(smart_url: str) -> None:
    for url in (
        "http://127.0.0.1:9@attacker.example/jwks.json",
        "https://127.0.0.1:9@attacker.example/jwks.json",
        "http://127.0.0.1:1@127.0.0.1:22/",
    ):
        _refused_at_registration(_register(smart_url, url))


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/jwks.json",
        "https://2130706433/jwks.json",
        "http://keys.example.org/jwks.json",
        "file:///etc/passwd",
        "https://keys.example.org/jwks.json#x",
        42,
        ["https://keys.example.org/jwks.json"],
    ],
)
def test_registration_refuses_hostile_jwks_urls(smart_url: str, url: object) -> None:
    _refused_at_registration(_register(smart_url, url))


def test_registration_accepts_https_and_embedded_loopback(smart_url: str) -> None:
    for url in ("https://keys.example.org/jwks.json", "http://127.0.0.1:9/jwks.json"):
        response = _register(smart_url, url)
        assert response.status_code == 201, (url, response.text)
        assert response.json()["jwks_uri"] == url


@pytest.fixture(scope="module")
def preview_url(emulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A facade outside embedded mode (its upstream still the emulator, by URL)."""
    settings = facade_settings(
        emulator_url,
        tmp_path_factory.mktemp("preview"),
        environment="preview",
        athena_client_id=EMULATOR_CLIENT_ID,
        athena_client_secret=EMULATOR_CLIENT_SECRET,
        dev_client_secret="not-the-default-secret",
        demo_password="not-the-default-password",
    )
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/jwks.json",
        "http://127.9.9.9:9/jwks.json",
        "http://localhost:9/jwks.json",
        "http://[::1]:9/jwks.json",
        "https://127.0.0.1/jwks.json",
        "https://localhost/jwks.json",
    ],
)
def test_loopback_is_refused_outside_embedded_mode(preview_url: str, url: str) -> None:
    _refused_at_registration(_register(preview_url, url))


def test_https_is_accepted_outside_embedded_mode(preview_url: str) -> None:
    assert _register(preview_url, "https://keys.example.org/jwks.json").status_code == 201


# ------------------------------------------------------------------ fetch failures look alike
@pytest.fixture(scope="module")
def targets(client_keys: Keys) -> Iterator[str]:
    """A loopback server answering in every way a JWKS fetch can go wrong (and one right)."""
    good = {"keys": [client_keys.ec.as_dict(private=False)]}

    async def jwks(request: Request) -> Response:
        return JSONResponse(good)

    async def garbage(request: Request) -> Response:
        return PlainTextResponse("SSH-2.0-OpenSSH_9.2\r\n\x00\x01binary")

    async def huge(request: Request) -> Response:
        return JSONResponse({"keys": [], "pad": "x" * 2_000_000})

    async def endless(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(2000):
                yield b" " * 1024

        return StreamingResponse(chunks(), media_type="application/json")

    async def not_jwks(request: Request) -> Response:
        return JSONResponse({"hello": "world"})

    async def bad_key(request: Request) -> Response:
        return JSONResponse({"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]})

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/jwks.json", status_code=302)

    async def slow(request: Request) -> Response:
        await asyncio.sleep(FETCH_TIMEOUT * 3)
        return JSONResponse(good)

    async def error(request: Request) -> Response:
        return PlainTextResponse("boom", status_code=500)

    routes = [
        Route("/jwks.json", jwks),
        Route("/garbage", garbage),
        Route("/huge", huge),
        Route("/endless", endless),
        Route("/not-jwks", not_jwks),
        Route("/bad-key", bad_key),
        Route("/redirect", redirect),
        Route("/slow", slow),
        Route("/error", error),
    ]
    server = ServerThread(Starlette(routes=routes))
    yield server.start()
    server.stop()


@pytest.fixture(scope="module")
def fetch_url(emulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = facade_settings(
        emulator_url,
        tmp_path_factory.mktemp("jwksfetch"),
        jwks_fetch_timeout_seconds=FETCH_TIMEOUT,
        jwks_max_bytes=4096,
    )
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


def _authenticate(base: str, client_id: str, keys: Keys) -> tuple[httpx.Response, float]:
    token_url = f"{base}/auth/token"
    started = time.monotonic()
    response = httpx.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(client_id, keys.ec, token_url),
        },
        timeout=30,
    )
    return response, time.monotonic() - started


def test_every_fetch_failure_gives_the_same_answer(
    fetch_url: str, targets: str, client_keys: Keys
) -> None:
    port = targets.rsplit(":", 1)[1]
    urls = {
        "closed-port": f"http://127.0.0.1:{free_port()}/jwks.json",
        "not-found": f"{targets}/nothing-here",
        "server-error": f"{targets}/error",
        "garbage": f"{targets}/garbage",
        "huge": f"{targets}/huge",
        "endless-stream": f"{targets}/endless",
        "json-not-jwks": f"{targets}/not-jwks",
        "invalid-key": f"{targets}/bad-key",
        "redirect": f"{targets}/redirect",
        "timeout": f"{targets}/slow",
        "localhost-not-found": f"http://localhost:{port}/nothing-here",
    }
    answers: dict[str, Any] = {}
    for name, url in urls.items():
        registered = _register(fetch_url, url)
        assert registered.status_code == 201, (name, registered.text)
        response, elapsed = _authenticate(fetch_url, registered.json()["client_id"], client_keys)
        assert response.status_code == 401, (name, response.text)
        answers[name] = response.json()
        # the same delay whatever happened (no port scan by timing)
        assert FETCH_TIMEOUT * 0.9 <= elapsed < FETCH_TIMEOUT + 1.5, (name, elapsed)
    expected = {"error": "invalid_client", "error_description": UNAVAILABLE}
    assert answers == dict.fromkeys(urls, expected)


def test_a_good_jwks_url_is_fetched_by_name_and_by_address(
    fetch_url: str, targets: str, client_keys: Keys
) -> None:
    port = targets.rsplit(":", 1)[1]
    for url in (f"{targets}/jwks.json", f"http://localhost:{port}/jwks.json"):
        registered = _register(fetch_url, url)
        response, elapsed = _authenticate(fetch_url, registered.json()["client_id"], client_keys)
        # authenticated by the fetched key; a registered client may not use client_credentials
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "unauthorized_client"
        assert elapsed < FETCH_TIMEOUT


def test_fetch_refuses_a_loopback_url_once_loopback_is_off(
    emulator_url: str, tmp_path: Path, targets: str, client_keys: Keys
) -> None:
    """A client stored while loopback was allowed gets nothing once it is not."""
    settings = facade_settings(emulator_url, tmp_path, jwks_fetch_timeout_seconds=FETCH_TIMEOUT)
    server = start_facade(settings)
    try:
        registered = _register(settings.base_url, f"{targets}/jwks.json")
        client_id = registered.json()["client_id"]
    finally:
        server.stop()
    strict = facade_settings(
        emulator_url, tmp_path, jwks_allow_loopback=False, jwks_fetch_timeout_seconds=FETCH_TIMEOUT
    )
    server = start_facade(strict)
    try:
        response, _ = _authenticate(strict.base_url, client_id, client_keys)
        assert response.status_code == 401
        assert response.json()["error_description"] == UNAVAILABLE
    finally:
        server.stop()
