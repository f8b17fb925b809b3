"""The garbage collector of a serving process (README "Resilience and caching").

CPython collects its youngest generation after every 700 net container allocations and an
older one every tenth of those. A facade worker allocates thousands of containers per
request (ASGI scopes and messages, headers, the athena answer, the FHIR resource, the
audit record) that reference counting frees at once; the collector still runs every few
requests and, for the older generations, walks every long-lived object the worker holds
(mapping tables, compiled readers, caches). In bench P2 (uncached reads, 256 connections,
two uvicorn workers) raising the young threshold to 50,000 took the facade's CPU per read
from 0.31-0.35 to 0.27-0.29 ms and the p99 from 175-250 to 93-130 ms (alternating runs
on one emulator).

:func:`tune` does that once the worker has started (its services open): collect what
start-up left, move everything alive into the permanent generation (``gc.freeze``: the
older collections no longer walk it, and forked children would not copy it), then set the
young threshold. Cycles are still collected, only less often; memory waiting for a young
collection is bounded by the threshold (objects, not bytes). Applied by the serving
entry points only (``create_serving_app``), never to a test process that runs facades in
threads.
"""

from __future__ import annotations

import gc


def tune(young_threshold: int, *, freeze: bool) -> None:
    """``young_threshold``: container allocations between young collections (0: leave
    Python's); ``freeze``: keep what is alive now out of later collections."""
    if freeze:
        gc.collect()
        gc.freeze()
    if young_threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)
