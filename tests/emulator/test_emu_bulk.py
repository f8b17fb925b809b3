"""athena's Group $export in the emulator: async kick-off, status, files, delete, faults."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
from emu_support import CLIENT_ID, CLIENT_SECRET, FakeClock, Running

from emulator.config import EmulatorConfig
from emulator.faults import FaultPlan, FaultRule

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
SCOPE = "system/Patient.read system/Encounter.read system/Location.read"


def _token(client: httpx.Client, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> str:
    response = client.post(
        "/oauth2/v1/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _start(start_emulator: Callable[..., Running], **plan: object) -> tuple[Running, FakeClock]:
    clock = FakeClock(1_750_000_000.0)
    config = EmulatorConfig(
        generated_patients=6,
        clients={CLIENT_ID: CLIENT_SECRET, "other-app": "other-secret"},
        faults=FaultPlan(bulk_export_seconds=5, **plan),  # type: ignore[arg-type]
    )
    return start_emulator(config, clock), clock


def test_group_export_runs_asynchronously(start_emulator: Callable[..., Running]) -> None:
    running, clock = _start(start_emulator)
    with httpx.Client(base_url=running.base_url, timeout=10) as http:
        headers = {**ASYNC, "Authorization": f"Bearer {_token(http)}"}
        kick = http.get("/fhir/r4/Group/a-1.c-195900/$export", headers=headers)
        assert kick.status_code == 202, kick.text
        status = kick.headers["content-location"]
        assert status.startswith(f"{running.base_url}/fhir/r4/bulk/status/")
        waiting = http.get(status, headers=headers)
        assert waiting.status_code == 202
        assert waiting.headers["x-progress"] == "0% complete"
        assert waiting.headers["retry-after"] == "5"
        clock.now += 5
        done = http.get(status, headers=headers)
        assert done.status_code == 200
        manifest = done.json()
        assert set(manifest) == {
            "transactionTime",
            "request",
            "requiresAccessToken",
            "output",
            "error",
        }
        # only the types the token may read (system/Patient, Encounter, Location .read)
        assert {o["type"] for o in manifest["output"]} == {"Patient", "Encounter", "Location"}
        by_type: dict[str, list[dict[str, object]]] = {}
        for item in manifest["output"]:
            file = http.get(item["url"], headers=headers)
            assert file.headers["content-type"].startswith("application/fhir+ndjson")
            lines = [json.loads(line) for line in file.text.splitlines()]
            assert len(lines) == item["count"]
            by_type.setdefault(item["type"], []).extend(lines)
        world = running.world
        assert [p["id"] for p in by_type["Patient"]] == [
            f"a-195900.E-{r.patientid}" for r in world.live_patients("195900")
        ]
        # the same rendering as athena's FHIR read
        read = http.get(f"/fhir/r4/Patient/{by_type['Patient'][0]['id']}", headers=headers)
        assert read.json() == by_type["Patient"][0]
        assert len(by_type["Encounter"]) == len(world.schedule.all_encounters("195900"))
        # another client does not see the job; deleting it ends it
        other = {**ASYNC, "Authorization": f"Bearer {_token(http, 'other-app', 'other-secret')}"}
        assert http.get(status, headers=other).status_code == 404
        assert http.get(manifest["output"][0]["url"], headers=other).status_code == 404
        assert http.delete(status, headers=headers).status_code == 202
        assert http.get(status, headers=headers).status_code == 404
        assert http.get(manifest["output"][0]["url"], headers=headers).status_code == 404


def test_kick_off_parameters(start_emulator: Callable[..., Running]) -> None:
    running, clock = _start(start_emulator)
    with httpx.Client(base_url=running.base_url, timeout=10) as http:
        token = _token(http)
        headers = {**ASYNC, "Authorization": f"Bearer {token}"}
        base = "/fhir/r4/Group"
        assert http.get(f"{base}/a-1.C-195900/$export", headers=headers).status_code == 202
        assert http.get(f"{base}/a-1.c-1/$export", headers=headers).status_code == 404
        no_async = {"Authorization": f"Bearer {token}"}
        assert http.get(f"{base}/a-1.c-195900/$export", headers=no_async).status_code == 400
        export = f"{base}/a-1.c-195900/$export"
        assert http.get(export, params={"_type": "Nope"}, headers=headers).status_code == 400
        assert http.get(export, params={"_type": "Condition"}, headers=headers).status_code == 403
        assert http.get(export, params={"_outputFormat": "csv"}, headers=headers).status_code == 400
        since = "2025-01-01T00:00:00Z"
        kick = http.get(export, params={"_type": "Patient", "_since": since}, headers=headers)
        clock.now += 5
        manifest = http.get(kick.headers["content-location"], headers=headers).json()
        lines = [
            json.loads(line)
            for item in manifest["output"]
            for line in http.get(item["url"], headers=headers).text.splitlines()
        ]
        assert lines and all(p["meta"]["lastUpdated"] > since for p in lines)
        assert len(lines) == sum(
            r.last_updated > since for r in running.world.live_patients("195900")
        )
        assert http.get(export, params={"_since": "nope"}, headers=headers).status_code == 400


def test_the_fault_plan_makes_it_fail(start_emulator: Callable[..., Running]) -> None:
    running, clock = _start(start_emulator, bulk_export_failure="Export failed upstream")
    with httpx.Client(base_url=running.base_url, timeout=10) as http:
        headers = {**ASYNC, "Authorization": f"Bearer {_token(http)}"}
        kick = http.get("/fhir/r4/Group/a-1.c-195900/$export", headers=headers)
        status = kick.headers["content-location"]
        assert http.get(status, headers=headers).status_code == 202
        clock.now += 5
        failed = http.get(status, headers=headers)
        assert failed.status_code == 500
        issue = failed.json()["issue"][0]
        assert issue["code"] == "exception" and issue["details"] == "Export failed upstream"
        # the usual rules apply to its URLs too
        rule = FaultRule(kind="status", status=503, path=r"/fhir/r4/Group/.*/\$export", count=1)
        running.app.state.faults.add_rule(rule)
        refused = http.get("/fhir/r4/Group/a-1.c-195900/$export", headers=headers)
        assert refused.status_code == 503
