"""The 271 -> CoverageEligibilityResponse conversions (facade/mapping/benefits.py) on the
shapes the golden cases do not show, and the Coverage status rule."""

from __future__ import annotations

import doctest
from typing import Any

from facade.engine import records, writes
from facade.mapping.benefits import benefit_items, copay_items, inforce, rejection_errors
from facade.mapping.insurance import copay_costs, coverage_status


def eb(code: str, stc: str = "30", **extra: str) -> dict[str, Any]:
    return {"benefitcode": code, "servicetypecode": stc, "coveragelevel": "IND", **extra}


def test_inforce_follows_eb01() -> None:
    assert inforce(("complete", [eb("1"), eb("B", "98")])) is True
    assert inforce(("complete", [eb("3")])) is True  # an active, capitated variant
    assert inforce(("complete", [eb("7")])) is False  # inactive, pending update
    assert inforce(("complete", [eb("B", "98")])) is None  # the 271 says nothing
    assert inforce(("pending", [eb("1")])) is None


def test_yearly_amounts_pair_total_and_remaining() -> None:
    (item,) = (
        benefit_items(
            [
                eb("C", amount="1500", timeperiodcode="23", innetwork="Y"),
                eb("C", amount="900", timeperiodcode="29", innetwork="Y"),
            ]
        )
        or []
    )
    (benefit,) = item["benefit"]
    assert benefit["allowedMoney"]["value"] == 1500 and benefit["usedMoney"]["value"] == 600
    assert item["term"]["coding"][0]["code"] == "annual"
    (alone,) = benefit_items([eb("G", amount="400", timeperiodcode="29")]) or []
    assert (
        alone["benefit"][0]["allowedMoney"]["value"] == 400
        and "usedMoney" not in alone["benefit"][0]
    )
    assert "network" not in alone  # EB12 absent (or U): no network


def test_every_item_keeps_ces_1_and_unknown_codes_stay() -> None:
    found = (
        benefit_items(
            [
                eb("1"),
                eb("F", "98", benefit="Limitations"),
                eb("I", "98", innetwork="N"),
                {"junk": 1},
            ]
        )
        or []
    )
    assert [("category" in i) != ("productOrService" in i) for i in found] == [True, True]
    limitation = found[0]["benefit"][0]["type"]
    assert limitation["coding"] == [
        {"system": "https://codesystem.x12.org/005010/1390", "code": "F", "display": "Limitations"}
    ]
    assert found[1]["excluded"] is True and "benefit" not in found[1]
    assert benefit_items([]) is None and benefit_items("nope") is None


def test_rejections_and_copays() -> None:
    assert rejection_errors([{"rejectreasoncode": ""}, "x"]) is None
    assert copay_items([{"copaytype": "Dental", "copayamount": "5"}]) is None
    assert copay_costs([{"copaytype": "Chiropractic", "copayamount": "15"}]) == [
        {"type": {"text": "Chiropractic"}, "valueMoney": {"value": 15.0, "currency": "USD"}}
    ]


def test_coverage_status() -> None:
    assert coverage_status(("", "07/01/2025", "2025-06-30")) == "active"
    assert coverage_status(("", "06/30/2025", "2025-06-30")) == "active"  # ends today
    assert coverage_status(("", "06/29/2025", "2025-06-30")) == "cancelled"


def test_engine_docstring_examples() -> None:
    for module in (records, writes):
        assert doctest.testmod(module).failed == 0
