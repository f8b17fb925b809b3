"""Helpers for the operations tests: the CLI in a subprocess, logging left as found."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``athena-facade {args}`` in a fresh process, with only ``env`` as FACADE_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FACADE_", "EMULATOR_"))}
    return subprocess.run(
        [sys.executable, "-m", "facade.cli", *args],
        cwd=cwd,
        env={**clean, "FACADE_DATA_DIR": str(cwd / "var"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def logging_kept() -> Iterator[None]:
    """The CLI's ``main`` configures logging for the process: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
