"""Settings for the athenahealth emulator (API-NOTES sections 2.3, 4.1, 4.3, 5.5).

Every number here is a changeable default; the real values come from the
notes where they are known and are marked [G] where they are guesses.
Importing this module has no side effects; values are read from the
environment (prefix ``EMULATOR_``) only when the class is instantiated.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from emulator.faults import FaultPlan


def _default_clients() -> dict[str, str]:
    # The documented local-dev credentials (client_id -> client_secret).
    return {"facade-dev": "facade-dev-secret"}


class EmulatorConfig(BaseSettings):
    """Emulator settings; env vars ``EMULATOR_<FIELD>`` override defaults.

    ``clients`` may be given as JSON, e.g. ``EMULATOR_CLIENTS='{"a": "b"}'``.
    """

    model_config = SettingsConfigDict(env_prefix="EMULATOR_", extra="ignore")

    # Deterministic synthetic data (section 1.4 plus a generated population).
    seed: int = 1
    generated_patients: int = Field(default=2400, ge=0)
    # The schedule's "today" (section 3.5): seeded slots run from 4 weeks before
    # to 6 weeks after it. None means the real current date (US Eastern) at
    # world creation. Given a date, the scheduling clock is the real clock
    # shifted by whole days so that it reads ``today`` at creation.
    today: date | None = None

    # OAuth (section 2.3): 1 h tokens; 50/min production, 5/min preview.
    token_ttl_seconds: int = Field(default=3600, ge=1)
    token_requests_per_minute: int = Field(default=50, ge=1)

    # API budget (section 4.3) [G]: 100/s and 500,000/day as in production.
    api_requests_per_second: int = Field(default=100, ge=1)
    api_requests_per_day: int = Field(default=500_000, ge=1)

    # Header names (section 4.3) [G]: the real names are not known.
    quota_limit_header: str = "X-RateLimit-Limit"
    quota_remaining_header: str = "X-RateLimit-Remaining"
    request_id_header: str = "X-Request-Id"

    clients: dict[str, str] = Field(default_factory=_default_clients)

    # Proprietary paging (section 4.1): default 1500, maximum 5000.
    default_limit: int = Field(default=1500, ge=1)
    max_limit: int = Field(default=5000, ge=1)
    # Open slots (section 3.5): default 1000, maximum 10000. Booked lists page by 1000.
    open_slots_default_limit: int = Field(default=1000, ge=1)
    open_slots_max_limit: int = Field(default=10_000, ge=1)
    booked_default_limit: int = Field(default=1000, ge=1)
    # Scheduling checks (section 3.5) [G defaults from the notes]: 24 h lead time, 90 days horizon.
    schedule_lead_hours: int = Field(default=24, ge=0)
    schedule_horizon_days: int = Field(default=90, ge=1)

    # FHIR paging (section 5.5) [G]: athena's default page size is unknown;
    # 10 keeps pages small so clients must follow `next`. MET asks for 1000.
    fhir_default_count: int = Field(default=10, ge=1)
    fhir_max_count: int = Field(default=1000, ge=1)

    # Which athena host this emulates (section 1.1): "preview" switches off what only
    # works in production, e.g. real-time eligibility (section 3.8, C1).
    environment: Literal["production", "preview"] = "production"
    # Real-time eligibility (section 3.8) [G]: how long a "slow" payer takes to answer a
    # 270, on the emulator clock. athena's help asks users to wait 20 s for a payer.
    eligibility_delay_seconds: float = Field(default=20.0, ge=0)

    # Fault injection at start (emulator/faults.py); JSON in EMULATOR_FAULTS.
    faults: FaultPlan = Field(default_factory=FaultPlan)
