"""A facade with test clients registered, and a loopback JWKS server for a backend client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulator.server import ServerThread
from tests.auth.smart_support import Keys, write_clients
from tests.conftest import facade_settings, start_facade


@pytest.fixture(scope="session")
def client_keys() -> Keys:
    return Keys()


@pytest.fixture(scope="session")
def jwks_url(client_keys: Keys) -> Iterator[str]:
    """A client's JWKS served on loopback (the JWKS URL of BACKEND_ES)."""
    body = {"keys": [client_keys.ec.as_dict(private=False)]}

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(body)

    server = ServerThread(Starlette(routes=[Route("/jwks.json", jwks)]))
    yield f"{server.start()}/jwks.json"
    server.stop()


@pytest.fixture(scope="session")
def smart_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("smart")


@pytest.fixture(scope="session")
def smart_url(
    emulator_url: str, smart_data_dir: Path, client_keys: Keys, jwks_url: str
) -> Iterator[str]:
    write_clients(smart_data_dir, client_keys, jwks_url)
    settings = facade_settings(emulator_url, smart_data_dir)
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        yield client


def bearer(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}
