"""Real-time eligibility endpoints (API-NOTES 3.8; simulation in :mod:`emulator.eligibility`).

- ``POST /v1/{pid}/patients/{id}/insurances/{iid}/eligibility``: runs a 270
  (optional ``dateofservice`` MM/DD/YYYY, default today; ``servicetypecode``,
  default 30 [G: parameters as on athena's ``benefitdetails``]) and answers a
  one-element array with the result, ``status`` "pending" for a slow payer. A
  POST while a check is pending answers that check again.
- ``GET`` on the same path: the latest result as a one-element array (C1: "an
  array"); 404 when no check was ever run [G].

Self-pay and cancelled insurances cannot be checked (400 [G]); preview answers
the HTTP-200 soft failure.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from emulator.eligibility import (
    NOT_AVAILABLE,
    SERVICE_TYPES,
    Check,
    answer,
    pending_view,
    settle,
    timestamp,
)
from emulator.errors import AthenaError, invalid, json_response
from emulator.form import request_params
from emulator.insurance import InsuranceRecord
from emulator.records import parse_us_date
from emulator.rest_insurance import insurance_of, patient_of
from emulator.rest_practice import world_of
from emulator.world import EASTERN, World


def _soft_failure() -> Response:
    # athena quirk: business failures can be HTTP 200 with success false (section 4.2).
    return json_response({"success": False, "errormessage": NOT_AVAILABLE})


def _checkable(request: Request) -> tuple[World, InsuranceRecord]:
    world, patient = world_of(request), patient_of(request)
    record = insurance_of(request, patient)
    if not record.active:
        raise invalid("Eligibility cannot be checked for a cancelled insurance.")  # [G]
    if not record.package.is_insurance:
        raise AthenaError(
            400,
            "The data provided is invalid.",
            detailedmessage="Eligibility cannot be checked for self-pay.",  # [G]
            invalidfields=["insuranceid"],
        )
    return world, record


async def run_eligibility(request: Request) -> Response:
    """``POST .../insurances/{insuranceid}/eligibility``: send a 270."""
    world, record = _checkable(request)
    if world.config.environment == "preview":
        return _soft_failure()
    params = await request_params(request)
    now = world.schedule_now().astimezone(EASTERN)
    day = now.date()
    if params.get("dateofservice", "").strip():
        parsed = parse_us_date(params["dateofservice"])
        if parsed is None:
            raise invalid(f"Expecting format date, but value is {params['dateofservice']}")
        day = parsed
    stc = params.get("servicetypecode", "").strip().upper() or "30"
    if stc not in SERVICE_TYPES:
        raise invalid(f"The value '{stc}' did not match any of the enum values for SERVICETYPECODE")
    latest = world.eligibility.latest(record.practiceid, record.insuranceid)
    if latest is not None and world.clock() < latest.ready_at:
        return json_response([pending_view(latest, record)])
    delay = world.config.eligibility_delay_seconds if record.package.payer == "slow" else 0.0
    unknown = (record.packageid, record.text("insuranceidnumber")) in world.unknown_members
    unknown = unknown or record.text("insuranceidnumber").upper().startswith("UNKNOWN")
    result = answer(world.config.seed, record, unknown, day, stc, now)
    result["responsedatetime"] = timestamp(now + timedelta(seconds=delay))
    check = Check(record.practiceid, record.insuranceid, now, world.clock() + delay, result)
    world.eligibility.store(check)
    return json_response([settle(world, check, record)])


async def last_eligibility(request: Request) -> Response:
    """``GET .../insurances/{insuranceid}/eligibility``: the latest 271."""
    world, record = _checkable(request)
    if world.config.environment == "preview":
        return _soft_failure()
    check = world.eligibility.latest(record.practiceid, record.insuranceid)
    if check is None:
        raise AthenaError(404, "No eligibility check has been run for this insurance.")  # [G]
    return json_response([settle(world, check, record)])
