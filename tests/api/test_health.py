"""/healthz and /readyz: no token, no PHI, and readiness follows the durable store."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import facade_settings, start_facade


def test_healthz_and_readyz_answer_without_a_token(facade_url: str) -> None:
    health = httpx.get(f"{facade_url}/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = httpx.get(f"{facade_url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready" and ready.json()["store"] == "ok"
    assert ready.headers["cache-control"] == "no-store"


def test_readyz_is_503_when_the_store_fails(
    emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = facade_settings(emulator_url, tmp_path_factory.mktemp("readyz"))
    server = start_facade(settings)
    try:
        assert httpx.get(f"{settings.base_url}/readyz").status_code == 200
        app = server.app
        app.state.services.ledger.close()  # the store goes away under a running server
        broken = httpx.get(f"{settings.base_url}/readyz")
        assert broken.status_code == 503
        assert broken.json() == {"status": "unavailable", "store": "error"}
        assert httpx.get(f"{settings.base_url}/healthz").status_code == 200
    finally:
        server.stop()
