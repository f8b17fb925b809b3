"""The entity cache: mapped FHIR resources by practice, id and authorization compartment.

athena has no versions and no change notification for reads, so a resource is
served from here until its table's ``ttl_seconds`` pass or the facade itself
writes it (``invalidate``). Entries keep the serialized body and its weak ETag,
so a cache hit costs a dictionary lookup and no JSON work. The compartment (the
token's patient context, or ``*`` for user/system tokens) is part of the key,
so one caller's entry is never served under another caller's authorization.
Embedded default: in process (:class:`Expiring`); with Redis, facade/store/shared.py adds
generations and invalidation across hosts.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson

Json = dict[str, Any]
SYSTEM_COMPARTMENT = "*"
K = TypeVar("K")
V = TypeVar("V")


class Cached:
    """A mapped resource with its serialized body and weak ETag, each made on first use.

    A search puts every match it maps (so a read of one hits), and most are never read
    back: serializing and hashing them all at once was about 3 % of a one-week
    Appointment search's CPU (py-spy, bench P6). The resource is never changed once
    cached (reads render ``_pretty`` and subsets from it too), so the body is the same
    whenever it is made.
    """

    __slots__ = ("_body", "_etag", "resource")

    def __init__(self, resource: Json) -> None:
        self.resource = resource
        self._body: bytes | None = None
        self._etag: str | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = orjson.dumps(self.resource)
        return self._body

    @property
    def etag(self) -> str:
        if self._etag is None:
            self._etag = weak_etag(self.body)
        return self._etag


def render(resource: Json) -> Cached:
    return Cached(resource)


def weak_etag(body: bytes) -> str:
    """Weak validator from the content (FHIR R4 http.html#versioning; athena has no versions)."""
    return 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class Expiring(Generic[K, V]):
    """Values kept ``ttl`` seconds after they were put, at most ``maxsize`` of them, the least
    recently used out first: what cachetools' ``TTLCache`` did here, in a few operations on
    one ordered dict (its timer context and linked lists on every get and put were about
    5 % of a one-week Appointment search's CPU, which puts all 20 matches; py-spy, bench
    P6). An expired value is dropped when it is next asked for, or as the least recently
    used; it is never answered.
    """

    __slots__ = ("_items", "_maxsize", "_timer", "_ttl")

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float]) -> None:
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._maxsize = max(1, maxsize)
        self._ttl = ttl
        self._timer = timer

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        if found[0] <= self._timer():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return found[1]

    def put(self, key: K, value: V) -> None:
        items = self._items
        items[key] = (self._timer() + self._ttl, value)
        items.move_to_end(key)
        if len(items) > self._maxsize:
            items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


class EntityCache:
    def __init__(
        self,
        ttls: dict[str, int],
        *,
        max_entries: int,
        enabled: bool = True,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self._caches: dict[str, Expiring[tuple[str, str], dict[str, Cached]]] = {
            rtype: Expiring(max_entries, ttl, timer) for rtype, ttl in ttls.items() if ttl > 0
        }
        self.hits = 0
        self.misses = 0

    def get(self, rtype: str, practice: str, rid: str, compartment: str) -> Cached | None:
        cache = self._caches.get(rtype) if self.enabled else None
        entries = cache.get((practice, rid)) if cache is not None else None
        entry = entries.get(compartment) if entries is not None else None
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(self, rtype: str, practice: str, rid: str, compartment: str, value: Cached) -> None:
        cache = self._caches.get(rtype) if self.enabled else None
        if cache is None:
            return
        entries = cache.get((practice, rid))
        if entries is None:
            cache.put((practice, rid), {compartment: value})
        else:
            entries[compartment] = value

    def invalidate(self, rtype: str, practice: str, rid: str) -> None:
        """Drop every compartment's copy; called by the facade's own writes."""
        cache = self._caches.get(rtype)
        if cache is not None:
            cache.pop((practice, rid))

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
