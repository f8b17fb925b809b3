"""Starting, waiting for and measuring the benchmark's server processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    base: str
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)

    def rss_mb(self) -> float:
        """Resident memory of the process and all its descendants (workers), in MiB."""
        return sum(_rss_kb(pid) for pid in _tree(self.popen.pid)) / 1024

    def cpu_seconds(self) -> dict[int, float]:
        """User + system CPU time of the process and each descendant (workers), by pid."""
        return {pid: _cpu(pid) for pid in _tree(self.popen.pid)}


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """utime + stime of one process (/proc/PID/stat fields 14 and 15), in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICK


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """CPU seconds each process spent between two samples (new processes count from 0)."""
    return {pid: after[pid] - before.get(pid, 0.0) for pid in after}


def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids.extend(_tree(int(child)))
    return pids


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def start(name: str, args: list[str], env: dict[str, str], ready_url: str, log_dir: Path) -> Proc:
    log = log_dir / f"{name}.log"
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen(
            [sys.executable, *args],
            env={**os.environ, **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    base = ready_url.split("/", 3)[:3]
    proc = Proc(name, popen, "/".join(base), log)
    deadline = time.monotonic() + 90
    while True:
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited early; see {log}")
        try:
            if httpx.get(ready_url, timeout=2).status_code < 500:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.stop()
            raise RuntimeError(f"{name} did not start; see {log}")
        time.sleep(0.2)
