"""What one paging session learns from athena and may use again (facade/engine/paging.py).

- **Pages**: the athena list page a FHIR page stopped inside is kept, from the record
  after the one it stopped at, for a short TTL (``FACADE_SEARCH_PAGE_REUSE_SECONDS``),
  keyed by the exact upstream request (practice, route, upstream parameters, where the
  page starts), so the ``next`` link's request continues from it instead of fetching it
  again (a continuation starting before what is kept fetches it). Only continuations read it: a new
  search always asks athena. Bounded by the number of records kept (oldest first out).
- **Yield**: per practice and route, how many athena records a match took lately
  (records a full FHIR page consumed / its matches; the largest of the last
  ``YIELD_WINDOW`` pages, so a search whose window starts on a busy day still fits
  in one call), so the next upstream page is sized from ``_count`` instead of being
  athena's maximum.

Process-local (each worker has its own); a miss is only a refetch.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

Key = tuple[Any, ...]
YIELD_WINDOW = 32  # full pages remembered per practice and route


@dataclass
class _Kept:
    expires: float
    value: Any
    weight: int


@dataclass
class SearchPages:
    max_records: int = 20_000
    _pages: OrderedDict[Key, _Kept] = field(default_factory=OrderedDict)
    _weight: int = 0
    _yield: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    hits: int = 0

    def get(self, key: Key) -> Any | None:
        kept = self._pages.get(key)
        if kept is None:
            return None
        if kept.expires <= time.monotonic():
            self._drop(key)
            return None
        self.hits += 1
        return kept.value

    def put(self, key: Key, value: Any, weight: int, ttl: float) -> None:
        if ttl <= 0 or weight > self.max_records:
            return
        if key in self._pages:
            self._drop(key)
        self._pages[key] = _Kept(time.monotonic() + ttl, value, weight)
        self._weight += weight
        while self._weight > self.max_records:
            self._drop(next(iter(self._pages)))

    def _drop(self, key: Key) -> None:
        kept = self._pages.pop(key)
        self._weight -= kept.weight

    def records_per_match(self, practice: str, route: str) -> float | None:
        """The recent records-per-match of this route, None before any full page."""
        recent = self._yield.get((practice, route))
        return max(recent) if recent else None

    def observe(self, practice: str, route: str, consumed: int, matched: int) -> None:
        """A FHIR page filled with ``matched`` results after ``consumed`` athena records."""
        if matched <= 0:
            return
        recent = self._yield.setdefault((practice, route), deque(maxlen=YIELD_WINDOW))
        recent.append(max(1.0, consumed / matched))
