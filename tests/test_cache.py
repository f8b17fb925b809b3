from __future__ import annotations

from facade.cache import EntityCache, render, weak_etag


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_compartments_are_separate_and_writes_invalidate_all() -> None:
    cache = EntityCache({"Patient": 60}, max_entries=10)
    entry = render({"resourceType": "Patient", "id": "a-1.E-1"})
    cache.put("Patient", "1", "a-1.E-1", "*", entry)
    assert cache.get("Patient", "1", "a-1.E-1", "*") == entry
    assert cache.get("Patient", "1", "a-1.E-1", "a-1.E-2") is None  # another compartment
    cache.put("Patient", "1", "a-1.E-1", "a-1.E-1", entry)
    cache.invalidate("Patient", "1", "a-1.E-1")
    assert cache.get("Patient", "1", "a-1.E-1", "*") is None
    assert cache.get("Patient", "1", "a-1.E-1", "a-1.E-1") is None
    assert cache.hits == 1 and cache.misses == 3
    assert cache.hit_ratio == 0.25


def test_ttl_per_type_and_disabled_cache() -> None:
    clock = Clock()
    cache = EntityCache({"Patient": 10, "Slot": 0}, max_entries=10, timer=clock)
    entry = render({"resourceType": "Patient", "id": "x"})
    cache.put("Patient", "1", "x", "*", entry)
    cache.put("Slot", "1", "x", "*", entry)  # ttl 0: never cached
    clock.now = 9.9
    assert cache.get("Patient", "1", "x", "*") is not None
    assert cache.get("Slot", "1", "x", "*") is None
    clock.now = 10.1
    assert cache.get("Patient", "1", "x", "*") is None
    off = EntityCache({"Patient": 10}, max_entries=10, enabled=False)
    off.put("Patient", "1", "x", "*", entry)
    assert off.get("Patient", "1", "x", "*") is None


def test_weak_etag_depends_on_content_only() -> None:
    assert weak_etag(b"{}") == weak_etag(b"{}")
    assert weak_etag(b"{}") != weak_etag(b'{"a":1}')
    assert weak_etag(b"{}").startswith('W/"')
