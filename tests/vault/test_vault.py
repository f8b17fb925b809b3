"""The credential vault: envelope encryption at rest, rotation, sealed values bound to their
row, the master key from the environment or a key file, and the ``vault`` commands."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facade.engine.runtime import signing_key
from facade.settings import Settings
from facade.store.audit import SqliteAuditStore
from facade.vault.keys import LocalKeyProvider, VaultError, new_key_text
from facade.vault.runtime import open_vault, resolve
from facade.vault.vault import Vault

ATHENA_FACADE = str(Path(sys.executable).with_name("athena-facade"))
K1 = new_key_text("k1")
K2 = new_key_text("k2")
SECRET = "athena-secret-7f3a9c1e"


def vault(path: Path, keys: str) -> Vault:
    return Vault(path / "vault.json", LocalKeyProvider.parse(keys))


def test_secrets_are_encrypted_at_rest_with_a_data_key_each(tmp_path: Path) -> None:
    v = vault(tmp_path, K1)
    v.set("athena_client_secret", SECRET)
    v.set("signing_secret", SECRET)  # the same value twice: different ciphertexts
    text = (tmp_path / "vault.json").read_text()
    assert SECRET not in text and base64.b64encode(SECRET.encode()).decode() not in text
    entries = json.loads(text)["secrets"]
    assert entries["athena_client_secret"]["ciphertext"] != entries["signing_secret"]["ciphertext"]
    assert entries["athena_client_secret"]["data_key"] != entries["signing_secret"]["data_key"]
    assert {e["key_id"] for e in entries.values()} == {"k1"}
    assert (tmp_path / "vault.json").stat().st_mode & 0o777 == 0o600
    assert v.get("athena_client_secret") == SECRET
    assert [(n, k) for n, k, _ in v.list()] == [
        ("athena_client_secret", "k1"),
        ("signing_secret", "k1"),
    ]


def test_rotate_rewraps_under_the_new_key_and_the_old_key_can_go(tmp_path: Path) -> None:
    vault(tmp_path, K1).set("athena_client_secret", SECRET)
    before = json.loads((tmp_path / "vault.json").read_text())["secrets"]["athena_client_secret"]
    both = vault(tmp_path, f"{K2},{K1}")  # k2 added and active, k1 kept to unwrap
    assert both.get("athena_client_secret") == SECRET
    assert both.rotate() == 1 and both.rotate() == 0
    after = json.loads((tmp_path / "vault.json").read_text())["secrets"]["athena_client_secret"]
    assert after["key_id"] == "k2" and after["data_key"] != before["data_key"]
    assert after["ciphertext"] == before["ciphertext"]  # re-wrapped, not re-encrypted
    assert vault(tmp_path, K2).get("athena_client_secret") == SECRET  # k1 retired
    with pytest.raises(VaultError, match="master key k2 is not configured") as refused:
        vault(tmp_path, K1).get("athena_client_secret")
    assert SECRET not in str(refused.value)


def test_a_wrong_master_key_or_an_edited_file_is_refused_without_the_value(tmp_path: Path) -> None:
    vault(tmp_path, K1).set("athena_client_secret", SECRET)
    other = new_key_text("k1")  # same id, different key
    with pytest.raises(VaultError, match="does not open under master key k1"):
        vault(tmp_path, other).get("athena_client_secret")
    body = json.loads((tmp_path / "vault.json").read_text())
    entry = body["secrets"].pop("athena_client_secret")
    body["secrets"]["signing_secret"] = entry  # moved to another name: the AAD differs
    (tmp_path / "vault.json").write_text(json.dumps(body))
    with pytest.raises(VaultError):
        vault(tmp_path, K1).get("signing_secret")


def test_sealed_values_open_only_in_their_row_and_reseal_on_rotation(tmp_path: Path) -> None:
    v = vault(tmp_path, K1)
    sealed = v.seal("whsec_abc", "subscription:1")
    assert sealed.startswith("vault:v1:k1:") and "whsec_abc" not in sealed
    assert v.open(sealed, "subscription:1") == "whsec_abc"
    with pytest.raises(VaultError):
        v.open(sealed, "subscription:2")
    rotated = vault(tmp_path, f"{K2},{K1}")
    moved = rotated.reseal(sealed, "subscription:1")
    assert moved is not None and moved.startswith("vault:v1:k2:")
    assert rotated.reseal(moved, "subscription:1") is None
    assert vault(tmp_path, K2).open(moved, "subscription:1") == "whsec_abc"
    assert v.open("whsec_plain", "subscription:3") == "whsec_plain"  # from before the vault


def test_the_key_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "master.keys"
    path.write_text(f"# vault keys\n{K2}\n{K1}\n")
    path.chmod(0o644)
    with pytest.raises(VaultError, match="readable by its owner only"):
        LocalKeyProvider.from_file(path)
    path.chmod(0o600)
    assert LocalKeyProvider.from_file(path).active_key_id() == "k2"
    with pytest.raises(VaultError, match="32 bytes"):
        LocalKeyProvider.parse("k1:" + base64.b64encode(b"short").decode())


def test_settings_come_from_the_vault_and_the_signing_key_moves_in(tmp_path: Path) -> None:
    plain = Settings(data_dir=tmp_path)
    assert resolve(plain) is plain and open_vault(plain) is None  # zero setup: no vault
    legacy = signing_key(plain)  # generated into signing.key, as before
    assert (tmp_path / "signing.key").exists()
    configured = Settings(data_dir=tmp_path, vault_master_key=K1)
    vault(tmp_path, K1).set("athena_client_secret", SECRET)
    resolved = resolve(configured)
    assert resolved.athena_client_secret is not None
    assert resolved.athena_client_secret.get_secret_value() == SECRET
    assert signing_key(resolved) == legacy  # the same key: tokens and the audit chain hold
    assert not (tmp_path / "signing.key").exists()
    assert legacy.hex() not in (tmp_path / "vault.json").read_text()
    assert signing_key(resolve(configured)) == legacy


def _cli(
    tmp_path: Path, *args: str, value: str | None = None, keys: str = K1
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACADE_")}
    env.update({"FACADE_DATA_DIR": str(tmp_path), "FACADE_VAULT_MASTER_KEY": keys})
    return subprocess.run(
        [ATHENA_FACADE, "vault", *args],
        env=env,
        input=value,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_vault_commands(tmp_path: Path) -> None:
    stored = _cli(tmp_path, "set", "athena_client_secret", value=SECRET + "\n")
    assert stored.returncode == 0, stored.stderr
    assert "stored under master key k1" in stored.stdout
    listed = _cli(tmp_path, "list")
    assert listed.returncode == 0 and "athena_client_secret\tkey=k1" in listed.stdout
    rotated = _cli(tmp_path, "rotate", keys=f"{K2},{K1}")
    assert rotated.returncode == 0, rotated.stderr
    # the athena secret and the signing key (generated into the vault when `set` was audited)
    assert "rotated to master key k2: 2 secret(s)" in rotated.stdout
    assert "key=k2" in _cli(tmp_path, "list", keys=K2).stdout
    unknown = _cli(tmp_path, "set", "anything", value="x\n")
    assert unknown.returncode == 2
    for result in (stored, listed, rotated, unknown):
        assert SECRET not in result.stdout + result.stderr
    assert vault(tmp_path, K2).get("athena_client_secret") == SECRET
    # each change is a security event in the audit trail, and the chain verifies
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACADE_")}
    env.update({"FACADE_DATA_DIR": str(tmp_path), "FACADE_VAULT_MASTER_KEY": K2})
    added = subprocess.run(
        [
            ATHENA_FACADE,
            "clients",
            "add",
            "ops-client",
            "--kind",
            "confidential-symmetric",
            "--scope",
            "system/AuditEvent.rs",
            "--grant",
            "client_credentials",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    store = SqliteAuditStore(tmp_path / "audit.sqlite3")
    try:
        facts = [json.loads(r.facts) for r in store.scan()]
    finally:
        store.close()
    assert [(f["kind"], f.get("detail")) for f in facts] == [
        ("vault", "set athena_client_secret"),
        ("vault", "rotate to k2"),
        ("register", "clients add"),
    ]
    assert facts[2]["client"] == "ops-client" and SECRET not in json.dumps(facts)
    verified = subprocess.run(
        [ATHENA_FACADE, "audit", "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stdout


def test_outside_embedded_the_athena_secret_may_come_from_the_vault(tmp_path: Path) -> None:
    outside = {
        "environment": "preview",
        "athena_client_id": "preview-client",
        "dev_client_secret": "not-the-default",
        "demo_users": False,
        "data_dir": tmp_path,
    }
    with pytest.raises(ValueError, match="FACADE_ATHENA_CLIENT_SECRET"):
        Settings(**outside)  # no secret and no vault
    configured = Settings(**outside, vault_master_key=K1)  # the vault may hold it
    with pytest.raises(VaultError, match="vault set athena_client_secret"):
        resolve(configured)  # ... but it does not yet
    vault(tmp_path, K1).set("athena_client_secret", SECRET)
    assert resolve(configured).upstream_credentials() == ("preview-client", SECRET)


@pytest.mark.parametrize("with_vault", [True, False])
def test_commands_started_at_once_keep_one_signing_key(tmp_path: Path, with_vault: bool) -> None:
    """Four ``clients add`` in a new data directory at once: each audits its registration
    with the signing key, which the first of them creates (atomically: ``os.link`` of a
    draft, or the vault's ``setdefault`` under its file lock); the chain verifies. The race
    window is small: this run did not fail with the earlier non-atomic write either, so it
    checks the outcome, not that the race was hit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACADE_")}
    env["FACADE_DATA_DIR"] = str(tmp_path)
    if with_vault:
        env["FACADE_VAULT_MASTER_KEY"] = K1
    processes = [
        subprocess.Popen(
            [
                ATHENA_FACADE,
                "clients",
                "add",
                f"c{i}",
                "--kind",
                "public",
                "--scope",
                "patient/*.rs",
                "--redirect-uri",
                "https://app.example.org/cb",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    verified = subprocess.run(
        [ATHENA_FACADE, "audit", "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stdout
    assert "4 records" in verified.stdout
    assert (tmp_path / "signing.key").exists() != with_vault
