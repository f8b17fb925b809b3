"""NDJSON export files, written so that a crash never leaves a half-written file in view.

Each part of a job writes ``.{name}.part`` next to its final name: one resource per
line (orjson, no spaces), flushed and fsynced at every checkpoint, whose length the
job store records. A resumed part truncates the file back to its last checkpoint
and appends from there, so a line written after the checkpoint (and lost with the
crash, or half on disk) is written again exactly once. A finished part is renamed
to its final name (``os.replace`` is atomic) and the directory is fsynced; only then
does the store call the part done. The manifest names only finished files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

NDJSON = "application/fhir+ndjson"


def temp_path(directory: Path, name: str) -> Path:
    return directory / f".{name}.part"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LostCheckpoint(Exception):
    """The part's file no longer holds what its checkpoint says: the part starts over."""


class PartFile:
    """The file of one part, opened at its last checkpoint (``size`` bytes, ``count`` lines)."""

    def __init__(self, directory: Path, name: str, *, size: int = 0, count: int = 0) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory = directory
        self.name = name
        self.path = temp_path(directory, name)
        if size and (not self.path.exists() or self.path.stat().st_size < size):
            raise LostCheckpoint(f"{name}: the file is shorter than its checkpoint")
        self._file = self.path.open("ab" if size else "wb")
        if size:
            self._file.truncate(size)
            self._file.seek(size)
        self.size = size
        self.count = count

    def write(self, resource: dict[str, Any]) -> None:
        line = orjson.dumps(resource) + b"\n"
        self._file.write(line)
        self.size += len(line)
        self.count += 1

    def checkpoint(self) -> int:
        """Everything written so far is on disk; the length to record."""
        self._file.flush()
        os.fsync(self._file.fileno())
        return self.size

    def ids(self) -> set[str]:
        """The ids written so far (a resumed part skips them when queries overlap)."""
        self._file.flush()
        with self.path.open("rb") as handle:
            return {str(orjson.loads(line)["id"]) for line in handle if line.strip()}

    def finish(self) -> Path:
        """Rename to the final name (atomic); an empty part leaves no file."""
        self.checkpoint()
        self._file.close()
        final = self.directory / self.name
        if self.count == 0:
            self.path.unlink(missing_ok=True)
        else:
            os.replace(self.path, final)
            fsync_dir(self.directory)
        return final

    def close(self) -> None:
        self._file.close()


def write_all(directory: Path, name: str, lines: list[dict[str, Any]]) -> int:
    """A small file written whole (the error file, the member list): temp, fsync, rename."""
    part = PartFile(directory, name)
    for line in lines:
        part.write(line)
    part.finish()
    return part.count
