"""The schedule's date index answers what a scan of every record answers (emulator/schedule.py)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.schedule import Schedule, order_key

PRACTICE = "195900"


def _scanned(schedule: Schedule, start: date, end: date) -> list[int]:
    rows = [r for r in schedule.all_appointments(PRACTICE) if start <= r.date <= end]
    return [r.appointmentid for r in sorted(rows, key=order_key)]


def _indexed(schedule: Schedule, start: date, end: date) -> list[int]:
    return [r.appointmentid for r in schedule.dated(PRACTICE, start, end)]


def test_dated_equals_a_sorted_scan_across_new_and_deleted_slots() -> None:
    world = create_app(EmulatorConfig()).state.emulator
    schedule: Schedule = world.schedule
    rng = random.Random(5)
    days = sorted({r.date for r in schedule.all_appointments(PRACTICE)})
    assert len(days) > 30

    def windows() -> list[tuple[date, date]]:
        out = [(days[0], days[-1]), (days[0] - timedelta(days=9), days[0] - timedelta(days=1))]
        out.append((days[5], days[5]))
        for _ in range(60):
            first = rng.choice(days) + timedelta(days=rng.randint(-2, 2))
            out.append((first, first + timedelta(days=rng.randint(0, 10))))
        out.append((days[9], days[3]))  # an empty (reversed) window
        return out

    for start, end in windows():
        assert _indexed(schedule, start, end) == _scanned(schedule, start, end)
    # slots added after the index was built, on a day in the middle (times out of order),
    # then one of them and one seeded open slot deleted
    day = days[len(days) // 2]
    some = next(r for r in schedule.all_appointments(PRACTICE) if r.date == day)
    created = schedule.create_slots(
        PRACTICE, some.departmentid, some.providerid, day, ["16:45", "06:15"], 2, "API-1"
    )
    assert {r.appointmentid for r in created} <= set(_indexed(schedule, day, day))
    opened = next(r for r in schedule.all_appointments(PRACTICE) if r.status == "o")
    schedule.delete_slot(PRACTICE, created[0].appointmentid)
    schedule.delete_slot(PRACTICE, opened.appointmentid)
    for start, end in [*windows(), (day, day), (opened.date, opened.date)]:
        assert _indexed(schedule, start, end) == _scanned(schedule, start, end)
    assert created[0].appointmentid not in _indexed(schedule, day, day)
    assert created[1].appointmentid in _indexed(schedule, day, day)
