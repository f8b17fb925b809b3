"""Constants and helpers shared by the scheduling tests (fixed today, frozen clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx

from tests.conftest import dev_token

TODAY = date(2025, 6, 30)  # a Monday
NOW = datetime(2025, 6, 30, 14, 0, tzinfo=UTC).timestamp()
PID = "195900"
PATIENT = f"Patient/a-{PID}.E-60178"
OTHER_PATIENT = f"Patient/a-{PID}.E-1686"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


class _Clock:
    def __call__(self) -> float:
        return NOW


def _client(base_url: str) -> httpx.Client:
    token = dev_token(base_url, "system/*.cruds")
    return httpx.Client(
        base_url=f"{base_url}/fhir/r4", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
