"""Single-flight: identical concurrent upstream reads are made once and shared.

The first caller for a key runs the call; callers arriving while it is in
flight await the same result (or the same error). Nothing is cached after the
call completes — that is the entity cache's job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future[T]] = {}
        self.shared = 0  # callers served by another caller's call (observability)

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        existing = self._inflight.get(key)
        if existing is not None:
            self.shared += 1
            return await asyncio.shield(existing)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await call()
        except BaseException as exc:
            future.set_exception(exc)
            # Mark the exception retrieved when nobody else waited for it.
            future.exception()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._inflight[key]
