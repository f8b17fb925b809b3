"""``/metrics`` is protected: a bearer token (FACADE_METRICS_TOKEN), open only in
embedded mode without one, closed in preview/production without one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import facade_settings, start_facade


@pytest.fixture(scope="module")
def guarded(emulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = facade_settings(
        emulator_url, tmp_path_factory.mktemp("metrics"), metrics_token="scrape-me-please"
    )
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


def test_the_token_is_required_when_set(guarded: str) -> None:
    refused = httpx.get(f"{guarded}/metrics")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert "facade_" not in refused.text
    wrong = httpx.get(f"{guarded}/metrics", headers={"Authorization": "Bearer scrape-me-pleasE"})
    assert wrong.status_code == 401
    basic = httpx.get(f"{guarded}/metrics", auth=("x", "scrape-me-please"))
    assert basic.status_code == 401
    ok = httpx.get(f"{guarded}/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert ok.status_code == 200
    assert "facade_upstream_calls_total " in ok.text
    assert "# TYPE facade_athena_contract_violations_total counter" in ok.text
    # health and readiness stay open for probes
    assert httpx.get(f"{guarded}/healthz").status_code == 200


def test_metrics_are_closed_outside_embedded_mode_without_a_token(
    emulator_url: str, tmp_path: Path
) -> None:
    settings = facade_settings(
        emulator_url,
        tmp_path,
        environment="preview",
        athena_client_id="facade-dev",
        athena_client_secret="facade-dev-secret",
        dev_client_secret="not-the-local-default",
        demo_users=False,
    )
    server = start_facade(settings)
    try:
        answer = httpx.get(f"{settings.base_url}/metrics")
        assert answer.status_code == 403
        assert "FACADE_METRICS_TOKEN" in answer.json()["error"]
    finally:
        server.stop()


def test_metrics_are_open_in_embedded_mode_without_a_token(facade_url: str) -> None:
    """The local-dev default (make run, the tests, make bench): loopback, no token."""
    assert httpx.get(f"{facade_url}/metrics").status_code == 200
