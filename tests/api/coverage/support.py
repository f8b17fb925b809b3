"""Shared by the Coverage and eligibility tests: an emulator with a clock the tests move,
a facade in front of it (with its demo users and test clients), and token helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from tests.auth.smart_support import Keys, exchange, run_flow, write_clients
from tests.conftest import dev_token, facade_settings, start_facade

Json = dict[str, Any]
PID = "195900"
TODAY = date(2025, 6, 30)
NOW = datetime(2025, 6, 30, 14, 0, tzinfo=UTC).timestamp()  # 10:00 Eastern
DONNA = f"a-{PID}.E-60178"  # patient.demo; primary 7001 (BCBS-MA PPO)
ELEANA = f"a-{PID}.E-60179"  # primary 7002 + secondary 7003 (her spouse's plan)
FRANKIE = f"a-{PID}.E-60180"  # self-pay only: no Coverage
GARY = f"a-{PID}.E-60181"  # 7005, expired 12/31/2024
SLOW = f"a-{PID}.E-60182"  # 7006, Medicare-MA: the payer answers after the delay
DOWN = f"a-{PID}.E-60183"  # 7007, Harvard Pilgrim: the payer is down (AAA 42)
UNKNOWN = f"a-{PID}.E-60184"  # 7008, Tufts: member unknown to the payer (AAA 75)
FHIR_JSON = {"Content-Type": "application/fhir+json"}
US_CORE_COVERAGE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-coverage|6.1.0"
US_CORE_ORGANIZATION = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-organization|6.1.0"
ELIGIBILITY = "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}/eligibility"
INSURANCES = "/v1/{practiceid}/patients/{patientid}/insurances"


def coverage_id(insuranceid: int) -> str:
    return f"a-{PID}.Coverage-{insuranceid}"


class MovableClock:
    """The emulator's clock: frozen at NOW until a test moves it (the slow payer's delay)."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Stack:
    """An emulator (its world and clock) and a facade in front of it."""

    emulator_url: str
    world: Any
    clock: MovableClock
    base: str  # the facade's base URL

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base}/fhir/r4",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def system(self) -> httpx.Client:
        return self.client(dev_token(self.base, "system/*.cruds"))

    def user(self, user: str, scope: str) -> httpx.Client:
        """A token from the real authorization-code flow (login, consent, token)."""
        with httpx.Client(timeout=30, follow_redirects=False) as http:
            flow = run_flow(http, self.base, scope=scope, user=user)
            response = exchange(http, self.base, flow)
        assert response.status_code == 200, response.text
        return self.client(response.json()["access_token"])

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.emulator_url}/_emulator", timeout=10)

    def calls(self, method: str, template: str) -> int:
        """How many times the facade called ``method template`` of athena (the emulator's
        ``GET /_emulator/calls``)."""
        with self.admin() as admin:
            found = admin.get("calls").json()["calls"]
        return sum(c["count"] for c in found if (c["method"], c["path"]) == (method, template))

    def insurances(self, patientid: int) -> list[Json]:
        """Every insurance of a patient, cancelled ones too, as athena holds them."""
        rows = self.world.insurances.for_patient(PID, patientid, cancelled=True)
        return [r.v1() for r in rows]


@contextmanager
def stack(data_dir: Path, facade: dict[str, Any] | None = None, **emulator: Any) -> Iterator[Stack]:
    """An emulator (today fixed, clock frozen) and a facade that waits briefly for a payer."""
    clock = MovableClock()
    config = EmulatorConfig(
        today=TODAY,
        api_requests_per_second=100_000,
        token_requests_per_minute=10_000,
        eligibility_delay_seconds=20,
        **emulator,
    )
    app = create_emulator(config, clock=clock)
    server = ServerThread(app)
    url = server.start()
    write_clients(data_dir, Keys(), "http://127.0.0.1:9/jwks.json")  # never fetched here
    settings = facade_settings(
        url,
        data_dir,
        **{"eligibility_wait_seconds": 1.0, "eligibility_poll_interval": 0.2, **(facade or {})},
    )
    facade = start_facade(settings)
    try:
        yield Stack(url, app.state.emulator, clock, settings.base_url)
    finally:
        facade.stop()
        server.stop()


def entries(bundle: Json, mode: str = "match") -> list[Json]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def ids(bundle: Json) -> list[str]:
    return [r["id"] for r in entries(bundle)]


def search(client: httpx.Client, rtype: str, **params: str) -> Json:
    response = client.get(rtype, params=params)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def issue(response: httpx.Response, status: int) -> Json:
    """The one OperationOutcome issue of an error answer with this status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    found: Json = body["issue"][0]
    return found
