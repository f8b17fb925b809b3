"""athena's Group-level Bulk Data export (EVENTS-BULK-MCP-SCALE §3.5; API-NOTES §5.3).

"This API only supports the Group-level export FHIR Operation (i.e. ``GET [fhir
base]/Group/[id]/$export`` where [id] is formatted as 'a-1.c-[practiceId]') ...
invoked using the FHIR Asynchronous Request Pattern" (athena's Group page). So:

- ``GET /fhir/r4/Group/a-1.c-{practiceid}/$export`` (``a-1.C-`` accepted too: which case
  athena requires is unconfirmed) with ``Prefer: respond-async`` -> ``202`` and an
  absolute ``Content-Location``; ``_type`` (athena's FHIR types below; a type the token
  has no ``system/{Type}.read`` for is 403), ``_since`` (``meta.lastUpdated`` after it),
  ``_outputFormat`` (the NDJSON spellings);
- ``GET /fhir/r4/bulk/status/{job}`` [G: the path is unconfirmed] -> ``202`` with
  ``X-Progress`` and ``Retry-After`` until the job is ready, then ``200`` with the
  manifest; ``DELETE`` -> ``202``, later polls ``404``;
- ``GET /fhir/r4/bulk/files/{job}/{name}`` -> NDJSON of athena's own FHIR rendering
  (the same as its FHIR reads), at most :data:`FILE_SIZE` resources a file.

Only the client that started a job sees it. The fault plan (emulator/faults.py) sets
how long a job takes (``bulk_export_seconds``) and whether it fails
(``bulk_export_failure``: its status then answers 500 with an OperationOutcome); the
usual rules apply to these paths like to any other. Content is rendered when a
job becomes ready (a snapshot then, [G] for athena's own timing), on the event loop in
slices so the emulated API keeps answering meanwhile (see ``_render``).
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from emulator.access import allows_fhir, bearer_token
from emulator.errors import FhirError, invalid_fhir_request, json_response
from emulator.faults import FaultState
from emulator.fhir_clinical import SPECS as CLINICAL_SPECS
from emulator.fhir_encounter import condition_resource
from emulator.fhir_patient import patient_resource
from emulator.fhir_practice import (
    department_organization,
    location_resource,
    practice_organization,
    practitioner_resource,
)
from emulator.fhir_resources import _KIND_ORDER as PROVENANCE_ORDER
from emulator.fhir_resources import _provenance as provenance
from emulator.fhir_resources import render_encounter
from emulator.rest_practice import world_of
from emulator.world import World

GROUP_ID = re.compile(r"^a-1\.[cC]-(?P<practice>\d+)$")
EXPORT_TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "Provenance",
    "Practitioner",
    "Organization",
    "Location",
    # the clinical types of the generic store (emulator/fhir_clinical.py)
    *(t for t in CLINICAL_SPECS if t != "Condition"),
)
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
FILE_SIZE = 1000  # resources per output file [G]
NDJSON = "application/fhir+ndjson"


@dataclass
class ExportJob:
    id: str
    client_id: str
    practice: str
    types: tuple[str, ...]
    since: datetime | None
    request: str
    created: float
    ready_at: float
    failure: str | None
    transaction_time: str
    files: dict[str, bytes] | None = None
    output: list[dict[str, Any]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one rendering per job


class BulkExports:
    """The emulator's export jobs (in memory, like the rest of its athena)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, ExportJob] = {}
        self.kickoffs = 0  # for tests: how often athena's export was started


def _exports(request: Request) -> BulkExports:
    exports: BulkExports = request.app.state.bulk_exports
    return exports


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir/r4"


def _parse_since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid_fhir_request() from exc
    if value.tzinfo is None:
        raise invalid_fhir_request()
    return value


def _updated(resource: dict[str, Any]) -> datetime | None:
    stamp = (resource.get("meta") or {}).get("lastUpdated")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def _resources(world: World, practice: str, rtype: str) -> Iterable[dict[str, Any]]:
    """Everything of one type in one practice, rendered as athena's FHIR API renders it
    (lazily: the renderer yields to the event loop between slices)."""
    schedule = world.schedule
    if rtype == "Patient":
        return (patient_resource(r) for r in world.live_patients(practice))
    if rtype == "Encounter":
        rows = sorted(schedule.all_encounters(practice), key=lambda e: e.encounterid)
        return (render_encounter(world, e) for e in rows)
    if rtype == "Condition":
        found = []
        for diagnosis in sorted(schedule.all_diagnoses(practice), key=lambda d: d.diagnosisid):
            encounter = schedule.encounter(practice, diagnosis.encounterid)
            if encounter is not None:
                found.append(condition_resource(diagnosis, encounter))
        return found + world.clinical.all("Condition", practice)  # problems, health concerns
    if rtype in CLINICAL_SPECS:
        return world.clinical.all(rtype, practice)
    if rtype == "Provenance":  # what Provenance?patient= finds, for every patient
        keys = [("Patient", p.patientid) for p in world.live_patients(practice)]
        keys += [("Encounter", e.encounterid) for e in schedule.all_encounters(practice)]
        keys += [
            ("Coverage", r.insuranceid) for r in world.insurances.all(practice) if r.is_coverage
        ]
        return (
            r
            for kind, ident in sorted(keys, key=lambda k: (PROVENANCE_ORDER[k[0]], k[1]))
            if (r := provenance(world, practice, kind, ident)) is not None
        )
    if rtype == "Practitioner":
        return (practitioner_resource(practice, p) for p in world.providers.get(practice, []))
    departments = world.departments.get(practice, [])
    if rtype == "Organization":
        return [
            practice_organization(world.practices[practice]),
            *(department_organization(practice, d) for d in departments),
        ]
    return (location_resource(practice, d) for d in departments)  # Location


