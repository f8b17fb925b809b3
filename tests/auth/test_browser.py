"""The JavaScript SMART client (npm ``fhirclient``) in headless Debian Chromium.

Runs ``tests/browser/run.mjs`` (playwright-core driving ``/usr/bin/chromium``;
no browser download) against a facade and a loopback static server that serves
the small app in ``app/`` and fhirclient's browser build from ``node_modules``.
Screenshots of the login and consent pages land in ``test-artifacts/``.
Dependencies: ``make test`` runs ``npm ci`` here; ``.ci/run`` installs chromium.
Outside CI the test is skipped when chromium or node_modules are missing; in CI
(``CI=true``) it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from emulator.server import ServerThread
from facade.cli import main

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "browser"  # the npm project: package.json, run.mjs, app/
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)"
    if not (HERE / "node_modules" / "fhirclient" / "build" / "fhir-client.js").exists():
        return "tests/browser/node_modules is missing (npm ci --prefix tests/browser)"
    if shutil.which("node") is None:
        return "node is not installed"
    return None


@pytest.fixture(scope="module")
def app_server() -> Iterator[tuple[str, dict[str, str]]]:
    config: dict[str, str] = {}

    async def config_js(request: Request) -> Response:
        body = f"window.TEST_CLIENT_ID = {json.dumps(config.get('client_id', ''))};"
        return Response(body, media_type="text/javascript")

    build = HERE / "node_modules" / "fhirclient" / "build"
    app = Starlette(
        routes=[
            Route("/config.js", config_js),
            Mount("/fhirclient", StaticFiles(directory=build, check_dir=False)),
            Mount("/", StaticFiles(directory=HERE / "app", html=True)),
        ]
    )
    server = ServerThread(app)
    yield server.start(), config
    server.stop()


def test_js_fhirclient_standalone_and_ehr_launch_in_chromium(
    smart_url: str,
    smart_data_dir: Path,
    app_server: tuple[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    app_url, config = app_server
    # the EHR launcher sends the browser only to a launch URL an operator registered
    monkeypatch.setenv("FACADE_DATA_DIR", str(smart_data_dir))
    added = main(
        [
            "clients",
            "add",
            "browser-test-app",
            "--kind",
            "public",
            "--name",
            "Browser test app",
            "--redirect-uri",
            f"{app_url}/index.html",
            "--launch-url",
            f"{app_url}/launch.html",
            "--scope",
            "launch launch/patient openid fhirUser offline_access patient/*.rs",
        ]
    )
    assert added == 0
    config["client_id"] = "browser-test-app"
    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()
    run = subprocess.run(
        ["node", str(HERE / "run.mjs")],
        env={
            **os.environ,
            "FACADE_URL": smart_url,
            "APP_URL": app_url,
            "OUT_DIR": str(ARTIFACTS),
            "CHROMIUM": CHROMIUM,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-2000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    standalone, ehr = results["standalone"], results["ehr"]
    assert standalone["patient"] == standalone["contextPatient"] == "a-195900.E-60178"
    assert standalone["resourceType"] == "Patient" and standalone["family"] == "Sandboxtest"
    assert standalone["fhirUser"] == "Patient/a-195900.E-60178"
    assert standalone["hasRefreshToken"] is True
    # the app reads the patient's appointments; every one is the context patient's
    assert standalone["appointments"] > 0
    assert standalone["appointmentTypes"] == ["Appointment"]
    assert standalone["appointmentPatients"] == ["Patient/a-195900.E-60178"]
    assert ehr["appointmentPatients"] in ([], ["Patient/a-195900.E-60179"])
    assert ehr["patient"] == "a-195900.E-60179"
    assert ehr["encounter"] == "a-195900.Encounter-7"
    assert ehr["fhirUser"] == "Practitioner/a-195900.Provider-23"
    for name in ("standalone-login", "standalone-consent", "ehr-login", "ehr-consent"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 1000
    timings = {
        "total_s": round(elapsed, 2),
        "chromium_start_ms": results["startupMs"],
        "standalone_ms": standalone["ms"],
        "ehr_ms": ehr["ms"],
    }
    (ARTIFACTS / "browser-timings.json").write_text(json.dumps(timings, indent=1))
