from __future__ import annotations

from facade.cache import EntityCache, Expiring, render, weak_etag


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


def test_expiring_keeps_the_most_recently_used_until_their_ttl() -> None:
    clock = Clock()
    kept: Expiring[str, int] = Expiring(3, 10, clock)
    for n, key in enumerate("abc"):
        kept.put(key, n)
    assert kept.get("a") == 0  # now the most recently used
    kept.put("d", 3)  # over the bound: "b", the least recently used, goes
    assert kept.get("b") is None and len(kept) == 3
    assert [kept.get(k) for k in "acd"] == [0, 2, 3]
    clock.now = 5
    kept.put("c", 20)  # put again: a new value and a new TTL
    clock.now = 10  # a and d (put at 0) expire; c (put at 5) lasts until 15
    assert kept.get("a") is None and kept.get("d") is None and len(kept) == 1
    assert kept.get("c") == 20
    clock.now = 15
    assert kept.get("c") is None and len(kept) == 0
    kept.put("e", 5)
    kept.pop("e")
    kept.pop("never")  # nothing there: nothing happens
    assert kept.get("e") is None


def test_the_entity_cache_is_bounded_per_type() -> None:
    cache = EntityCache({"Patient": 60, "Slot": 60}, max_entries=2)
    for n in range(3):
        resource = {"resourceType": "Patient", "id": f"a-1.E-{n}"}
        cache.put("Patient", "1", f"a-1.E-{n}", "*", render(resource))
    cache.put("Slot", "1", "a-1.Slot-1", "*", render({"resourceType": "Slot", "id": "s"}))
    assert cache.get("Patient", "1", "a-1.E-0", "*") is None  # the oldest of three went
    assert cache.get("Patient", "1", "a-1.E-2", "*") is not None
    assert cache.get("Slot", "1", "a-1.Slot-1", "*") is not None  # its own bound
