"""Helpers shared by the emulator tests (imported by conftest and test modules)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from starlette.applications import Starlette

from emulator.world import World

CLIENT_ID = "facade-dev"
CLIENT_SECRET = "facade-dev-secret"
MDP = "athena/service/Athenanet.MDP.*"
FHIR_SCOPE = "system/Patient.read"


class FakeClock:
    """A settable epoch clock for time-dependent behaviour."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    app: Starlette
    base_url: str

    @property
    def world(self) -> World:
        world: World = self.app.state.emulator
        return world


def fetch_token(client: httpx.Client, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    response = client.post("/oauth2/v1/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token
