"""Write-behind recording: a bounded hand-off in front of one writer thread per process.

A request only hands the facts it captured to :meth:`AuditRecorder.interaction`: an
``append`` on a :class:`collections.deque` (atomic under the GIL; no lock, no condition
variable, so no thread switch on the request's side), after a length check that bounds it
at ``capacity``. The writer thread sleeps on an :class:`threading.Event` while there is
nothing to write; the first record after that wakes it (one ``set`` per batch, not per
request). It then lingers until ``batch`` records are waiting or ``linger`` (250 ms) has
passed, so that one transaction on the hash chain takes many records, turns them into
records (facade/audit/events.py) and appends them to the store. Batches are the cost that
matters: measured behind a real server at ~1,700 cached reads/s, the writer spent 25 us per
record lingering 20 ms (about 35 records a batch), 13 us lingering 250 ms (every batch is a
thread wake-up on cold caches, GIL hand-offs with the server thread and a commit), and
the server thread lost about as much again to those hand-offs. A flush or close never waits
for the linger.
When the hand-off is full the caller writes its own records synchronously (slower, not
lost; only if the store also refuses that write is the record dropped, counted and logged
without content); :meth:`close` drains it before the process ends, so a clean shutdown
loses nothing. A write the store refuses is retried with backoff; records are only dropped
(and counted, never logged with content) when the store still refuses them at shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from facade.audit import events
from facade.audit.chain import hasher
from facade.audit.context import SecurityEvent
from facade.store.audit import AuditRow, AuditStore

log = logging.getLogger("facade.audit")

Item = events.Interaction | events.ToolUse | SecurityEvent
_ITEMS = (events.Interaction, events.ToolUse, SecurityEvent)
_STOP = object()
IDLE_RECHECK_SECONDS = 1.0  # an idle writer also looks on its own this often (belt and braces)


class AuditRecorder:
    enabled = True

    def __init__(
        self,
        store: AuditStore,
        key: bytes,
        *,
        default_practice: str,
        capacity: int = 10_000,
        batch: int = 1000,
        linger: float = 0.25,
    ) -> None:
        self.store = store
        self._hash = hasher(key)
        self._practice = default_practice
        # items, _STOP, or a flush's Event (set once everything before it is written)
        self._pending: deque[object] = deque()
        self._capacity = capacity
        self._batch = min(batch, capacity)  # a full batch wakes a lingering writer
        self._linger = linger
        self._wake = threading.Event()
        self._idle = False  # the writer is waiting on _wake (a put must set it)
        self._urgent = False  # a flush or close is waiting: no lingering
        self._write_lock = threading.Lock()
        self.written = 0
        self.overflowed = 0  # records written synchronously because the hand-off was full
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- the request side
    def interaction(self, item: events.Interaction) -> None:
        self._put(item)

    def tool(self, item: events.ToolUse) -> None:
        self._put(item)

    def _put(self, item: Item) -> None:
        waiting = len(self._pending)
        if waiting < self._capacity:
            self._pending.append(item)
            # read after the append: a writer going idle sees the item or this flag; a
            # lingering writer is told once a batch is full
            if self._idle or waiting + 1 == self._batch:
                self._idle = False
                self._wake.set()
            return
        self.overflowed += 1
        try:
            self._write(self._rows([item]), retry=False)
        except Exception as exc:  # the store refuses and the hand-off is full: say so, once
            self.dropped += 1
            log.error("audit record lost: the store refused it (%s)", type(exc).__name__)

    def _signal(self, marker: object) -> None:
        """Hand the writer a control marker (never refused: not counted against capacity)."""
        self._pending.append(marker)
        self._urgent = True
        self._idle = False
        self._wake.set()

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

    def _wait(self) -> None:
        """Until something is pending: idle on the event (set by the next put)."""
        pending = self._pending
        while not pending:
            self._wake.clear()
            self._idle = True  # before the check below: a put after it sees the flag
            if pending:
                break
            self._wake.wait(IDLE_RECHECK_SECONDS)
        self._idle = False

    def _run(self) -> None:
        pending = self._pending
        stopping = False
        while not stopping:
            self._wait()
            self._wake.clear()  # then look: a put filling the batch after this sets it again
            if len(pending) < self._batch and not self._urgent:
                self._wake.wait(self._linger)  # a batch gathers: one transaction, many records
            taken: list[object] = []
            while pending and len(taken) < self._batch:
                taken.append(pending.popleft())
                if taken[-1] is _STOP or isinstance(taken[-1], threading.Event):
                    break  # write what came before it, then answer it
            marker = taken[-1]
            stopping = marker is _STOP
            items: list[Item] = [i for i in taken if isinstance(i, _ITEMS)]
            try:
                self._write(self._rows(items), retry=not stopping)
            except Exception as exc:
                self.dropped += len(items)
                log.error("audit records lost at shutdown: %d (%s)", len(items), type(exc).__name__)
            if isinstance(marker, threading.Event):
                self._urgent = False
                marker.set()

    def flush(self) -> None:
        """Wait until everything handed over so far is written."""
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._signal(done)
        done.wait()

    def close(self) -> None:
        """Drain the hand-off, stop the writer and close the store (clean shutdown)."""
        if self._thread.is_alive():
            self._signal(_STOP)
            self._thread.join()
        self.store.close()


class Disabled:
    """``FACADE_AUDIT_ENABLED=false``: nothing recorded (the test of the overhead uses it)."""

    store = None
    enabled = False  # the HTTP face does not even open a note per request

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
