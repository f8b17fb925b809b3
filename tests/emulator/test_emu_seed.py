"""Seed determinism and US Core coverage of the generated population (US-CORE-NOTES 1.2)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from emulator.fhir_patient import patient_resource
from emulator.seed import build_seed
from emulator.world import World


def test_same_seed_same_world() -> None:
    assert build_seed(7, 300) == build_seed(7, 300)
    assert build_seed(7, 300) != build_seed(8, 300)


def test_population_size_and_ids(world: World) -> None:
    first, second = world.patients["195900"], world.patients["195901"]
    assert len(first) + len(second) >= 2000 + 7
    assert len(second) >= 500
    assert all(i in first for i in range(60178, 60185))
    assert len([i for i in first if 60178 <= i <= 60184]) == 7


@pytest.fixture(scope="module")
def resources(world: World) -> list[dict[str, Any]]:
    rows = [r for practice in ("195900", "195901") for r in world.patients[practice].values()]
    return [patient_resource(r) for r in rows if r.patientid < 60178 or r.practiceid == "195901"]


def _exts(resource: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in resource.get("extension", []) if e["url"].endswith("/" + name)]


def _race_codes(resource: dict[str, Any]) -> list[str]:
    return [
        p["valueCoding"]["code"]
        for e in _exts(resource, "us-core-race")
        for p in e["extension"]
        if p["url"] == "ombCategory"
    ]


CHECKS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "multi-race": lambda r: len(_race_codes(r)) > 1,
    "race declined (ASKU)": lambda r: _race_codes(r) == ["ASKU"],
    "race absent": lambda r: not _exts(r, "us-core-race"),
    "each OMB race": lambda r: bool(_race_codes(r)),
    "hispanic": lambda r: any(
        p.get("valueCoding", {}).get("code") == "2135-2"
        for e in _exts(r, "us-core-ethnicity")
        for p in e["extension"]
    ),
    "ethnicity declined": lambda r: any(
        p.get("valueCoding", {}).get("code") == "ASKU"
        for e in _exts(r, "us-core-ethnicity")
        for p in e["extension"]
    ),
    "birthsex UNK": lambda r: any(e["valueCode"] == "UNK" for e in _exts(r, "us-core-birthsex")),
    "us-core-sex": lambda r: bool(_exts(r, "us-core-sex")),
    "gender identity SNOMED trans": lambda r: any(
        e["valueCodeableConcept"]["coding"][0]["code"] in {"407377005", "407376001"}
        for e in _exts(r, "us-core-genderIdentity")
    ),
    "gender identity ASKU": lambda r: any(
        e["valueCodeableConcept"]["coding"][0]["code"] == "ASKU"
        for e in _exts(r, "us-core-genderIdentity")
    ),
    "tribal affiliation": lambda r: bool(_exts(r, "us-core-tribal-affiliation")),
    "gender unknown": lambda r: r["gender"] == "unknown",
    "spanish": lambda r: any(
        c["language"]["coding"][0]["code"] == "es" for c in r.get("communication", [])
    ),
    "other language": lambda r: any(
        c["language"]["coding"][0]["code"] not in {"en", "es"} for c in r.get("communication", [])
    ),
    "home phone": lambda r: any(
        t["use"] == "home" and t["system"] == "phone" for t in r.get("telecom", [])
    ),
    "mobile phone": lambda r: any(t["use"] == "mobile" for t in r.get("telecom", [])),
    "work phone": lambda r: any(t["use"] == "work" for t in r.get("telecom", [])),
    "email": lambda r: any(t["system"] == "email" for t in r.get("telecom", [])),
    "no telecom": lambda r: "telecom" not in r,
    "address period": lambda r: any(
        "period" in a and a["use"] == "home" for a in r.get("address", [])
    ),
    "two address lines": lambda r: any(len(a.get("line", [])) == 2 for a in r.get("address", [])),
    "no address": lambda r: "address" not in r,
    "suffix": lambda r: any(n.get("suffix") for n in r["name"]),
    "old name with period end": lambda r: any(
        n["use"] == "old" and n["period"]["end"] for n in r["name"]
    ),
    "usual name": lambda r: any(n["use"] == "usual" for n in r["name"]),
    "middle name": lambda r: len(r["name"][0]["given"]) > 1,
    "deceased": lambda r: "deceasedDateTime" in r,
    "marital status": lambda r: "maritalStatus" in r,
    "inactive": lambda r: r["active"] is False,
}


@pytest.mark.parametrize("element", sorted(CHECKS))
def test_every_element_appears(resources: list[dict[str, Any]], element: str) -> None:
    assert any(CHECKS[element](r) for r in resources), element


def test_each_omb_race_category_present(resources: list[dict[str, Any]]) -> None:
    codes = {c for r in resources for c in _race_codes(r)}
    assert {"1002-5", "2028-9", "2054-5", "2076-8", "2106-3", "ASKU"} <= codes


def test_birth_dates_realistic() -> None:
    seed = build_seed(1, 2400)
    years = [int(r.text("dob")[-4:]) for rows in seed.patients.values() for r in rows]
    assert min(years) >= 1930 and max(years) <= 2024


def test_unknown_value_records_exist(world: World) -> None:
    unknown = [
        r
        for r in world.patients["195900"].values()
        if r.text("sex") == "U" and r.fields.get("race") == ["declined"] and not r.text("address1")
    ]
    assert len(unknown) >= 10


def test_rendered_patients_are_valid_r4(resources: list[dict[str, Any]]) -> None:
    from fhir.resources.R4B.patient import Patient

    for resource in resources[::7]:
        Patient.model_validate(resource)


def _schedule_world(today: date, seed: int = 1) -> World:
    from emulator.config import EmulatorConfig

    return World(EmulatorConfig(today=today, seed=seed))


def test_schedule_is_deterministic_for_a_fixed_today() -> None:
    today = date(2025, 6, 30)
    one, two = _schedule_world(today), _schedule_world(today)
    for practice in ("195900", "195901"):
        assert one.schedule.all_appointments(practice) == two.schedule.all_appointments(practice)
        assert one.schedule.all_encounters(practice) == two.schedule.all_encounters(practice)
    other = _schedule_world(today, seed=2)
    assert other.schedule.all_appointments("195900") != one.schedule.all_appointments("195900")
    shifted = _schedule_world(today + timedelta(days=7))
    dates = sorted({r.date for r in shifted.schedule.all_appointments("195900")})
    assert dates[0] == today + timedelta(days=7 - 28) and dates[-1] <= today + timedelta(days=49)


def test_seeding_the_whole_world_is_fast() -> None:
    started = time.perf_counter()
    _schedule_world(date(2025, 6, 30))
    assert time.perf_counter() - started < 3.0


def test_schedule_mix_and_sandbox_patients() -> None:
    today = date(2025, 6, 30)
    world = _schedule_world(today)
    rows = world.schedule.all_appointments("195900")
    assert {"o", "f", "2", "3", "4", "x"} <= {r.status for r in rows}
    assert any(r.frozen for r in rows) and any(not r.api_released for r in rows)
    assert any(r.cancel is not None and r.cancel.noshow for r in rows)
    pairs = {(r.departmentid, r.providerid) for r in rows}
    assert {(d, p) for d in ("1", "21", "102") for p in (23, 71, 86)} <= pairs
    assert {r.departmentid for r in world.schedule.all_appointments("195901")} >= {"1", "2"}
    for patient in range(60178, 60185):
        mine = [r for r in rows if r.patientid == patient]
        assert any(r.date < today and r.status in {"3", "4"} for r in mine), patient
        assert any(r.date > today and r.status == "f" for r in mine), patient
    encounters = world.schedule.all_encounters("195900")
    with_visits = {e.patientid for e in encounters}
    generated = [p for p in world.patients["195900"] if p < 60178]
    share = len(with_visits & set(generated)) / len(generated)
    assert 0.2 < share < 0.4
    assert {e.status for e in encounters} >= {"OPEN", "TEMP", "CLOSED", "REVIEW"}
    assert any(e.encountertype == "ORDERSONLY" for e in encounters)
    assert any(e.enc_class is None for e in encounters) and any(
        e.type_code is None for e in encounters
    )
    assert {e.enc_class for e in encounters} >= {"AMB", "VR", "HH"}
    assert all(e.diagnoses for e in encounters if e.status in {"CLOSED", "REVIEW"})
