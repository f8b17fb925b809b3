"""A search leaves in the read cache only what a read would answer itself."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import dev_token, facade_settings, start_facade


def _read_after(
    emulator_url: str, data_dir: Path, search: tuple[str, dict[str, str]] | None, path: str
) -> dict[str, object]:
    settings = facade_settings(emulator_url, data_dir)
    server = start_facade(settings)
    try:
        headers = {"Authorization": f"Bearer {dev_token(settings.base_url)}"}
        with httpx.Client(base_url=settings.fhir_base, headers=headers, timeout=30) as fhir:
            if search is not None:
                found = fhir.get(search[0], params=search[1])
                assert found.status_code == 200 and found.json()["entry"], found.text
            answer = fhir.get(path)
            assert answer.status_code == 200, answer.text
            body: dict[str, object] = answer.json()
            return body
    finally:
        server.stop()


def test_a_read_after_a_search_from_another_source_is_the_read(
    emulator_url: str, tmp_path: Path
) -> None:
    # Location: search by name maps /v1 departments, the read athena's FHIR Location.
    cold = _read_after(emulator_url, tmp_path / "a", None, "Location/a-195900.Department-1")
    warm = _read_after(
        emulator_url,
        tmp_path / "b",
        ("Location", {"name": cold["name"]}),  # type: ignore[dict-item]
        "Location/a-195900.Department-1",
    )
    assert warm == cold
    # Patient: a birthdate search goes to /v1, whose records lack what the FHIR read has.
    cold_patient = _read_after(emulator_url, tmp_path / "c", None, "Patient/a-195900.E-60178")
    warm_patient = _read_after(
        emulator_url,
        tmp_path / "d",
        ("Patient", {"birthdate": str(cold_patient["birthDate"])}),
        "Patient/a-195900.E-60178",
    )
    assert warm_patient == cold_patient
