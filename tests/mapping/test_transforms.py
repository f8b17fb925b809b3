from __future__ import annotations

import doctest

import pytest

from facade.mapping import benefits, convert, ids, insurance, paths, transforms
from facade.mapping.transforms import TRANSFORMS, date_iso_to_us, date_us_to_iso


@pytest.mark.parametrize("module", [transforms, paths, ids, convert, insurance, benefits])
def test_docstring_examples(module: object) -> None:
    failures, tried = doctest.testmod(module)  # type: ignore[arg-type]
    assert tried > 0
    assert failures == 0


@pytest.mark.parametrize("bad", ["13/01/2000", "02/30/2001", "2000-01-01", "", "1/1/2000"])
def test_invalid_us_dates_become_none(bad: str) -> None:
    assert date_us_to_iso(bad) is None


def test_dates_round_trip() -> None:
    for iso in ["1930-01-01", "2000-02-29", "2024-12-31"]:
        us = date_iso_to_us(iso)
        assert us is not None
        assert date_us_to_iso(us) == iso


def test_race_covers_categories_detailed_and_null_flavors() -> None:
    race = TRANSFORMS["us_core_race"]
    body = race.read((["2106-3", "2028-9", "2029-7"], None))
    urls = [p["url"] for p in body["extension"]]
    assert urls == ["ombCategory", "ombCategory", "detailed", "text"]
    assert body["extension"][-1]["valueString"] == "White, Asian"
    declined = race.read((["ASKU"], "Declined"))
    coding = declined["extension"][0]["valueCoding"]
    assert coding["system"] == transforms.NULL_FLAVOR and coding["code"] == "ASKU"
    assert race.write is not None
    assert race.write(body) == ["2106-3", "2028-9", "2029-7"]


def test_ethnicity_unknown() -> None:
    body = TRANSFORMS["us_core_ethnicity"].read("UNK")
    assert body["extension"][0]["valueCoding"]["code"] == "UNK"
    assert TRANSFORMS["us_core_ethnicity"].read("") is None


@pytest.mark.parametrize(
    ("record", "status"),
    [
        (("7", None, None), "free"),  # an item of the open-slot list
        (("7", "o", False), "free"),
        (("7", "o", True), "busy-unavailable"),  # frozen: athena will not book it
        (("7", "o", "true"), "busy-unavailable"),
        (("7", "f", False), "busy"),
        (("7", "3", False), "busy"),
        (("7", "x", False), None),  # a cancelled appointment's slot is gone
    ],
)
def test_slot_status(record: tuple[str, str | None, object], status: str | None) -> None:
    assert TRANSFORMS["slot_status"].read(record) == status


def test_only_a_booked_appointment_fills_its_slot() -> None:
    filled = TRANSFORMS["filled_slot"].read
    assert [filled(("1002708", s)) for s in ("f", "2", "3", "4")] == ["1002708"] * 4
    assert filled(("1002708", "x")) is None and filled(("1002708", "o")) is None


def test_the_patient_write_transforms_invert_their_reads() -> None:
    ethnicity, status = TRANSFORMS["us_core_ethnicity"], TRANSFORMS["patient_status_active"]
    assert ethnicity.write is not None and status.write is not None
    for code in ("2135-2", "2186-5", "declined"):
        assert ethnicity.write(ethnicity.read(code)) == code
    for athena in ("active", "inactive"):
        assert status.write(status.read(athena)) == athena
    assert status.write(None) is None  # `active` left out: athena's status stays


def test_a_declined_value_reads_as_a_data_absent_reason() -> None:
    declined = TRANSFORMS["declined_unless_given"]
    assert declined.read(("", False)) == "asked-declined"
    assert declined.read(("", "false")) == "asked-declined"
    assert declined.read(("x@example.com", False)) is None  # given after all
    assert declined.read(("", True)) is None and declined.read(("", None)) is None  # unknown
    assert declined.write is None  # read only: athena's emailexists is not written
