"""No plaintext secret in anything the server writes.

``athena-facade serve`` runs as a real process with the vault configured (the athena client
secret and athena's push secret in the vault, a random local-dev client secret, a
generated signing key kept in the vault) in front of an emulator that accepts only that
athena secret. The test signs in, takes and revokes tokens, fails authentication, reads and
searches (so athena's token is fetched with the vault's secret), hits errors, creates a
Subscription (its webhook handshake must verify with the secret the creation answered, so
the sealed secret opened) and posts a forged athena push. Then every file under the data
directory (SQLite databases with their WAL, clients.json, keys, the vault), the server's
captured stdout and stderr, and every response are searched for every secret value.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from facade.settings import Settings
from facade.store.events import EventStore
from facade.vault.keys import new_key_text
from facade.vault.runtime import SIGNING_KEY, open_vault
from tests.conftest import free_port
from tests.events.support import FHIR_JSON, Receiver, secret_of, subscription

ATHENA_FACADE = str(Path(sys.executable).with_name("athena-facade"))
ATHENA_ID = "vault-test-client"
ATHENA_SECRET = "athena-" + secrets.token_urlsafe(18)
PUSH_SECRET = "push-" + secrets.token_urlsafe(18)
DEV_SECRET = "dev-" + secrets.token_urlsafe(18)
MASTER = new_key_text("k1")
DONNA = "a-195900.E-60178"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    server = ServerThread(hooks.app())
    hooks.base = server.start()
    yield hooks
    server.stop()


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    config = EmulatorConfig(
        clients={ATHENA_ID: ATHENA_SECRET},
        api_requests_per_second=100_000,
        token_requests_per_minute=1000,
    )
    server = ServerThread(create_emulator(config))
    yield server.start()
    server.stop()


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACADE_", "EMULATOR_"))}
    env.update({"FACADE_DATA_DIR": str(data_dir), "FACADE_VAULT_MASTER_KEY": MASTER, **extra})
    return env


def test_no_secret_in_files_logs_or_responses(
    emulator: str, receiver: Receiver, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    for name, value in (
        ("athena_client_secret", ATHENA_SECRET),
        ("events_athena_push_secret", PUSH_SECRET),
    ):
        stored = subprocess.run(
            [ATHENA_FACADE, "vault", "set", name],
            env=_env(data_dir),
            input=value + "\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stored.returncode == 0, stored.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(
        data_dir,
        FACADE_PORT=str(port),
        FACADE_WORKERS="1",
        FACADE_ATHENA_BASE_URL=emulator,
        FACADE_ATHENA_CLIENT_ID=ATHENA_ID,
        FACADE_DEV_CLIENT_SECRET=DEV_SECRET,
        FACADE_EVENTS_FEEDS="[]",
    )
    out_path, err_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    responses: list[httpx.Response] = []
    by_design: list[httpx.Response] = []  # answers that must carry one secret, once
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "facade.cli", "serve", "--log-level", "debug"],
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 90
        while "Application startup complete" not in err_path.read_text(errors="replace"):
            assert process.poll() is None, err_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "serve did not start in 90 s"
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as http:
            wrong = http.post(
                "/auth/token",
                data={"grant_type": "client_credentials", "scope": "system/*.rs"},
                auth=("local-dev", DEV_SECRET[:-1]),
            )
            assert wrong.status_code == 401
            responses.append(wrong)
            issued = http.post(
                "/auth/token",
                data={"grant_type": "client_credentials", "scope": "system/*.cruds"},
                auth=("local-dev", DEV_SECRET),
            )
            assert issued.status_code == 200, issued.text
            by_design.append(issued)
            token = issued.json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            read = http.get(f"/fhir/r4/Patient/{DONNA}", headers=bearer)
            assert read.status_code == 200, read.text  # athena's token came from the vault
            responses += [
                read,
                http.get("/fhir/r4/Patient", params={"family": "x" * 70}, headers=bearer),
                http.get("/fhir/r4/Patient/a-195900.E-99999999", headers=bearer),
                http.get("/fhir/r4/Patient/not-an-id", headers=bearer),
                http.get("/fhir/r4/Patient", headers={"Authorization": f"Bearer {token}x"}),
                http.post(
                    "/events/athena",
                    content=b'{"events": []}',
                    headers={"X-Hub-Signature": "sha256=00", "Content-Type": "application/json"},
                ),
                http.get("/metrics"),
            ]
            created = http.post(
                "/fhir/r4/Subscription",
                json=subscription(receiver.base + "/vault", "appointment-booked"),
                headers={**bearer, **FHIR_JSON},
            )
            assert created.status_code == 201, created.text
            by_design.append(created)
            webhook_secret = secret_of(created.json())
            handshake = receiver.wait("/vault", lambda got: len(got) >= 1)[0]
            Webhook(webhook_secret).verify(handshake.body, handshake.headers)  # sealed, opened
            responses.append(
                http.get(f"/fhir/r4/Subscription/{created.json()['id']}", headers=bearer)
            )
            revoked = http.post(
                "/auth/revoke", data={"token": token}, auth=("local-dev", DEV_SECRET)
            )
            assert revoked.status_code == 200
            responses.append(revoked)
            responses.append(http.get(f"/fhir/r4/Patient/{DONNA}", headers=bearer))
    finally:
        process.terminate()
        process.wait(timeout=60)

    vault = open_vault(Settings(data_dir=data_dir, vault_master_key=MASTER))
    assert vault is not None
    signing = vault.get(SIGNING_KEY)
    assert signing is not None and not (data_dir / "signing.key").exists()
    wanted = {
        "athena client secret": ATHENA_SECRET,
        "athena push secret": PUSH_SECRET,
        "local-dev client secret": DEV_SECRET,
        "webhook secret": webhook_secret,
        "webhook secret key": webhook_secret.removeprefix("whsec_"),
        "signing key": signing,
        "master key": MASTER.split(":", 1)[1],
        "access token": token,
        "access token signature": token.rsplit(".", 1)[1],
    }
    written: dict[str, bytes] = {
        str(p.relative_to(tmp_path)): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()
    }
    assert any(name.endswith("audit.sqlite3") for name in written)
    assert any(name.endswith("events.sqlite3") for name in written)
    written["stdout"] = out_path.read_bytes()
    written["stderr"] = err_path.read_bytes()
    assert b"request id=" in written["stderr"] or written["stderr"]  # the server did log
    for i, response in enumerate(responses):
        written[f"response {i} {response.request.url.path}"] = (
            str(response.headers).encode() + response.content
        )
    leaks = [
        (what, where)
        for what, value in wanted.items()
        for where, content in written.items()
        if value.encode() in content
    ]
    assert leaks == []
    # rotation: a new master key; every secret and the sealed webhook secret re-wrapped
    k2 = new_key_text("k2")
    rotated = subprocess.run(
        [ATHENA_FACADE, "vault", "rotate"],
        env={**_env(data_dir), "FACADE_VAULT_MASTER_KEY": f"{k2},{MASTER}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "3 secret(s) and 1 webhook secret(s) re-wrapped" in rotated.stdout, rotated.stdout
    after = open_vault(Settings(data_dir=data_dir, vault_master_key=k2))  # the old key retired
    assert after is not None and after.get("athena_client_secret") == ATHENA_SECRET
    store = EventStore(data_dir / "events.sqlite3")
    try:
        ((sid, sealed),) = store.webhook_secrets()
    finally:
        store.close()
    assert sealed.startswith("vault:v1:k2:")
    assert after.open(sealed, f"subscription:{sid}") == webhook_secret
    # the answers that hand a secret out carry exactly it, and nothing else secret
    assert ATHENA_SECRET.encode() not in b"".join(r.content for r in by_design)
    assert DEV_SECRET.encode() not in b"".join(r.content for r in by_design)
