"""deploy/ is a thin wrapper around the tested cluster: the compose file's hosts get the
variables ``athena-facade cluster`` gives its hosts, and deploy/haproxy.cfg is what the
tested balancer runs, rendered for the compose host names. A host refuses to start in
shared mode without the shared keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from facade.cluster.servers import haproxy_config
from facade.cluster.topology import host_environment
from facade.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_compose_hosts_get_the_variables_the_tested_cluster_sets() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    tested = host_environment(
        name="facade1",
        port=1,
        public_url="http://lb",
        database_url="postgresql://db",
        redis_url="redis://r",
        athena_url="http://athena",
        signing_secret="s",
        jwks_file=Path("/k"),
        data_dir=Path("/d"),
        bulk_dir=Path("/b"),
        hosts=2,
        workers=1,
    )
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for name in ("facade1", "facade2"):
        env = compose["services"][name]["environment"]
        for variable in tested:
            assert variable in env or f"{variable}=" in dockerfile, variable
    assert int(env["FACADE_CLUSTER_HOSTS"]) == 2  # as many as the compose file runs


def test_the_deployed_balancer_configuration_is_the_tested_one() -> None:
    rendered = haproxy_config("*:8080", [("facade1", "facade1:8080"), ("facade2", "facade2:8080")])
    lines = (DEPLOY / "haproxy.cfg").read_text().splitlines()
    assert "\n".join(line for line in lines if not line.startswith("#")) + "\n" == rendered


def test_shared_mode_without_the_shared_keys_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="FACADE_SIGNING_SECRET and FACADE_JWKS_FILE"):
        Settings(database_url="postgresql://127.0.0.1:9/x", data_dir=tmp_path)
    with pytest.raises(ValidationError, match="FACADE_JWKS_FILE does not exist"):
        Settings(
            database_url="postgresql://127.0.0.1:9/x",
            signing_secret="s" * 40,
            jwks_file=tmp_path / "missing.json",
        )
    env = {
        **os.environ,
        "FACADE_DATABASE_URL": "postgresql://127.0.0.1:9/x",
        "FACADE_DATA_DIR": str(tmp_path),
        "FACADE_ATHENA_BASE_URL": "http://127.0.0.1:9",
    }
    env.pop("FACADE_SIGNING_SECRET", None)
    started = subprocess.run(
        [sys.executable, "-m", "facade.cli", "serve", "--port", "9"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert b"FACADE_SIGNING_SECRET" in started.stderr
    assert not (tmp_path / "signing.key").exists()  # no host-local key was made
