"""Per-client API request budget: per second and per day (API-NOTES section 4.3).

The daily window resets at midnight GMT. Refused calls do not consume budget.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

DAY = 86_400


@dataclass(frozen=True)
class BudgetDecision:
    allowed: bool
    daily_limit: int
    daily_remaining: int
    retry_after: int
    reason: str  # "", "second" or "day"


class ApiBudget:
    """Counts calls per client in the current second and the current GMT day."""

    def __init__(self, per_second: int, per_day: int, clock: Callable[[], float]) -> None:
        self.per_second = per_second
        self.per_day = per_day
        self._clock = clock
        self._second: dict[str, tuple[int, int]] = {}
        self._day: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def charge(self, client_id: str) -> BudgetDecision:
        now = self._clock()
        second, day = int(now), int(now // DAY)
        with self._lock:
            s_window, s_used = self._second.get(client_id, (second, 0))
            d_window, d_used = self._day.get(client_id, (day, 0))
            if s_window != second:
                s_used = 0
            if d_window != day:
                d_used = 0
            if d_used >= self.per_day:
                until_midnight = max(1, math.ceil((day + 1) * DAY - now))
                return BudgetDecision(False, self.per_day, 0, until_midnight, "day")
            if s_used >= self.per_second:
                return BudgetDecision(
                    False,
                    self.per_day,
                    self.per_day - d_used,
                    max(1, math.ceil(second + 1 - now)),
                    "second",
                )
            self._second[client_id] = (second, s_used + 1)
            self._day[client_id] = (day, d_used + 1)
            return BudgetDecision(True, self.per_day, self.per_day - d_used - 1, 0, "")

    def reset(self) -> None:
        with self._lock:
            self._second.clear()
            self._day.clear()
