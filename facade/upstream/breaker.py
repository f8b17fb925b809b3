"""Circuit breaker per practice and surface.

closed  -> open       after ``threshold`` consecutive failures (5xx, timeouts, resets);
open    -> half-open  after ``open_seconds``: exactly one probe goes through;
half-open -> closed   when the probe succeeds, back to open when it fails.
While open, requests fail fast with 503 + ``Retry-After`` (the time left) instead
of piling onto a struggling athena. 4xx answers and throttling are not failures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from facade.errors import UpstreamUnavailable


@dataclass(frozen=True)
class BreakerConfig:
    threshold: int
    open_seconds: float


class Breaker:
    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False
        self.opens = 0  # times opened (observability)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self._clock() - self.opened_at >= self.config.open_seconds:
            return "half-open"
        return "open"

    def before(self) -> None:
        """Raise when the call must not go upstream now."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self.probing:
            self.probing = True
            return
        assert self.opened_at is not None
        left = self.config.open_seconds - (self._clock() - self.opened_at)
        raise UpstreamUnavailable(
            "athena is failing; requests are paused briefly",
            headers={"Retry-After": str(max(1, math.ceil(left)))},
        )

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.config.threshold:
            if self.opened_at is None or self.probing:
                self.opens += 1
            self.opened_at = self._clock()
            self.probing = False

    def release_probe(self) -> None:
        """The probe ended without a verdict (e.g. a 4xx): let the next call probe."""
        self.probing = False


class Breakers:
    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self.breakers: dict[tuple[str, str], Breaker] = {}

    def get(self, key: tuple[str, str]) -> Breaker:
        found = self.breakers.get(key)
        if found is None:
            found = self.breakers[key] = Breaker(self.config, self._clock)
        return found
