"""A serving worker tunes its garbage collector once its services are open
(facade/collector.py); an app made for a test process leaves the collector alone."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import facade_settings, start_facade

_WORKER = """
import gc, json
from starlette.testclient import TestClient
from facade.api.app import create_serving_app
before = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
app = create_serving_app()
made = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
with TestClient(app) as client:
    client.get("/fhir/r4/metadata").raise_for_status()
    serving = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
print(json.dumps({"before": before, "made": made, "serving": serving}))
"""


def _worker(emulator_url: str, data_dir: Path, **env: str) -> dict[str, dict[str, list[int]]]:
    settings = {
        "FACADE_ENVIRONMENT": "embedded",
        "FACADE_ATHENA_BASE_URL": emulator_url,
        "FACADE_DATA_DIR": str(data_dir),
        "FACADE_EVENTS_FEEDS": "[]",
        "FACADE_WORKERS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", _WORKER],
        env={**os.environ, **settings, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    result: dict[str, dict[str, list[int]]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_serving_worker_freezes_start_up_and_raises_the_young_threshold(
    emulator_url: str, tmp_path: Path
) -> None:
    seen = _worker(emulator_url, tmp_path)
    python = seen["before"]["threshold"]
    assert seen["made"] == seen["before"]  # not at creation: the services are not open yet
    assert seen["serving"]["threshold"] == [50_000, python[1], python[2]]
    assert seen["serving"]["frozen"] > 10_000  # the tables, readers and services


def test_the_collector_settings_can_be_turned_off(emulator_url: str, tmp_path: Path) -> None:
    seen = _worker(emulator_url, tmp_path, FACADE_GC_YOUNG_THRESHOLD="0", FACADE_GC_FREEZE="false")
    assert seen["serving"] == seen["before"]
    seen = _worker(emulator_url, tmp_path, FACADE_GC_YOUNG_THRESHOLD="1234")
    assert seen["serving"]["threshold"][0] == 1234


def test_an_app_in_a_test_process_leaves_the_collector_alone(
    emulator_url: str, tmp_path: Path
) -> None:
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    server = start_facade(facade_settings(emulator_url, tmp_path))
    try:
        assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
    finally:
        server.stop()
