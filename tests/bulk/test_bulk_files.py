"""Where export files live and how long: FACADE_BULK_DIR, FACADE_BULK_FILE_TTL_SECONDS."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.bulk.conftest import bulk_settings
from tests.bulk.support import Clients, bearer, export
from tests.conftest import start_facade


def test_files_are_written_where_configured_and_expire(
    bulk_emulator: str, clients: Clients, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "exports"
    settings = bulk_settings(
        bulk_emulator, tmp_path / "data", clients, bulk_dir=elsewhere, bulk_file_ttl_seconds=2
    )
    server = start_facade(settings)
    try:
        with httpx.Client(timeout=30) as http:
            token = clients.token(settings.base_url)
            manifest = export(http, settings.fhir_base, token, params={"_type": "Patient"})
            url = manifest["output"][0]["url"]
            job = url.split("/")[-2]
            assert (elsewhere / job / url.split("/")[-1]).is_file()
            assert not (tmp_path / "data" / "bulk").exists()
            assert http.get(url, headers=bearer(token)).status_code == 200
            deadline = time.monotonic() + 10
            while (elsewhere / job).exists():  # the runner purges expired exports
                assert time.monotonic() < deadline, "the expired export was not purged"
                time.sleep(0.1)
            assert http.get(url, headers=bearer(token)).status_code == 404
            status = f"{settings.fhir_base}/bulk/status/{job}"
            assert http.get(status, headers=bearer(token)).status_code == 404
    finally:
        server.stop()
