"""What a person sees while a sync runs: a progress bar per type (counts and rate) on a
terminal, one line per event otherwise (logs, cron, CI), and a summary table at the end."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table


@dataclass
class TypeResult:
    type: str
    mode: str  # "full" or "since {instant}"
    received: int = 0  # resources in the export's files
    changed: int = 0  # rows inserted or updated (new or different content)
    deleted: int = 0  # rows marked deleted (absent from a full export)
    rows: int = 0  # rows of the type in the warehouse afterwards (not deleted)
    calls: int = 0  # HTTP requests of the facade made for this type's files
    seconds: float = 0.0


class Reporter:
    """One line per event (not a terminal)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def export_started(self, url: str, types: list[str], since: str | None, resumed: bool) -> None:
        how = "continuing" if resumed else "started"
        self.say(
            f"export {how}: {', '.join(types)} ({f'since {since}' if since else 'full'}) {url}"
        )

    def waiting(self, progress: str) -> None:
        pass

    def type_started(self, rtype: str, total: int, done: int) -> None:
        pass

    def advance(self, rtype: str, lines: int) -> None:
        pass

    def type_done(self, result: TypeResult) -> None:
        rate = result.received / result.seconds if result.seconds > 0 else 0.0
        self.say(
            f"{result.type}: {result.received} received, {result.changed} changed,"
            f" {result.deleted} deleted, {result.rows} rows ({result.mode};"
            f" {result.seconds:.1f} s, {rate:.0f}/s, {result.calls} calls)"
        )

    def close(self) -> None:
        pass

    def summary(self, results: list[TypeResult], seconds: float, calls: int, target: str) -> None:
        table = Table()
        for name, justify in [
            ("type", "left"),
            ("mode", "left"),
            ("received", "right"),
            ("changed", "right"),
            ("deleted", "right"),
            ("rows", "right"),
            ("seconds", "right"),
            ("calls", "right"),
        ]:
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for r in results:
            table.add_row(
                r.type,
                "full" if r.mode == "full" else "incremental",
                str(r.received),
                str(r.changed),
                str(r.deleted),
                str(r.rows),
                f"{r.seconds:.1f}",
                str(r.calls),
            )
        table.add_row(
            "total",
            "",
            str(sum(r.received for r in results)),
            str(sum(r.changed for r in results)),
            str(sum(r.deleted for r in results)),
            str(sum(r.rows for r in results)),
            f"{seconds:.1f}",
            str(calls),
        )
        console = self._console()
        console.print(f"sync to {target}: {seconds:.1f} s, {calls} calls to the facade")
        console.print(table)

    def _console(self) -> Console:
        return Console(file=self.out, force_terminal=False, width=120)


class BarReporter(Reporter):
    """A rich progress bar per type, on a terminal."""

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out)
        self.console = Console(file=self.out)
        self.bars = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            TextColumn("{task.fields[count]:>13}"),
            TextColumn("{task.fields[rate]:>8}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.tasks: dict[str, TaskID] = {}
        self.totals: dict[str, int] = {}
        self.status: TaskID | None = None
        self.bars.start()

    def say(self, text: str) -> None:
        self.bars.console.print(text)

    def waiting(self, progress: str) -> None:
        if self.status is None:
            self.status = self.bars.add_task("export (facade)", total=None, count="", rate="")
        self.bars.update(self.status, description=f"export: {progress}"[:28])

    def type_started(self, rtype: str, total: int, done: int) -> None:
        if self.status is not None:
            self.bars.remove_task(self.status)
            self.status = None
        self.totals[rtype] = total
        self.tasks[rtype] = self.bars.add_task(
            rtype, total=total or 1, completed=done, count=f"{done}/{total}", rate=""
        )

    def advance(self, rtype: str, lines: int) -> None:
        task = self.tasks[rtype]
        self.bars.advance(task, lines)
        state = self.bars.tasks[self.bars.task_ids.index(task)]
        speed = state.speed
        self.bars.update(
            task,
            count=f"{int(state.completed)}/{self.totals[rtype]}",
            rate=f"{speed:.0f}/s" if speed else "",
        )

    def type_done(self, result: TypeResult) -> None:
        task = self.tasks.get(result.type)
        if task is not None:
            total = self.totals[result.type]
            self.bars.update(task, completed=total or 1, count=f"{total}/{total}")

    def close(self) -> None:
        self.bars.stop()

    def _console(self) -> Console:
        return self.console


def reporter(mode: str, out: TextIO | None = None) -> Reporter:
    """``bar``, ``lines``, or ``auto`` (bars on a terminal)."""
    stream = out or sys.stdout
    if mode == "bar" or (mode == "auto" and stream.isatty()):
        return BarReporter(stream)
    return Reporter(stream)
