"""MCP fixtures: a clinic emulator (fixed today, frozen clock), a facade in front of it with
the SMART test clients registered, tokens (system and the demo patient's), and MCP clients
of the official ``mcp`` SDK over both transports.

One emulator and one facade for the whole ``tests/mcp`` package: bookings take distinct
slots (:func:`take_slot`), and every booking test checks the emulator's schedule itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from tests.auth.smart_support import Keys, exchange, run_flow, write_clients
from tests.conftest import dev_token, facade_settings, start_facade

TODAY = date.today()  # fixed for the run; the emulator's clock is frozen at its noon (UTC)
NOON = datetime.combine(TODAY, time(12, 0), UTC).timestamp()
PID = "195900"
DONNA = f"a-{PID}.E-60178"  # the demo patient user (patient.demo)
ELEANA = f"a-{PID}.E-60179"
PATIENT_SCOPE = "launch/patient openid fhirUser patient/*.rs patient/Appointment.cu"
ATHENA_FACADE = str(Path(sys.executable).with_name("athena-facade"))


class _Clock:
    def __call__(self) -> float:
        return NOON


@dataclass(frozen=True)
class Stack:
    """The emulator and the facade under test."""

    emulator_url: str
    world: Any  # the emulator's in-memory athena
    base: str  # facade base URL
    data_dir: Path
    port: int

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = EmulatorConfig(
        today=TODAY, api_requests_per_second=100_000, token_requests_per_minute=10_000
    )
    app = create_emulator(config, clock=_Clock())
    emulator = ServerThread(app)
    emulator_url = emulator.start()
    data_dir = tmp_path_factory.mktemp("mcp")
    write_clients(data_dir, Keys(), "http://127.0.0.1:9/jwks.json")
    settings = facade_settings(emulator_url, data_dir)
    facade = start_facade(settings)
    yield Stack(emulator_url, app.state.emulator, settings.base_url, data_dir, settings.port)
    facade.stop()
    emulator.stop()


@pytest.fixture(scope="session")
def system_token(stack: Stack) -> str:
    return dev_token(stack.base, "system/*.rs")


@pytest.fixture(scope="session")
def writer_token(stack: Stack) -> str:
    return dev_token(stack.base, "system/*.cruds")


def patient_token(base: str, scope: str = PATIENT_SCOPE, resource: str | None = None) -> str:
    """The demo patient's token (Patient/a-195900.E-60178) through the real code flow."""
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        extra = {"aud": "", "resource": resource} if resource else None
        flow = run_flow(http, base, scope=scope, user="patient.demo", extra=extra)
        overrides = {"resource": resource} if resource else {}
        response = exchange(http, base, flow, **overrides)
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token


@pytest.fixture(scope="session")
def donna_token(stack: Stack) -> str:
    return patient_token(stack.base, resource=stack.mcp_url)


@asynccontextmanager
async def http_client(stack: Stack, token: str) -> AsyncIterator[Client]:
    """The official MCP client over Streamable HTTP with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(stack.mcp_url, http_client=http)) as client,
    ):
        yield client


def stdio_env(stack: Stack, **extra: str) -> dict[str, str]:
    """A stdio server process sharing the facade's state: same data directory (signing
    key, auth store, ledger), same base URL (issuer), same athena (the clinic emulator)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACADE_", "EMULATOR_"))}
    env.update(
        {
            "FACADE_DATA_DIR": str(stack.data_dir),
            "FACADE_PORT": str(stack.port),
            "FACADE_ATHENA_BASE_URL": stack.emulator_url,
            "FACADE_WORKERS": "1",
        }
    )
    env.update(extra)
    return env


@asynccontextmanager
async def stdio_client(stack: Stack, *args: str, **env: str) -> AsyncIterator[Client]:
    """The official MCP client running ``athena-facade mcp`` as a subprocess."""
    params = StdioServerParameters(
        command=ATHENA_FACADE,
        args=["mcp", "--log-level", "warning", *args],
        env=stdio_env(stack, **env),
    )
    async with Client(params, read_timeout_seconds=60) as client:
        yield client


_taken: set[str] = set()


def window(days: int = 2, length: int = 7) -> tuple[str, str]:
    """A $find window (dates) inside athena's booking horizon, after its 24 h lead time."""
    first = TODAY + timedelta(days=days)
    return first.isoformat(), (first + timedelta(days=length)).isoformat()


def take_slot(slots: list[dict[str, Any]]) -> dict[str, Any]:
    """A slot of a find_open_slots answer no other test has taken."""
    for slot in slots:
        if slot["appointment_id"] not in _taken:
            _taken.add(slot["appointment_id"])
            return slot
    raise AssertionError("no free slot left")


def schedule(world: Any) -> list[tuple[int, str, Any]]:
    """The emulator's schedule of practice 195900: (appointment id, status, patient)."""
    return sorted(
        (a.appointmentid, a.status, a.patientid) for a in world.schedule.all_appointments(PID)
    )


BOOK_CALL = ("PUT", "/v1/{practiceid}/appointments/{appointmentid}")  # athena's booking


def local(appointment_id: str) -> int:
    """``a-195900.Appointment-123`` -> 123 (athena's appointment id)."""
    return int(appointment_id.rsplit("-", 1)[1])


__all__ = ["dev_token"]
