"""The SQLite auth store keeps only hashes; the clients CLI; demo-user settings guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from facade.auth.clients import check_secret
from facade.cli import main
from facade.settings import Settings
from facade.store import CodeRecord, RefreshRecord, SqliteAuthStore
from facade.store.base import token_hash


def test_store_keeps_hashes_and_single_use(tmp_path: Path) -> None:
    store = SqliteAuthStore(tmp_path / "auth.sqlite3")
    code, refresh = "the-secret-code-value", "the-secret-refresh-value"
    store.create_grant("g1", "app", 2_000_000_000)
    store.put_code(
        token_hash(code), CodeRecord("g1", "app", "http://x/cb", "ch", {"a": 1}, 2_000_000_000)
    )
    store.put_refresh(token_hash(refresh), RefreshRecord("g1", "app", "openid", {}, 2_000_000_000))
    first = store.take_code(token_hash(code))
    second = store.take_code(token_hash(code))
    assert first is not None and not first.used
    assert second is not None and second.used
    assert store.take_code(token_hash("unknown")) is None
    assert store.grant_active("g1", 0)
    store.revoke_grant("g1")
    assert not store.grant_active("g1", 0)
    assert store.remember_assertion("c", "j", 100, 0)
    assert not store.remember_assertion("c", "j", 100, 0)
    store.revoke_token("jti-1", 100)
    assert store.token_revoked("jti-1") and not store.token_revoked("jti-2")
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert code.encode() not in raw and refresh.encode() not in raw
    reopened = SqliteAuthStore(tmp_path / "auth.sqlite3")  # durable across restarts
    assert reopened.token_revoked("jti-1")
    reopened.purge(10_000)
    assert not reopened.token_revoked("jti-1")
    reopened.close()


def test_clients_cli_add_list_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACADE_DATA_DIR", str(tmp_path))
    assert (
        main(
            [
                "clients",
                "add",
                "my-app",
                "--kind",
                "confidential-symmetric",
                "--redirect-uri",
                "https://app.example/cb",
                "--scope",
                "launch openid patient/*.rs",
                "--secret",
                "s3cret-value",
            ]
        )
        == 0
    )
    stored = json.loads((tmp_path / "clients.json").read_text())["clients"][0]
    assert stored["client_id"] == "my-app" and "s3cret-value" not in json.dumps(stored)
    assert check_secret("s3cret-value", stored["secret_hash"])
    assert (tmp_path / "clients.json").stat().st_mode & 0o077 == 0
    assert (
        main(
            ["clients", "add", "svc", "--kind", "confidential-asymmetric", "--scope", "system/*.rs"]
        )
        == 2
    )
    jwks = json.dumps({"keys": []})
    assert (
        main(
            [
                "clients",
                "add",
                "svc",
                "--kind",
                "confidential-asymmetric",
                "--scope",
                "system/*.rs",
                "--jwks",
                jwks,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["clients", "list"]) == 0
    listed = capsys.readouterr().out
    assert (
        "local-dev" in listed
        and "my-app" in listed
        and "svc\tconfidential-asymmetric\tclient_credentials" in listed
    )
    assert main(["clients", "remove", "my-app"]) == 0
    assert main(["clients", "remove", "my-app"]) == 1


def test_demo_password_default_is_refused_outside_embedded_mode() -> None:
    common = {
        "environment": "preview",
        "dev_client_secret": "not-the-default",
        "athena_client_id": "x",
        "athena_client_secret": "y",
    }
    with pytest.raises(ValidationError, match="demo users"):
        Settings(**common)  # type: ignore[arg-type]
    Settings(**common, demo_users=False)  # type: ignore[arg-type]
    Settings(**common, demo_password="something-else")  # type: ignore[arg-type]


def test_single_use_takes_are_atomic_across_processes(tmp_path: Path) -> None:
    """Two worker processes racing for the same codes: each code is fresh for exactly one."""
    import multiprocessing

    from tests.auth import races

    path = tmp_path / "auth.sqlite3"
    store = SqliteAuthStore(path)
    codes = [f"code-{i}" for i in range(400)]
    for code in codes:
        store.put_code(token_hash(code), CodeRecord("g", "app", "http://x/cb", "ch", {}, 2**31))
    store.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=races.take_codes, args=(str(path), codes, barrier, out))
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    fresh = [code for _ in procs for code in out.get(timeout=60)]
    for proc in procs:
        proc.join(timeout=30)
    assert sorted(fresh) == sorted(codes)  # no code was first-used twice, none lost
