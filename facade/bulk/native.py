"""athena's own Group ``$export`` (EVENTS-BULK-MCP-SCALE §3.5), driven like any Bulk Data client.

athena serves Group-level export only, for Group ``a-1.c-{practiceid}`` (all of the
practice's patients), with the FHIR Asynchronous Request Pattern: kick-off
(``Prefer: respond-async``) -> ``202`` + ``Content-Location``; polls answer ``202``
(``Retry-After``) until the manifest (``200``); files are NDJSON of athena's own FHIR
resources, which the facade maps with the same table sources as a search of athena's
FHIR API. Every call goes through the bulk lane's :class:`AthenaClient` (its own
rate budget), and only URLs on athena's host are followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from facade.errors import UpstreamError
from facade.upstream.client import AthenaClient, UpstreamResponse

Json = dict[str, Any]
KICKOFF_HEADERS = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


class NativeExportFailed(Exception):
    """athena's export cannot be used (refused, failed, expired): the job pages instead."""


@dataclass(frozen=True)
class Poll:
    manifest: Json | None  # None: still running
    retry_after: float = 0.0


def group_id(practice: str) -> str:
    return f"a-1.c-{practice}"


def _retry_after(response: UpstreamResponse, default: float) -> float:
    value = response.headers.get("retry-after") or response.headers.get("Retry-After")
    try:
        return max(0.5, float(value)) if value else default
    except ValueError:
        return default


def parse_lines(lines: list[bytes]) -> list[Json]:
    """NDJSON lines of athena's export as resources (a malformed line fails the file)."""
    records = []
    for line in lines:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError("athena's export file holds malformed NDJSON") from exc
        if not isinstance(record, dict):
            raise UpstreamError("athena's export file holds something else than resources")
        records.append(record)
    return records


def _job_failed(body: Any) -> bool:
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return False
    issues = body.get("issue") or []
    return bool(issues) and all(
        isinstance(i, dict) and i.get("code") != "transient" for i in issues
    )


class AthenaExport:
    def __init__(self, athena: AthenaClient, practice: str) -> None:
        self.athena = athena
        self.practice = practice
        self.key = (practice, "fhir")

    async def kick_off(self, types: list[str], since: str | None) -> str:
        """Start athena's export of ``types``; its status URL."""
        path = f"/fhir/r4/Group/{group_id(self.practice)}/$export"
        params = [("_type", ",".join(types))]
        if since:
            params.append(("_since", since))
        response = await self.athena.request(
            "GET", path, "/fhir/r4/Group/{id}/$export", self.key, params=params,
            headers=KICKOFF_HEADERS,
        )  # fmt: skip
        location = response.headers.get("content-location") or response.headers.get(
            "Content-Location"
        )
        if response.status != 202 or not location:
            raise NativeExportFailed(f"athena refused the Group export ({response.status})")
        self.athena.path_of(location)  # only athena's own host
        return location

    async def poll(self, status_url: str) -> Poll:
        response = await self.athena.request(
            "GET", self.athena.path_of(status_url), "/bulk/status/{id}", self.key, answer_5xx=True
        )
        if response.status >= 500:
            # IG 2.0.0: a failed job answers 4xx/5xx with an OperationOutcome; a polling
            # failure that does not mean the job failed carries the ``transient`` code.
            if _job_failed(response.body):
                raise NativeExportFailed("athena reports that its export failed")
            raise UpstreamError(f"athena's export status failed ({response.status})")
        if response.status == 202:
            return Poll(None, _retry_after(response, 2.0))
        if response.status == 200 and isinstance(response.body, dict):
            manifest = response.body
            if not isinstance(manifest.get("output"), list):
                raise UpstreamError("athena's export manifest has no output list")
            return Poll(manifest)
        raise NativeExportFailed(f"athena's export ended with status {response.status}")

    async def download(self, url: str) -> list[bytes]:
        """One output file: its NDJSON lines (parsed by :func:`parse_lines`, in slices)."""
        response = await self.athena.request(
            "GET",
            self.athena.path_of(url),
            "/bulk/files/{id}",
            self.key,
            headers={"Accept": "application/fhir+ndjson"},
            raw=True,
        )
        if response.status != 200 or not isinstance(response.body, bytes):
            raise NativeExportFailed(f"athena's export file answered {response.status}")
        return [line for line in response.body.splitlines() if line.strip()]

    async def delete(self, status_url: str) -> None:
        """Tell athena the files are no longer needed (best effort)."""
        try:
            await self.athena.request(
                "DELETE", self.athena.path_of(status_url), "/bulk/status/{id}", self.key
            )
        except Exception:  # cleanup only; athena expires its files anyway
            return
