"""Practice scoping: one endpoint, many practices; a caller never widens past its token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import dev_token, facade_settings, start_facade


@pytest.fixture(scope="module")
def single_practice(
    emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    settings = facade_settings(
        emulator_url,
        Path(tmp_path_factory.mktemp("one")),
        practices=["195901"],
        default_practice="195901",
    )
    server = start_facade(settings)
    token = dev_token(settings.base_url)
    with httpx.Client(
        base_url=f"{settings.base_url}/fhir/r4", headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client
    server.stop()


def test_search_defaults_to_the_tokens_only_practice(single_practice: httpx.Client) -> None:
    bundle = single_practice.get("Patient", params={"gender": "female", "_count": "10"}).json()
    assert bundle["entry"]
    assert all(e["resource"]["id"].startswith("a-195901.") for e in bundle["entry"])
    sandbox = single_practice.get("Patient", params={"name": "sandbox"}).json()
    assert sandbox.get("entry", []) == []  # the sandbox patients live in 195900


def test_cannot_widen_past_the_token(single_practice: httpx.Client) -> None:
    response = single_practice.get(
        "Patient", params={"ah-practice": "Organization/a-1.Practice-195900", "name": "sandbox"}
    )
    assert response.status_code == 403
    read = single_practice.get("Patient/a-195900.E-60178")
    assert read.status_code == 404  # no existence leak across practices


def test_default_practice_applies_without_ah_practice(fhir: httpx.Client) -> None:
    bundle = fhir.get("Patient", params={"name": "sandbox"}).json()
    assert {e["resource"]["id"].split(".")[0] for e in bundle["entry"]} == {"a-195900"}


def test_one_practice_per_search(fhir: httpx.Client) -> None:
    response = fhir.get(
        "Patient",
        params=[
            ("ah-practice", "Organization/a-1.Practice-195900"),
            ("ah-practice", "Organization/a-1.Practice-195901"),
            ("name", "x"),
        ],
    )
    assert response.status_code == 400
