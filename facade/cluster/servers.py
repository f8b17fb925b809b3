"""Real PostgreSQL, Redis and HAProxy processes on loopback, for ``athena-facade cluster``
and the scale-out tests (README "Scale-out"): the Debian binaries, never containers.

- PostgreSQL: ``initdb`` into a directory, then ``pg_ctl`` start/stop (as the ``postgres``
  user when this runs as root: the server refuses root);
- Redis: ``redis-server`` in the foreground, no persistence;
- HAProxy: ``haproxy -db -f`` a configuration rendered by :func:`haproxy_config`, the
  same text ``deploy/haproxy.cfg`` holds for the compose topology.

Each can be stopped and started again on the same port (the fault tests take the
database or Redis away and bring it back).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/local/bin"), Path("/usr/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the process for port {port} exited") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.05)


def _pg_tool(name: str) -> str:
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found (install the Debian package postgresql)")
    return found


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: then run it as the ``postgres`` user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root needs a 'postgres' user for PostgreSQL") from None
    return "postgres"


@dataclass
class PostgresServer:
    root: Path
    port: int = field(default_factory=free_port)
    durable: bool = False  # fsync off for tests: the data dir is thrown away

    @property
    def data(self) -> Path:
        return self.root / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://facade@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run(list(args), capture_output=True, user=_run_as(), cwd="/", check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.decode()[-2000:]}")

    def remove(self) -> None:
        """Stop and delete the data directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __post_init__(self) -> None:
        if _run_as() is not None:
            # the postgres user must reach the directory: a private one of its own in /tmp
            # (a test's temporary directory is root's, mode 0700)
            self.root = Path(tempfile.mkdtemp(prefix="facade-pg-"))
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._run(
            _pg_tool("initdb"), "-D", str(self.data), "-U", "facade", "--auth=trust",
            "-E", "UTF8", "--no-instructions",
        )  # fmt: skip

    def start(self) -> PostgresServer:
        if not self.data.exists():
            self.init()
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            _pg_tool("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "postgres.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(_pg_tool("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@dataclass
class RedisServer:
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.root.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        with (self.root / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.root)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        self.proc = None


def haproxy_config(bind: str, servers: list[tuple[str, str]], *, check_ms: int = 500) -> str:
    """The balancer: round robin over the facade hosts, health-checked on ``/readyz``.

    A host that stops answering is taken out after two failed checks; a request whose
    connection to a host fails is sent to another (``retries`` + ``redispatch``: only
    connection failures, where nothing reached the host, so a write is never sent twice
    by the balancer; a client retries a keyed write itself and the ledger answers once).
    """
    lines = [
        "global",
        "  maxconn 4096",
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 60s",
        "  timeout server 60s",
        "  retries 2",
        "  option redispatch 1",
        "  option http-server-close",
        "frontend fhir",
        f"  bind {bind}",
        "  default_backend facade",
        "backend facade",
        "  balance roundrobin",
        "  option httpchk GET /readyz",
        "  http-check expect status 200",
        f"  default-server inter {check_ms}ms fall 2 rise 1",
    ]
    lines += [f"  server {name} {address} check" for name, address in servers]
    return "\n".join(lines) + "\n"


@dataclass
class HAProxyServer:
    root: Path
    servers: list[tuple[str, str]]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HAProxyServer:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "haproxy.cfg"
        config.write_text(haproxy_config(f"127.0.0.1:{self.port}", self.servers))
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        with (self.root / "haproxy.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        self.proc = None
