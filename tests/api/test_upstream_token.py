"""athena's token: fetched once, reused, and replaced transparently when athena revokes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import dev_token, facade_settings, start_facade


@pytest.fixture
def uncached(emulator_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = facade_settings(emulator_url, tmp_path, cache_enabled=False)
    server = start_facade(settings)
    headers = {"Authorization": f"Bearer {dev_token(settings.base_url)}"}
    with httpx.Client(base_url=f"{settings.base_url}/fhir/r4", headers=headers) as client:
        yield client
    server.stop()


def test_revoked_upstream_token_is_refreshed_once_without_client_error(
    uncached: httpx.Client, emulator_world: Any
) -> None:
    assert uncached.get("Patient/a-195900.E-60178").status_code == 200
    emulator_world.reset_call_counts()
    assert emulator_world.expire_tokens() >= 1  # athena revokes every live token early
    responses = [uncached.get("Patient/a-195900.E-60179") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert emulator_world.calls("POST", "/oauth2/v1/token") == 1
    # the first call met the 401 and was replayed; the others reused the new token
    assert emulator_world.calls("GET", "/fhir/r4/Patient/{id}") == 4
