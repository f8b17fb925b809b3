"""RFC 7591 dynamic registration (``POST /auth/register``) and the clients file.

Concurrent registrations across worker processes: ``test_workers.py``."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from facade.auth.clients import Client
from facade.auth.factory import clients_file
from facade.cli import main
from facade.settings import Settings
from tests.auth import races


def test_clients_file_writes_from_several_processes_lose_nothing(tmp_path: Path) -> None:
    """``clients add`` racing in four processes: every client lands in clients.json."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [
        ctx.Process(target=races.add_clients, args=(str(tmp_path), f"p{n}", 15, barrier))
        for n in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0] * 4
    stored = json.loads((tmp_path / "clients.json").read_text())["clients"]
    assert sorted(c["client_id"] for c in stored) == sorted(
        f"p{n}-{i}" for n in range(4) for i in range(15)
    )
    assert (tmp_path / "clients.json").stat().st_mode & 0o077 == 0
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind


def test_a_broken_hand_edit_keeps_the_last_good_clients(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = clients_file(Settings(data_dir=tmp_path))
    registry.add(Client(client_id="app", kind="public", redirect_uris=["https://a.example/cb"]))
    assert registry.get("app") is not None
    (tmp_path / "clients.json").write_text('{"clients": [ oops')
    assert registry.get("app") is not None  # still served, and the operator is told
    assert "not valid" in caplog.text
    (tmp_path / "clients.json").write_text('{"clients": []}')
    assert registry.get("app") is None


def test_cli_lists_and_removes_dynamic_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = clients_file(Settings(data_dir=tmp_path))
    registry.register(
        Client(client_id="dyn-x", kind="public", redirect_uris=["https://a.example/cb"])
    )
    found = registry.get("dyn-x")
    assert found is not None and found.dynamic and not found.trusted
    assert not (tmp_path / "clients.json").exists()  # registrations never touch the file
    monkeypatch.setenv("FACADE_DATA_DIR", str(tmp_path))
    assert main(["clients", "list"]) == 0
    assert "dyn-x\tpublic" in capsys.readouterr().out
    assert main(["clients", "remove", "dyn-x"]) == 0
    assert registry.get("dyn-x") is None
    assert main(["clients", "remove", "dyn-x"]) == 1
    with pytest.raises(ValueError, match="built-in"):
        registry.add(Client(client_id="local-dev", kind="public"))
