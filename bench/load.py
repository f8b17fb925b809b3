"""The load generator: wrk (C, Debian package) when installed, else a Python fallback.

Both drive real HTTP on loopback from a separate process and report requests
per second, latency percentiles and errors. The report names which one ran.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class LoadResult:
    generator: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    # the load generator's own CPU seconds (user + system): on a 2-core machine it shares the
    # cores with the servers it measures (P2's CPU budget, bench/run.py)
    generator_cpu_s: float = 0.0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text.strip())
    if not m:
        raise ValueError(f"cannot read wrk duration {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _lua(paths: list[str], headers: dict[str, str]) -> str:
    quoted = ",".join(json.dumps(p) for p in paths)
    header_table = ",".join(f"[{json.dumps(k)}]={json.dumps(v)}" for k, v in headers.items())
    return (
        f"local paths = {{{quoted}}}\n"
        f"local headers = {{{header_table}}}\n"
        "local counter = 0\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        '  return wrk.format("GET", paths[(counter % #paths) + 1], headers)\n'
        "end\n"
    )


def run_load(
    base: str,
    paths: list[str],
    *,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    threads: int = 1,
) -> LoadResult:
    headers = headers or {}
    before = _children_cpu()
    if shutil.which("wrk"):
        result = _wrk(base, paths, connections, seconds, headers, threads)
    else:
        result = _python(base, paths, connections, seconds, headers)
    return replace(result, generator_cpu_s=round(_children_cpu() - before, 3))


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the generator is waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wrk(
    base: str,
    paths: list[str],
    connections: int,
    seconds: float,
    headers: dict[str, str],
    threads: int,
) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(paths, headers))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        script.name,
        base,
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    Path(script.name).unlink()
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore[union-attr]
    dur = re.search(r"requests in ([\d.]+\w+)", out).group(1)  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(int(g) for g in socket.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    return LoadResult("wrk", requests, _ms(dur) / 1000, rps, p50, p99, errors)


def _python(
    base: str, paths: list[str], connections: int, seconds: float, headers: dict[str, str]
) -> LoadResult:
    spec = json.dumps(
        {
            "base": base,
            "paths": paths,
            "connections": connections,
            "seconds": seconds,
            "headers": headers,
        }
    )
    out = subprocess.run(
        [sys.executable, "-m", "bench.pyload"],
        input=spec,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    ).stdout
    data = json.loads(out)
    return LoadResult("python-aiohttp", **data)