async def kick_off(request: Request) -> Response:
    """``GET /fhir/r4/Group/{id}/$export``: start a job (202 + Content-Location)."""
    world = world_of(request)
    token = bearer_token(world, request)
    match = GROUP_ID.match(str(request.path_params["id"]))
    if match is None or not world.has_practice(match["practice"]):
        raise FhirError(404, "not-found", f"Resource Group/{request.path_params['id']} not found")
    prefer = ",".join(request.headers.getlist("prefer")).replace(" ", "").lower()
    if "respond-async" not in prefer.split(","):
        # [G] athena documents the asynchronous pattern only
        raise FhirError(400, "business-rule", "Prefer: respond-async is required")
    params = request.query_params
    fmt = params.get("_outputFormat", OUTPUT_FORMATS[0])
    if fmt not in OUTPUT_FORMATS:
        raise invalid_fhir_request()
    permitted = [t for t in EXPORT_TYPES if allows_fhir(token, t, "read")]
    if params.get("_type"):
        types = [t.strip() for v in params.getlist("_type") for t in v.split(",") if t.strip()]
        if any(t not in EXPORT_TYPES for t in types):
            raise invalid_fhir_request()
        if any(t not in permitted for t in types):
            raise FhirError(403, "forbidden", "Invalid scope")
    else:
        types = permitted
    since = _parse_since(params["_since"]) if params.get("_since") else None
    plan = request.app.state.faults
    assert isinstance(plan, FaultState)
    now = world.clock()
    job = ExportJob(
        id=secrets.token_hex(12),
        client_id=token.client_id,
        practice=match["practice"],
        types=tuple(dict.fromkeys(types)),
        since=since,
        request=str(request.url),
        created=now,
        ready_at=now + plan.plan.bulk_export_seconds,
        failure=plan.plan.bulk_export_failure,
        transaction_time=datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    exports = _exports(request)
    with exports.lock:
        exports.jobs[job.id] = job
        exports.kickoffs += 1
    location = f"{_base(request)}/bulk/status/{job.id}"
    return Response(status_code=202, headers={"Content-Location": location})


def _job(request: Request) -> ExportJob:
    world = world_of(request)
    token = bearer_token(world, request)
    exports = _exports(request)
    with exports.lock:
        job = exports.jobs.get(str(request.path_params["job"]))
    if job is None or job.client_id != token.client_id:
        raise FhirError(404, "not-found", "Unknown export job")
    return job


RENDER_SLICE = 100  # resources rendered between two yields to the event loop


async def _render(world: World, base: str, job: ExportJob) -> None:
    """Render the job's files once, on the event loop in slices of ``RENDER_SLICE``.

    athena renders exports on its own machines, beside its API; here the API and the
    renderer share one process. A worker thread (the first design) held the GIL against
    the API's event loop, which then waited a switch interval for every socket
    operation: the facade's interactive reads, uncached, had their p99 doubled while an
    export was rendered (bench P5, 2.1x; the facade's own event loop was busy with the
    export about 6% of the time, py-spy). Slices keep every API request's wait to one
    slice (a few ms). A write the API takes while the files are rendered may or may not
    be in them, as for any export running beside its API ([G]: athena documents no
    snapshot isolation for its exports).
    """
    async with job.lock:
        if job.files is not None:
            return
        files: dict[str, bytes] = {}
        output: list[dict[str, Any]] = []
        rendered = 0
        for rtype in job.types:
            found = []
            for r in _resources(world, job.practice, rtype):
                rendered += 1
                if not rendered % RENDER_SLICE:
                    await asyncio.sleep(0)
                if job.since is None or (u := _updated(r)) is None or u > job.since:
                    found.append(r)
            for number, start in enumerate(range(0, len(found), FILE_SIZE), 1):
                chunk = found[start : start + FILE_SIZE]
                name = f"{rtype}-{number}.ndjson"
                files[name] = b"".join(orjson.dumps(r) + b"\n" for r in chunk)
                output.append(
                    {
                        "type": rtype,
                        "url": f"{base}/bulk/files/{job.id}/{name}",
                        "count": len(chunk),
                    }
                )
                await asyncio.sleep(0)
        job.files, job.output = files, output


async def status(request: Request) -> Response:
    """``GET /fhir/r4/bulk/status/{job}``: 202 while running, then the manifest."""
    job = _job(request)
    now = world_of(request).clock()
    if now < job.ready_at:
        done = (now - job.created) / max(1e-6, job.ready_at - job.created)
        return Response(
            status_code=202,
            headers={
                "X-Progress": f"{min(99, int(done * 100))}% complete",
                "Retry-After": str(max(1, math.ceil(job.ready_at - now))),
            },
        )
    if job.failure is not None:
        raise FhirError(500, "exception", job.failure)
    if job.files is None:
        await _render(world_of(request), _base(request), job)
    manifest = {
        "transactionTime": job.transaction_time,
        "request": job.request,
        "requiresAccessToken": True,
        "output": job.output,
        "error": [],
    }
    return json_response(manifest)


async def delete(request: Request) -> Response:
    """``DELETE /fhir/r4/bulk/status/{job}``: forget the job and its files."""
    job = _job(request)
    exports = _exports(request)
    with exports.lock:
        exports.jobs.pop(job.id, None)
    return Response(status_code=202)


async def download(request: Request) -> Response:
    """``GET /fhir/r4/bulk/files/{job}/{name}``: one NDJSON file (same client only)."""
    job = _job(request)
    body = (job.files or {}).get(str(request.path_params["name"]))
    if body is None:
        raise FhirError(404, "not-found", "Unknown export file")
    return Response(body, media_type=NDJSON)
