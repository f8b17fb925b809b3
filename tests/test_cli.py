"""The README's run command: ``athena-facade serve`` starts facade + emulator with no setup."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

# No server banner: uvicorn sends none; granian always adds one unless the app sends its own.
BANNER = {"uvicorn": None, "granian": "athena-fhir-facade"}


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_serve_starts_a_working_endpoint(tmp_path: Path, server: str) -> None:
    port = free_port()
    env = {**os.environ, "FACADE_DATA_DIR": str(tmp_path), "FACADE_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "facade.cli", "serve", "--server", server],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/fhir/r4/metadata", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "serve exited early"
            assert time.monotonic() < deadline, "serve did not start within 60 s"
            time.sleep(0.3)
        token = httpx.post(
            f"{base}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=("local-dev", "local-dev-secret"),
        ).json()["access_token"]
        bundle = httpx.get(
            f"{base}/fhir/r4/Patient",
            params={"name": "sandbox"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert len(bundle["entry"]) == 7
        for response in (httpx.get(f"{base}/fhir/r4/metadata"), httpx.get(f"{base}/nowhere")):
            assert response.headers.get("server") == BANNER[server]
            assert "date" in response.headers
            assert response.headers["x-content-type-options"] == "nosniff"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert process.returncode in (0, -15)
    assert b"Sandboxtest" not in output  # no PHI in logs
    assert b"FHIR base: http://127.0.0.1:" in output
