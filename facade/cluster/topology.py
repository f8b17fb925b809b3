"""The scale-out topology on loopback: N facade hosts on one PostgreSQL and one Redis,
behind HAProxy (README "Scale-out"). ``athena-facade cluster`` runs it; the scale-out
tests and the benchmark start the very same thing. ``deploy/compose.yaml`` is the same
topology in containers, with the same variables (:func:`host_environment`) and the same
balancer configuration (:func:`facade.cluster.servers.haproxy_config`).

Every host is a separate ``athena-facade serve`` process with its own data directory
(which holds nothing shared) and the shared keys: ``FACADE_SIGNING_SECRET`` and
``FACADE_JWKS_FILE``, generated once into the cluster's directory (the hosts refuse to
start in shared mode without them). Export files go to one ``FACADE_BULK_DIR`` every
host reads (in containers: a shared volume).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from facade.auth.keys import KeyRing
from facade.cluster.servers import (
    HAProxyServer,
    PostgresServer,
    RedisServer,
    free_port,
    wait_port,
)


def shared_keys(root: Path) -> tuple[str, Path]:
    """The signing secret and id_token keys every host uses (created once, kept)."""
    root.mkdir(parents=True, exist_ok=True)
    secret_file = root / "signing.secret"
    if not secret_file.exists():
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    jwks = root / "jwks.json"
    KeyRing.load_or_create(jwks)
    return secret_file.read_text().strip(), jwks


def host_environment(
    *,
    name: str,
    port: int,
    public_url: str,
    database_url: str,
    redis_url: str | None,
    athena_url: str,
    signing_secret: str,
    jwks_file: Path,
    data_dir: Path,
    bulk_dir: Path,
    hosts: int,
    workers: int,
) -> dict[str, str]:
    """The variables of one facade host (the compose file sets the same ones)."""
    env = {
        "FACADE_HOST": "127.0.0.1",
        "FACADE_PORT": str(port),
        "FACADE_WORKERS": str(workers),
        "FACADE_PUBLIC_BASE_URL": public_url,
        "FACADE_DATA_DIR": str(data_dir),
        "FACADE_BULK_DIR": str(bulk_dir),
        "FACADE_DATABASE_URL": database_url,
        "FACADE_CLUSTER_HOSTS": str(hosts),
        "FACADE_ATHENA_BASE_URL": athena_url,
        "FACADE_SIGNING_SECRET": signing_secret,
        "FACADE_JWKS_FILE": str(jwks_file),
    }
    if redis_url:
        env["FACADE_REDIS_URL"] = redis_url
    return env


@dataclass
class Host:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "facade.cli", "serve", "--log-level", "warning"],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed with its workers
            )

    def wait_ready(self, timeout: float = 120.0) -> None:
        wait_port(self.port, timeout, self.proc)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} is not ready; see {self.log}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, the host and its workers: no shutdown, no cleanup."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    """Start with :meth:`start`, stop with :meth:`stop` (everything it started)."""

    root: Path
    hosts: int = 2
    workers: int = 1
    athena_url: str | None = None  # None: an emulator process of its own
    redis: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    postgres: PostgresServer | None = None
    redis_server: RedisServer | None = None
    balancer: HAProxyServer | None = None
    members: list[Host] = field(default_factory=list)
    emulator: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        assert self.balancer is not None
        return self.balancer.url

    def _start_emulator(self) -> str:
        port = free_port()
        with (self.root / "emulator.log").open("ab") as log:
            self.emulator = subprocess.Popen(
                [sys.executable, "-m", "facade.cli", "emulator", "--port", str(port),
                 "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_port(port, 60, self.emulator)
        return f"http://127.0.0.1:{port}"

    def start(self) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        athena = self.athena_url or self._start_emulator()
        self.postgres = PostgresServer(self.root / "postgres").start()
        if self.redis:
            self.redis_server = RedisServer(self.root / "redis").start()
        secret, jwks = shared_keys(self.root / "keys")
        ports = [free_port() for _ in range(self.hosts)]
        self.balancer = HAProxyServer(
            self.root / "haproxy",
            [(f"facade{i + 1}", f"127.0.0.1:{port}") for i, port in enumerate(ports)],
        )
        public = f"http://127.0.0.1:{self.balancer.port}"
        for i, port in enumerate(ports):
            name = f"facade{i + 1}"
            env = host_environment(
                name=name,
                port=port,
                public_url=public,
                database_url=self.postgres.url,
                redis_url=self.redis_server.url if self.redis_server else None,
                athena_url=athena,
                signing_secret=secret,
                jwks_file=jwks,
                data_dir=self.root / name,
                bulk_dir=self.root / "bulk",
                hosts=self.hosts,
                workers=self.workers,
            )
            self.members.append(
                Host(name, port, {**env, **self.extra_env}, self.root / f"{name}.log")
            )
        for host in self.members:
            host.start()
        for host in self.members:
            host.wait_ready()
        self.balancer.start()
        self.wait_balanced()

    def wait_balanced(self, timeout: float = 30.0) -> None:
        """Until the balancer answers /readyz (its checks found a host up)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the balancer has no host up")
            time.sleep(0.1)

    def stop(self) -> None:
        for host in self.members:
            host.stop()
        if self.balancer is not None:
            self.balancer.stop()
        if self.redis_server is not None:
            self.redis_server.stop()
        if self.postgres is not None:
            self.postgres.remove()
        if self.emulator is not None and self.emulator.poll() is None:
            os.killpg(self.emulator.pid, signal.SIGTERM)
            self.emulator.wait(timeout=15)
