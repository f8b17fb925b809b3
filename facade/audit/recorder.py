"""Write-behind recording: a bounded queue in front of one writer thread per process.

A request only hands the facts it captured to :meth:`AuditRecorder.interaction` (a
``put_nowait`` on a bounded queue, about a microsecond); the writer thread turns them into
records (facade/audit/events.py) and appends them to the store in batches (it lingers 20 ms
after the first record so that one transaction on the hash chain takes many). When the queue is full the caller writes its own
records synchronously (slower, not lost; only if the store also refuses that write is the
record dropped, counted and logged without content); :meth:`close` drains the queue before the
process ends, so a clean shutdown loses nothing. A write the store refuses is retried
with backoff; records are only dropped (and counted, never logged with content) when the
store still refuses them at shutdown.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from facade.audit import events
from facade.audit.chain import hasher
from facade.audit.context import SecurityEvent
from facade.store.audit import AuditRow, AuditStore

log = logging.getLogger("facade.audit")

Item = events.Interaction | events.ToolUse | SecurityEvent
_STOP = object()


class AuditRecorder:
    def __init__(
        self,
        store: AuditStore,
        key: bytes,
        *,
        default_practice: str,
        capacity: int = 10_000,
        batch: int = 500,
        linger: float = 0.02,
    ) -> None:
        self.store = store
        self._hash = hasher(key)
        self._practice = default_practice
        self._queue: queue.Queue[object] = queue.Queue(capacity)
        self._batch = batch
        self._linger = linger
        self._write_lock = threading.Lock()
        self.written = 0
        self.overflowed = 0  # records written synchronously because the queue was full
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- the request side
    def interaction(self, item: events.Interaction) -> None:
        self._put(item)

    def tool(self, item: events.ToolUse) -> None:
        self._put(item)

    def _put(self, item: Item) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.overflowed += 1
            try:
                self._write(self._rows([item]), retry=False)
            except Exception as exc:  # the store refuses and the queue is full: say so, once
                self.dropped += 1
                log.error("audit record lost: the store refused it (%s)", type(exc).__name__)

    # -------------------------------------------------------------- the writer side
    def _rows(self, items: list[Item]) -> list[AuditRow]:
        rows: list[AuditRow] = []
        for item in items:
            try:
                if isinstance(item, events.Interaction):
                    rows.extend(events.interaction_rows(item, self._practice))
                elif isinstance(item, events.ToolUse):
                    rows.append(events.tool_row(item, self._practice))
            except Exception as exc:  # a bug here must not stop the writer; no content logged
                log.error("audit event not built: %s", type(exc).__name__)
                self.dropped += 1
        return rows

    def _write(self, rows: list[AuditRow], *, retry: bool) -> None:
        delay = 0.05
        while rows:
            try:
                with self._write_lock:
                    self.store.append(rows, self._hash)
                self.written += len(rows)
                return
            except Exception as exc:
                if not retry:
                    raise
                log.warning("audit store write failed (%s); retrying", type(exc).__name__)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is not _STOP and self._queue.qsize() < self._batch:
                time.sleep(self._linger)  # let a batch gather: one transaction for many records
            taken = [first]
            while len(taken) < self._batch:
                try:
                    taken.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = any(item is _STOP for item in taken)
            items: list[Item] = [i for i in taken if i is not _STOP]  # type: ignore[misc]
            try:
                self._write(self._rows(items), retry=not stopping)
            except Exception as exc:
                self.dropped += len(items)
                log.error("audit records lost at shutdown: %d (%s)", len(items), type(exc).__name__)
            for _ in taken:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until everything queued so far is written."""
        self._queue.join()

    def close(self) -> None:
        """Drain the queue, stop the writer and close the store (clean shutdown)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self.store.close()


class Disabled:
    """``FACADE_AUDIT_ENABLED=false``: nothing recorded (the test of the overhead uses it)."""

    store = None

    def interaction(self, item: events.Interaction) -> None:
        return None

    def tool(self, item: events.ToolUse) -> None:
        return None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


Recorder = AuditRecorder | Disabled
RecorderFactory = Callable[[], Recorder]
